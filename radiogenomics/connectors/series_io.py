"""Verify a folder of DICOM files as one series and turn it into store rows.

Shared by the NBIA download (:mod:`.tcia`), the manifest import and the NBIA Data
Retriever import: a series counts as complete only when every file parses with
pydicom, all belong to the expected series, the number of files matches the
expected image count and (when known) every MD5 matches.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..exceptions import ChecksumError, InputError

log = logging.getLogger(__name__)

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
_SAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class VerifyError(InputError):
    """A series folder failed verification (message says why)."""


def safe_name(text: str) -> str:
    """A folder name without separators or control characters."""
    cleaned = _SAFE.sub("_", str(text)).strip(" .")
    return cleaned or "_"


@dataclass
class SeriesFiles:
    """A verified series: header facts and one row per instance."""

    series_uid: str
    folder: Path
    patient_id: str
    study_uid: str
    modality: str
    description: str
    sop_class_uid: str
    manufacturer: str
    study_date: _dt.date | None
    study_description: str
    referenced_series_uid: str | None
    referenced_sop_uids: list[str] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    md5_verified: bool = False
    manufacturer_model: str = ""
    convolution_kernel: str = ""
    slice_thickness: float | None = None
    #: every series a SEG/RTSTRUCT names in ReferencedSeriesSequence (an AIMI PET/CT SEG names CT and PT)
    referenced_series_uids: list[str] = field(default_factory=list)

    @property
    def file_size(self) -> int:
        return int(sum(i["file_size"] for i in self.instances))

    def relocate(self, folder: Path) -> None:
        """Point the instance paths at ``folder`` (after the series was moved there)."""
        self.folder = folder
        for inst in self.instances:
            inst["path"] = str(folder / Path(inst["path"]).name)


def parse_dicom_date(value: Any) -> _dt.date | None:
    """DICOM DA (YYYYMMDD) to a date; None when empty or malformed."""
    text = str(value or "").strip()
    if len(text) >= 8 and text[:8].isdigit():
        try:
            return _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return None
    return None


def referenced_series(ds: Any) -> tuple[str | None, list[str]]:
    """The series a SEG (or RTSTRUCT) annotates, from its header.

    Returns the SeriesInstanceUID of ReferencedSeriesSequence (0008,1115) when
    present (RTSTRUCT: the RT Referenced Series), else ``None`` together with the
    SOP instance UIDs the segmentation was derived from (per-frame / shared
    DerivationImageSequence -> SourceImageSequence, or ReferencedImageSequence), which
    the caller resolves through the ``instances`` table.
    """
    for item in getattr(ds, "ReferencedSeriesSequence", None) or []:
        uid = getattr(item, "SeriesInstanceUID", None)
        if uid:
            return str(uid), []
    for frame_ref in getattr(ds, "ReferencedFrameOfReferenceSequence", None) or []:
        for study in getattr(frame_ref, "RTReferencedStudySequence", None) or []:
            for ser in getattr(study, "RTReferencedSeriesSequence", None) or []:
                if getattr(ser, "SeriesInstanceUID", None):
                    return str(ser.SeriesInstanceUID), []
    sops: list[str] = []
    groups = list(getattr(ds, "SharedFunctionalGroupsSequence", None) or []) + \
        list(getattr(ds, "PerFrameFunctionalGroupsSequence", None) or [])
    for group in groups:
        for deriv in getattr(group, "DerivationImageSequence", None) or []:
            for src in getattr(deriv, "SourceImageSequence", None) or []:
                if getattr(src, "ReferencedSOPInstanceUID", None):
                    sops.append(str(src.ReferencedSOPInstanceUID))
    for ref in getattr(ds, "ReferencedImageSequence", None) or []:
        if getattr(ref, "ReferencedSOPInstanceUID", None):
            sops.append(str(ref.ReferencedSOPInstanceUID))
    return None, list(dict.fromkeys(sops))


def all_referenced_series(ds: Any) -> list[str]:
    """Every SeriesInstanceUID of ReferencedSeriesSequence (0008,1115), in header order."""
    out = [str(item.SeriesInstanceUID) for item in getattr(ds, "ReferencedSeriesSequence", None) or []
           if getattr(item, "SeriesInstanceUID", None)]
    return list(dict.fromkeys(out))


def scanner_facts(ds: Any) -> tuple[str, str, float | None]:
    """(ManufacturerModelName, ConvolutionKernel, SliceThickness) of a header.

    A multi-valued ConvolutionKernel (Siemens: ``['I30f', '3']``) is joined with a
    backslash, as DICOM writes it; SliceThickness falls back to the shared functional
    groups' PixelMeasuresSequence of enhanced / SEG objects.
    """
    model = str(getattr(ds, "ManufacturerModelName", "") or "").strip()
    kernel_value = getattr(ds, "ConvolutionKernel", None)
    if kernel_value is None or kernel_value == "":
        kernel = ""
    elif isinstance(kernel_value, (list, tuple)) or type(kernel_value).__name__ == "MultiValue":
        kernel = "\\".join(str(v).strip() for v in kernel_value)
    else:
        kernel = str(kernel_value).strip()
    thickness = getattr(ds, "SliceThickness", None)
    if thickness in (None, ""):
        for group in getattr(ds, "SharedFunctionalGroupsSequence", None) or []:
            for measures in getattr(group, "PixelMeasuresSequence", None) or []:
                thickness = getattr(measures, "SliceThickness", None)
    try:
        value = float(thickness) if thickness not in (None, "") else None
    except (TypeError, ValueError):
        value = None
    return model, kernel, value


def doi_from(text: Any) -> str | None:
    """The DOI in a DOI, ``doi:`` string or ``https://doi.org/...`` URL (lower-cased prefix kept as given)."""
    match = re.search(r"(10\.\d{4,9}/[^\s\"'<>]+)", str(text or ""))
    return match.group(1).rstrip("/.") if match else None


#: modalities whose objects carry no pixel data (everything else must have complete PixelData)
_NO_PIXELS = {"RTSTRUCT", "RTPLAN", "RTRECORD", "SR", "KO", "PR", "REG", "DOC", "FID", "RWV"}
_NO_PIXEL_CLASSES = {RTSTRUCT_SOP_CLASS}
_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


def pixel_data_problem(ds: Any) -> str | None:
    """Why the pixel data of an image object is missing or short (a truncated file), or None.

    pydicom reads a file cut short without complaint: the elements after the cut are
    simply absent or shorter.  For an uncompressed transfer syntax the PixelData
    length must cover Rows x Columns x frames x samples x BitsAllocated.
    """
    modality = str(getattr(ds, "Modality", "") or "").upper()
    sop_class = str(getattr(ds, "SOPClassUID", "") or "")
    if modality in _NO_PIXELS or sop_class in _NO_PIXEL_CLASSES:
        return None
    pixels = ds.get("PixelData")
    if pixels is None or ds.get("Rows") is None or ds.get("Columns") is None:
        return "it has no (complete) pixel data: the file is truncated or not an image"
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    raw = pixels.value if hasattr(pixels, "value") else pixels
    if syntax in _UNCOMPRESSED:
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        bits = int(getattr(ds, "BitsAllocated", 16) or 16)
        need = (int(ds.Rows) * int(ds.Columns) * frames * samples * bits + 7) // 8
        if raw is None or len(raw) < need:
            return f"its pixel data has {0 if raw is None else len(raw)} of {need} bytes: the file is truncated"
    elif not raw:
        return "its pixel data is empty: the file is truncated"
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_series_folder(folder: Path, series_uid: str | None, expected_count: int | None,
                         md5s: Mapping[str, str] | None = None, files: list[Path] | None = None) -> SeriesFiles:
    """Parse every DICOM file of ``folder`` and check it is one complete series.

    Parameters
    ----------
    folder
        Folder holding the series' files (non-DICOM files named LICENSE* are ignored).
    series_uid
        Expected SeriesInstanceUID (None: take it from the files, which must agree).
    expected_count
        Expected number of instances (NBIA ImageCount); None skips the check.
    md5s
        File name -> expected MD5; every listed file must match.
    files
        Files to check instead of every file in ``folder``.

    Raises
    ------
    VerifyError
        With the first problem found (count, unparsable file, foreign series).
    ChecksumError
        An MD5 does not match.
    """
    import pydicom

    if files is None:
        if not folder.is_dir():
            raise VerifyError(f"series folder {folder} does not exist")
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.upper().startswith("LICENSE")
                       and not p.name.endswith((".part", ".zip")))
    if not files:
        raise VerifyError(f"series {series_uid or folder}: no files in {folder}")
    if expected_count is not None and len(files) != int(expected_count):
        raise VerifyError(f"series {series_uid or folder}: {len(files)} files but the server lists {expected_count} images")
    instances = []
    first = None
    seen_uid = series_uid
    for path in files:
        try:
            ds = pydicom.dcmread(path)
            _ = ds.get("PixelData")  # force the whole element list to be read
            sop = str(ds.SOPInstanceUID)
            uid = str(ds.SeriesInstanceUID)
            problem = pixel_data_problem(ds)
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types on bad input
            raise VerifyError(f"series {series_uid or folder}: file {path.name} is not a readable DICOM file ({type(exc).__name__}: {exc})") from None
        if problem:
            raise VerifyError(f"series {series_uid or folder}: file {path} is not a complete DICOM file: {problem}; "
                              "download it again")
        if seen_uid is None:
            seen_uid = uid
        if uid != seen_uid:
            raise VerifyError(f"series {seen_uid}: file {path.name} belongs to another series {uid}")
        digest = _md5(path)
        if md5s and path.name in md5s and md5s[path.name].lower() != digest:
            raise ChecksumError(f"series {seen_uid}: MD5 of {path.name} is {digest}, the server lists {md5s[path.name]}")
        if first is None:
            first = ds
        number = getattr(ds, "InstanceNumber", None)
        instances.append(dict(sop_instance_uid=sop, series_uid=uid, patient_id=str(getattr(ds, "PatientID", "") or ""),
                              sop_class_uid=str(getattr(ds, "SOPClassUID", "") or ""),
                              instance_number=int(number) if number not in (None, "") else None,
                              path=str(path), file_size=path.stat().st_size, md5=digest))
    if md5s:
        missing = sorted(set(md5s) - {p.name for p in files})
        if missing:
            raise VerifyError(f"series {seen_uid}: files listed in the MD5 list are missing: {missing[:3]}")
    dup = len({i["sop_instance_uid"] for i in instances}) != len(instances)
    if dup:
        raise VerifyError(f"series {seen_uid}: repeated SOPInstanceUIDs")
    assert first is not None
    ref, ref_sops = (None, [])
    modality = str(getattr(first, "Modality", "") or "")
    sop_class = str(getattr(first, "SOPClassUID", "") or "")
    refs_all: list[str] = []
    if modality in ("SEG", "RTSTRUCT") or sop_class in (SEG_SOP_CLASS, RTSTRUCT_SOP_CLASS):
        ref, ref_sops = referenced_series(first)
        refs_all = all_referenced_series(first) or ([ref] if ref else [])
    model, kernel, thickness = scanner_facts(first)
    return SeriesFiles(
        series_uid=str(seen_uid), folder=folder, patient_id=str(getattr(first, "PatientID", "") or ""),
        study_uid=str(getattr(first, "StudyInstanceUID", "") or ""), modality=modality,
        description=str(getattr(first, "SeriesDescription", "") or ""), sop_class_uid=sop_class,
        manufacturer=str(getattr(first, "Manufacturer", "") or ""),
        study_date=parse_dicom_date(getattr(first, "StudyDate", None)),
        study_description=str(getattr(first, "StudyDescription", "") or ""),
        referenced_series_uid=ref, referenced_sop_uids=ref_sops, instances=instances,
        md5_verified=bool(md5s), manufacturer_model=model, convolution_kernel=kernel, slice_thickness=thickness,
        referenced_series_uids=refs_all)


def series_row(files: SeriesFiles, patient_id: str, collection: str | None,
               listing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``series`` row of a verified, moved series.

    Header facts win over the listing's; ``source`` (``NBIA`` unless the listing says
    ``IDC``), ``license``, ``doi``, ``segmentation_source`` and ``analysis_result_id``
    come from the listing.
    """
    listing = listing or {}
    return dict(
        series_uid=files.series_uid, patient_id=patient_id, study_uid=files.study_uid or listing.get("study_uid"),
        modality=files.modality or listing.get("modality"),
        description=files.description or listing.get("description"),
        image_count=len(files.instances), status="complete", collection=collection,
        study_date=files.study_date or listing.get("study_date"),
        study_description=files.study_description or listing.get("study_description"),
        manufacturer=files.manufacturer or listing.get("manufacturer"), sop_class_uid=files.sop_class_uid,
        referenced_series_uid=files.referenced_series_uid, file_size=files.file_size, path=str(files.folder),
        md5_verified=files.md5_verified, error=None,
        source=listing.get("source") or "NBIA", license=listing.get("license_name") or None,
        doi=doi_from(listing.get("doi")), manufacturer_model=files.manufacturer_model or listing.get("manufacturer_model"),
        convolution_kernel=files.convolution_kernel or None, slice_thickness=files.slice_thickness,
        segmentation_source=listing.get("segmentation_source") or (
            "original" if (files.modality or listing.get("modality")) in ("SEG", "RTSTRUCT")
            and (listing.get("source") or "NBIA") == "NBIA" else None),
        analysis_result_id=listing.get("analysis_result_id"))


def write_series(store: Any, run_id: str, files: SeriesFiles, patient_id: str, collection: str | None,
                 listing: Mapping[str, Any] | None = None, source: str = "tcia") -> None:
    """Register a verified series, its instances and its patient, all or nothing.

    A SEG whose header names only source instances gets ``referenced_series_uid``
    from the ``instances`` already in the store.  A SEG naming several series (an
    AIMI PET/CT SEG names the CT and the PT) references the first one listed in
    ``listing['prefer_referenced']`` (e.g. the collection's CT series) when given.
    """
    prefer = (listing or {}).get("prefer_referenced")
    if prefer and len(files.referenced_series_uids) > 1:
        chosen = [u for u in files.referenced_series_uids if u in prefer]
        if chosen:
            files.referenced_series_uid = chosen[0]
    if files.referenced_series_uid is None and files.referenced_sop_uids:
        found = store.query(
            "SELECT series_uid, count(*) AS n FROM core.instances WHERE sop_instance_uid IN (SELECT unnest(?)) "
            "GROUP BY series_uid ORDER BY n DESC", [files.referenced_sop_uids])
        if len(found):
            files.referenced_series_uid = str(found.iloc[0]["series_uid"])
    row = series_row(files, patient_id, collection, listing)
    inst = pd.DataFrame(files.instances)
    inst["patient_id"] = patient_id
    with store.transaction():
        store.delete("instances", "series_uid = ?", [files.series_uid])
        store.upsert("series", pd.DataFrame([row]), run_id=run_id)
        store.upsert("instances", inst, run_id=run_id)
        ensure_patients(store, [patient_id], collection, source, run_id)
        store.add_crosswalk("tcia", {patient_id: patient_id}, run_id)


def ensure_patients(store: Any, patient_ids: list[str], collection: str | None, source: str,
                    run_id: str | None) -> None:
    """Register patients not yet in ``patients`` (an existing row keeps its first source)."""
    ids = [p for p in dict.fromkeys(patient_ids) if p]
    if not ids:
        return
    known = set(store.query("SELECT patient_id FROM core.patients WHERE patient_id IN (SELECT unnest(?))",
                            [ids])["patient_id"])
    new = [p for p in ids if p not in known]
    if new:
        store.add_patients(new, collection, source, run_id)
