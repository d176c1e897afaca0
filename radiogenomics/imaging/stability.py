"""Feature stability: ICC(3,1) and ICC(2,1) across repeated or perturbed segmentations.

With several readers per (patient, ROI) in ``rois`` the raters are the readers;
otherwise each patient's mask is perturbed (erode / dilate by one voxel, one-voxel
shifts) and the raters are the original plus its perturbations — the accepted
stand-in when a cohort has no repeated segmentations.  ICC follows Shrout & Fleiss
(1979) from the two-way ANOVA mean squares.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..exceptions import ConfigError, ImagingError
from ..result import StageResult, stage_entry
from ..store.tables import usable_rois
from .features import _execute, _extractor, _Progress, load_params
from .rois import mask_problem
from .volumes import read_image

log = logging.getLogger(__name__)

STAGE = "stability"
DEFAULT_PERTURBATIONS = ("erode", "dilate", "shift+x", "shift+y")
DEFAULT_THRESHOLD = 0.90
_KINDS = ("erode", "dilate", "shift+x", "shift-x", "shift+y", "shift-y", "shift+z", "shift-z")


# ---------------------------------------------------------------------------- ICC core
@dataclass(frozen=True)
class ICCResult:
    """Shrout & Fleiss intraclass correlations and the ANOVA mean squares they come from."""

    icc11: float
    icc21: float
    icc31: float
    n: int
    k: int
    bms: float  # between targets
    jms: float  # between judges (raters)
    ems: float  # residual
    wms: float  # within targets


def icc(data: np.ndarray) -> ICCResult:
    """ICC(1,1), ICC(2,1) and ICC(3,1) of a targets x raters matrix.

    Parameters
    ----------
    data
        Array (n targets, k raters).  Rows with any NaN are dropped (the design must
        be complete).

    Returns
    -------
    ICCResult
        ICC(3,1) = (BMS - EMS) / (BMS + (k-1) EMS) (consistency, fixed raters);
        ICC(2,1) = (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS) / n) (absolute
        agreement, random raters); NaN when fewer than 2 targets or raters remain
        or the denominator is 0 (a constant feature).
    """
    x = np.asarray(data, dtype=float)
    if x.ndim != 2:
        raise ImagingError(f"icc needs a 2-D targets x raters array, got shape {x.shape}")
    x = x[~np.isnan(x).any(axis=1)]
    n, k = x.shape
    nan = float("nan")
    if n < 2 or k < 2:
        return ICCResult(nan, nan, nan, n, k, nan, nan, nan, nan)
    grand = x.mean()
    ss_total = ((x - grand) ** 2).sum()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    wms = (ss_total - ss_rows) / (n * (k - 1))

    # a denominator that is rounding noise next to the total variance (e.g. identical
    # targets) would give an arbitrary ratio: report NaN instead
    floor = 1e-10 * ss_total / (n * k - 1)

    def ratio(num: float, den: float) -> float:
        return float(num / den) if den > floor and den > 0 and np.isfinite(den) else nan

    return ICCResult(icc11=ratio(bms - wms, bms + (k - 1) * wms),
                     icc21=ratio(bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n),
                     icc31=ratio(bms - ems, bms + (k - 1) * ems),
                     n=n, k=k, bms=float(bms), jms=float(jms), ems=float(ems), wms=float(wms))


def icc_table(values: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """ICC per feature from a long table with columns ``feature, patient_id, rater, value``.

    Returns
    -------
    DataFrame
        ``feature, icc31, icc21, n_patients, n_raters, stable`` with
        ``stable = icc31 > threshold`` (False when ICC is NaN).
    """
    rows = []
    for feature, group in values.groupby("feature", sort=True):
        wide = group.pivot_table(index="patient_id", columns="rater", values="value", aggfunc="first", dropna=False)
        res = icc(wide.to_numpy(dtype=float))
        rows.append(dict(feature=feature, icc31=res.icc31, icc21=res.icc21, n_patients=res.n, n_raters=res.k,
                         stable=bool(np.isfinite(res.icc31) and res.icc31 > threshold)))
    return pd.DataFrame(rows, columns=["feature", "icc31", "icc21", "n_patients", "n_raters", "stable"])


# ---------------------------------------------------------------------------- perturbations
def _parse_kind(kind: str) -> tuple[str, int]:
    name, _, amount = kind.partition(":")
    name = name.strip().lower()
    if name not in _KINDS:
        raise ConfigError(f"unknown mask perturbation {kind!r}; use {', '.join(_KINDS)} (optionally ':N' voxels)")
    try:
        voxels = int(amount) if amount else 1
    except ValueError as exc:
        raise ConfigError(f"perturbation {kind!r}: the amount after ':' must be a whole number of voxels") from exc
    if voxels < 1:
        raise ConfigError(f"perturbation {kind!r}: the amount must be >= 1 voxel")
    return name, voxels


def perturb_mask(mask: np.ndarray, kind: str, in_plane: bool = True) -> np.ndarray:
    """A perturbed copy of a binary mask (z, y, x).

    Parameters
    ----------
    mask
        Boolean array.
    kind
        ``erode``, ``dilate``, ``shift+x``, ``shift-x``, ``shift+y``, ``shift-y``,
        ``shift+z``, ``shift-z``, optionally with ``:N`` voxels (default 1).
    in_plane
        Erode / dilate within each slice only (default): CT slices are often much
        thicker than pixels, and a 3-D step would remove whole slices.

    Returns
    -------
    ndarray of bool
    """
    from scipy import ndimage

    name, voxels = _parse_kind(kind)
    mask = np.asarray(mask, dtype=bool)
    if name in ("erode", "dilate"):
        if in_plane:
            structure = np.zeros((3, 3, 3), dtype=bool)
            structure[1] = ndimage.generate_binary_structure(2, 1)
        else:
            structure = ndimage.generate_binary_structure(3, 1)
        op = ndimage.binary_erosion if name == "erode" else ndimage.binary_dilation
        return op(mask, structure=structure, iterations=voxels)
    axis = {"z": 0, "y": 1, "x": 2}[name[-1]]
    step = voxels if name[5] == "+" else -voxels
    out = np.zeros_like(mask)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    if step > 0:
        src[axis], dst[axis] = slice(0, -step), slice(step, None)
    else:
        src[axis], dst[axis] = slice(-step, None), slice(0, step)
    out[tuple(dst)] = mask[tuple(src)]
    return out


def _stability_worker(task: dict) -> dict:
    """Features of every rater's mask of one patient (worker process; never touches the store)."""
    if task.get("threads"):
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(task["threads"]))
    extractor = _extractor(task["params"])
    label = task["params"].get("setting", {}).get("label", 1)
    image = read_image(task["image_path"], "image")
    values: dict[str, dict[str, float]] = {}
    errors: list[tuple[str, str]] = []
    variants: list[tuple[str, sitk.Image | None, str]] = []
    if task["method"] == "readers":
        for reader, path in task["masks"].items():
            variants.append((reader, read_image(path, "mask"), ""))
    else:
        base = read_image(task["mask_path"], "mask")
        array = sitk.GetArrayViewFromImage(base) == label
        variants.append(("original", base, ""))
        for kind in task["perturbations"]:
            moved = perturb_mask(array, kind, task.get("in_plane", True))
            problem = mask_problem(moved)
            if problem:
                errors.append((kind, problem))
                continue
            img = sitk.GetImageFromArray(moved.astype(np.uint8) * np.uint8(label))
            img.CopyInformation(base)
            variants.append((kind, img, ""))
    for rater, mask, _ in variants:
        try:
            features, _ = _execute(extractor, image, mask, label, f"patient {task['patient_id']} rater {rater}")
            values[rater] = features.to_dict()
        except ImagingError as exc:
            errors.append((rater, str(exc)))
    return dict(patient_id=task["patient_id"], values=values, errors=errors)


@dataclass
class StabilitySummary:
    """Outcome of :func:`run_stability`."""

    run_id: str
    params_hash: str
    roi: str
    method: str
    n_patients: int = 0
    n_raters: int = 0
    n_features: int = 0
    n_stable: int = 0
    threshold: float = DEFAULT_THRESHOLD
    seconds: float = 0.0
    failures: list[tuple[str, str, str]] = field(default_factory=list)


def _stored_params(store, params_hash: str):
    """The parameter set ``params_hash`` as stored in ``feature_params`` (a valid pyradiomics file)."""
    import yaml

    from ..store import tables
    from ..store.session import reading

    with reading(store) as st:
        row = tables.feature_params(st, params_hash)
    parsed = yaml.safe_load(row["params_yaml"]) or {}
    if "imported" in parsed:
        raise ConfigError(f"parameter set {params_hash} is an imported feature table without extraction settings "
                          f"({row['source_path']}); re-import it with --params FILE (the pyradiomics parameters "
                          "that produced it) to compute its stability")
    p = load_params(parsed)
    if p.hash != params_hash:
        raise ConfigError(f"the stored parameters of {params_hash} hash to {p.hash}; the feature_params row was edited")
    return p


@stage_entry
def run_stability(store, *, params: Any = None, roi: str = "tumor", method: str = "auto",
                  perturbations: Sequence[str] = DEFAULT_PERTURBATIONS, in_plane: bool = True,
                  patients: Sequence[str] | None = None, max_patients: int | None = None,
                  threshold: float = DEFAULT_THRESHOLD, workers: int | None = None, executor: str = "local",
                  progress: Any = None, seed: int = 0, params_hash: str | None = None,
                  settings: Any = None) -> StageResult:
    """``rg stability``: ICCs of every feature of ``roi`` into ``feature_stability`` (see
    :func:`compute_stability`).  ``workers`` defaults to ``settings.workers``; the result's
    ``summary`` is the :class:`StabilitySummary`."""
    from ..config import stage_settings

    workers = workers if workers is not None else stage_settings(settings).workers
    summary = compute_stability(store, params=params, roi=roi, method=method, perturbations=perturbations,
                                in_plane=in_plane, patients=patients, max_patients=max_patients, threshold=threshold,
                                workers=workers, executor=executor, progress=progress, seed=seed,
                                params_hash=params_hash)
    return StageResult("stability", run_ids=[summary.run_id],
                       counts={"patients": summary.n_patients, "features": summary.n_features,
                               "stable": summary.n_stable}, failures=list(summary.failures), summary=summary)


def compute_stability(store, params: Any = None, roi: str = "tumor", method: str = "auto",
                      perturbations: Sequence[str] = DEFAULT_PERTURBATIONS, in_plane: bool = True,
                      patients: Sequence[str] | None = None, max_patients: int | None = None,
                      threshold: float = DEFAULT_THRESHOLD, workers: int = 1, executor: str = "local",
                      progress: Any = None, seed: int = 0, params_hash: str | None = None) -> StabilitySummary:
    """Compute ICC(3,1) and ICC(2,1) of every feature of ``roi`` and store them in ``feature_stability``.

    Parameters
    ----------
    store
        An open read-write :class:`~radiogenomics.store.Store`, or the path of one: then
        the store is opened only to read the work list and to write the results, so
        ``rg sql`` can read while features are computed.
    params
        pyradiomics parameter file / dict (``None``: default 851 features).
    roi
        ROI name.
    params_hash
        Instead of ``params``: a parameter set stored in ``feature_params`` (e.g. the
        settings of an imported pyradiomics batch file, ``rg import features``), so the
        ICCs are stored under that set and select its features.
    method
        ``readers`` (patients with several readers of ``roi``), ``perturbation``, or
        ``auto`` (readers when any patient has several, else perturbation).
    perturbations
        Mask perturbations for ``perturbation`` (see :func:`perturb_mask`).
    in_plane
        Erode / dilate within slices.
    patients, max_patients
        Restrict to these patients / a random subset of this size (``seed``).
    threshold
        ``stable`` is ICC(3,1) > threshold.
    workers, executor, progress
        As in :func:`~radiogenomics.imaging.features.run_features`.

    Raises
    ------
    ImagingError
        No ROIs, or fewer than 2 patients with usable raters.
    ConfigError
        Unknown method or perturbation.
    """
    from ..executor import get_executor
    from ..store.session import RunRecorder, StoreSession

    if method not in ("auto", "readers", "perturbation"):
        raise ConfigError(f"stability method must be auto, readers or perturbation, got {method!r}")
    for kind in perturbations:
        _parse_kind(kind)
    if not 0 < threshold <= 1:
        raise ConfigError(f"ICC threshold must be in (0, 1], got {threshold}")
    p = _stored_params(store, params_hash) if params_hash is not None and params is None else load_params(params)
    if params_hash is not None and params is not None:
        raise ConfigError("give --params or --params-hash, not both")
    started = time.monotonic()
    # a store path is opened only to read and to write, so `rg sql` can read during the computation
    session = StoreSession(store)
    with session.reading() as st:
        rows = usable_rois(st, [roi], patients, readers=None)[["patient_id", "reader", "image_path", "mask_path"]]
    rows = rows.sort_values(["patient_id", "reader"], ignore_index=True)
    if rows.empty:
        raise ImagingError(f"no usable ROI {roi!r} in the store; run `rg rois` or `rg import images` first")
    n_readers = rows.groupby("patient_id").reader.nunique()
    if method == "auto":
        method = "readers" if (n_readers > 1).any() else "perturbation"
    tasks = []
    if method == "readers":
        multi = n_readers[n_readers > 1].index
        for patient_id, group in rows[rows.patient_id.isin(multi)].groupby("patient_id"):
            # raters must segment the same image: keep the readers on the default reader's image (an AI
            # mask of another CT series of the patient, e.g. the PET/CT's, is no repeat of the original)
            base = group[group.reader == "default"]
            image = base.image_path.iloc[0] if len(base) else group.image_path.iloc[0]
            same = group[group.image_path == image]
            if len(same) < len(group):
                log.warning("patient %s: readers %s of %s segment another image than %s; left out", patient_id,
                            sorted(set(group.reader) - set(same.reader)), roi, image)
            if len(same) > 1:
                tasks.append(dict(patient_id=patient_id, method=method, image_path=image,
                                  masks=dict(zip(same.reader, same.mask_path))))
        if len(tasks) < 2:
            raise ImagingError(f"stability by readers needs >= 2 patients with several readers of ROI {roi!r} "
                               f"on one image; found {len(tasks)}; use --method perturbation")
    else:
        base = rows[rows.reader == "default"]
        for r in base.itertuples():
            tasks.append(dict(patient_id=r.patient_id, method=method, image_path=r.image_path, mask_path=r.mask_path,
                              perturbations=list(perturbations), in_plane=in_plane))
    if max_patients and len(tasks) > max_patients:
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(len(tasks), size=max_patients, replace=False))
        tasks = [tasks[i] for i in keep]
    if len(tasks) < 2:
        raise ImagingError(f"stability needs at least 2 patients with ROI {roi!r}; found {len(tasks)}")
    threads = 1 if workers > 1 else 0
    for task in tasks:
        task.update(params=p.params, threads=threads)

    run_params = dict(params_hash=p.hash, roi=roi, method=method, perturbations=list(perturbations),
                      in_plane=in_plane, patients=list(patients or []), max_patients=max_patients,
                      threshold=threshold, seed=seed)
    with RunRecorder(session, "rg stability", run_params) as run:
        summary = StabilitySummary(run_id=run.run_id, params_hash=p.hash, roi=roi, method=method,
                                   threshold=threshold)
        long_parts = []
        failures: list[tuple[str, str, str, str]] = []  # (patient, summary item, failures item, reason)
        bar = _Progress(progress, len(tasks), "stability")
        with get_executor(executor, workers) as ex:
            for result in ex.map_unordered(_stability_worker, tasks, keys=[t["patient_id"] for t in tasks]):
                bar.advance()
                if not result.ok:
                    failures.append((result.key, roi, roi, f"{type(result.error).__name__}: {result.error}"))
                    continue
                value = result.value
                for rater, reason in value["errors"]:
                    failures.append((value["patient_id"], rater, f"{roi}/{rater}", reason))
                for rater, feats in value["values"].items():
                    long_parts.append(pd.DataFrame({"patient_id": value["patient_id"], "rater": rater,
                                                    "feature": list(feats), "value": list(feats.values())}))
        if failures:
            with session.open() as st:
                for patient_id, item, stored_item, reason in failures:
                    run.record_failure(STAGE, patient_id, reason, item=stored_item, store=st)
                    summary.failures.append((patient_id, item, reason))
        if not long_parts:
            raise ImagingError(f"stability: no features could be computed for ROI {roi!r}; see `rg sql "
                               f"\"SELECT * FROM failures WHERE run_id = '{run.run_id}'\"`")
        table = icc_table(pd.concat(long_parts, ignore_index=True), threshold)
        table["roi"] = roi
        table["params_hash"] = p.hash
        table["method"] = method
        table["threshold"] = threshold
        with session.open() as st, st.transaction():
            st.upsert("feature_stability", table, run_id=run.run_id)
        summary.n_features = len(table)
        summary.n_stable = int(table.stable.sum())
        summary.n_patients = int(table.n_patients.max()) if len(table) else 0
        summary.n_raters = int(table.n_raters.max()) if len(table) else 0
    summary.seconds = time.monotonic() - started
    return summary


def stable_features(store, roi: str, params_hash: str, threshold: float = DEFAULT_THRESHOLD,
                    method: str | None = None) -> list[str]:
    """Features of ``roi`` / ``params_hash`` with ICC(3,1) > ``threshold``, sorted by name.

    Parameters
    ----------
    method
        ``readers`` or ``perturbation``; ``None`` prefers readers when both exist.

    Raises
    ------
    ImagingError
        No stability results for this ROI and parameter set (run ``rg stability``).
    """
    frame = store.query("SELECT feature, icc31, method FROM core.feature_stability WHERE roi = ? AND params_hash = ?",
                        [roi, params_hash])
    if method is not None:
        frame = frame[frame.method == method]
    elif not frame.empty:
        chosen = "readers" if (frame.method == "readers").any() else "perturbation"
        frame = frame[frame.method == chosen]
    if frame.empty:
        raise ImagingError(f"no stability results for ROI {roi!r} with params {params_hash}"
                           f"{' by ' + method if method else ''}; run `rg stability --roi {roi}` first")
    keep = frame[frame.icc31.notna() & (frame.icc31 > threshold)]
    return sorted(keep.feature.tolist())
