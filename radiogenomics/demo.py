"""``rg demo``: a synthetic cohort in the real source formats through the whole study.

1. :func:`radiogenomics.synth.cohort.make_cohort` writes DICOM CT + SEG in the NBIA
   layout, a GEO series matrix + supplementary FPKM table and a TCIA-style clinical CSV,
   with planted effects recorded in ``truth.json``.
2. A :class:`~radiogenomics.testing.nbia_server.LocalNBIAServer` on 127.0.0.1 serves
   the imaging like NBIA v4 and the expression like the GEO host, so the real connectors
   fetch them (``--offline`` registers the imaging folder with ``rg import nbia`` instead;
   GEO is still read from the 127.0.0.1 server).
3. ``pipelines/demo.yaml`` runs (``rg run`` semantics: resumable, every step a run).
4. The planted effects are checked against the results and the report is written with
   them on top (``reports/demo/report.html`` by default).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .exceptions import InputError, PipelineError
from .result import StageResult, stage_entry
from .synth.checks import cohort_counts, counts_text, planted_checks  # noqa: F401  (public: rg demo's checks)

log = logging.getLogger(__name__)

DEMO_PIPELINE = "demo.yaml"
GROUPING = "demo"
MODEL = "demo-dfs"

#: the demo's design: a share of the patients is a separate external site; the development
#: patients split into training and internal validation
EXTERNAL_SHARE = 0.3
TRAIN_SHARE = 0.6
#: smallest held-out cohort for which the held-out checks can have power
MIN_HELD_OUT = 16
MIN_TRAIN = 24
DEFAULT_PATIENTS = 120


def design(n_patients: int) -> dict[str, int]:
    """Patients per cohort for a demo of ``n_patients``: ``development, train, validation, external``.

    Raises
    ------
    InputError
        When a cohort would be too small for the demo's checks; the message gives the minimum.
    """
    external = int(round(EXTERNAL_SHARE * n_patients))
    development = n_patients - external
    train = int(round(TRAIN_SHARE * development))
    sizes = {"development": development, "train": train, "validation": development - train, "external": external}
    if train < MIN_TRAIN or sizes["validation"] < MIN_HELD_OUT or external < MIN_HELD_OUT:
        minimum = next(n for n in range(1, 10_000) if _fits(n))
        raise InputError(
            f"rg demo needs at least {minimum} patients (-n {minimum}), got {n_patients}: its design keeps "
            f"{EXTERNAL_SHARE:.0%} as an external site and splits the rest {TRAIN_SHARE:.0%}/{1 - TRAIN_SHARE:.0%} "
            f"into training and validation, and the held-out checks need at least {MIN_HELD_OUT} patients in "
            f"validation and in external ({MIN_TRAIN} to train); -n {n_patients} gives {train} / "
            f"{sizes['validation']} / {external}")
    return sizes


def _fits(n: int) -> bool:
    external = int(round(EXTERNAL_SHARE * n))
    train = int(round(TRAIN_SHARE * (n - external)))
    return train >= MIN_TRAIN and n - external - train >= MIN_HELD_OUT and external >= MIN_HELD_OUT


def pipeline_file(name: str = DEMO_PIPELINE) -> Path:
    """A pipeline shipped in ``pipelines/`` (repository checkout or installed data)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "pipelines" / name, here / "pipelines" / name):
        if candidate.exists():
            return candidate
    raise PipelineError(f"pipeline file {name} not found next to the package ({here.parent / 'pipelines'})")


@dataclass
class DemoResult:
    """Outcome of ``rg demo``."""

    report: Path | None
    checks: pd.DataFrame
    steps: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    missing: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    store: Path | None = None

    @property
    def ok(self) -> bool:
        required = self.checks[self.checks["required"]] if len(self.checks) else self.checks
        return self.report is not None and not self.missing and bool(required["recovered"].all())

    def text(self) -> str:
        lines = [f"rg demo finished in {self.seconds:.0f}s"]
        for s in (x for x in self.steps if x.status != "not-selected"):
            lines.append(f"  {s.name:<12} {s.status:<12} {s.seconds:6.1f}s" + (f"  {s.message}" if s.message else ""))
        if self.counts:
            lines.append(f"Rad-score cohorts: {counts_text(self.counts)}")
        if len(self.checks):
            n = int(self.checks["recovered"].sum())
            required = self.checks[self.checks["required"]]
            lines.append(f"planted effects recovered: {n} of {len(self.checks)} "
                         f"(required: {int(required['recovered'].sum())} of {len(required)})")
            for r in self.checks.itertuples():
                lines.append(f"  [{'x' if r.recovered else ' '}] {r.cohort:<10} {r.effect}: {r.observed}"
                             + ("" if r.required else "  (not required)"))
        for m in self.missing:
            lines.append(f"  missing: {m}")
        lines.append(f"report: {self.report}" if self.report else "report: not written")
        if self.store is not None:
            lines.append(f"store:  {self.store}  (query it: rg sql \"SELECT * FROM risk_groups\"; "
                         "README: After the demo)")
        return "\n".join(lines)


def _cohort(source: Path, sizes: dict[str, int], seed: int, workers: int):
    """Generate the cohort, or reuse one generated with the same design and seed."""
    from .synth.cohort import make_cohort

    truth = source / "truth.json"
    if truth.exists():
        with contextlib.suppress(ValueError, OSError):
            old = json.loads(truth.read_text())
            # a cohort written before the synthetic signature or the external site existed is regenerated
            if (old.get("n_patients") == sizes["development"] and old.get("n_external") == sizes["external"]
                    and old.get("seed") == seed and (source / "signature" / "synthetic_signature.txt").exists()):
                log.info("reusing the synthetic cohort in %s", source)
                return None, old
    if source.exists():
        shutil.rmtree(source)
    manifest = make_cohort(source, n_patients=sizes["development"], n_external=sizes["external"], seed=seed,
                           workers=workers)
    return manifest, manifest.truth


def _split_lists(source: Path, truth: dict, sizes: dict[str, int], seed: int) -> dict[str, Path]:
    """Seeded split of the development site into training and validation; the external site's
    patients (generated apart, another scanner) are the external cohort."""
    patients = truth["patients"]
    development = sorted(p for p, v in patients.items() if v.get("site", "development") == "development")
    external = sorted(p for p, v in patients.items() if v.get("site") == "external")
    order = list(np.random.default_rng(seed).permutation(development))
    lists = {"train": sorted(order[: sizes["train"]]), "validation": sorted(order[sizes["train"]:]),
             "external": external}
    from .atomic import write_text

    paths = {}
    for name, ids in lists.items():
        paths[name] = source / f"{name}_patients.txt"
        write_text(paths[name], "\n".join(ids) + "\n")
    return paths


@contextlib.contextmanager
def _server(source: Path, truth: dict) -> Iterator[dict[str, str]]:
    # GEO has no offline import: even with --offline the expression comes from this
    # 127.0.0.1 server (no network either way)
    from .testing.nbia_server import LocalNBIAServer

    # make_cohort mirrors the GEO host under geo/ (geo/geo/series/...); the server serves its
    # geo_root at /geo/
    geo_root = source / "geo" / "geo" if (source / "geo" / "geo").is_dir() else source / "geo"
    # the server's URL is part of the fetch steps' inputs: reuse the last run's port so a
    # rerun of the demo skips the steps that are done (a random port would redo them all)
    port_file = source.parent / "server_port"
    kwargs = dict(series_root=source / "tcia", collection=truth.get("collection", "SYNTH"), geo_root=geo_root)
    try:
        last = int(port_file.read_text().strip())
    except (OSError, ValueError):
        last = 0
    try:
        server = LocalNBIAServer(**kwargs, port=last).start()
    except OSError:  # taken by another program: any free port (this rerun redoes the fetch steps)
        log.info("port %d of the last demo run is in use; the fetch steps run again", last)
        server = LocalNBIAServer(**kwargs).start()
    try:
        with contextlib.suppress(OSError):
            from .atomic import write_text

            write_text(port_file, f"{server.port}\n")
        yield {"tcia_url": server.url_tcia, "geo_url": server.url_geo}
    finally:
        server.stop()


@stage_entry
def run_demo(store: str | Path | None = None, *, n_patients: int = DEFAULT_PATIENTS,
             out_dir: str | Path | None = None, seed: int = 0, offline: bool = False, workers: int = 2,
             quiet: bool = True, permutations: int = 200, settings: Any = None) -> StageResult:
    """``rg demo``: build the synthetic cohort, run ``pipelines/demo.yaml`` on it into ``store`` and write the report.

    The result's ``summary`` is the :class:`DemoResult` (report, planted-effect checks,
    steps); its ``run_ids`` are the runs of the pipeline's steps; it is ``partial`` when a
    required planted effect was not recovered or a stage was missing.

    Parameters
    ----------
    store
        The store path (default ``settings.store``).
    settings
        :class:`~radiogenomics.config.Settings` (default: the environment's); the data folder
        receives the cohort's files.
    n_patients
        Cohort size: :data:`EXTERNAL_SHARE` of it is an external site, the rest splits into
        training and validation (:func:`design`; too small a cohort raises InputError).
    out_dir
        Report folder [default: ``reports/demo``].
    offline
        Register the imaging with ``rg import nbia`` instead of fetching it from the local NBIA server.

    Returns
    -------
    StageResult
        ``summary``: the report path and the planted-effect checks; steps whose stage is
        not installed are listed in ``missing`` (the demo goes on without them).
    """
    from .config import stage_settings
    from .pipeline import Step, load_pipeline, run_pipeline
    from .store.session import reading

    settings = stage_settings(settings, store=store)
    settings.ensure_dirs()

    t0 = time.perf_counter()
    sizes = design(n_patients)
    out = Path(out_dir) if out_dir is not None else Path("reports") / "demo"
    source = Path(settings.data_dir) / "demo" / "source"
    manifest, truth = _cohort(source, sizes, seed, workers)
    lists = _split_lists(source, truth, sizes, seed)
    log.info("synthetic cohort ready (%d patients) in %.0fs", n_patients, time.perf_counter() - t0)
    variables = {"cohort": str(source), "collection": truth.get("collection", "NSCLC Radiogenomics Demo"),
                 "gse": truth.get("gse", "GSE900001"), "train_list": str(lists["train"]),
                 "validation_list": str(lists["validation"]), "external_list": str(lists["external"]),
                 "seed": str(seed), "workers": str(workers), "model": MODEL, "grouping": GROUPING,
                 "permutations": str(permutations), "out": str(out)}
    clinical = sorted((source / "clinical").glob("*.csv"))
    if clinical:
        variables["clinical_csv"] = str(clinical[0])
    builtins = {"home": str(settings.home), "store": str(settings.store), "data_dir": str(settings.data_dir)}
    missing: list[str] = []
    with _server(source, truth) as urls:
        spec = load_pipeline(pipeline_file(), overrides={**variables, **urls}, builtins=builtins)
        if offline:
            idx = spec.index("imaging")
            spec.steps[idx] = Step(name="imaging", stage="import nbia", args=[str(source / "tcia")],
                                   params={"workers": str(workers)})
        # every step is required: a failed Rad-score or grouping must stop what builds on it
        # (run_pipeline raises PipelineError and nothing downstream runs)
        result = run_pipeline(spec, settings.store, data_dir=settings.data_dir, quiet=quiet)
        steps = result.steps
    with reading(settings.store) as store:
        # the same function and store as the report's first section: console and report agree
        checks = planted_checks(store, truth, GROUPING, MODEL)
        counts = cohort_counts(store, MODEL)
    report = out / "report.html"
    demo = DemoResult(report=report, checks=checks, steps=steps, seconds=time.perf_counter() - t0, missing=missing,
                      counts=counts, store=Path(settings.store).resolve())
    run_ids = [r for s in steps for r in (s.stage_runs or [])]
    recovered = int(checks["recovered"].sum()) if len(checks) else 0
    return StageResult("demo", run_ids=run_ids, counts={"checks": len(checks), "recovered": recovered},
                       partial=not demo.ok, summary=demo)
