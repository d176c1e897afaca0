"""ROIs: DICOM SEG / RTSTRUCT + CT -> NRRD image and mask files and ``rois`` rows; peritumoural rings.

ROI names per patient come from each segment's label, else its coded property type
(SegmentedPropertyTypeCodeSequence): ``tumor`` (``tumor_2``, ... for further lesions;
labels or codes saying tumour, nodule, neoplasm, mass, lesion, GTV), ``node_1``,
``node_2``, ... for lymph nodes, ``lung`` (``lung_left``/``lung_right`` when the label
says so) for lung segments such as those of IDC's AIMI SEGs, and
``peritumoral_<d>mm`` for the ring derived from ``tumor``; a label that says none of
these is taken for a tumour (the original NSCLC Radiogenomics SEGs label it freely).

When a patient has several SEG series covering the same ROI, the preferred one is
reader ``default``: original before radiologist-corrected before AI
(``series.segmentation_source``), then by series UID.  The others are named after
their segmentation source (``ai``, ``ai_fdg``, ``corrected_radiologist_1``, ...) or
``reader_2``, ``reader_3``... when that name is taken; stability analysis uses them
as repeated segmentations (e.g. ICC between the original and the AI mask).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..exceptions import ImagingError, RGError
from ..ids import check_patient_id, id_file_name
from ..result import StageResult, stage_entry
from .volumes import (image_sha1, read_ct_series, read_image, read_rtstruct, read_seg, same_grid,
                      write_image)

log = logging.getLogger(__name__)

STAGE = "rois"
_NODE = re.compile(r"(lymph|node|\bln\b|\bln\d+|nodal)", re.IGNORECASE)
_TUMOUR = re.compile(r"(tumou?r|nodule|neoplasm|mass|lesion|cancer|carcinoma|malignan|\bgtv)", re.IGNORECASE)
_LUNG = re.compile(r"\blungs?\b", re.IGNORECASE)
#: preference of segmentation sources for the ``default`` reader (unknown counts as original)
_SOURCE_RANK = {"original": 0, "corrected": 1, "ai": 2}

#: pyradiomics' default minimum: the ROI must extend over at least 2 dimensions
DEFAULT_MIN_DIMENSIONS = 2


# ---------------------------------------------------------------------------- array cores
def segment_kind(label: str, property_type: str = "") -> str:
    """``node``, ``tumor``, ``lung`` (``lung_left``/``lung_right``) or ``unknown`` from a segment's
    label, else its coded property type."""
    for text in (label or "", property_type or ""):
        if _NODE.search(text):
            return "node"
        if _TUMOUR.search(text):
            return "tumor"
        if _LUNG.search(text):
            low = text.lower()
            return "lung_left" if "left" in low else "lung_right" if "right" in low else "lung"
    return "unknown"


def name_segments(labels: Sequence[str], property_types: Sequence[str] | None = None) -> list[str]:
    """ROI names for segments in order.

    Lymph nodes -> ``node_1``, ``node_2``...; tumours, nodules (and labels that say
    nothing known) -> ``tumor``, ``tumor_2``...; lungs -> ``lung`` (``lung_left``,
    ``lung_right``; ``lung_2``... when repeated).  ``property_types`` are the segments'
    coded property types (CodeMeaning), used when a label says nothing known.
    """
    props = list(property_types) if property_types is not None else [""] * len(labels)
    names: list[str] = []
    counts: dict[str, int] = {}
    for label, prop in zip(labels, props):
        kind = segment_kind(label, prop)
        kind = "tumor" if kind == "unknown" else kind
        counts[kind] = counts.get(kind, 0) + 1
        k = counts[kind]
        if kind == "node":
            names.append(f"node_{k}")
        else:
            names.append(kind if k == 1 else f"{kind}_{k}")
    return names


def _reader_for(roi_seen: dict[str, list[str]], roi: str, label: str | None) -> str:
    """``default`` for the first mask of an ROI, then the segmentation's reader label, else ``reader_k``."""
    used = roi_seen.setdefault(roi, [])
    if not used:
        name = "default"
    elif label and label != "original" and label not in used:
        name = label
    else:
        k = len(used) + 1
        name = f"reader_{k}"
        while name in used:
            k += 1
            name = f"reader_{k}"
    used.append(name)
    return name


def mask_problem(mask: np.ndarray, min_voxels: int = 1, min_dimensions: int = DEFAULT_MIN_DIMENSIONS) -> str | None:
    """Why a binary mask is unusable for feature extraction, or ``None`` when it is fine.

    Parameters
    ----------
    mask
        Boolean array (z, y, x).
    min_voxels
        Smallest number of voxels (pyradiomics' ``minimumROISize``).
    min_dimensions
        The ROI must span more than one voxel in at least this many dimensions
        (pyradiomics' ``minimumROIDimensions``).
    """
    count = int(mask.sum())
    if count == 0:
        return "empty mask (no voxel set)"
    if count < min_voxels:
        return f"mask too small: {count} voxels, fewer than the minimum {min_voxels}"
    extents = [int(np.ptp(ax)) + 1 for ax in np.nonzero(mask)]
    spanned = sum(e > 1 for e in extents)
    if spanned < min_dimensions:
        return (f"mask too small: it spans {spanned} dimension(s) (extent z,y,x = {extents}), "
                f"pyradiomics needs at least {min_dimensions}")
    return None


def ring_mask(mask: np.ndarray, spacing_zyx: Sequence[float], thickness_mm: float = 3.0,
              gap_mm: float = 0.0) -> np.ndarray:
    """Peritumoural ring: voxels outside ``mask`` whose centre lies more than ``gap_mm`` and at most
    ``gap_mm + thickness_mm`` from the nearest mask voxel centre, in physical mm.

    Parameters
    ----------
    mask
        Boolean array (z, y, x).
    spacing_zyx
        Voxel size in mm in array order (z, y, x).
    thickness_mm, gap_mm
        Band width and its distance from the tumour.

    Returns
    -------
    ndarray of bool, same shape as ``mask``
    """
    from scipy import ndimage

    if thickness_mm <= 0 or gap_mm < 0:
        raise ImagingError(f"ring thickness must be > 0 mm and gap >= 0 mm, got {thickness_mm} and {gap_mm}")
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros_like(mask)
    if not mask.any():
        return out
    spacing = np.asarray(spacing_zyx, dtype=float)
    reach = np.ceil((gap_mm + thickness_mm) / spacing).astype(int) + 1
    lo = [max(int(ax.min()) - r, 0) for ax, r in zip(np.nonzero(mask), reach)]
    hi = [min(int(ax.max()) + r + 1, n) for ax, r, n in zip(np.nonzero(mask), reach, mask.shape)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    distance = ndimage.distance_transform_edt(~mask[box], sampling=spacing)
    out[box] = (distance > gap_mm) & (distance <= gap_mm + thickness_mm + 1e-9)
    return out


def ring_name(thickness_mm: float, gap_mm: float = 0.0) -> str:
    """``peritumoral_3mm`` (or ``peritumoral_2-5mm`` with a gap)."""
    def fmt(v: float) -> str:
        return f"{v:g}".replace(".", "p")
    if gap_mm:
        return f"peritumoral_{fmt(gap_mm)}-{fmt(gap_mm + thickness_mm)}mm"
    return f"peritumoral_{fmt(thickness_mm)}mm"


def derive_ring(mask: sitk.Image, thickness_mm: float = 3.0, gap_mm: float = 0.0) -> sitk.Image:
    """:func:`ring_mask` on a SimpleITK mask (physical spacing respected); uint8 on the same grid."""
    array = sitk.GetArrayViewFromImage(mask).astype(bool)
    ring = ring_mask(array, tuple(reversed(mask.GetSpacing())), thickness_mm, gap_mm)
    out = sitk.GetImageFromArray(ring.astype(np.uint8))
    out.CopyInformation(mask)
    return out


def _voxel_volume(image: sitk.Image) -> float:
    sx, sy, sz = image.GetSpacing()
    return float(sx * sy * sz)


def _row(patient_id: str, roi: str, reader: str, image_path: Path | str | None, mask_path: Path | str | None,
         image: sitk.Image | None, mask: sitk.Image | None, source: str, ct_uid: str | None, seg_uid: str | None,
         status: str = "ok", reason: str | None = None, image_hash: str | None = None,
         segmentation_source: str | None = None) -> dict:
    voxels = int(sitk.GetArrayViewFromImage(mask).astype(bool).sum()) if mask is not None else None
    return dict(patient_id=patient_id, roi=roi, reader=reader,
                image_path=str(image_path) if image_path else None, mask_path=str(mask_path) if mask_path else None,
                image_sha1=image_hash or (image_sha1(image) if image is not None else None),
                mask_sha1=image_sha1(mask) if mask is not None and status == "ok" else None,
                source=source, ct_series_uid=ct_uid, seg_series_uid=seg_uid, voxels=voxels,
                volume_mm3=voxels * _voxel_volume(mask) if mask is not None and voxels is not None else None,
                status=status, reason=reason, segmentation_source=segmentation_source)


# ---------------------------------------------------------------------------- worker
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _rois_worker(task: dict) -> dict:
    """Build one patient's ROI files (worker process; never touches the store).

    Returns ``{"patient_id", "rows": [rois rows], "errors": [(item, reason)]}``.
    """
    patient = task["patient_id"]
    out_dir = Path(task["out_dir"]) / id_file_name(patient)
    rows: list[dict] = []
    errors: list[tuple[str, str]] = []
    cts: dict[str, Any] = {}
    # reader, mask, image path, ct uid, hash, segmentation source
    ring_sources: list[tuple[str, sitk.Image, str, str, str | None, str | None]] = []
    seen: dict[str, list[str]] = {}
    for item in task.get("segs", []):
        seg_uid, ct_uid = item["seg_uid"], item["ct_uid"]
        try:
            if ct_uid not in cts:
                ct = read_ct_series(item["ct_path"], series_uid=ct_uid)
                image_path = write_image(ct.image, out_dir / f"ct_{_safe(ct_uid)[-24:]}.nrrd")
                cts[ct_uid] = (ct, image_path, image_sha1(ct.image))
            ct, image_path, ct_hash = cts[ct_uid]
            reader_segments = (read_rtstruct(item["seg_path"], ct) if item["modality"] == "RTSTRUCT"
                               else read_seg(item["seg_path"], ct))
        except RGError as exc:  # unreadable series, or the CT could not be written (disk full)
            errors.append((seg_uid, str(exc)))
            continue
        names = name_segments([s.label for s in reader_segments], [s.property_type for s in reader_segments])
        seg_source = item.get("segmentation_source")
        for segment, roi in zip(reader_segments, names):
            reader = _reader_for(seen, roi, item.get("reader_label"))
            array = sitk.GetArrayViewFromImage(segment.mask).astype(bool)
            problem = mask_problem(array, task.get("min_voxels", 1), task.get("min_dimensions", DEFAULT_MIN_DIMENSIONS))
            if problem:
                errors.append((f"{roi}/{reader}", f"segment {segment.number} ({segment.label!r}) of {seg_uid}: {problem}"))
                rows.append(_row(patient, roi, reader, image_path, None, None, segment.mask, segment.source, ct_uid,
                                 seg_uid, status="failed", reason=problem, image_hash=ct_hash,
                                 segmentation_source=seg_source))
                continue
            suffix = "" if reader == "default" else f"__{reader}"
            try:
                mask_path = write_image(segment.mask, out_dir / f"{roi}{suffix}.nrrd")
            except RGError as exc:  # disk full ...: this ROI fails, nothing is registered for it
                errors.append((f"{roi}/{reader}", str(exc)))
                continue
            rows.append(_row(patient, roi, reader, image_path, mask_path, None, segment.mask, segment.source, ct_uid,
                             seg_uid, image_hash=ct_hash, segmentation_source=seg_source))
            if roi == "tumor":
                ring_sources.append((reader, segment.mask, str(image_path), ct_uid, ct_hash, seg_source))
    for src in task.get("ring_from", []):
        try:
            mask = read_image(src["mask_path"], "mask")
            ring_sources.append((src["reader"], mask, src["image_path"], src.get("ct_series_uid"), src["image_sha1"],
                                 src.get("segmentation_source")))
        except ImagingError as exc:
            errors.append((f"tumor/{src['reader']}", str(exc)))
    thickness, gap = task.get("ring_mm"), task.get("ring_gap_mm", 0.0)
    if thickness:
        name = ring_name(thickness, gap)
        for reader, mask, image_path, ct_uid, ct_hash, seg_source in ring_sources:
            try:
                ring = derive_ring(mask, thickness, gap)
            except RGError as exc:
                errors.append((f"{name}/{reader}", str(exc)))
                continue
            problem = mask_problem(sitk.GetArrayViewFromImage(ring).astype(bool), task.get("min_voxels", 1),
                                   task.get("min_dimensions", DEFAULT_MIN_DIMENSIONS))
            if problem:
                errors.append((f"{name}/{reader}", problem))
                rows.append(_row(patient, name, reader, image_path, None, None, ring, "derived", ct_uid, None,
                                 status="failed", reason=problem, image_hash=ct_hash, segmentation_source=seg_source))
                continue
            suffix = "" if reader == "default" else f"__{reader}"
            try:
                ring_path = write_image(ring, out_dir / f"{name}{suffix}.nrrd")
            except RGError as exc:
                errors.append((f"{name}/{reader}", str(exc)))
                continue
            rows.append(_row(patient, name, reader, image_path, ring_path, None, ring, "derived", ct_uid, None,
                             image_hash=ct_hash, segmentation_source=seg_source))
    return dict(patient_id=patient, rows=rows, errors=errors)


# ---------------------------------------------------------------------------- pipeline
@dataclass
class RoiRunSummary:
    """Outcome of :func:`build_rois`."""

    run_id: str
    patients: int = 0
    rois_ok: int = 0
    rois_failed: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (patient, item, reason)

    @property
    def patients_failed(self) -> int:
        """Patients with at least one recorded failure (a failed ROI, series or the whole task)."""
        return len({p for p, _, _ in self.failures})

    def text(self) -> str:
        """One-line summary that counts every failure recorded in ``failures``."""
        return (f"rois: {self.patients} patients ({self.patients_failed} with failures), {self.rois_ok} ROIs ok, "
                f"{len(self.failures)} failed (run {self.run_id})")


def build_rois(settings, store, patients: Sequence[str] | None = None, ring_mm: float | None = 3.0,
               ring_gap_mm: float = 0.0, min_voxels: int = 1, min_dimensions: int = DEFAULT_MIN_DIMENSIONS,
               workers: int = 1, executor: str = "local", progress: Any = None,
               batch_size: int = 16) -> RoiRunSummary:
    """Build ROI files and ``rois`` rows from the stored SEG/RTSTRUCT series and their CT series.

    Each SEG (or RTSTRUCT) series with status ``complete`` is paired with the CT
    series it references; the CT is written once as NRRD and every segment as a
    mask under ``<data_dir>/rois/<patient>/``.  With ``ring_mm``, a peritumoural
    ring is derived from every ``tumor`` ROI, including imported ones.

    Parameters
    ----------
    settings
        :class:`~radiogenomics.config.Settings` (``data_dir`` receives the files).
    store
        An open read-write :class:`~radiogenomics.store.Store`, or the path of one: then
        the store is opened only to read the work list and to write each batch, so
        ``rg sql`` can read while the ROI files are built.
    patients
        Restrict to these patients.
    ring_mm, ring_gap_mm
        Ring thickness and its distance from the tumour (mm); ``None`` skips rings.
    min_voxels, min_dimensions
        Masks below pyradiomics' minimum are recorded as failed with the reason.
    workers, executor
        Passed to :func:`radiogenomics.executor.get_executor`.
    progress
        A rich ``Progress`` or a callable ``(done, total)``.
    batch_size
        Patients per write transaction.

    Raises
    ------
    ImagingError
        Nothing to do: no SEG/RTSTRUCT series and no tumour ROIs for the selection.
    """
    from ..connectors.idc_index import segmentation_reader  # reader names of IDC's segmentation sources
    from ..executor import batched, get_executor
    from ..store.session import RunRecorder, StoreSession, write_batch
    from .features import _Progress

    from ..store import tables
    from ..store.session import reading

    # a store path is opened only for each read/write, so `rg sql` can read meanwhile
    session = StoreSession(store)
    with reading(store) as st:
        segs = tables.segmentation_series(st, patients)
        ring_rows = tables.tumour_rois_not_from_segmentations(st, patients)
    if segs.empty and (ring_rows.empty or not ring_mm):
        raise ImagingError("no SEG/RTSTRUCT series with status 'complete' in the store"
                           f"{' for ' + ', '.join(patients) if patients else ''}; download them with "
                           "`rg fetch tcia` / `rg import nbia` first, or use `rg import images`")
    out_dir = Path(settings.data_dir) / "rois"
    run_params = dict(patients=list(patients or []), ring_mm=ring_mm, ring_gap_mm=ring_gap_mm,
                      min_voxels=min_voxels, min_dimensions=min_dimensions, out_dir=str(out_dir))
    with RunRecorder(session, "rg rois", run_params) as run:
        summary = RoiRunSummary(run_id=run.run_id)
        tasks: dict[str, dict] = {}
        missing: list[tuple[str, str, str]] = []  # (patient, seg uid, reason)
        for row in segs.itertuples():
            if not row.ct_uid or row.ct_path is None or (isinstance(row.ct_path, float) and np.isnan(row.ct_path)) \
                    or row.ct_status != "complete":
                reason = (f"{row.modality} {row.seg_uid} references CT series {row.ct_uid or '(none)'}, which is not "
                          f"downloaded (status {row.ct_status or 'unknown'}); fetch it first")
                missing.append((row.patient_id, row.seg_uid, reason))
                continue
            task = tasks.setdefault(row.patient_id, dict(patient_id=row.patient_id, out_dir=str(out_dir), segs=[],
                                                         ring_from=[], ring_mm=ring_mm, ring_gap_mm=ring_gap_mm,
                                                         min_voxels=min_voxels, min_dimensions=min_dimensions))
            seg_source = row.segmentation_source if isinstance(row.segmentation_source, str) else None
            task["segs"].append(dict(seg_uid=row.seg_uid, ct_uid=row.ct_uid, seg_path=row.seg_path,
                                     ct_path=row.ct_path, modality=row.modality, segmentation_source=seg_source,
                                     reader_label=segmentation_reader(seg_source, row.seg_description)))
        if ring_mm:
            for row in ring_rows.itertuples():
                if row.patient_id in tasks:
                    continue  # its SEG-based tumour gets a ring in the same task
                task = tasks.setdefault(row.patient_id, dict(patient_id=row.patient_id, out_dir=str(out_dir), segs=[],
                                                             ring_from=[], ring_mm=ring_mm, ring_gap_mm=ring_gap_mm,
                                                             min_voxels=min_voxels, min_dimensions=min_dimensions))
                task["ring_from"].append(dict(reader=row.reader, image_path=row.image_path, mask_path=row.mask_path,
                                              image_sha1=row.image_sha1, ct_series_uid=row.ct_series_uid,
                                              segmentation_source=row.segmentation_source
                                              if isinstance(row.segmentation_source, str) else None))
        if missing:
            with session.open() as st:
                for patient_id, seg_uid, reason in missing:
                    run.record_failure(STAGE, patient_id, reason, item=seg_uid, store=st)
                    summary.failures.append((patient_id, seg_uid, reason))
        for task in tasks.values():
            # the preferred segmentation of each ROI becomes reader `default`: original, corrected, AI
            task["segs"].sort(key=lambda x: (_SOURCE_RANK.get(x["segmentation_source"] or "original", 3),
                                             x["reader_label"] or "", x["seg_uid"]))
        items = list(tasks.values())
        summary.patients = len(items)
        bar = _Progress(progress, len(items), "rois")
        with get_executor(executor, workers) as ex:
            stream = ex.map_unordered(_rois_worker, items, keys=[t["patient_id"] for t in items])
            for batch in batched(stream, batch_size):
                frames, failures = [], []
                for result in batch:
                    bar.advance()
                    if not result.ok:
                        error = result.error
                        text = str(error) if isinstance(error, RGError) else f"{type(error).__name__}: {error}"
                        failures.append((result.key, "", text))
                        continue
                    value = result.value
                    for item, reason in value["errors"]:
                        failures.append((value["patient_id"], item, reason))
                    if value["rows"]:
                        frame = pd.DataFrame(value["rows"])
                        summary.rois_ok += int((frame.status == "ok").sum())
                        summary.rois_failed += int((frame.status != "ok").sum())
                        frames.append(frame)
                lost = write_batch(session, run, STAGE, failures, {"rois": frames}, summary.failures)
                for frame in frames:  # built, but could not be stored (disk full ...)
                    gone = frame[frame.patient_id.isin(lost)]
                    summary.rois_ok -= int((gone.status == "ok").sum())
                    summary.rois_failed += int((gone.status == "ok").sum())
    return summary


def import_images(store, patient_id: str, image: str | Path, mask: str | Path, roi: str = "tumor",
                  reader: str = "default", label: int | None = None, data_dir: str | Path | None = None,
                  min_voxels: int = 1, min_dimensions: int = DEFAULT_MIN_DIMENSIONS) -> dict:
    """Register an NRRD/NIfTI image + mask pair as an ROI (``rois`` row, source ``import``).

    ``store`` is an open read-write store or a store path (opened only to write).
    The files are used in place.  A mask holding labels other than 0/1 needs
    ``label``; the chosen label is then written as a binary mask under
    ``<data_dir>/rois/<patient>/``.

    Returns
    -------
    dict
        The ``rois`` row written.

    Raises
    ------
    ImagingError
        Unreadable files, mask not on the image grid, ambiguous or absent label,
        empty or too small mask (nothing is written then).
    """
    patient_id = check_patient_id(patient_id, "--patient")
    image_path, mask_path = Path(image).resolve(), Path(mask).resolve()
    img = read_image(image_path, "image")
    msk = read_image(mask_path, "mask")
    if not same_grid(img, msk):
        raise ImagingError(
            f"mask {mask_path} is not on the grid of image {image_path} (size {msk.GetSize()} vs {img.GetSize()}, "
            f"spacing {np.round(msk.GetSpacing(), 4).tolist()} vs {np.round(img.GetSpacing(), 4).tolist()}, "
            f"origin {np.round(msk.GetOrigin(), 3).tolist()} vs {np.round(img.GetOrigin(), 3).tolist()}); "
            "resample the mask onto the image first")
    array = sitk.GetArrayFromImage(msk)
    values = set(np.unique(array).tolist()) - {0}
    binary_copy = False
    if label is not None:
        if label not in values:
            raise ImagingError(f"mask {mask_path} has no voxel with label {label} (labels present: {sorted(values)})")
        binary_copy = values != {label} or label != 1
        chosen = array == label
    else:
        if len(values) > 1 or (values and values != {1}):
            raise ImagingError(f"mask {mask_path} holds labels {sorted(values)}; pass --label to choose one")
        chosen = array.astype(bool)
    problem = mask_problem(chosen, min_voxels, min_dimensions)
    if problem:
        raise ImagingError(f"mask {mask_path} for patient {patient_id}: {problem}")
    mask_img = msk
    if binary_copy:
        mask_img = sitk.GetImageFromArray(chosen.astype(np.uint8))
        mask_img.CopyInformation(msk)
        base = Path(data_dir) if data_dir else mask_path.parent
        mask_path = write_image(mask_img, base / "rois" / id_file_name(patient_id)
                                / f"{_safe(roi)}__{_safe(reader)}_import.nrrd")
    from ..store import sha256_file
    from ..store import tables
    from ..store.session import StoreSession

    # checksums and the row before the store is opened: the write lock is held only to write
    inputs = {image_path.name: sha256_file(image_path), Path(mask).name: sha256_file(mask)}
    row = _row(patient_id, roi, reader, image_path, mask_path, img, mask_img, "import", None, None)
    with StoreSession(store).open() as st, \
            st.run("rg import images", dict(patient_id=patient_id, image=str(image_path), mask=str(mask_path),
                                            roi=roi, reader=reader, label=label), inputs=inputs) as run:
        with st.transaction():
            if not tables.has_patient(st, patient_id):  # never overwrite a patient registered by a connector
                st.add_patients([patient_id], collection=None, source="import", run_id=run.run_id)
            st.add_crosswalk("import", {patient_id: patient_id}, run_id=run.run_id)
            st.upsert("rois", pd.DataFrame([row]), run_id=run.run_id)
        row["run_id"] = run.run_id
    return row


# --------------------------------------------------------------------------- stage entries


@stage_entry
def run_rois(store, *, patients: Sequence[str] | None = None, ring_mm: float | None = 3.0, ring_gap_mm: float = 0.0,
             min_voxels: int = 1, workers: int | None = None, executor: str = "local", progress: Any = None,
             data_dir: str | Path | None = None, settings: Any = None) -> StageResult:
    """``rg rois``: :func:`build_rois` as a stage.

    ``data_dir`` (default ``settings.data_dir``, ``RG_DATA_DIR``) receives the ROI files and
    ``workers`` defaults to ``settings.workers``.  The ``summary`` is the :class:`RoiRunSummary`;
    per-patient failures make the result ``partial`` (``rg rois`` exits 12).
    """
    from ..config import stage_settings

    settings = stage_settings(settings, data_dir=data_dir)
    summary = build_rois(settings, store, patients=patients, ring_mm=ring_mm, ring_gap_mm=ring_gap_mm,
                         min_voxels=min_voxels, workers=workers if workers is not None else settings.workers,
                         executor=executor, progress=progress)
    return StageResult("rois", run_ids=[summary.run_id],
                       counts={"patients": summary.patients, "rois_ok": summary.rois_ok,
                               "rois_failed": summary.rois_failed},
                       failures=list(summary.failures), partial=bool(summary.failures), summary=summary)


@stage_entry
def run_import_images(store, *, patient: str, image: str | Path, mask: str | Path, roi: str = "tumor",
                      reader: str = "default", label: int | None = None, data_dir: str | Path | None = None,
                      settings: Any = None) -> StageResult:
    """``rg import images``: :func:`import_images` as a stage; the ``summary`` is the ``rois`` row."""
    from ..config import stage_settings

    row = import_images(store, patient, image, mask, roi=roi, reader=reader, label=label,
                        data_dir=stage_settings(settings, data_dir=data_dir).data_dir)
    return StageResult("import images", run_ids=[row["run_id"]], counts={"voxels": int(row["voxels"])}, summary=row)
