"""``rg run PIPELINE.yaml``: named steps, each an ``rg`` stage with parameters, run in order.

A pipeline file::

    name: demo
    description: what it does
    vars:                      # ${name} substitutions (overridable with rg run --set name=value)
      cohort: ${home}/demo/cohort
    steps:
      - name: features         # unique step name
        stage: features        # an rg command path, e.g. "radscore fit", "import nbia"
        args: []               # positional arguments
        params:                # options: key -> value (--key value; true -> --key; lists repeat;
                               # false, null or "" leave the option out)
          params: ${pipeline_dir}/demo_features.yaml
        env: {}                # environment variables set while the step runs
        after: [import]        # upstream steps whose runs feed this one [default: all earlier steps]
        optional: false        # true: a failing / unavailable stage is logged and skipped
        when: ${external_list} # run only if this is non-empty (and not false / 0 / no) after
                               # substitution; otherwise the step is reported "off"

Built-in variables: ``pipeline_dir`` (folder of the file), ``home``, ``store``, ``data_dir``;
``${env:NAME}`` reads the environment.

Resume: each step's *input hash* covers its stage, resolved arguments, environment, the
checksums of files (and listings of folders) it names (except output options such as
``out``), and the run_ids of its upstream steps.  A step whose last run finished ``ok`` with the same hash is skipped; otherwise it
runs, and so does everything downstream of it (their upstream run_ids changed).
Every executed step is a row in ``runs`` (command ``rg run <pipeline>:<step>``) holding
the argv, the hash and the run_ids of the stage's own runs; ``core.pipeline_steps``
keeps the last hash and run per step.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pandas as pd
import yaml

from .exceptions import PipelineError, RGError

log = logging.getLogger(__name__)

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
        steps.append(Step(name=step_name, stage=str(item["stage"]).strip(),
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


# --------------------------------------------------------------------------- hashing


def _path_digest(value: str) -> str | None:
    """sha256 of a file, or of a folder's listing (relative path + size), for values that are paths."""
    if not value or len(value) > 4096 or "\n" in value:
        return None
    try:
        path = Path(value)
        if path.is_file():
            from .store import sha256_file

            return sha256_file(path)
        if path.is_dir():
            digest = hashlib.sha256()
            for child in sorted(path.rglob("*")):
                if child.is_file():
                    digest.update(f"{child.relative_to(path)}\t{child.stat().st_size}\n".encode())
            return "dir:" + digest.hexdigest()
    except OSError:
        return None
    return None


#: options naming where a stage writes: part of the hash as text, never checksummed as inputs
OUTPUT_OPTIONS = frozenset({"out", "output", "out_dir"})


def step_inputs(step: Step) -> dict[str, str]:
    """Checksums of the files / folders a step's arguments and (non-output) options name."""
    values = list(step.args) + [str(v) for key, value in step.params.items() if key not in OUTPUT_OPTIONS
                                for v in (value if isinstance(value, (list, tuple)) else [value])]
    out = {}
    for value in values:
        digest = _path_digest(str(value))
        if digest:
            out[str(value)] = digest
    return out


def input_hash(step: Step, upstream_runs: Mapping[str, str | None], inputs: Mapping[str, str]) -> str:
    """The hash deciding whether a finished step can be skipped."""
    payload = {"stage": step.stage, "argv": step.argv(), "env": step.env, "inputs": dict(sorted(inputs.items())),
               "upstream": dict(sorted(upstream_runs.items()))}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- running


@dataclass
class StepContext:
    """What a stage executor gets besides the argv."""

    step: Step
    pipeline: Pipeline
    store_path: Path
    data_dir: Path | None
    run_id: str
    quiet: bool = True


#: a stage executor runs one step; returns an exit code (0 ok, non-zero = partial)
StageExecutor = Callable[[list[str], StepContext], int]


@dataclass
class StepOutcome:
    name: str
    status: str            # ok | partial | skipped | off | failed | unavailable | not-selected
    run_id: str | None = None
    seconds: float = 0.0
    message: str = ""


@dataclass
class PipelineResult:
    pipeline: str
    steps: list[StepOutcome]

    def text(self) -> str:
        lines = [f"pipeline {self.pipeline}:"]
        for s in self.steps:
            extra = f" ({s.message})" if s.message else ""
            lines.append(f"  {s.name:<22} {s.status:<12} {s.seconds:7.1f}s{extra}")
        return "\n".join(lines)

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "skipped", "off", "not-selected") for s in self.steps)


class StageUnavailable(PipelineError):
    """The stage's command does not exist in this installation (an area not installed)."""


def cli_executor(argv: list[str], ctx: StepContext) -> int:
    """Run ``rg <argv>`` in this process on the pipeline's store; returns the exit code.

    Raises
    ------
    StageUnavailable
        No such rg command.
    RGError
        The stage's own error, unchanged.
    """
    import typer

    try:  # typer >= 0.29 vendors click
        from typer._click import exceptions as cx
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import exceptions as cx

    from .cli import app

    globals_ = ["--store", str(ctx.store_path)]
    if ctx.data_dir is not None:
        globals_ += ["--data-dir", str(ctx.data_dir)]
    if ctx.quiet:
        globals_.append("-q")
    command = typer.main.get_command(app)
    try:
        result = command.main(args=globals_ + argv, prog_name="rg", standalone_mode=False)
    except (typer.Exit, getattr(cx, "Exit", typer.Exit)) as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except cx.NoSuchOption as exc:
        raise PipelineError(f"step {ctx.step.name}: `rg {' '.join(argv)}`: {exc.format_message()}") from exc
    except cx.UsageError as exc:
        message = exc.format_message()
        if "No such command" in message:
            raise StageUnavailable(f"step {ctx.step.name}: stage `{ctx.step.stage}` is not an rg command here "
                                   f"({message})") from exc
        raise PipelineError(f"step {ctx.step.name}: `rg {' '.join(argv)}`: {message}") from exc
    except (typer.Abort, getattr(cx, "Abort", typer.Abort)) as exc:
        raise PipelineError(f"step {ctx.step.name} was aborted") from exc
    return int(result) if isinstance(result, int) else 0


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _previous(store_path: Path, pipeline: str) -> pd.DataFrame:
    from .store import Store

    if not store_path.exists():
        return pd.DataFrame(columns=["step", "input_hash", "status", "run_id"])
    with Store.open(store_path, read_only=True) as store:
        return store.query("SELECT step, input_hash, status, run_id FROM core.pipeline_steps WHERE pipeline = ?",
                           [pipeline])


def _begin(store_path: Path, run_id: str, pipeline: Pipeline, step: Step, argv: list[str], digest: str,
           inputs: Mapping[str, str], upstream: Mapping[str, str | None]) -> None:
    from .store import Store, package_versions

    row = {"run_id": run_id, "command": f"rg run {pipeline.name}:{step.name}",
           "parameters": {"pipeline": pipeline.name, "pipeline_file": str(pipeline.path) if pipeline.path else None,
                          "step": step.name, "stage": step.stage, "argv": argv, "env": step.env,
                          "input_hash": digest, "upstream_runs": dict(upstream)},
           "package_versions": package_versions(), "input_checksums": dict(inputs),
           "started_at": _now(), "status": "running"}
    with Store.open(store_path) as store:
        store.upsert("runs", pd.DataFrame([row]))


def _finish(store_path: Path, pipeline: Pipeline, step: Step, run_id: str, digest: str, status: str,
            started: _dt.datetime, error: str | None) -> list[str]:
    """Close the step's run, link the stage's own runs, update pipeline_steps; returns those run_ids."""
    from .store import Store

    with Store.open(store_path) as store:
        inner = store.query("SELECT run_id FROM core.runs WHERE started_at >= ? AND run_id <> ? "
                            "AND command NOT LIKE 'rg run %' ORDER BY started_at", [started, run_id])["run_id"].tolist()
        params = store.query("SELECT parameters FROM core.runs WHERE run_id = ?", [run_id])["parameters"].iloc[0]
        params = json.loads(params) if isinstance(params, str) else dict(params or {})
        params["stage_runs"] = inner
        with store.transaction():
            store.execute("UPDATE core.runs SET status = ?, finished_at = ?, error = ?, parameters = ? WHERE run_id = ?",
                          [status, _now(), error, json.dumps(params, sort_keys=True, default=str), run_id])
            store.upsert("pipeline_steps", pd.DataFrame([{
                "pipeline": pipeline.name, "step": step.name, "input_hash": digest, "status": status,
                "run_id": run_id, "finished_at": _now()}]))
    return inner


def run_pipeline(pipeline: Pipeline, store_path: str | os.PathLike[str], *, data_dir: str | os.PathLike[str] | None = None,
                 from_step: str | None = None, until_step: str | None = None, force: bool = False,
                 executors: Mapping[str, StageExecutor] | None = None, quiet: bool = True,
                 on_step: Callable[[StepOutcome], None] | None = None) -> PipelineResult:
    """Run the steps of ``pipeline`` in order on the store at ``store_path``.

    Parameters
    ----------
    from_step, until_step
        Run only this range (inclusive); steps outside it are reported ``not-selected``
        and their last recorded runs still feed the input hashes downstream.
    force
        Run the selected steps even when their input hash is unchanged.
    executors
        Stage name -> executor (tests and embedding); other stages run as rg commands
        in this process (:func:`cli_executor`).
    on_step
        Called with each step's outcome as it finishes (progress reporting).

    Raises
    ------
    PipelineError
        A non-optional step failed (earlier steps' results stay in the store) or the
        stage does not exist.
    """
    from .store import new_run_id

    store_path = Path(store_path)
    data = Path(data_dir) if data_dir is not None else None
    first = pipeline.index(from_step) if from_step else 0
    last = pipeline.index(until_step) if until_step else len(pipeline.steps) - 1
    if first > last:
        raise PipelineError(f"--from {from_step} comes after --until {until_step} in pipeline {pipeline.name}")
    previous = _previous(store_path, pipeline.name).set_index("step") if store_path.exists() else pd.DataFrame()
    # run_id each step is known by (its last finished run) -> feeds downstream hashes
    known: dict[str, str | None] = {}
    for step in pipeline.steps:
        if len(previous) and step.name in previous.index and previous.loc[step.name, "status"] == "ok":
            known[step.name] = str(previous.loc[step.name, "run_id"])
        else:
            known[step.name] = None
    outcomes: list[StepOutcome] = []
    for i, step in enumerate(pipeline.steps):
        def report(outcome: StepOutcome) -> None:
            outcomes.append(outcome)
            if on_step is not None:
                on_step(outcome)

        if i < first or i > last:
            report(StepOutcome(step.name, "not-selected", known.get(step.name)))
            continue
        if not step.enabled:
            log.info("step %s: off (its `when:` condition is empty)", step.name)
            report(StepOutcome(step.name, "off", None, message="when: condition empty"))
            continue
        upstream_names = step.after if step.after is not None else [s.name for s in pipeline.steps[:i]]
        upstream = {name: known.get(name) for name in upstream_names}
        inputs = step_inputs(step)
        digest = input_hash(step, upstream, inputs)
        prev = previous.loc[step.name] if len(previous) and step.name in previous.index else None
        if (not force and prev is not None and prev["status"] == "ok" and prev["input_hash"] == digest):
            log.info("step %s: unchanged since run %s, skipped", step.name, prev["run_id"])
            report(StepOutcome(step.name, "skipped", str(prev["run_id"]), message="unchanged"))
            continue
        run_id = new_run_id()
        argv = step.argv()
        ctx = StepContext(step, pipeline, store_path, data, run_id, quiet)
        executor = (executors or {}).get(step.stage, cli_executor)
        log.info("step %s: rg %s", step.name, " ".join(argv))
        started = _now()
        t0 = time.perf_counter()
        _begin(store_path, run_id, pipeline, step, argv, digest, inputs, upstream)
        status, error, message = "ok", None, ""
        try:
            with _environment(step.env):
                code = executor(argv, ctx)
            if code:
                status, message = "partial", f"exit code {code}: some items failed (see failures)"
        except StageUnavailable as exc:
            status, error, message = "unavailable", str(exc), str(exc)
        except RGError as exc:
            status, error, message = "failed", f"{type(exc).__name__}: {exc}", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in a stage: recorded; fatal unless the step is optional
            if not step.optional:
                _finish(store_path, pipeline, step, run_id, digest, "failed", started, f"{type(exc).__name__}: {exc}")
                raise
            log.debug("optional step %s raised", step.name, exc_info=True)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            message = f"internal error in the stage: {error}"
        _finish(store_path, pipeline, step, run_id, digest, "ok" if status == "ok" else status, started, error)
        seconds = time.perf_counter() - t0
        known[step.name] = run_id if status == "ok" else None
        if status in ("failed", "unavailable"):
            if step.optional:
                log.warning("optional step %s skipped: %s", step.name, message)
                report(StepOutcome(step.name, status, run_id, seconds, message))
                continue
            report(StepOutcome(step.name, status, run_id, seconds, message))
            raise PipelineError(f"pipeline {pipeline.name}: step {step.name} (`rg {' '.join(argv)}`) failed: {message}")
        if status == "partial":
            log.warning("step %s finished with failures: %s", step.name, message)
        report(StepOutcome(step.name, status, run_id, seconds, message))
    return PipelineResult(pipeline.name, outcomes)
