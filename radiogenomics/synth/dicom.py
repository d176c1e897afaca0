"""Write synthetic CT series and DICOM SEG masks that real readers accept.

The files follow the DICOM standard closely enough that the project's own readers
(and pydicom / highdicom / SimpleITK) treat them like the TCIA downloads:

* ``write_ct_series``: one CT Image Storage file per axial slice, named like the
  NBIA Data Retriever names them (``1-001.dcm``, ``1-002.dcm``, ...).
* ``write_seg``: one DICOM Segmentation (BINARY) built by highdicom that references
  the CT instances and their series (ReferencedSeriesSequence).

Two SEG "makers" are mimicked, because the NSCLC Radiogenomics collection holds SEGs
from both and they differ in ways a reader must tolerate:

=====================  ==================================  =================================
aspect                 ``"3D Slicer"`` (dcmqi-like)         ``"ePAD"`` (ePAD DSO)
=====================  ==================================  =================================
Manufacturer tag       "3D Slicer Community"               "Stanford University"
SeriesDescription      "3D Slicer segmentation result"     "ePAD Generated DSO"
frames                 every referenced CT slice, empty    only slices that contain the
                       ones included (as the real 10 MB    mask (the real ones are < 2 MB)
                       Slicer SEGs of the collection)
segment category/type  SCT Morphologically Altered         SCT Tissue / Lesion
                       Structure / Neoplasm
segment label          the dict key                        the dict key upper-cased
algorithm type         SEMIAUTOMATIC (name "GrowCut")      MANUAL
content label          "SEGMENTATION"                      "EPAD_DSO"
model / software       "3D Slicer" / "dcmqi 1.2.2"          "ePAD" / "ePAD 2.3"
=====================  ==================================  =================================

The Manufacturer and SeriesDescription values are those of the real NSCLC
Radiogenomics SEGs (NBIA metadata.csv: 96 "3D Slicer Community", 48 "Stanford
University"), so the maker is told apart by ManufacturerModelName or the
series description, as with the real files.

UIDs are derived deterministically (hash of their inputs) when not given, so a
seeded cohort is reproducible.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..exceptions import InputError

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
_SEG_MAKERS = ("3D Slicer", "ePAD")
#: the Manufacturer tag the real collection's SEGs carry, per maker (aliases accepted too)
SEG_MANUFACTURER_TAG = {"3D Slicer": "3D Slicer Community", "ePAD": "Stanford University"}
SEG_SERIES_DESCRIPTION = {"3D Slicer": "3D Slicer segmentation result", "ePAD": "ePAD Generated DSO"}
_MAKER_ALIASES = {"3D Slicer Community": "3D Slicer", "Stanford University": "ePAD"}


def synth_uid(*parts: object) -> str:
    """A deterministic DICOM UID derived from ``parts``.

    Parameters
    ----------
    *parts
        Anything with a stable ``str()``; the same parts always give the same UID.

    Returns
    -------
    str
        A valid UID (at most 64 characters) under pydicom's root.
    """
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def _volume_digest(volume: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(volume).tobytes()).hexdigest()[:16]


def _ds(value: float) -> float:
    """A float that fits a DICOM DS (16 characters)."""
    return round(float(value), 6)


def _stored_values(volume_hu: np.ndarray, slope: float, intercept: float) -> tuple[np.ndarray, int]:
    """HU -> stored integers; returns the array and the PixelRepresentation (0/1)."""
    if slope == 0:
        raise InputError("write_ct_series: slope must be non-zero (RescaleSlope)")
    stored = np.rint((np.asarray(volume_hu, dtype=np.float64) - intercept) / slope)
    if not np.all(np.isfinite(stored)):
        raise InputError("write_ct_series: volume_hu contains NaN or infinite values")
    lo, hi = float(stored.min()), float(stored.max())
    if lo >= 0 and hi <= 65535:
        return stored.astype(np.uint16), 0
    if lo >= -32768 and hi <= 32767:
        return stored.astype(np.int16), 1
    raise InputError(
        f"write_ct_series: stored values range {lo:.0f}..{hi:.0f} does not fit 16 bits "
        f"with slope={slope} intercept={intercept}; choose another slope/intercept"
    )


def write_ct_series(
    volume_hu: np.ndarray,
    spacing: Sequence[float],
    out_dir: str | Path,
    patient_id: str,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    study_uid: str | None = None,
    series_uid: str | None = None,
    description: str = "CT CHEST WO",
    slope: float = 1.0,
    intercept: float = -1024.0,
    manufacturer: str = "SYNTH",
    study_date: str = "19940101",
    *,
    series_description: str | None = None,
    series_number: int = 2,
    manufacturer_model: str | None = None,
    convolution_kernel: str | None = None,
) -> list[Path]:
    """Write a volume as an axial CT series, one CT Image Storage file per slice.

    Parameters
    ----------
    volume_hu : ndarray, shape (z, y, x)
        Hounsfield units; slice ``k`` lies at ``origin[2] + k * spacing[2]``.
    spacing : (sx, sy, sz)
        Voxel size in mm (column, row, slice direction).
    out_dir : path
        Folder for the files (created); files are named ``1-001.dcm`` ... in z order.
    patient_id : str
        PatientID and PatientName.
    origin : (x, y, z)
        ImagePositionPatient of the first voxel of slice 0 (mm).
    study_uid, series_uid : str, optional
        Derived deterministically from the patient, date and volume when omitted.
    description : str
        StudyDescription (and SeriesDescription unless ``series_description`` is given).
    slope, intercept : float
        RescaleSlope / RescaleIntercept; stored value = (HU - intercept) / slope,
        rounded, as uint16 when non-negative else int16.
    manufacturer : str
        Manufacturer tag.
    study_date : str
        ``YYYYMMDD``; also used for series/content/acquisition dates.
    series_description : str, optional
        SeriesDescription when different from the study description.
    series_number : int
        SeriesNumber.
    manufacturer_model, convolution_kernel : str, optional
        ManufacturerModelName and ConvolutionKernel (the scanner profile a harmonisation
        step keys on); left out when not given.

    Returns
    -------
    list of Path
        The files, in slice (z) order.

    Raises
    ------
    InputError
        On a volume that is not 3-D, bad spacing, or values that do not fit 16 bits.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

    volume = np.asarray(volume_hu)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise InputError(f"write_ct_series: volume_hu must be a 3-D (z, y, x) array, got shape {volume.shape}")
    spacing = tuple(float(s) for s in spacing)
    origin = tuple(float(o) for o in origin)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise InputError(f"write_ct_series: spacing must be three positive numbers (sx, sy, sz), got {spacing}")
    if len(origin) != 3:
        raise InputError(f"write_ct_series: origin must be (x, y, z), got {origin}")
    stored, pixel_rep = _stored_values(volume, slope, intercept)
    nz, ny, nx = volume.shape

    digest = _volume_digest(volume)
    study_uid = study_uid or synth_uid("study", patient_id, study_date, description)
    series_uid = series_uid or synth_uid("series", study_uid, digest, spacing, origin)
    frame_uid = synth_uid("frame", study_uid, series_uid)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(nz)))
    date = str(study_date)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    # one template dataset, only the per-slice attributes change (much faster than rebuilding)
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = ""
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = manufacturer
    if manufacturer_model:
        ds.ManufacturerModelName = manufacturer_model
    if convolution_kernel:
        ds.ConvolutionKernel = convolution_kernel
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = description
    ds.SeriesDescription = series_description or description
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = _ds(spacing[2])
    ds.SpacingBetweenSlices = _ds(spacing[2])
    ds.KVP = 120
    ds.PatientPosition = "FFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = int(series_number)
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [_ds(origin[0]), _ds(origin[1]), _ds(origin[2])]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = _ds(origin[2])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ny
    ds.Columns = nx
    # PixelSpacing is (row spacing = y, column spacing = x)
    ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = pixel_rep
    ds.WindowCenter = -600
    ds.WindowWidth = 1500
    ds.RescaleIntercept = _ds(intercept)
    ds.RescaleSlope = _ds(slope)
    ds.RescaleType = "HU"
    little = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder("<")))

    paths: list[Path] = []
    for k in range(nz):
        sop_uid = synth_uid("ct", series_uid, k)
        meta.MediaStorageSOPInstanceUID = sop_uid
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        z = _ds(origin[2] + k * spacing[2])
        ds.ImagePositionPatient = [_ds(origin[0]), _ds(origin[1]), z]
        ds.SliceLocation = z
        ds.PixelData = little[k].tobytes()
        path = out / f"1-{k + 1:0{width}d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    log.debug("wrote %d CT slices for %s to %s", nz, patient_id, out)
    return paths


def _slice_key(ds) -> float:
    """Position of a slice along its normal (for sorting)."""
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=float)))


def _segment_description(number: int, label: str, maker: str):
    import highdicom as hd

    if maker == "ePAD":
        category = hd.sr.CodedConcept("85756007", "SCT", "Tissue")
        prop = hd.sr.CodedConcept("52988006", "SCT", "Lesion")
        return hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label.upper(),
            segmented_property_category=category,
            segmented_property_type=prop,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
    category = hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure")
    prop = hd.sr.CodedConcept("108369006", "SCT", "Neoplasm")
    algo = hd.AlgorithmIdentificationSequence(
        name="GrowCut",
        version="1.0",
        family=hd.sr.CodedConcept("123109", "DCM", "Manual Processing"),
    )
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=category,
        segmented_property_type=prop,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=algo,
    )


def write_seg(
    masks: Mapping[str, np.ndarray],
    ct_files: Sequence[str | Path],
    out_path: str | Path,
    manufacturer: str = "3D Slicer",
    series_uid: str | None = None,
) -> Path:
    """Write a BINARY DICOM SEG of ``masks`` on the grid of a CT series.

    Parameters
    ----------
    masks : mapping of str to bool ndarray, shape (z, y, x)
        One segment per entry, in insertion order (segment numbers 1, 2, ...).
        Index ``z`` is the CT slice in ascending position order (the order
        ``write_ct_series`` writes).
    ct_files : sequence of path
        The CT series the masks lie on (any order).
    out_path : path
        Output file (parent folders are created).
    manufacturer : {"3D Slicer", "ePAD"}
        Which maker to mimic (the real tags "3D Slicer Community" / "Stanford
        University" are accepted as aliases); see the module docstring.
    series_uid : str, optional
        SEG SeriesInstanceUID; derived from the CT series and the labels if omitted.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    InputError
        On an unknown maker, no masks, a shape that does not match the CT grid,
        an empty mask, or CT files from more than one series.
    """
    import highdicom as hd
    import pydicom

    manufacturer = _MAKER_ALIASES.get(manufacturer, manufacturer)
    if manufacturer not in _SEG_MAKERS:
        raise InputError(f"write_seg: manufacturer must be one of {_SEG_MAKERS}, got {manufacturer!r}")
    if not masks:
        raise InputError("write_seg: masks is empty; give at least one segment label -> mask")
    if not ct_files:
        raise InputError("write_seg: ct_files is empty")
    # highdicom needs the source headers only
    sources = [pydicom.dcmread(str(p), stop_before_pixels=True) for p in ct_files]
    series = {ds.SeriesInstanceUID for ds in sources}
    if len(series) != 1:
        raise InputError(f"write_seg: ct_files come from {len(series)} series; give the files of one CT series")
    sources.sort(key=_slice_key)
    shape = (len(sources), int(sources[0].Rows), int(sources[0].Columns))

    labels = list(masks)
    arrays = []
    for label in labels:
        m = np.asarray(masks[label]).astype(bool)
        if m.shape != shape:
            raise InputError(f"write_seg: mask {label!r} has shape {m.shape}, the CT grid is {shape} (z, y, x)")
        if not m.any():
            raise InputError(f"write_seg: mask {label!r} is empty; a SEG segment needs at least one voxel")
        arrays.append(m)
    pixels = np.stack(arrays, axis=-1).astype(np.uint8)

    ct_series = next(iter(series))
    seg_series = series_uid or synth_uid("seg", ct_series, manufacturer, *labels)
    descriptions = [_segment_description(i + 1, lab, manufacturer) for i, lab in enumerate(labels)]
    if manufacturer == "ePAD":
        model, software, content_label = "ePAD", "ePAD 2.3", "EPAD_DSO"
        omit_empty = True
    else:
        model, software, content_label = "3D Slicer", "dcmqi 1.2.2", "SEGMENTATION"
        omit_empty = False
    series_description = SEG_SERIES_DESCRIPTION[manufacturer]

    with warnings.catch_warnings():
        # TCIA PatientName is the bare ID (one component); highdicom warns about that
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        seg = _build_seg(hd, sources, pixels, descriptions, seg_series, SEG_MANUFACTURER_TAG[manufacturer], model, software,
                         content_label, omit_empty)
    seg.SeriesDescription = series_description
    # keep the CT study's dates so the NBIA study folder is shared
    for tag in ("StudyDate", "StudyTime", "StudyDescription"):
        if tag in sources[0]:
            setattr(seg, tag, getattr(sources[0], tag))
    _freeze_clock(seg, str(sources[0].get("StudyDate", "19940101")), seg_series)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out)
    log.debug("wrote SEG (%s, %d segments) to %s", manufacturer, len(labels), out)
    return out


def _freeze_clock(seg, day: str, seg_series: str) -> None:
    """Replace highdicom's wall-clock times and random UIDs so output is reproducible."""
    for tag in ("SeriesDate", "ContentDate", "InstanceCreationDate"):
        setattr(seg, tag, day)
    for tag in ("SeriesTime", "ContentTime", "InstanceCreationTime"):
        setattr(seg, tag, "130000")
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = f"{day}130000"
    dim_uid = synth_uid("dimension-organization", seg_series)
    for item in seg.get("DimensionOrganizationSequence", []):
        item.DimensionOrganizationUID = dim_uid
    for item in seg.get("DimensionIndexSequence", []):
        item.DimensionOrganizationUID = dim_uid


def _build_seg(hd, sources, pixels, descriptions, seg_series, manufacturer, model, software, content_label, omit_empty):
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=seg_series,
        series_number=1000,
        sop_instance_uid=synth_uid("seg-instance", seg_series),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=model,
        software_versions=software,
        device_serial_number="0",
        content_label=content_label,
        content_description="tumour segmentation",
        content_creator_name="Reader^One",
        omit_empty_frames=omit_empty,
    )


def write_nrrd_pair(
    volume_hu: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    out_dir: str | Path,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    image_name: str = "image.nrrd",
    mask_name: str = "mask.nrrd",
) -> tuple[Path, Path]:
    """Write a CT volume and its label mask as NRRD files (SimpleITK).

    Parameters
    ----------
    volume_hu : ndarray, shape (z, y, x)
        Hounsfield units (written as int16).
    mask : ndarray, shape (z, y, x)
        Non-zero voxels are the ROI (written as uint8 with label 1).
    spacing : (sx, sy, sz)
        Voxel size in mm.
    out_dir : path
        Folder for the two files (created).
    origin : (x, y, z)
        Physical position of voxel (0, 0, 0).
    image_name, mask_name : str
        File names.

    Returns
    -------
    (Path, Path)
        Image and mask paths.
    """
    import SimpleITK as sitk

    volume = np.asarray(volume_hu)
    m = np.asarray(mask)
    if volume.ndim != 3 or m.shape != volume.shape:
        raise InputError(f"write_nrrd_pair: image {volume.shape} and mask {m.shape} must be equal 3-D (z, y, x) shapes")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(np.rint(volume).astype(np.int16))
    lab = sitk.GetImageFromArray((m != 0).astype(np.uint8))
    for im in (img, lab):
        im.SetSpacing(tuple(float(s) for s in spacing))
        im.SetOrigin(tuple(float(o) for o in origin))
    image_path, mask_path = out / image_name, out / mask_name
    sitk.WriteImage(img, str(image_path), True)
    sitk.WriteImage(lab, str(mask_path), True)
    return image_path, mask_path
