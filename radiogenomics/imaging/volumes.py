"""Images and masks as SimpleITK volumes: DICOM CT series, DICOM SEG, RTSTRUCT, NRRD/NIfTI.

Geometry is taken from the DICOM headers only (never from file order): slices are
sorted by their position along the slice normal, SEG frames and RTSTRUCT contours
are placed on the CT grid through their patient coordinates.  Every failure is an
:class:`~radiogenomics.exceptions.ImagingError` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from ..exceptions import DataQualityWarning, ImagingError

log = logging.getLogger(__name__)

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

#: largest distance (fraction of the slice spacing) a SEG frame or contour may lie off a CT slice
PLANE_TOLERANCE = 0.1


@dataclass
class CTVolume:
    """A CT series as a volume with the SOP Instance UID of each slice (index ``k`` = slice ``k``)."""

    image: sitk.Image
    series_uid: str
    patient_id: str
    sop_instance_uids: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


@dataclass
class Segment:
    """One segment of a SEG (or ROI of an RTSTRUCT) as a binary mask on the CT grid."""

    number: int
    label: str
    description: str
    mask: sitk.Image
    source: str  # seg | rtstruct
    #: CodeMeaning of the SEG segment's SegmentedPropertyTypeCodeSequence (e.g. ``Lung``, ``Nodule``)
    property_type: str = ""

    @property
    def voxels(self) -> int:
        return int(sitk.GetArrayViewFromImage(self.mask).astype(bool).sum())


# ---------------------------------------------------------------------------- helpers
def _dicom_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files = [path]
        else:
            raise ImagingError(f"DICOM folder or file {path} does not exist; check the series path in the store")
    else:
        files = [Path(p) for p in source]
    if not files:
        raise ImagingError(f"no files in {source}; the series folder is empty (download it again)")
    return files


def _read_headers(files: Iterable[Path]):
    import pydicom
    from pydicom.errors import InvalidDicomError

    out = []
    for path in files:
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except (InvalidDicomError, EOFError, OSError) as exc:
            if path.suffix.lower() == ".dcm":
                raise ImagingError(f"{path} is not a readable DICOM file ({exc}); download the series again") from exc
            continue  # licences, metadata.csv and other non-DICOM files next to the slices
        out.append((path, ds))
    return out


def _float_list(ds, keyword: str, path: Path, n: int) -> np.ndarray:
    value = getattr(ds, keyword, None)
    if value is None or len(value) != n:
        raise ImagingError(f"{path}: {keyword} is missing or malformed; the file is not a usable image slice")
    return np.asarray([float(v) for v in value], dtype=float)


def _direction_matrix(image: sitk.Image) -> np.ndarray:
    return np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)


def physical_to_index(image: sitk.Image, points: np.ndarray) -> np.ndarray:
    """Continuous (x, y, z) indices of physical points ``(n, 3)`` on ``image``'s grid."""
    direction = _direction_matrix(image)
    origin = np.asarray(image.GetOrigin(), dtype=float)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    rel = np.atleast_2d(points) - origin
    return (np.linalg.solve(direction, rel.T).T) / spacing


def same_grid(a: sitk.Image, b: sitk.Image, tolerance: float = 1e-3) -> bool:
    """Whether two images share size, spacing, origin and direction (within ``tolerance`` mm)."""
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tolerance, rtol=0)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tolerance, rtol=0)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-4, rtol=0))


def image_sha1(image: sitk.Image) -> str:
    """SHA-1 of an image's voxels and geometry (independent of file format and compression)."""
    digest = hashlib.sha1()
    geometry = (image.GetPixelIDTypeAsString(), image.GetSize(),
                tuple(round(v, 5) for v in image.GetSpacing()),
                tuple(round(v, 4) for v in image.GetOrigin()),
                tuple(round(v, 6) for v in image.GetDirection()))
    digest.update(repr(geometry).encode())
    array = np.ascontiguousarray(sitk.GetArrayViewFromImage(image))
    # the buffer itself when it is already little-endian (no 30 MB copy of a CT)
    digest.update(array.astype(array.dtype.newbyteorder("<"), copy=False).data)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- CT series
def read_ct_series(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                   series_uid: str | None = None, spacing_tolerance: float = 0.05) -> CTVolume:
    """Read a DICOM CT series into a volume in Hounsfield units.

    Parameters
    ----------
    source
        The series folder, or a list of its files.  Non-DICOM files in the folder
        (licences, metadata) are ignored.
    series_uid
        Pick this series when the folder holds several; otherwise several series
        are an error.
    spacing_tolerance
        Largest allowed deviation of a slice gap from the median gap, as a fraction
        of the median gap.

    Returns
    -------
    CTVolume
        ``image`` is int16 when all HU values are integers (the usual case), else
        float32; spacing, origin and direction come from PixelSpacing,
        ImagePositionPatient and ImageOrientationPatient.

    Raises
    ------
    ImagingError
        Unreadable files, mixed series, inconsistent slice geometry, duplicated or
        missing slices, or uneven slice spacing.
    """
    files = _dicom_files(source)
    headers = _read_headers(files)
    if not headers:
        raise ImagingError(f"no DICOM files in {source}; is this the CT series folder?")
    # scout / localizer images sometimes travel inside an axial series: not part of the volume
    kept = [(p, ds) for p, ds in headers if "LOCALIZER" not in [str(v).upper() for v in (getattr(ds, "ImageType", None) or [])]]
    if len(kept) < len(headers):
        log.info("%s: ignoring %d localizer image(s)", source, len(headers) - len(kept))
        headers = kept or headers
    by_series: dict[str, list] = {}
    for path, ds in headers:
        by_series.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append((path, ds))
    if series_uid is not None:
        if series_uid not in by_series:
            raise ImagingError(f"series {series_uid} not found in {source} (it holds {sorted(by_series)})")
        headers = by_series[series_uid]
    elif len(by_series) > 1:
        described = ", ".join(f"{uid} ({getattr(items[0][1], 'Modality', '?')}, {len(items)} files)"
                              for uid, items in sorted(by_series.items()))
        raise ImagingError(f"{source} mixes {len(by_series)} series: {described}; put each series in its own folder "
                           "or pass the series UID")
    first_path, first = headers[0]
    uid = str(getattr(first, "SeriesInstanceUID", ""))
    modality = str(getattr(first, "Modality", ""))
    if modality in ("SEG", "RTSTRUCT") or "NumberOfFrames" in first and int(first.NumberOfFrames) > 1:
        raise ImagingError(f"{first_path} is a {modality or 'multi-frame'} object, not a CT slice series")

    iop = _float_list(first, "ImageOrientationPatient", first_path, 6)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise ImagingError(f"{first_path}: ImageOrientationPatient {list(iop)} is not two orthonormal directions")
    rows, cols = int(first.Rows), int(first.Columns)
    pixel_spacing = _float_list(first, "PixelSpacing", first_path, 2)

    positions = []
    for path, ds in headers:
        if np.max(np.abs(_float_list(ds, "ImageOrientationPatient", path, 6) - iop)) > 1e-4:
            raise ImagingError(f"{path}: slice orientation differs from {first_path}; the series is not one volume")
        if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
            raise ImagingError(f"{path}: {ds.Rows}x{ds.Columns} pixels, other slices have {rows}x{cols}")
        if np.max(np.abs(_float_list(ds, "PixelSpacing", path, 2) - pixel_spacing)) > 1e-4:
            raise ImagingError(f"{path}: PixelSpacing differs from the other slices of series {uid}")
        ipp = _float_list(ds, "ImagePositionPatient", path, 3)
        positions.append(float(np.dot(ipp, normal)))
    order = np.argsort(positions, kind="stable")
    headers = [headers[i] for i in order]
    pos = np.asarray(positions)[order]

    if len(headers) > 1:
        gaps = np.diff(pos)
        positive = gaps[gaps > 1e-3]
        if positive.size == 0:
            raise ImagingError(f"series {uid} in {source}: all {len(headers)} slices lie at the same position")
        nominal = float(np.median(positive))
        dup = np.nonzero(gaps <= spacing_tolerance * nominal)[0]
        if dup.size:
            i = int(dup[0])
            raise ImagingError(
                f"series {uid} in {source}: duplicated slice at position {pos[i]:.3f} mm "
                f"({headers[i][0].name} and {headers[i + 1][0].name}); remove the duplicate or download the series again")
        bad = np.nonzero(np.abs(gaps - nominal) > spacing_tolerance * nominal)[0]
        if bad.size:
            i = int(bad[0])
            ratio = gaps[i] / nominal
            if abs(ratio - round(ratio)) <= spacing_tolerance and round(ratio) >= 2:
                raise ImagingError(
                    f"series {uid} in {source}: {int(round(ratio)) - 1} missing slice(s) between {pos[i]:.3f} and "
                    f"{pos[i + 1]:.3f} mm (spacing {nominal:.3f} mm); download the series again")
            raise ImagingError(
                f"series {uid} in {source}: uneven slice spacing ({gaps[i]:.3f} mm between {headers[i][0].name} and "
                f"{headers[i + 1][0].name}, {nominal:.3f} mm elsewhere, tolerance {spacing_tolerance:.0%})")
        dz = nominal
    else:
        dz = float(getattr(first, "SpacingBetweenSlices", None) or getattr(first, "SliceThickness", None) or 1.0)

    import pydicom

    volume = np.empty((len(headers), rows, cols), dtype=np.float64)
    integral = True
    for k, (path, _) in enumerate(headers):
        try:
            ds = pydicom.dcmread(str(path))
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for bad pixel data
            raise ImagingError(f"{path}: cannot decode pixel data ({exc}); for compressed transfer syntaxes "
                               "install pylibjpeg, else download the series again") from exc
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        integral = integral and float(slope).is_integer() and float(intercept).is_integer()
        volume[k] = pixels.astype(np.float64) * slope + intercept
    if integral and volume.min() >= np.iinfo(np.int16).min and volume.max() <= np.iinfo(np.int16).max:
        array = volume.astype(np.int16)
    else:
        array = volume.astype(np.float32)

    image = sitk.GetImageFromArray(array)
    image.SetSpacing((float(pixel_spacing[1]), float(pixel_spacing[0]), dz))
    image.SetOrigin(tuple(float(v) for v in _float_list(headers[0][1], "ImagePositionPatient", headers[0][0], 3)))
    image.SetDirection(tuple(np.column_stack([row_dir, col_dir, normal]).ravel().tolist()))
    return CTVolume(image=image, series_uid=uid, patient_id=str(getattr(first, "PatientID", "")),
                    sop_instance_uids=[str(ds.SOPInstanceUID) for _, ds in headers],
                    files=[p for p, _ in headers])


# ---------------------------------------------------------------------------- SEG
def _item(seq_owner, keyword: str):
    seq = getattr(seq_owner, keyword, None)
    return seq[0] if seq else None


def _frame_attr(per_frame, shared, group: str, attr: str):
    for owner in (per_frame, shared):
        if owner is None:
            continue
        item = _item(owner, group)
        if item is not None and attr in item:
            return getattr(item, attr)
    return None


def _paste_frame(target: np.ndarray, frame: np.ndarray, ct: sitk.Image, origin: np.ndarray, row_dir: np.ndarray,
                 col_dir: np.ndarray, spacing_rc: np.ndarray, where: str) -> None:
    """OR a 2-D frame into ``target`` (z, y, x) at the CT slice it lies on, resampling if needed."""
    nz, ny, nx = target.shape
    ct_dir = _direction_matrix(ct)
    normal = np.cross(row_dir, col_dir)
    if abs(abs(float(np.dot(normal, ct_dir[:, 2]))) - 1.0) > 1e-3:
        raise ImagingError(f"{where}: frame is not parallel to the CT slices (oblique segmentation); "
                           "resample it onto the CT grid first")
    idx = physical_to_index(ct, origin[None, :])[0]
    k = int(round(idx[2]))
    if abs(idx[2] - k) > PLANE_TOLERANCE or not 0 <= k < nz:
        raise ImagingError(f"{where}: frame at {np.round(origin, 3).tolist()} mm lies off the CT grid "
                           f"(slice index {idx[2]:.2f} of 0..{nz - 1}); the mask does not belong to this CT series")
    if not frame.any():
        return
    ct_spacing = np.asarray(ct.GetSpacing(), dtype=float)
    # frame pixel (r, c) is at origin + c * dc * row_dir + r * dr * col_dir
    step_c = physical_to_index(ct, (origin + spacing_rc[1] * row_dir)[None, :])[0] - idx
    step_r = physical_to_index(ct, (origin + spacing_rc[0] * col_dir)[None, :])[0] - idx
    aligned = (np.allclose(step_c, [1, 0, 0], atol=1e-3) and np.allclose(step_r, [0, 1, 0], atol=1e-3)
               and np.allclose(idx[:2], np.round(idx[:2]), atol=1e-2))
    if aligned:
        x0, y0 = int(round(idx[0])), int(round(idx[1]))
        rr, cc = np.nonzero(frame)
        ys, xs = rr + y0, cc + x0
        inside = (ys >= 0) & (ys < ny) & (xs >= 0) & (xs < nx)
        if not inside.all():
            raise ImagingError(f"{where}: {int((~inside).sum())} mask pixels fall outside the CT grid "
                               f"({nx}x{ny}); the mask does not belong to this CT series")
        target[k, ys, xs] = True
        return
    # different pixel size or offset: nearest-neighbour lookup of every CT pixel of slice k in the frame
    yy, xx = np.mgrid[0:ny, 0:nx]
    pts = (np.asarray(ct.GetOrigin(), dtype=float)[None, :]
           + (ct_dir @ np.vstack([xx.ravel() * ct_spacing[0], yy.ravel() * ct_spacing[1],
                                  np.full(xx.size, k * ct_spacing[2])])).T)
    rel = pts - origin[None, :]
    cols_f = rel @ row_dir / spacing_rc[1]
    rows_f = rel @ col_dir / spacing_rc[0]
    r = np.rint(rows_f).astype(int)
    c = np.rint(cols_f).astype(int)
    ok = (r >= 0) & (r < frame.shape[0]) & (c >= 0) & (c < frame.shape[1])
    hit = np.zeros(xx.size, dtype=bool)
    hit[ok] = frame[r[ok], c[ok]]
    if not hit.any():
        raise ImagingError(f"{where}: no mask pixel of the frame overlaps the CT grid; the mask does not belong "
                           "to this CT series")
    target[k] |= hit.reshape(ny, nx)


def read_seg(path: str | os.PathLike[str], ct: CTVolume) -> list[Segment]:
    """Read a DICOM SEG as one binary mask per segment on the grid of its CT series.

    Frames are placed by their own ImagePositionPatient (per-frame functional
    groups), so sparse SEGs that only store frames containing the mask (ePAD) and
    full SEGs (3D Slicer / dcmqi) both work; frames without a position are placed
    through their referenced CT SOP Instance UID.  Frames with another pixel size
    or in-plane offset are resampled (nearest neighbour) onto the CT slice.

    Parameters
    ----------
    path
        The SEG file (or a folder holding exactly one SEG file).
    ct
        The referenced CT series from :func:`read_ct_series`.

    Returns
    -------
    list of Segment
        In segment-number order; ``mask`` is uint8 (0/1) on ``ct.image``'s grid.

    Raises
    ------
    ImagingError
        Not a SEG, undecodable frames, frames off the CT grid or oblique.
    """
    import pydicom

    path = Path(path)
    if path.is_dir():
        segs = [p for p, ds in _read_headers(_dicom_files(path))
                if getattr(ds, "Modality", "") == "SEG" or str(getattr(ds, "SOPClassUID", "")) == SEG_SOP_CLASS]
        if len(segs) != 1:
            raise ImagingError(f"{path} holds {len(segs)} SEG files; expected exactly one")
        path = segs[0]
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:  # noqa: BLE001
        raise ImagingError(f"{path} is not a readable DICOM file ({exc})") from exc
    if getattr(ds, "Modality", "") != "SEG" and str(getattr(ds, "SOPClassUID", "")) != SEG_SOP_CLASS:
        raise ImagingError(f"{path} is not a DICOM SEG (Modality {getattr(ds, 'Modality', '?')})")
    refs = getattr(ds, "ReferencedSeriesSequence", None)
    if refs and ct.series_uid and str(refs[0].SeriesInstanceUID) != ct.series_uid:
        warnings.warn(f"{path} references series {refs[0].SeriesInstanceUID}, not {ct.series_uid}; placing it by "
                      "patient coordinates", DataQualityWarning, stacklevel=2)
    try:
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # noqa: BLE001
        raise ImagingError(f"{path}: cannot decode the SEG frames ({exc})") from exc
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    pixels = pixels.reshape(n_frames, rows, cols)
    if str(getattr(ds, "SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        maximum = float(getattr(ds, "MaximumFractionalValue", 255) or 255)
        binary = pixels > maximum / 2.0
    else:
        binary = pixels > 0

    segments_meta: dict[int, tuple[str, str]] = {}
    properties: dict[int, str] = {}
    for item in getattr(ds, "SegmentSequence", []) or []:
        number = int(item.SegmentNumber)
        label = str(getattr(item, "SegmentLabel", "") or f"segment_{number}")
        segments_meta[number] = (label, str(getattr(item, "SegmentDescription", "") or ""))
        prop = _item(item, "SegmentedPropertyTypeCodeSequence")
        properties[number] = str(getattr(prop, "CodeMeaning", "") or "") if prop is not None else ""
    if not segments_meta:
        raise ImagingError(f"{path}: the SEG has no SegmentSequence; it describes no segments")

    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame_seq = getattr(ds, "PerFrameFunctionalGroupsSequence", None) or []
    if per_frame_seq and len(per_frame_seq) != n_frames:
        raise ImagingError(f"{path}: {len(per_frame_seq)} per-frame groups for {n_frames} frames; the SEG is damaged")
    sop_index = {uid: k for k, uid in enumerate(ct.sop_instance_uids)}
    size = ct.image.GetSize()
    targets = {n: np.zeros((size[2], size[1], size[0]), dtype=bool) for n in segments_meta}
    ct_dir = _direction_matrix(ct.image)
    for f in range(n_frames):
        pf = per_frame_seq[f] if per_frame_seq else None
        where = f"{path} frame {f + 1}"
        seg_item = _frame_attr(pf, shared, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
        if seg_item is None:
            if len(segments_meta) != 1:
                raise ImagingError(f"{where}: no ReferencedSegmentNumber and the SEG has several segments")
            number = next(iter(segments_meta))
        else:
            number = int(seg_item)
        if number not in targets:
            raise ImagingError(f"{where}: refers to segment {number}, which the SegmentSequence does not define")
        iop = _frame_attr(pf, shared, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _frame_attr(pf, shared, "PixelMeasuresSequence", "PixelSpacing")
        ipp = _frame_attr(pf, None, "PlanePositionSequence", "ImagePositionPatient")
        if ipp is None:
            # no position: fall back to the referenced CT slice and the CT's in-plane geometry
            uid = None
            deriv = _item(pf, "DerivationImageSequence") if pf is not None else None
            source = _item(deriv, "SourceImageSequence") if deriv is not None else None
            if source is not None:
                uid = str(source.ReferencedSOPInstanceUID)
            if uid is None or uid not in sop_index:
                raise ImagingError(f"{where}: no ImagePositionPatient and no referenced CT slice of series "
                                   f"{ct.series_uid}; cannot place the frame")
            k = sop_index[uid]
            origin = (np.asarray(ct.image.GetOrigin()) + ct_dir[:, 2] * ct.image.GetSpacing()[2] * k)
            row_dir, col_dir = ct_dir[:, 0], ct_dir[:, 1]
            spacing_rc = np.asarray([ct.image.GetSpacing()[1], ct.image.GetSpacing()[0]])
        else:
            if iop is None or spacing is None:
                raise ImagingError(f"{where}: missing ImageOrientationPatient or PixelSpacing in the functional groups")
            origin = np.asarray([float(v) for v in ipp])
            iop_a = np.asarray([float(v) for v in iop])
            row_dir, col_dir = iop_a[:3], iop_a[3:]
            spacing_rc = np.asarray([float(v) for v in spacing])
        _paste_frame(targets[number], binary[f], ct.image, origin, row_dir, col_dir, spacing_rc, where)

    out = []
    for number in sorted(targets):
        mask = sitk.GetImageFromArray(targets[number].astype(np.uint8))
        mask.CopyInformation(ct.image)
        label, description = segments_meta[number]
        out.append(Segment(number=number, label=label, description=description, mask=mask, source="seg",
                           property_type=properties.get(number, "")))
    return out


# ---------------------------------------------------------------------------- RTSTRUCT
def contours_to_mask(contours: Sequence[np.ndarray], reference: sitk.Image, where: str = "contour") -> np.ndarray:
    """Rasterise closed planar contours (each ``(n, 3)`` patient mm) onto ``reference``'s grid.

    A voxel is inside when its centre is inside the polygon; several contours on one
    slice combine by even-odd (XOR), so inner contours cut holes.

    Returns
    -------
    ndarray of bool, shape (z, y, x)
    """
    from matplotlib.path import Path as MplPath

    size = reference.GetSize()
    mask = np.zeros((size[2], size[1], size[0]), dtype=bool)
    for points in contours:
        idx = physical_to_index(reference, np.asarray(points, dtype=float).reshape(-1, 3))
        k = int(round(float(np.mean(idx[:, 2]))))
        if np.max(np.abs(idx[:, 2] - k)) > PLANE_TOLERANCE * 2 or not 0 <= k < size[2]:
            raise ImagingError(f"{where}: contour does not lie on a CT slice (slice index {np.mean(idx[:, 2]):.2f}); "
                               "it is oblique or off the CT grid")
        if len(idx) < 3:
            continue
        poly = MplPath(idx[:, :2])
        x0 = max(int(np.floor(idx[:, 0].min())), 0)
        x1 = min(int(np.ceil(idx[:, 0].max())), size[0] - 1)
        y0 = max(int(np.floor(idx[:, 1].min())), 0)
        y1 = min(int(np.ceil(idx[:, 1].max())), size[1] - 1)
        if x1 < x0 or y1 < y0:
            raise ImagingError(f"{where}: contour lies outside the CT grid")
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        inside = poly.contains_points(np.column_stack([xx.ravel(), yy.ravel()])).reshape(yy.shape)
        mask[k, y0:y1 + 1, x0:x1 + 1] ^= inside
    return mask


def read_rtstruct(path: str | os.PathLike[str], ct: CTVolume) -> list[Segment]:
    """Read an RTSTRUCT's ROIs as binary masks on the CT grid (closed planar contours only).

    Raises
    ------
    ImagingError
        Not an RTSTRUCT, or contours off the CT grid / oblique.
    """
    import pydicom

    path = Path(path)
    if path.is_dir():
        found = [p for p, ds in _read_headers(_dicom_files(path)) if getattr(ds, "Modality", "") == "RTSTRUCT"]
        if len(found) != 1:
            raise ImagingError(f"{path} holds {len(found)} RTSTRUCT files; expected exactly one")
        path = found[0]
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:  # noqa: BLE001
        raise ImagingError(f"{path} is not a readable DICOM file ({exc})") from exc
    if getattr(ds, "Modality", "") != "RTSTRUCT":
        raise ImagingError(f"{path} is not an RTSTRUCT (Modality {getattr(ds, 'Modality', '?')})")
    names = {int(item.ROINumber): str(getattr(item, "ROIName", "") or f"roi_{item.ROINumber}")
             for item in getattr(ds, "StructureSetROISequence", []) or []}
    out = []
    for item in getattr(ds, "ROIContourSequence", []) or []:
        number = int(item.ReferencedROINumber)
        contours = [np.asarray([float(v) for v in c.ContourData]).reshape(-1, 3)
                    for c in getattr(item, "ContourSequence", []) or []
                    if str(getattr(c, "ContourGeometricType", "CLOSED_PLANAR")).upper() == "CLOSED_PLANAR"]
        label = names.get(number, f"roi_{number}")
        array = contours_to_mask(contours, ct.image, where=f"{path} ROI {label!r}")
        mask = sitk.GetImageFromArray(array.astype(np.uint8))
        mask.CopyInformation(ct.image)
        out.append(Segment(number=number, label=label, description="", mask=mask, source="rtstruct"))
    if not out:
        raise ImagingError(f"{path}: the RTSTRUCT has no ROI contours")
    return sorted(out, key=lambda s: s.number)


# ---------------------------------------------------------------------------- files
def read_image(path: str | os.PathLike[str], what: str = "image") -> sitk.Image:
    """Read an NRRD / NIfTI / MHA (any SimpleITK format) file as a 3-D image."""
    path = Path(path)
    if not path.is_file():
        raise ImagingError(f"{what} file {path} does not exist")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown format"
        raise ImagingError(f"cannot read {what} file {path}: {first}; give an NRRD or NIfTI file") from exc
    if image.GetDimension() != 3:
        raise ImagingError(f"{what} file {path} is {image.GetDimension()}-D; a 3-D volume is needed")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImagingError(f"{what} file {path} has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                           "a scalar volume is needed")
    return image


def _check_image_file(path: Path) -> None:
    """The written file's header reads back (cheap: no voxel data is decoded)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        from ..exceptions import WriteError

        raise WriteError(f"the file written to {path} does not read back ({str(exc).strip().splitlines()[-1]}); "
                         "is the disk full?") from exc


def write_image(image: sitk.Image, path: str | os.PathLike[str]) -> Path:
    """Write a compressed NRRD (or any SimpleITK format by suffix); parent folders are created.

    Written through :func:`radiogenomics.atomic.atomic_path`: a temporary name, read back
    and synced, then renamed, so a full disk never leaves an empty or partial file
    under ``path``.

    Raises
    ------
    WriteError
        Disk full (``no space left on <path>``), folder not writable, empty result.
    """
    from ..atomic import atomic_path

    path = Path(path)
    with atomic_path(path, check=_check_image_file) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return path
