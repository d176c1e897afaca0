"""pyradiomics feature extraction: one ROI (:func:`extract_features`) or the whole store (:func:`run_features`).

Parameters are pyradiomics' own YAML/dict format (``imageType``, ``featureClass``,
``setting``).  The default file ``data_catalog/pyradiomics/default_851.yaml`` gives
the 851 features of the reference study.  Results are cached in the store by
(image sha1, mask sha1, params hash): rerunning with unchanged inputs computes
nothing, a changed parameter file gets a new hash and new rows beside the old ones.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..exceptions import ConfigError, ImagingError
from ..result import StageResult, stage_entry
from .volumes import image_sha1, read_image

log = logging.getLogger(__name__)

DEFAULT_PARAMS_FILE = ("pyradiomics", "default_851.yaml")
_PARAM_SECTIONS = {"imageType", "featureClass", "setting", "voxelSetting"}
STAGE = "features"


@dataclass(frozen=True)
class FeatureParams:
    """A pyradiomics parameter set with its canonical hash."""

    params: dict
    yaml_text: str
    source: str
    hash: str


def params_hash(params: Mapping[str, Any]) -> str:
    """Hash of a parameter dict: comments, key order and formatting do not matter."""
    import hashlib

    canonical = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha1(canonical.encode()).hexdigest()[:16]


def default_params_path() -> Path:
    """Path of the shipped default parameter file (851 features)."""
    from ..catalog import catalog_file

    return catalog_file(*DEFAULT_PARAMS_FILE)


def _validate(params: dict, source: str) -> None:
    try:
        _extractor(params)  # pyradiomics validates in its constructor; the extractor is kept for the run
    except Exception as exc:  # noqa: BLE001 - pykwalify raises its own SchemaError types
        message = str(exc).strip().splitlines()
        raise ConfigError(f"pyradiomics parameters {source} are invalid: {' '.join(message)[:400]}; "
                          "see https://pyradiomics.readthedocs.io/en/latest/customization.html") from exc


def load_params(params: str | os.PathLike[str] | Mapping[str, Any] | FeatureParams | None = None) -> FeatureParams:
    """Load and validate pyradiomics parameters.

    Parameters
    ----------
    params
        ``None`` (the default 851-feature file), a YAML/JSON file path, or a dict in
        pyradiomics' layout (``imageType``/``featureClass``/``setting``).

    Raises
    ------
    ConfigError
        The file is missing, not YAML, or fails pyradiomics' schema.
    """
    import yaml

    if isinstance(params, FeatureParams):
        return params
    if params is None or isinstance(params, (str, os.PathLike)):
        path = default_params_path() if params is None else Path(params)
        if not path.is_file():
            raise ConfigError(f"pyradiomics parameter file {path} does not exist")
        text = path.read_text()
        try:
            parsed = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"pyradiomics parameter file {path} is not valid YAML: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ConfigError(f"pyradiomics parameter file {path} must be a mapping with imageType/featureClass/setting")
        source = str(path)
    else:
        parsed = json.loads(json.dumps(dict(params), default=str))
        text = yaml.safe_dump(parsed, sort_keys=True)
        source = "<dict>"
    unknown = set(parsed) - _PARAM_SECTIONS
    if unknown:
        raise ConfigError(f"pyradiomics parameters {source} have unknown sections {sorted(unknown)}; "
                          f"allowed: {sorted(_PARAM_SECTIONS)}")
    _validate(parsed, source)
    return FeatureParams(params=parsed, yaml_text=text, source=source, hash=params_hash(parsed))


def _settings_to_params(settings: Any) -> dict:
    """``extract_features``' ``settings`` -> a full pyradiomics parameter dict."""
    if settings is None:
        return load_params(None).params
    if isinstance(settings, FeatureParams):
        return settings.params
    if isinstance(settings, (str, os.PathLike)):
        return load_params(settings).params
    settings = dict(settings)
    if set(settings) & _PARAM_SECTIONS:
        return load_params(settings).params
    base = json.loads(json.dumps(load_params(None).params))
    base.setdefault("setting", {}).update(settings)
    return load_params(base).params


def _as_image(value: Any, what: str) -> sitk.Image:
    if isinstance(value, sitk.Image):
        return value
    if isinstance(value, (str, os.PathLike)):
        return read_image(value, what)
    raise ImagingError(f"{what} must be a file path or a SimpleITK image, got {type(value).__name__}")


class _DropNotes(logging.Filter):
    """Drop pyradiomics' per-ROI informational warnings (e.g. "GLCM is symmetrical")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "GLCM is symmetrical" not in record.getMessage()


_DROP_NOTES = _DropNotes()


def _quiet_radiomics() -> None:
    """pyradiomics sets its logger to INFO on import (a line per feature class and filter);
    keep it quiet unless radiogenomics itself logs at DEBUG (``rg -vv``)."""
    import radiomics  # noqa: F401 - the import is what resets the level

    for name in ("radiomics", "radiomics.glcm"):
        logger = logging.getLogger(name)
        if _DROP_NOTES not in logger.filters:
            logger.addFilter(_DROP_NOTES)
    debug = logging.getLogger("radiogenomics").isEnabledFor(logging.DEBUG)
    logging.getLogger("radiomics").setLevel(logging.INFO if debug else logging.ERROR)


_EXTRACTORS: dict[str, Any] = {}


def _extractor(params: dict):
    """The extractor of a parameter set, built (and schema-validated by pyradiomics) once per process.

    It is pyradiomics' extractor with a loader that resamples a crop around the ROI
    instead of the whole CT (:mod:`radiogenomics.imaging.cropload`; same values).
    """
    from .cropload import cropping_extractor_class

    _quiet_radiomics()
    key = json.dumps(params, sort_keys=True, default=str)
    if key not in _EXTRACTORS:
        _EXTRACTORS.clear()  # one parameter set per run; do not keep old ones alive
        _EXTRACTORS[key] = cropping_extractor_class()(json.loads(key))
    return _EXTRACTORS[key]


def nan_voxels_in_mask(image: sitk.Image, mask: sitk.Image, label: int | None = 1) -> int:
    """Number of ROI voxels whose image value is NaN (or infinite).

    pyradiomics does not refuse them; they silently turn intensity features into NaN
    or skew them, so callers warn.
    """
    values = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(values.dtype, np.floating):
        return 0
    labels = sitk.GetArrayViewFromImage(mask)
    if labels.shape != values.shape:
        return 0
    inside = labels == (1 if label is None else label)
    return int((~np.isfinite(values[inside])).sum())


def _nan_message(where: str, count: int) -> str:
    return (f"{where}: {count} voxel(s) inside the mask are NaN/infinite in the image; intensity and texture "
            "features are unreliable -- fix or resample the image (e.g. fill with the background value)")


def _execute(extractor, image: sitk.Image, mask: sitk.Image, label: int | None, where: str,
             nan_voxels: int = 0) -> tuple[pd.Series, dict]:
    try:
        result = extractor.execute(image, mask, label=label)
    except (ValueError, RuntimeError, IndexError, TypeError, AssertionError) as exc:
        text = " ".join(str(exc).split())
        if nan_voxels:  # the likely cause, said plainly
            raise ImagingError(f"pyradiomics failed ({text[:120]}): {_nan_message(where, nan_voxels)}") from exc
        raise ImagingError(f"pyradiomics failed on {where}: {text[:300]}") from exc
    features = {}
    diagnostics = {}
    for key, value in result.items():
        if key.startswith("diagnostics_"):
            diagnostics[key] = str(value)
        else:
            try:
                features[key] = float(np.asarray(value))
            except (TypeError, ValueError):
                features[key] = float("nan")
    return pd.Series(features, dtype=float, name="value"), diagnostics


def extract_features(image: str | os.PathLike[str] | sitk.Image, mask: str | os.PathLike[str] | sitk.Image,
                     settings: Mapping[str, Any] | str | os.PathLike[str] | None = None,
                     label: int = 1) -> pd.Series:
    """pyradiomics features of one ROI.

    Parameters
    ----------
    image, mask
        File paths (NRRD, NIfTI, ...) or SimpleITK images on the same grid.
    settings
        In pyradiomics' names.  ``None``: the default 851-feature parameter file.
        A flat dict (``{"binWidth": 25, ...}``) overrides the default file's
        ``setting`` section; a dict with ``imageType``/``featureClass``/``setting``
        sections, or a YAML path, is a complete parameter set.
    label
        Mask value of the ROI.

    Returns
    -------
    pandas.Series
        Float values indexed by pyradiomics' feature names (``original_shape_Elongation``,
        ``wavelet-LLH_glcm_Idm``, ...); diagnostics are not included.

    Raises
    ------
    ImagingError
        Unreadable files, mask off the image grid, label absent, ROI too small.
    ConfigError
        Invalid settings.
    """
    import warnings

    from ..exceptions import DataQualityWarning

    params = _settings_to_params(settings)
    img = _as_image(image, "image")
    msk = _as_image(mask, "mask")
    where = f"{image if not isinstance(image, sitk.Image) else 'image'}"
    bad = nan_voxels_in_mask(img, msk, label)
    if bad:
        warnings.warn(_nan_message(where, bad), DataQualityWarning, stacklevel=2)
    features, _ = _execute(_extractor(params), img, msk, label, where, bad)
    return features


# ---------------------------------------------------------------------------- pipeline
@dataclass
class FeatureRunSummary:
    """Outcome of :func:`extract_store_features` (the ``summary`` of :func:`run_features`)."""

    run_id: str
    params_hash: str
    n_rois: int = 0
    computed: int = 0
    cached: int = 0
    failed: int = 0
    n_features: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (patient, roi, reason)
    warnings: list[str] = field(default_factory=list)  # data-quality warnings (NaN voxels in a mask ...)


def _features_worker(task: dict) -> dict:
    """Extract features of one patient's ROIs (runs in a worker process; never touches the store)."""
    if task.get("threads"):
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(task["threads"]))
    extractor = _extractor(task["params"])
    label = task["params"].get("setting", {}).get("label", 1)
    images: dict[str, tuple[sitk.Image, str]] = {}
    results, errors = [], []
    for roi in task["rois"]:
        where = f"patient {task['patient_id']} ROI {roi['roi']}"
        try:
            if roi["image_path"] not in images:
                loaded = read_image(roi["image_path"], "image")
                images[roi["image_path"]] = (loaded, image_sha1(loaded))
            image, image_hash = images[roi["image_path"]]
            mask = read_image(roi["mask_path"], "mask")
            # the cache key must describe what is computed: refuse files changed since registration
            for kind, actual, expected in (("image", image_hash, roi.get("image_sha1")),
                                           ("mask", image_sha1(mask), roi.get("mask_sha1"))):
                if expected and actual != expected:
                    raise ImagingError(f"{where}: the {kind} file {roi[kind + '_path']} changed since it was "
                                       "registered; rerun `rg rois` or `rg import images`")
            nan_count = nan_voxels_in_mask(image, mask, label)
            features, diagnostics = _execute(extractor, image, mask, label, where, nan_count)
            if nan_count:  # kept with the features, and warned about by the parent process
                diagnostics["rg_nan_voxels_in_mask"] = str(nan_count)
            results.append(dict(roi=roi["roi"], image_sha1=roi.get("image_sha1"), mask_sha1=roi.get("mask_sha1"),
                                features=features.to_dict(), diagnostics=diagnostics, nan_voxels=nan_count,
                                where=where))
        except ImagingError as exc:
            errors.append((roi["roi"], str(exc)))
    return dict(patient_id=task["patient_id"], results=results, errors=errors)


class _Progress:
    """Adapter over a rich Progress, a callable ``(done, total)``, or nothing."""

    def __init__(self, progress: Any, total: int, description: str) -> None:
        self.progress, self.total, self.done = progress, total, 0
        self.task = progress.add_task(description, total=total) if hasattr(progress, "add_task") else None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.task is not None:
            self.progress.advance(self.task, n)
        elif callable(self.progress):
            self.progress(self.done, self.total)


def _select_rois(store, rois: Sequence[str] | None, patients: Sequence[str] | None,
                 readers: Sequence[str] | None = ("default",)) -> pd.DataFrame:
    from ..store.tables import usable_rois

    frame = usable_rois(store, rois, patients, readers)[["patient_id", "roi", "reader", "image_path", "mask_path",
                                                          "image_sha1", "mask_sha1"]]
    if frame.empty:
        what = []
        if rois:
            what.append(f"ROI {', '.join(rois)}")
        if patients:
            what.append(f"patient {', '.join(patients)}")
        raise ImagingError(f"no usable ROIs in the store{' for ' + ' and '.join(what) if what else ''}; "
                           "run `rg rois` (from DICOM SEG) or `rg import images` first")
    return frame


@stage_entry
def run_features(store, *, params: Any = None, rois: Sequence[str] | None = None,
                 patients: Sequence[str] | None = None, workers: int | None = None, executor: str = "local",
                 progress: Any = None, batch_size: int = 16, settings: Any = None) -> StageResult:
    """``rg features``: extract features of the store's ROIs and store them (see :func:`extract_store_features`).

    ``workers`` defaults to ``settings.workers`` (``RG_WORKERS``).  The result's ``summary``
    is the :class:`FeatureRunSummary`; per-patient failures make it ``partial``.
    """
    from ..config import stage_settings

    workers = workers if workers is not None else stage_settings(settings).workers
    summary = extract_store_features(store, params=params, rois=rois, patients=patients, workers=workers,
                                     executor=executor, progress=progress, batch_size=batch_size)
    return StageResult("features", run_ids=[summary.run_id],
                       counts={"computed": summary.computed, "cached": summary.cached, "failed": summary.failed,
                               "features": summary.n_features},
                       failures=list(summary.failures), partial=bool(summary.failures), summary=summary)


def extract_store_features(store, params: Any = None, rois: Sequence[str] | None = None,
                           patients: Sequence[str] | None = None, workers: int = 1, executor: str = "local",
                           progress: Any = None, batch_size: int = 16) -> FeatureRunSummary:
    """Extract features for the store's ROIs, in parallel over patients, and store them.

    Parameters
    ----------
    store
        An open read-write :class:`~radiogenomics.store.Store`, or the path of one: then
        the store is opened only to read the work list and to write each batch, so
        ``rg sql`` can read while features are computed.
    params
        pyradiomics parameter file / dict; ``None`` for the default 851-feature file.
    rois, patients
        Restrict to these ROI names / patient ids.
    workers, executor
        Passed to :func:`radiogenomics.executor.get_executor`.
    progress
        A rich ``Progress`` or a callable ``(done, total)``.
    batch_size
        Patients per write transaction.

    Returns
    -------
    FeatureRunSummary
        ``computed`` / ``cached`` / ``failed`` count ROIs.

    Raises
    ------
    ImagingError
        No usable ROIs selected.
    ConfigError
        Invalid parameter file.
    """
    import warnings

    from ..exceptions import DataQualityWarning, RGError
    from ..executor import batched, get_executor
    from ..store import tables
    from ..store.session import RunRecorder, StoreSession, write_batch

    p = load_params(params)
    started = time.monotonic()
    # a store path is opened only for each write, so `rg sql` can read during a long extraction
    session = StoreSession(store)
    with session.reading() as st:
        selected = _select_rois(st, rois, patients)
        cached_keys = tables.feature_cache_keys(st, p.hash)
    todo = selected[[(r.patient_id, r.roi, r.image_sha1, r.mask_sha1) not in cached_keys
                     for r in selected.itertuples()]]
    run_params = dict(params_hash=p.hash, params_source=p.source, rois=list(rois or []),
                      patients=list(patients or []), workers=workers, executor=executor)
    inputs: dict[str, str] = {}
    if p.source != "<dict>" and Path(p.source).is_file():
        from ..store import sha256_file

        inputs[f"params:{Path(p.source).name}"] = sha256_file(p.source)
    with RunRecorder(session, "rg features", run_params, inputs) as run:
        summary = FeatureRunSummary(run_id=run.run_id, params_hash=p.hash, n_rois=len(selected),
                                    cached=len(selected) - len(todo))
        with session.open() as st:
            st.upsert("feature_params", pd.DataFrame([dict(params_hash=p.hash, params_yaml=p.yaml_text,
                                                           source_path=p.source)]), run_id=run.run_id)
        tasks = []
        # one ITK thread per worker process; a single patient runs in this process with all of them
        threads = 1 if workers > 1 and todo.patient_id.nunique() > 1 else 0
        for patient_id, group in todo.groupby("patient_id", sort=True):
            tasks.append(dict(patient_id=patient_id, params=p.params, threads=threads,
                              rois=group[["roi", "image_path", "mask_path", "image_sha1", "mask_sha1"]]
                              .to_dict("records")))
        log.info("features: %d ROIs selected, %d cached, %d patients to compute (params %s)",
                 len(selected), summary.cached, len(tasks), p.hash)
        bar = _Progress(progress, len(tasks), "features")
        names: set[str] = set()
        if tasks:
            with get_executor(executor, workers) as ex:
                stream = ex.map_unordered(_features_worker, tasks, keys=[t["patient_id"] for t in tasks])
                for batch in batched(stream, batch_size):
                    feat_rows, diag_rows, failures = [], [], []
                    for result in batch:
                        bar.advance()
                        if not result.ok:
                            error = result.error
                            text = str(error) if isinstance(error, RGError) else f"{type(error).__name__}: {error}"
                            failures.append((result.key, "", text))
                            summary.failed += int((todo.patient_id == result.key).sum())
                            continue
                        value = result.value
                        for roi, reason in value["errors"]:
                            failures.append((value["patient_id"], roi, reason))
                            summary.failed += 1
                        for res in value["results"]:
                            if res.get("nan_voxels"):
                                warnings.warn(_nan_message(res["where"], res["nan_voxels"]), DataQualityWarning,
                                              stacklevel=2)
                                summary.warnings.append(_nan_message(res["where"], res["nan_voxels"]))
                            names.update(res["features"])
                            feat_rows.append(pd.DataFrame({
                                "patient_id": value["patient_id"], "roi": res["roi"],
                                "feature": list(res["features"]), "params_hash": p.hash,
                                "value": list(res["features"].values()),
                                "image_sha1": res["image_sha1"], "mask_sha1": res["mask_sha1"]}))
                            diag_rows.append(pd.DataFrame({
                                "patient_id": value["patient_id"], "roi": res["roi"], "params_hash": p.hash,
                                "key": list(res["diagnostics"]), "value": list(res["diagnostics"].values())}))
                            summary.computed += 1
                    lost = write_batch(session, run, STAGE, failures,
                                       {"features": feat_rows, "feature_diagnostics": diag_rows}, summary.failures)
                    for patient_id in lost:  # computed, but could not be stored (disk full ...)
                        n = sum(int((f["patient_id"] == patient_id).any()) for f in diag_rows)
                        summary.computed -= n
                        summary.failed += n
        if not names:
            with session.reading() as st:
                summary.n_features = tables.feature_count(st, p.hash)
        else:
            summary.n_features = len(names)
    summary.seconds = time.monotonic() - started
    return summary


def feature_matrix(store, roi: str = "tumor", params_hash: str | None = None,
                   features: Sequence[str] | None = None, *, stable_only: bool | None = None) -> pd.DataFrame:
    """Wide patients x features table of one ROI: :func:`radiogenomics.store.tables.feature_matrix`.

    Kept here for imports; the parameter-set, diagnostics and stability policy is the
    read layer's (documented there).
    """
    from ..store.tables import feature_matrix as read_matrix

    return read_matrix(store, roi, params_hash, stable_only=stable_only, features=features)
