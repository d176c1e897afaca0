"""The stage registry: pipeline stage name -> the library function that runs it.

A step's ``stage`` is an ``rg`` command path (``features``, ``radscore fit``) and its
``args`` / ``params`` are that command's arguments and options (same names, ``_`` for
``-``), so a pipeline file reads like the commands it runs.  Each entry here declares
those options with the command line's defaults (a test checks they agree) and calls the
library stage with them as keyword arguments; it returns a
:class:`~radiogenomics.result.StageResult` whose ``run_ids`` the step records.

Option values follow the pipeline file's rules: ``true`` sets a flag; ``false``, ``null``
and ``""`` leave the option out (its default applies); a list repeats the option.
The step's ``env:`` supplies settings (``RG_TCIA_URL``, ...) passed to the stage as
arguments; the process environment is never changed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..config import Settings
from ..exceptions import InputError, PipelineError
from ..result import StageResult, collect_warnings

log = logging.getLogger(__name__)

#: ``env:`` keys a step may set: the settings (see radiogenomics.config) and the stage options
#: whose command-line default comes from the environment
STEP_ENV = ("RG_TCIA_URL", "RG_GEO_URL", "RG_CLINICAL_URL", "RG_IDC_ENDPOINT", "RG_IDC_INDEX", "RG_TIMEOUT",
            "RG_RETRIES", "RG_WORKERS", "RG_EXECUTOR", "RG_DEEP_WEIGHTS")

_REQUIRED = object()


# --------------------------------------------------------------------------- value converters


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        raise ValueError(f"expected one value, got {value!r}")
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(str(value).strip())


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return float(str(value).strip())


def _flag(value: Any) -> bool:
    if value is True:
        return True
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    raise ValueError(f"is a flag: give true (or leave it out), got {value!r}")


def _repeat(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def _path(value: Any) -> Path:
    return Path(_text(value)).expanduser()


def _existing_file(value: Any) -> Path:
    path = _path(value)
    if not path.is_file():
        raise ValueError(f"file {path} does not exist")
    return path


def _existing(value: Any) -> Path:
    path = _path(value)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    return path


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _numbers(text: str | None, kind: Callable[[str], Any], option: str) -> list:
    try:
        return [kind(v) for v in _split(text)]
    except ValueError as exc:
        raise InputError(f"--{option} must be comma-separated numbers, got {text!r}") from exc


@dataclass(frozen=True)
class Opt:
    """One option (or positional argument) of a stage: converter and command-line default."""

    convert: Callable[[Any], Any]
    default: Any = None
    #: name of the parameter on the command line when it differs from the key (``--3d``)
    flag: str | None = None


# --------------------------------------------------------------------------- calls


@dataclass
class StageCall:
    """One stage invocation: the store, the settings of the step, its parsed options."""

    stage: str
    store: Path
    settings: Settings
    env: Mapping[str, str] = field(default_factory=dict)
    step: str = ""

    @classmethod
    def for_step(cls, step: Any, store_path: str | os.PathLike[str],
                 data_dir: str | os.PathLike[str] | None = None) -> "StageCall":
        """The call of a pipeline step; ``env:`` keys become settings (never ``os.environ``).

        Raises
        ------
        PipelineError
            ``env:`` names something that is not a step setting.
        """
        unknown = sorted(set(step.env) - set(STEP_ENV))
        if unknown:
            raise PipelineError(f"step {step.name}: env: {unknown} cannot be passed to a stage; "
                                f"a step may set {', '.join(STEP_ENV)} (set others in the environment of rg run)")
        environ = {**os.environ, **step.env}
        settings = Settings.from_env(environ=environ, store=store_path, data_dir=data_dir)
        return cls(stage=step.stage, store=Path(store_path), settings=settings, env=environ, step=step.name)

    def env_default(self, name: str, default: str) -> str:
        return self.env.get(name) or default


@dataclass(frozen=True)
class Stage:
    """A registered stage: its options (with the command line's defaults) and its function."""

    name: str
    fn: Callable[..., StageResult]
    options: Mapping[str, Opt] = field(default_factory=dict)
    arguments: Mapping[str, Opt] = field(default_factory=dict)
    description: str = ""

    def bind(self, args: list[Any], params: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Positional arguments and options -> keyword arguments of :attr:`fn` (defaults filled in).

        Raises
        ------
        PipelineError
            Unknown option, missing required value, too many arguments, unusable value.
        """
        where = where or f"`rg {self.name}`"
        flags = {(o.flag or key): key for key, o in self.options.items()}
        kwargs: dict[str, Any] = {}
        for raw_key, value in params.items():
            key = flags.get(str(raw_key).replace("-", "_"), flags.get(str(raw_key)))
            if key is None:
                known = ", ".join("--" + k.replace("_", "-") for k in flags)
                raise PipelineError(f"{where}: no such option --{str(raw_key).replace('_', '-')} (options: {known})")
            if value is None or value is False or value == "":
                continue  # an empty variable leaves the option out (its default applies)
            opt = self.options[key]
            try:
                kwargs[key] = opt.convert(value)
            except (ValueError, TypeError) as exc:
                raise PipelineError(f"{where}: --{(opt.flag or key).replace('_', '-')}: {exc}") from exc
        names = list(self.arguments)
        if len(args) > len(names):
            raise PipelineError(f"{where}: takes {len(names)} argument(s) ({', '.join(names) or 'none'}), "
                                f"got {len(args)}: {args}")
        for name, value in zip(names, args):
            try:
                kwargs[name] = self.arguments[name].convert(value)
            except (ValueError, TypeError) as exc:
                raise PipelineError(f"{where}: argument {name.upper()}: {exc}") from exc
        for table in (self.options, self.arguments):
            for key, opt in table.items():
                if key in kwargs:
                    continue
                if opt.default is _REQUIRED:
                    label = key.upper() if table is self.arguments else "--" + (opt.flag or key).replace("_", "-")
                    raise PipelineError(f"{where}: {label} is required")
                kwargs[key] = opt.default
        return kwargs

    def run(self, call: StageCall, args: list[Any] | None = None, params: Mapping[str, Any] | None = None) -> StageResult:
        """Bind the options and run the stage; warnings raised are recorded in the result."""
        kwargs = self.bind(list(args or []), dict(params or {}), where=f"step {call.step}: `rg {self.name}`"
                           if call.step else "")
        collected: list[str] = []
        with collect_warnings(collected):
            result = self.fn(call, **kwargs)
        result.warnings.extend(w for w in collected if w not in result.warnings)
        return result


_REGISTRY: dict[str, Stage] = {}


def stage(name: str, options: Mapping[str, Opt] | None = None, arguments: Mapping[str, Opt] | None = None,
          description: str = "") -> Callable[[Callable[..., StageResult]], Callable[..., StageResult]]:
    """Register ``fn(call, **options)`` as the stage ``name``."""
    def register(fn: Callable[..., StageResult]) -> Callable[..., StageResult]:
        _REGISTRY[name] = Stage(name, fn, dict(options or {}), dict(arguments or {}),
                                description or (fn.__doc__ or "").strip().splitlines()[0])
        return fn
    return register


def get_stage(name: str) -> Stage | None:
    """The registered stage called ``name`` (whitespace-normalised), or None."""
    return _REGISTRY.get(" ".join(str(name).split()))


def stage_names() -> list[str]:
    return sorted(_REGISTRY)


def run_stage(name: str, store: str | os.PathLike[str], args: list[Any] | None = None,
              params: Mapping[str, Any] | None = None, *, settings: Settings | None = None) -> StageResult:
    """Run one registered stage on a store outside a pipeline (embedding, tests).

    Raises
    ------
    PipelineError
        Unknown stage or options.
    """
    spec = get_stage(name)
    if spec is None:
        raise PipelineError(f"no stage {name!r} (stages: {', '.join(stage_names())})")
    settings = settings or Settings.from_env(store=store)
    call = StageCall(stage=spec.name, store=Path(store), settings=settings, env=dict(os.environ))
    return spec.run(call, args, params)


def _executor(call: StageCall, executor: str | None) -> str:
    return executor or call.env_default("RG_EXECUTOR", "local")


EXECUTOR = Opt(_text, None)


# --------------------------------------------------------------------------- store


@stage("sql", {"format": Opt(_text, "table"), "out": Opt(_path, None), "write": Opt(_flag, False),
               "limit": Opt(_int, None), "wait": Opt(_float, 10.0)}, {"query": Opt(_text, _REQUIRED)})
def _sql(call: StageCall, query: str, format: str, out: Path | None, write: bool, limit: int | None,
         wait: float) -> StageResult:
    """Run SQL on the store (read-only and locked down unless --write); the counts give the rows.

    ``--format parquet --out FILE`` writes the result; otherwise the summary holds the rows
    as exact Python values (see :mod:`radiogenomics.store.sql`).
    """
    import pandas as pd

    from ..store import collect_runs
    from ..store.sql import open_for_sql, run_sql, unique_names, write_parquet

    if format not in ("table", "csv", "json", "parquet"):
        raise PipelineError(f"`rg sql`: --format must be table, csv, json or parquet, not {format!r}")
    if format == "parquet" and out is None:
        raise PipelineError("`rg sql`: --format parquet writes a file: add out: FILE.parquet")
    with collect_runs() as runs, open_for_sql(call.store, write=write, wait=wait) as store:
        result = run_sql(store, query, write=write)
        if format == "parquet":
            n = write_parquet(result, out)
            return StageResult("sql", run_ids=list(runs), counts={"rows": n}, summary=out)
        rows = result.fetch(limit) if limit else list(result.rows())
        frame = pd.DataFrame.from_records(rows, columns=unique_names([c.name for c in result.columns]))
    return StageResult("sql", run_ids=list(runs), counts={"rows": len(frame)}, summary=frame)


@stage("store info", {"json": Opt(_flag, False), "migrate": Opt(_flag, False), "check": Opt(_flag, False)})
def _store_info(call: StageCall, json: bool, migrate: bool, check: bool) -> StageResult:
    """Schema version, row counts of every table, the store's size; a damaged store raises."""
    from ..store.db import raise_if_damaged
    from ..store.maintenance import run_store_info

    result = run_store_info(call.store, migrate=migrate, check=check)
    raise_if_damaged(result.summary)
    return result


@stage("store features-to-parquet", {"location": Opt(_path, None), "buckets": Opt(_int, 64),
                                     "json": Opt(_flag, False)})
def _features_to_parquet(call: StageCall, location: Path | None, buckets: int, json: bool) -> StageResult:
    """Store features as partitioned Parquet."""
    from ..store.maintenance import run_features_to_parquet

    return run_features_to_parquet(call.store, location or call.settings.data_dir / "features_parquet",
                                   buckets=buckets)


@stage("store features-to-duckdb", {"keep_files": Opt(_flag, False), "json": Opt(_flag, False)})
def _features_to_duckdb(call: StageCall, keep_files: bool, json: bool) -> StageResult:
    """Move Parquet-backed features back into DuckDB."""
    from ..store.maintenance import run_features_to_duckdb

    return run_features_to_duckdb(call.store, keep_files=keep_files)


@stage("store features-compact", {"json": Opt(_flag, False)})
def _features_compact(call: StageCall, json: bool) -> StageResult:
    """Merge each Parquet partition's files into one."""
    from ..store.maintenance import run_features_compact

    return run_features_compact(call.store)


@stage("store features-attach", {"buckets": Opt(_int, 64)}, {"location": Opt(_text, _REQUIRED)})
def _features_attach(call: StageCall, location: str, buckets: int) -> StageResult:
    """Read features from an existing Parquet layout."""
    from ..store.maintenance import run_features_attach

    return run_features_attach(call.store, location, buckets=buckets)


# --------------------------------------------------------------------------- connectors


@stage("fetch tcia", {"collection": Opt(_text, _REQUIRED), "patient": Opt(_repeat, None),
                      "modality": Opt(_repeat, None), "referenced_ct": Opt(_flag, False), "workers": Opt(_int, 4),
                      "md5": Opt(_flag, False), "executor": EXECUTOR})
def _fetch_tcia(call: StageCall, collection: str, patient: list[str] | None, modality: list[str] | None,
                referenced_ct: bool, workers: int, md5: bool, executor: str | None) -> StageResult:
    """Download series of a TCIA collection."""
    from ..connectors.tcia import run_fetch_tcia

    return run_fetch_tcia(call.store, collection=collection, patients=patient or None, modalities=modality or None,
                          referenced_ct=referenced_ct, workers=workers, md5=md5, executor=_executor(call, executor),
                          settings=call.settings)


@stage("fetch idc", {"collection": Opt(_text, _REQUIRED), "patient": Opt(_repeat, None),
                     "modality": Opt(_repeat, None), "segmentation": Opt(_text, "all"),
                     "referenced_ct": Opt(_flag, False), "dry_run": Opt(_flag, False), "workers": Opt(_int, 4)})
def _fetch_idc(call: StageCall, collection: str, patient: list[str] | None, modality: list[str] | None,
               segmentation: str, referenced_ct: bool, dry_run: bool, workers: int) -> StageResult:
    """Download series of a collection from NCI Imaging Data Commons' public buckets."""
    from ..connectors.idc import run_fetch_idc

    return run_fetch_idc(call.store, collection=collection, patients=patient or None, modalities=modality or None,
                         segmentation=segmentation, referenced_ct=referenced_ct, dry_run=dry_run, workers=workers,
                         settings=call.settings)


@stage("fetch geo", {"file": Opt(_repeat, None)}, {"gse": Opt(_text, _REQUIRED)})
def _fetch_geo(call: StageCall, gse: str, file: list[str] | None) -> StageResult:
    """Download a GEO series."""
    from ..connectors.geo import run_fetch_geo

    return run_fetch_geo(call.store, gse, files=file or None, settings=call.settings)


@stage("fetch clinical", {"file": Opt(_path, None)}, {"name": Opt(_text, "nsclc-radiogenomics")})
def _fetch_clinical(call: StageCall, name: str, file: Path | None) -> StageResult:
    """Load the clinical CSV."""
    from ..connectors.collection import run_fetch_clinical

    return run_fetch_clinical(call.store, name, file=file, settings=call.settings)


@stage("fetch nsclc-radiogenomics", {"patient": Opt(_repeat, None), "workers": Opt(_int, 4),
                                     "clinical_file": Opt(_path, None), "skip": Opt(_repeat, None),
                                     "executor": EXECUTOR})
def _fetch_nsclc(call: StageCall, patient: list[str] | None, workers: int, clinical_file: Path | None,
                 skip: list[str] | None, executor: str | None) -> StageResult:
    """Clinical CSV, SEGs plus referenced CT, and GSE103584."""
    from ..connectors.collection import STUDY_PARTS, run_fetch_study

    bad = [s for s in (skip or []) if s not in STUDY_PARTS]
    if bad:
        raise PipelineError(f"`rg fetch nsclc-radiogenomics`: --skip takes clinical, tcia or geo, not {bad}")
    return run_fetch_study(call.store, "nsclc-radiogenomics", patients=patient or None, workers=workers,
                           clinical_file=clinical_file, skip=skip or (), executor=_executor(call, executor),
                           settings=call.settings)


@stage("import manifest", {"workers": Opt(_int, 4), "md5": Opt(_flag, False), "executor": EXECUTOR},
       {"manifest": Opt(_existing_file, _REQUIRED)})
def _import_manifest(call: StageCall, manifest: Path, workers: int, md5: bool, executor: str | None) -> StageResult:
    """Fetch exactly the series a .tcia manifest lists."""
    from ..connectors.manifest import run_import_manifest

    return run_import_manifest(call.store, manifest, workers=workers, md5=md5, executor=_executor(call, executor),
                               settings=call.settings)


@stage("import nbia", {"workers": Opt(_int, 4)}, {"folder": Opt(_existing, _REQUIRED)})
def _import_nbia(call: StageCall, folder: Path, workers: int) -> StageResult:
    """Register an existing NBIA Data Retriever download."""
    from ..connectors.nbia_import import run_import_nbia

    return run_import_nbia(call.store, folder, workers=workers, settings=call.settings)


# --------------------------------------------------------------------------- imaging


@stage("import features", {"format": Opt(_text, "auto"), "roi": Opt(_text, "tumor"),
                           "patient_column": Opt(_text, None), "patient_regex": Opt(_text, None),
                           "params": Opt(_existing_file, None)}, {"file": Opt(_existing_file, _REQUIRED)})
def _import_features(call: StageCall, format: str, roi: str, patient_column: str | None,  # noqa: A002 - the option
                     patient_regex: str | None, params: Path | None, file: Path) -> StageResult:
    """Features computed elsewhere (pyradiomics batch output, wide or long tables)."""
    from ..imaging.feature_import import run_import_features

    return run_import_features(call.store, file, format=format, roi=roi, patient_column=patient_column,
                               patient_regex=patient_regex, params=params)


@stage("import images", {"patient": Opt(_text, _REQUIRED), "image": Opt(_path, _REQUIRED),
                         "mask": Opt(_path, _REQUIRED), "roi": Opt(_text, "tumor"), "reader": Opt(_text, "default"),
                         "label": Opt(_int, None)})
def _import_images(call: StageCall, patient: str, image: Path, mask: Path, roi: str, reader: str,
                   label: int | None) -> StageResult:
    """Register an image + mask pair as an ROI."""
    from ..imaging.rois import run_import_images

    return run_import_images(call.store, patient=patient, image=image, mask=mask, roi=roi, reader=reader,
                             label=label, settings=call.settings)


@stage("rois", {"patient": Opt(_repeat, None), "ring_mm": Opt(_float, 3.0), "ring_gap_mm": Opt(_float, 0.0),
                "no_ring": Opt(_flag, False), "min_voxels": Opt(_int, 1), "workers": Opt(_int, None),
                "executor": EXECUTOR})
def _rois(call: StageCall, patient: list[str] | None, ring_mm: float, ring_gap_mm: float, no_ring: bool,
          min_voxels: int, workers: int | None, executor: str | None) -> StageResult:
    """Build ROIs from stored CT + SEG/RTSTRUCT series."""
    from ..imaging.rois import run_rois

    # per-patient failures: `rg rois` exits 12, the step is partial
    return run_rois(call.store, patients=patient or None, ring_mm=None if no_ring else ring_mm,
                    ring_gap_mm=ring_gap_mm, min_voxels=min_voxels, workers=workers,
                    executor=_executor(call, executor), settings=call.settings)


@stage("features", {"params": Opt(_path, None), "roi": Opt(_repeat, None), "patient": Opt(_repeat, None),
                    "workers": Opt(_int, None), "executor": EXECUTOR})
def _features(call: StageCall, params: Path | None, roi: list[str] | None, patient: list[str] | None,
              workers: int | None, executor: str | None) -> StageResult:
    """Extract pyradiomics features of the stored ROIs."""
    from ..imaging.features import run_features

    return run_features(call.store, params=params, rois=roi or None, patients=patient or None, workers=workers,
                        executor=_executor(call, executor), settings=call.settings)


@stage("stability", {"params": Opt(_path, None), "roi": Opt(_text, "tumor"), "method": Opt(_text, "auto"),
                     "perturbations": Opt(_text, "erode,dilate,shift+x,shift+y"), "in_plane": Opt(_flag, True),
                     "three_d": Opt(_flag, False, flag="3d"), "threshold": Opt(_float, 0.90),
                     "patient": Opt(_repeat, None), "max_patients": Opt(_int, None), "workers": Opt(_int, None),
                     "executor": EXECUTOR, "params_hash": Opt(_text, None)})
def _stability(call: StageCall, params: Path | None, roi: str, method: str, perturbations: str, in_plane: bool,
               three_d: bool, threshold: float, patient: list[str] | None, max_patients: int | None,
               workers: int | None, executor: str | None, params_hash: str | None) -> StageResult:
    """ICC per feature across readers or perturbed masks."""
    from ..imaging.stability import run_stability

    return run_stability(call.store, params=params, roi=roi, method=method, perturbations=_split(perturbations),
                         in_plane=in_plane and not three_d, patients=patient or None, max_patients=max_patients,
                         threshold=threshold, workers=workers, executor=_executor(call, executor),
                         params_hash=params_hash, settings=call.settings)


@stage("deep-features", {"weights": Opt(_path, None), "roi": Opt(_text, "tumor"), "arch": Opt(_text, "resnet18"),
                         "neighbours": Opt(_int, 2), "crop_mm": Opt(_float, 160.0), "pixels": Opt(_int, 160),
                         "pooling": Opt(_text, "mean"), "random_init": Opt(_flag, False), "seed": Opt(_int, 0),
                         "workers": Opt(_int, 1), "executor": EXECUTOR})
def _deep_features(call: StageCall, weights: Path | None, roi: str, arch: str, neighbours: int, crop_mm: float,
                   pixels: int, pooling: str, random_init: bool, seed: int, workers: int,
                   executor: str | None) -> StageResult:
    """2.5D deep features."""
    from ..imaging import deep

    return deep.run_deep_features(call.store, weights=weights or call.env.get("RG_DEEP_WEIGHTS") or None, roi=roi,
                                  arch=arch, neighbours=neighbours, crop_mm=crop_mm, pixels=pixels, pooling=pooling,
                                  random_init=random_init, seed=seed, workers=workers,
                                  executor=_executor(call, executor))


# --------------------------------------------------------------------------- models


@stage("radscore fit", {"endpoint": Opt(_text, "dfs"), "train": Opt(_path, None), "validation": Opt(_path, None),
                        "split": Opt(_float, 0.7),
                        "seed": Opt(_int, 0), "roi": Opt(_text, "tumor"), "params_hash": Opt(_text, None),
                        "stable": Opt(_flag, False), "all_features": Opt(_flag, False), "top_k": Opt(_int, 20),
                        "folds": Opt(_int, 10), "lambda": Opt(_text, "min"), "cutoff": Opt(_text, "maxstat"),
                        "minprop": Opt(_float, 0.1), "horizon": Opt(_float, None), "model_id": Opt(_text, None),
                        "cohort": Opt(_text, None)})
def _radscore_fit(call: StageCall, endpoint: str, train: Path | None, validation: Path | None, split: float,
                  seed: int, roi: str,
                  params_hash: str | None, stable: bool, all_features: bool, top_k: int, folds: int,
                  cutoff: str, minprop: float, horizon: float | None, model_id: str | None, cohort: str | None,
                  **kw: Any) -> StageResult:
    """Fit the LASSO-Cox Rad-score."""
    from ..models.workflow import run_radscore_fit

    if stable and all_features:
        raise PipelineError("`rg radscore fit`: give --stable or --all-features, not both")
    return run_radscore_fit(call.store, endpoint=endpoint, train_file=train, validation_file=validation, split=split,
                            seed=seed, roi=roi, params_hash=params_hash,
                            stable_only=True if stable else (False if all_features else None), top_k=top_k,
                            n_folds=folds, lambda_rule=kw["lambda"], cutoff_method=cutoff, minprop=minprop,
                            horizon=horizon, model_id=model_id, cohort=cohort)


@stage("radscore apply", {"model": Opt(_text, _REQUIRED), "patients": Opt(_text, None),
                          "cohort": Opt(_text, "external"), "roi": Opt(_text, None), "params_hash": Opt(_text, None),
                          "relabel_seen": Opt(_flag, False)})
def _radscore_apply(call: StageCall, model: str, patients: str | None, cohort: str, roi: str | None,
                    params_hash: str | None, relabel_seen: bool) -> StageResult:
    """Apply a frozen Rad-score formula."""
    from ..models.workflow import run_radscore_apply
    from ..patient_list import parse_patient_ids

    return run_radscore_apply(call.store, model=model, patients=parse_patient_ids(patients), cohort=cohort, roi=roi,
                              params_hash=params_hash, relabel_seen=relabel_seen)


@stage("radscore export", {"model": Opt(_text, _REQUIRED), "out": Opt(_path, None)})
def _radscore_export(call: StageCall, model: str, out: Path | None) -> StageResult:
    """Export the frozen formula as JSON."""
    from ..models.workflow import run_radscore_export

    return run_radscore_export(call.store, model=model, out=out)


@stage("groups", {"model": Opt(_text, None), "clinical": Opt(_text, None), "where": Opt(_text, None),
                  "method": Opt(_text, None), "ranks": Opt(_text, None), "quantiles": Opt(_text, None),
                  "thresholds": Opt(_text, None), "levels": Opt(_text, None), "labels": Opt(_text, None),
                  "grouping": Opt(_text, None), "cohort": Opt(_text, None), "cutoff": Opt(_float, None),
                  "patients": Opt(_text, None), "dataset": Opt(_text, None)})
def _groups(call: StageCall, model: str | None, clinical: str | None, where: str | None, method: str | None,
            ranks: str | None, quantiles: str | None, thresholds: str | None, levels: str | None,
            labels: str | None, grouping: str | None, cohort: str | None, cutoff: float | None,
            patients: str | None, dataset: str | None) -> StageResult:
    """A grouping from Rad-scores, a clinical column or a SQL predicate."""
    from ..models.groupings import run_groups
    from ..patient_list import parse_patient_ids

    return run_groups(call.store, model=model, clinical=clinical, where=where, method=method,
                      ranks=_numbers(ranks, int, "ranks") if ranks else None,
                      quantiles=_numbers(quantiles, float, "quantiles") if quantiles else None,
                      thresholds=_numbers(thresholds, float, "thresholds") if thresholds else None,
                      levels=_split(levels) or None, labels=_split(labels) or None, grouping=grouping,
                      cohort=cohort, cutoff=cutoff, patients=parse_patient_ids(patients), dataset=dataset)


@stage("groups import", {"grouping": Opt(_text, _REQUIRED)}, {"file": Opt(_existing_file, _REQUIRED)})
def _groups_import(call: StageCall, grouping: str, file: Path) -> StageResult:
    """A grouping from a patient_id,group CSV/TSV."""
    from ..models.groupings import run_groups_import

    return run_groups_import(call.store, file, grouping=grouping)


@stage("survival", {"model": Opt(_text, None), "grouping": Opt(_text, None), "endpoint": Opt(_text, "os"),
                    "covariates": Opt(_text, None), "times": Opt(_text, "365.25,1095.75,1826.25"),
                    "cohort": Opt(_text, None)})
def _survival(call: StageCall, model: str | None, grouping: str | None, endpoint: str, covariates: str | None,
              times: str, cohort: str | None) -> StageResult:
    """Survival evidence into model_results."""
    from ..models.workflow import run_survival

    return run_survival(call.store, model_id=model, grouping=grouping, endpoint=endpoint,
                        covariates=_split(covariates), times=_numbers(times, float, "times"), cohort=cohort)


@stage("classify", {"endpoint": Opt(_text, _REQUIRED), "positive": Opt(_text, None),
                    "features": Opt(_text, "radiomics,clinical"), "models": Opt(_text, "lasso,lr,svm,rf,knn,nb,mlp,lda"),
                    "split": Opt(_float, 0.3), "seed": Opt(_int, 0), "train": Opt(_path, None),
                    "reader_scores": Opt(_text, None), "params_hash": Opt(_text, None),
                    "clinical_columns": Opt(_text, None), "rois": Opt(_text, None), "inner_folds": Opt(_int, 5),
                    "outer_folds": Opt(_int, 5), "stable": Opt(_flag, False), "all_features": Opt(_flag, False)})
def _classify(call: StageCall, endpoint: str, positive: str | None, features: str, models: str, split: float,
              seed: int, train: Path | None, reader_scores: str | None, params_hash: str | None,
              clinical_columns: str | None, rois: str | None, inner_folds: int, outer_folds: int,
              stable: bool, all_features: bool) -> StageResult:
    """Predict a binary endpoint with the classifier panel."""
    if stable and all_features:
        raise PipelineError("`rg classify`: give --stable or --all-features, not both")
    from ..models.classify import run_classify

    return run_classify(call.store, endpoint, positive=positive, features=_split(features), models=_split(models),
                        split=split, seed=seed, train_file=train, reader_scores=reader_scores, params_hash=params_hash,
                        inner_folds=inner_folds, outer_folds=outer_folds,
                        clinical_columns=_split(clinical_columns) or None, rois=_split(rois) or None,
                        stable_only=True if stable else (False if all_features else None))


# --------------------------------------------------------------------------- omics and association


def _two_groups(value: str, option: str = "groups") -> tuple[str, str]:
    parts = _split(value)
    if len(parts) != 2:
        raise PipelineError(f"--{option}: give two groups separated by a comma, e.g. high,low (got {value!r})")
    return parts[0], parts[1]


def _expression_options(min_present: float, min_value: float | None, min_fraction: float, collapse: str):
    from ..omics import ExpressionOptions

    return ExpressionOptions(min_present=min_present, min_value=min_value, min_fraction=min_fraction,
                             collapse=collapse)


_EXPRESSION = {"min_present": Opt(_float, 0.8), "min_value": Opt(_float, None), "min_fraction": Opt(_float, 0.2),
               "collapse": Opt(_text, "max_mean")}


@stage("de", {"grouping": Opt(_text, _REQUIRED), "dataset": Opt(_text, _REQUIRED), "groups": Opt(_text, "high,low"),
              "method": Opt(_text, "auto"), "covariate": Opt(_repeat, []), "lfc": Opt(_float, 0.1),
              "p": Opt(_float, 0.05), "adjusted": Opt(_flag, False), **_EXPRESSION})
def _de(call: StageCall, grouping: str, dataset: str, groups: str, method: str, covariate: list[str], lfc: float,
        p: float, adjusted: bool, min_present: float, min_value: float | None, min_fraction: float,
        collapse: str) -> StageResult:
    """Differential expression between two groups."""
    from ..omics import run_de

    return run_de(call.store, grouping, dataset, groups=_two_groups(groups), method=method, covariates=covariate,
                  lfc_threshold=lfc, p_threshold=p, adjusted=adjusted,
                  options=_expression_options(min_present, min_value, min_fraction, collapse))


@stage("gsea", {"grouping": Opt(_text, _REQUIRED), "dataset": Opt(_text, _REQUIRED),
                "groups": Opt(_text, "high,low"), "method": Opt(_text, "prerank"), "library": Opt(_text, "hallmark"),
                "permutations": Opt(_int, 1000), "seed": Opt(_int, 0), "fdr": Opt(_float, 0.25),
                "min_size": Opt(_int, 15), "max_size": Opt(_int, 500), **_EXPRESSION})
def _gsea(call: StageCall, grouping: str, dataset: str, groups: str, method: str, library: str, permutations: int,
          seed: int, fdr: float, min_size: int, max_size: int, min_present: float, min_value: float | None,
          min_fraction: float, collapse: str) -> StageResult:
    """Gene-set enrichment analysis."""
    from ..omics import run_gsea

    return run_gsea(call.store, grouping, dataset, groups=_two_groups(groups), method=method, library=library,
                    permutations=permutations, seed=seed, fdr_threshold=fdr, min_size=min_size, max_size=max_size,
                    options=_expression_options(min_present, min_value, min_fraction, collapse))


@stage("ora", {"grouping": Opt(_text, _REQUIRED), "dataset": Opt(_text, _REQUIRED), "groups": Opt(_text, "high,low"),
               "library": Opt(_repeat, ["go_bp", "go_mf", "go_cc"]), "min_size": Opt(_int, 10),
               "max_size": Opt(_int, 500)})
def _ora(call: StageCall, grouping: str, dataset: str, groups: str, library: list[str], min_size: int,
         max_size: int) -> StageResult:
    """Over-representation of the up / down DE genes."""
    from ..omics import run_ora

    return run_ora(call.store, grouping, dataset, groups=_two_groups(groups), libraries=library, min_size=min_size,
                   max_size=max_size)


@stage("immune", {"dataset": Opt(_text, _REQUIRED), "signature": Opt(_existing_file, None),
                  "method": Opt(_repeat, None), "perm": Opt(_int, 100), "seed": Opt(_int, 0), "workers": Opt(_int, 1),
                  **_EXPRESSION})
def _immune(call: StageCall, dataset: str, signature: Path | None, method: list[str] | None, perm: int, seed: int,
            workers: int, min_present: float, min_value: float | None, min_fraction: float,
            collapse: str) -> StageResult:
    """ESTIMATE, immunophenoscore and deconvolution per patient."""
    from ..omics import run_immune

    return run_immune(call.store, dataset, signature=str(signature) if signature else None, methods=method or None,
                      perm=perm, seed=seed, options=_expression_options(min_present, min_value, min_fraction, collapse),
                      workers=workers)


@stage("harmonize", {"batch": Opt(_text, _REQUIRED), "roi": Opt(_text, "tumor"), "params_hash": Opt(_text, None),
                     "preserve": Opt(_text, None), "train": Opt(_path, None), "model": Opt(_text, None),
                     "nonparametric": Opt(_flag, False)})
def _harmonize(call: StageCall, batch: str, roi: str, params_hash: str | None, preserve: str | None,
               train: Path | None, model: str | None, nonparametric: bool) -> StageResult:
    """ComBat harmonisation of features."""
    from ..imaging.harmonize import run_harmonize

    return run_harmonize(call.store, batch, roi=roi, params_hash=params_hash, preserve=_split(preserve),
                         train_file=train, model_id=model, parametric=not nonparametric)


@stage("map", {"map_id": Opt(_text, "default"), "model": Opt(_text, None), "features": Opt(_text, "stable"),
               "roi": Opt(_text, "tumor"), "params_hash": Opt(_text, None), "dataset": Opt(_text, None),
               "pathways": Opt(_text, "hallmark"), "no_immune": Opt(_flag, False), "genes": Opt(_flag, False),
               "adjust": Opt(_text, None)})
def _map(call: StageCall, map_id: str, model: str | None, features: str, roi: str, params_hash: str | None,
         dataset: str | None, pathways: str, no_immune: bool, genes: bool, adjust: str | None) -> StageResult:
    """The radiogenomic map."""
    from ..associate.map_stage import run_map

    return run_map(call.store, map_id, model_id=model, features=features, roi=roi, params_hash=params_hash,
                   dataset_id=dataset, pathways=pathways, immune=not no_immune, genes=genes, adjust=_split(adjust))


@stage("associate", {"grouping": Opt(_text, _REQUIRED), "dataset": Opt(_text, None),
                     "what": Opt(_text, "de,gsea,ora,immune,clinical"), "groups": Opt(_text, None),
                     "gsea_method": Opt(_text, "prerank"), "permutations": Opt(_int, 1000), "seed": Opt(_int, 0),
                     "library": Opt(_repeat, None), "signature": Opt(_existing_file, None), "lfc": Opt(_float, 0.1),
                     "p": Opt(_float, 0.05)})
def _associate(call: StageCall, grouping: str, dataset: str | None, what: str, groups: str | None, gsea_method: str,
               permutations: int, seed: int, library: list[str] | None, signature: Path | None, lfc: float,
               p: float) -> StageResult:
    """Omics and clinicopathological tests of a grouping."""
    from ..associate.study import run_associate

    if permutations < 10:
        raise PipelineError(f"`rg associate`: --permutations must be at least 10, got {permutations}")
    return run_associate(call.store, grouping=grouping, dataset_id=dataset, what=what,
                         groups=_split(groups) if groups else None, gsea_method=gsea_method, permutations=permutations, seed=seed,
                         libraries=tuple(library or ("go_bp",)), signature=str(signature) if signature else None,
                         lfc_threshold=lfc, p_threshold=p)


@stage("report", {"grouping": Opt(_text, _REQUIRED), "out": Opt(_path, None), "dataset": Opt(_text, None),
                  "title": Opt(_text, None), "truth": Opt(_path, None)})
def _report(call: StageCall, grouping: str, out: Path | None, dataset: str | None, title: str | None,
            truth: Path | None) -> StageResult:
    """Write the study report (with a synthetic cohort's planted-effect checks first when ``truth`` is given)."""
    from ..report import run_report

    return run_report(call.store, grouping, out, dataset_id=dataset, title=title, truth=truth)
