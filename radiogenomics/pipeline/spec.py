"""Pipeline files: YAML -> :class:`Pipeline` of :class:`Step` (variables substituted, validated).

The file format is described in :mod:`radiogenomics.pipeline`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..exceptions import PipelineError

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_VAR = re.compile(r"\$\{([^}]+)\}")
_STEP_KEYS = {"name", "stage", "args", "params", "env", "after", "optional", "description", "when"}
_FALSE = {"", "false", "0", "no", "off", "none", "null"}


@dataclass
class Step:
    """One pipeline step (after variable substitution)."""

    name: str
    stage: str
    args: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    after: list[str] | None = None
    optional: bool = False
    description: str = ""
    when: str | None = None
    #: ``requires:`` variables this step uses that are not set -> the line saying how to run it
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """False when the step's ``when:`` condition is empty / false after substitution."""
        return self.when is None or self.when.strip().lower() not in _FALSE

    def argv(self) -> list[str]:
        """The rg command line of this step (without global options)."""
        argv = self.stage.split() + [str(a) for a in self.args]
        for key, value in self.params.items():
            flag = "--" + str(key).replace("_", "-")
            if value is None or value is False or value == "":
                continue  # an empty variable leaves the option out (e.g. an optional --train file)
            if value is True:
                argv.append(flag)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    argv += [flag, str(item)]
            else:
                argv += [flag, str(value)]
        return argv


@dataclass
class Pipeline:
    """A parsed pipeline file."""

    name: str
    steps: list[Step]
    path: Path | None = None
    description: str = ""
    vars: dict[str, str] = field(default_factory=dict)

    def index(self, step: str) -> int:
        for i, s in enumerate(self.steps):
            if s.name == step:
                return i
        raise PipelineError(f"pipeline {self.name!r} has no step {step!r} (steps: {', '.join(s.name for s in self.steps)})")


def _substitute(value: Any, variables: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        def repl(match: re.Match) -> str:
            key = match.group(1).strip()
            if key.startswith("env:"):
                name = key[4:]
                if name not in os.environ:
                    raise PipelineError(f"{where}: environment variable {name} is not set")
                return os.environ[name]
            if key not in variables:
                raise PipelineError(f"{where}: unknown variable ${{{key}}} (known: {', '.join(sorted(variables))}); "
                                    "define it under vars: or pass --set {key}=VALUE")
            return str(variables[key])
        # a variable may refer to another one: substitute until stable (bounded)
        for _ in range(5):
            new = _VAR.sub(repl, value)
            if new == value:
                break
            value = new
        return value
    if isinstance(value, list):
        return [_substitute(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables, where) for k, v in value.items()}
    return value


def _requires(path: Path, requires: Any, variables: Mapping[str, str]) -> dict[str, str]:
    """``requires:`` variables that are empty or unset -> the one line saying how to run the pipeline."""
    if requires is None:
        return {}
    if not isinstance(requires, dict):
        raise PipelineError(f"{path}: `requires:` must be a mapping of variable: message")
    out = {}
    for var, message in requires.items():
        if not str(variables.get(str(var), "")).strip():
            text = _substitute(str(message), dict(variables), f"{path}: requires.{var}")
            out[str(var)] = f"{path.name} needs `{var}` set: {' '.join(text.split())}"
    return out


def load_pipeline(path: str | os.PathLike[str], overrides: Mapping[str, str] | None = None,
                  builtins: Mapping[str, str] | None = None) -> Pipeline:
    """Read and validate a pipeline YAML file, substituting ``${variables}``.

    Parameters
    ----------
    path
        The pipeline file.
    overrides
        Values that win over the file's ``vars`` (``rg run --set``).
    builtins
        Extra built-in variables (``home``, ``store``, ``data_dir`` from the settings).

    Raises
    ------
    PipelineError
        Unreadable file, missing/duplicated step names, unknown keys, unknown variables.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"pipeline file {path} not found") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"pipeline file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list) or not raw["steps"]:
        raise PipelineError(f"pipeline file {path} needs a non-empty list `steps:`")
    name = str(raw.get("name") or path.stem)
    variables: dict[str, str] = {"pipeline_dir": str(path.resolve().parent), **dict(builtins or {})}
    file_vars = raw.get("vars") or {}
    if not isinstance(file_vars, dict):
        raise PipelineError(f"{path}: `vars:` must be a mapping of name: value")
    merged = {**{k: str(v) for k, v in file_vars.items()}, **{k: str(v) for k, v in (overrides or {}).items()}}
    variables.update(merged)
    variables = {k: _substitute(v, variables, f"{path}: vars.{k}") for k, v in variables.items()}
    requires = _requires(path, raw.get("requires"), variables)
    steps: list[Step] = []
    seen: set[str] = set()
    for i, item in enumerate(raw["steps"], 1):
        where = f"{path}: step {i}"
        if not isinstance(item, dict):
            raise PipelineError(f"{where} must be a mapping with at least name and stage")
        unknown = set(item) - _STEP_KEYS
        if unknown:
            raise PipelineError(f"{where} has unknown keys {sorted(unknown)} (allowed: {sorted(_STEP_KEYS)})")
        step_name = str(item.get("name") or "")
        if not _NAME.match(step_name):
            raise PipelineError(f"{where}: `name` must be letters, digits, _ . - (got {step_name!r})")
        if step_name in seen:
            raise PipelineError(f"{where}: step name {step_name!r} is used twice")
        if not item.get("stage"):
            raise PipelineError(f"{where} ({step_name}): `stage` (an rg command such as `features`) is required")
        after = item.get("after")
        if after is not None:
            after = [str(a) for a in (after if isinstance(after, list) else [after])]
            missing = [a for a in after if a not in seen]
            if missing:
                raise PipelineError(f"{where} ({step_name}): `after` names {missing}, which are not earlier steps")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise PipelineError(f"{where} ({step_name}): `params` must be a mapping option: value")
        args = item.get("args") or []
        if not isinstance(args, list):
            args = [args]
        where = f"{path}: step {step_name}"
        used = set(_VAR.findall(yaml.safe_dump(item)))
        steps.append(Step(missing={v: m for v, m in requires.items() if v in used},name=step_name, stage=str(item["stage"]).strip(),
                          args=[str(a) for a in _substitute(args, variables, where)],
                          params=_substitute(params, variables, where),
                          env={str(k): str(v) for k, v in _substitute(item.get("env") or {}, variables, where).items()},
                          after=after, optional=bool(item.get("optional", False)),
                          description=str(item.get("description") or ""),
                          when=(None if "when" not in item else
                                str(_substitute("" if item["when"] is None else str(item["when"]), variables,
                                                where)))))
        seen.add(step_name)
    return Pipeline(name=name, steps=steps, path=path, description=str(raw.get("description") or ""),
                    vars=variables)
