"""Run a pipeline's steps in order: input hashes, resume, ranges, one ``runs`` row per step.

Each step's stage is a library function from the registry (:mod:`.stages`); its
:class:`~radiogenomics.result.StageResult` names the runs the step links to.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Union

import pandas as pd

from ..exceptions import PipelineError, RGError
from ..result import StageResult
from .spec import Pipeline, Step

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- hashing


def _path_digest(value: str) -> str | None:
    """sha256 of a file, or of a folder's listing (relative path + size), for values that are paths."""
    if not value or len(value) > 4096 or "\n" in value:
        return None
    try:
        path = Path(value)
        if path.is_file():
            from ..store import sha256_file

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


#: a stage executor runs one step: returns a StageResult (its run_ids are linked to the step)
#: or, for embedding code, an exit code (0 ok, non-zero = partial; the runs it started in
#: this process are linked)
StageExecutor = Callable[[list[str], StepContext], Union[StageResult, int]]


@dataclass
class StepOutcome:
    name: str
    status: str            # ok | partial | skipped | off | failed | unavailable | not-selected
    run_id: str | None = None
    seconds: float = 0.0
    message: str = ""
    stage_runs: list[str] | None = None


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
    """The step names a stage that is not in the registry (an area not installed)."""


def registry_executor(argv: list[str], ctx: StepContext) -> StageResult:
    """Run the step's stage from the registry (:mod:`.stages`) on the pipeline's store.

    Raises
    ------
    StageUnavailable
        No such stage.
    PipelineError
        Unknown option or unusable value for the stage.
    RGError
        The stage's own error, unchanged.
    """
    from .stages import StageCall, get_stage

    stage = get_stage(ctx.step.stage)
    if stage is None:
        from .stages import stage_names

        raise StageUnavailable(f"step {ctx.step.name}: stage `{ctx.step.stage}` is not an rg command here "
                               f"(stages: {', '.join(stage_names())})")
    call = StageCall.for_step(ctx.step, ctx.store_path, ctx.data_dir)
    return stage.run(call, list(ctx.step.args), dict(ctx.step.params))


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _previous(store_path: Path, pipeline: str) -> pd.DataFrame:
    from ..store.session import reading

    if not store_path.exists():
        return pd.DataFrame(columns=["step", "input_hash", "status", "run_id"])
    with reading(store_path) as store:
        return store.query("SELECT step, input_hash, status, run_id FROM core.pipeline_steps WHERE pipeline = ?",
                           [pipeline])


def _begin(store_path: Path, run_id: str, pipeline: Pipeline, step: Step, argv: list[str], digest: str,
           inputs: Mapping[str, str], upstream: Mapping[str, str | None]) -> None:
    from ..store import Store, package_versions

    row = {"run_id": run_id, "command": f"rg run {pipeline.name}:{step.name}",
           "parameters": {"pipeline": pipeline.name, "pipeline_file": str(pipeline.path) if pipeline.path else None,
                          "step": step.name, "stage": step.stage, "argv": argv, "env": step.env,
                          "input_hash": digest, "upstream_runs": dict(upstream)},
           "package_versions": package_versions(), "input_checksums": dict(inputs),
           "started_at": _now(), "status": "running", "pid": os.getpid(), "host": socket.gethostname()}
    with Store.open(store_path) as store:
        store.upsert("runs", pd.DataFrame([row]))


def _finish(store_path: Path, pipeline: Pipeline, step: Step, run_id: str, digest: str, status: str,
            stage_runs: list[str], error: str | None) -> None:
    """Close the step's run with the stage's own run_ids and update pipeline_steps."""
    from ..store import Store

    with Store.open(store_path) as store:
        params = store.query("SELECT parameters FROM core.runs WHERE run_id = ?", [run_id])["parameters"].iloc[0]
        params = json.loads(params) if isinstance(params, str) else dict(params or {})
        params["stage_runs"] = list(stage_runs)
        with store.transaction():
            store.execute("UPDATE core.runs SET status = ?, finished_at = ?, error = ?, parameters = ? WHERE run_id = ?",
                          [status, _now(), error, json.dumps(params, sort_keys=True, default=str), run_id])
            store.upsert("pipeline_steps", pd.DataFrame([{
                "pipeline": pipeline.name, "step": step.name, "input_hash": digest, "status": status,
                "run_id": run_id, "finished_at": _now()}]))


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
        Stage name -> executor (tests and embedding); other stages are library functions
        from the registry (:func:`registry_executor`).
    on_step
        Called with each step's outcome as it finishes (progress reporting).

    Raises
    ------
    PipelineError
        A non-optional step failed (earlier steps' results stay in the store) or the
        stage does not exist.
    """
    from ..store import collect_runs, new_run_id

    store_path = Path(store_path)
    data = Path(data_dir) if data_dir is not None else None
    first = pipeline.index(from_step) if from_step else 0
    last = pipeline.index(until_step) if until_step else len(pipeline.steps) - 1
    if first > last:
        raise PipelineError(f"--from {from_step} comes after --until {until_step} in pipeline {pipeline.name}")
    for step in pipeline.steps[first:last + 1]:  # `requires:` stops the run before any step
        if step.enabled and step.missing:
            raise PipelineError(next(iter(step.missing.values())))
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
        executor = (executors or {}).get(step.stage, registry_executor)
        log.info("step %s: rg %s", step.name, " ".join(argv))
        t0 = time.perf_counter()
        _begin(store_path, run_id, pipeline, step, argv, digest, inputs, upstream)
        status, error, message = "ok", None, ""
        stage_runs: list[str] = []
        try:
            with collect_runs() as started:
                try:
                    result = executor(argv, ctx)
                finally:
                    # an executor that fails still started these runs (recorded failed)
                    stage_runs = [r for r in started if r != run_id]
            if isinstance(result, StageResult):
                stage_runs = list(result.run_ids)
                if result.partial:
                    status = "partial"
                    message = f"{len(result.failures) or 'some'} item(s) failed (see failures)"
            elif result:
                status, message = "partial", f"exit code {result}: some items failed (see failures)"
        except StageUnavailable as exc:
            status, error, message = "unavailable", str(exc), str(exc)
        except RGError as exc:
            status, error, message = "failed", f"{type(exc).__name__}: {exc}", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in a stage: recorded; fatal unless the step is optional
            if not step.optional:
                _finish(store_path, pipeline, step, run_id, digest, "failed", stage_runs,
                        f"{type(exc).__name__}: {exc}")
                raise
            log.debug("optional step %s raised", step.name, exc_info=True)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            message = f"internal error in the stage: {error}"
        _finish(store_path, pipeline, step, run_id, digest, status, stage_runs, error)
        seconds = time.perf_counter() - t0
        known[step.name] = run_id if status == "ok" else None
        outcome = StepOutcome(step.name, status, run_id, seconds, message, stage_runs)
        if status in ("failed", "unavailable"):
            report(outcome)
            if step.optional:
                log.warning("optional step %s skipped: %s", step.name, message)
                continue
            raise PipelineError(f"pipeline {pipeline.name}: step {step.name} (`rg {' '.join(argv)}`) failed: {message}")
        if status == "partial":
            log.warning("step %s finished with failures: %s", step.name, message)
        report(outcome)
    return PipelineResult(pipeline.name, outcomes)
