"""Select series from the NCI Imaging Data Commons index (no network).

IDC publishes one row per DICOM series in ``idc_index.parquet``, shipped inside the
PyPI package ``idc-index-data`` (columns collection_id, analysis_result_id, PatientID,
StudyInstanceUID, SeriesInstanceUID, Modality, SeriesDescription, Manufacturer,
ManufacturerModelName, instanceCount, series_size_MB, license_short_name,
source_DOI, series_aws_url ``s3://<bucket>/<crdc_series_uuid>/*``, ...).  The index
is read here with DuckDB, so planning a download needs no network at all.

SEG series are classed by where they come from (``segmentation_source``):

``original``
    the collection's own segmentations (``analysis_result_id`` empty; for NSCLC
    Radiogenomics the 3D Slicer and ePAD SEGs of the R01 patients);
``ai``
    an analysis result's automatic segmentation (NSCLC Radiogenomics: the BAMF AIMI
    "lung and nodule" and "lung and FDG tumor" SEGs);
``corrected``
    an analysis result's segmentation corrected by a person (series description
    "... radiologist 1|2 corrected segmentation", "... non-expert 1 corrected ...").
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..exceptions import ConfigError, InputError, NotFoundError, OptionalDependencyError

log = logging.getLogger(__name__)

#: ``--segmentation`` choices
SEGMENTATIONS = ("original", "ai", "corrected", "all")
#: ``--modality`` choices
MODALITIES = ("SEG", "CT", "PT")

#: the index columns this module reads (a test index needs at least these)
INDEX_COLUMNS = (
    "collection_id", "analysis_result_id", "PatientID", "SeriesInstanceUID", "StudyInstanceUID", "source_DOI",
    "StudyDate", "StudyDescription", "Modality", "Manufacturer", "ManufacturerModelName", "SeriesDescription",
    "instanceCount", "license_short_name", "series_aws_url", "series_size_MB",
)
_S3_URL = re.compile(r"^s3://([^/]+)/(.+?)/?\*?$")
_CORRECTED = re.compile(r"\bcorrected\b", re.IGNORECASE)
_CORRECTOR = re.compile(r"(radiologist|non[- ]expert)\s*(\d+)", re.IGNORECASE)


def bundled_index() -> Path:
    """Path of ``idc_index.parquet`` inside the installed ``idc-index-data`` package.

    Raises
    ------
    OptionalDependencyError
        The package is not installed.
    """
    try:
        import idc_index_data
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise OptionalDependencyError(
            "the IDC index comes with the package idc-index-data; `pip install idc-index-data` "
            "or point RG_IDC_INDEX at an idc_index.parquet") from exc
    path = getattr(idc_index_data, "IDC_INDEX_PARQUET_FILEPATH", None)
    if path is None or not Path(path).is_file():
        raise OptionalDependencyError("idc-index-data is installed without idc_index.parquet; reinstall it")
    return Path(path)


def index_version() -> str | None:
    """Version of the installed ``idc-index-data`` (None when not installed)."""
    try:
        from importlib.metadata import version

        return version("idc-index-data")
    except Exception:  # noqa: BLE001 - only informative
        return None


def resolve_index(index: str | Path | None) -> Path:
    """``index`` if given (checked), else the bundled index."""
    if index is None:
        return bundled_index()
    path = Path(index).expanduser()
    if not path.is_file():
        raise ConfigError(f"IDC index {path} does not exist; set RG_IDC_INDEX to an idc_index.parquet "
                          "or unset it to use the one of idc-index-data")
    return path


def segmentation_source(analysis_result_id: Any, description: Any) -> str:
    """``original``, ``ai`` or ``corrected`` for a SEG row of the index."""
    if analysis_result_id is None or (isinstance(analysis_result_id, float) and pd.isna(analysis_result_id)) \
            or str(analysis_result_id).strip() == "":
        return "original"
    return "corrected" if _CORRECTED.search(str(description or "")) else "ai"


def segmentation_reader(source: str | None, description: Any) -> str | None:
    """A reader name for a segmentation: its source, refined so two of one patient differ.

    ``original``; ``ai`` (``ai_fdg`` for an FDG PET/CT model); ``corrected_radiologist_1``,
    ``corrected_non_expert_1`` (``corrected_fdg_...``).  ``None`` when ``source`` is None.
    """
    if not source:
        return None
    text = str(description or "")
    name = source
    if source != "original" and re.search(r"\bFDG\b|\bPET\b", text, re.IGNORECASE):
        name += "_fdg"
    who = _CORRECTOR.search(text)
    if source == "corrected" and who:
        name += f"_{who.group(1).lower().replace(' ', '_').replace('-', '_')}_{who.group(2)}"
    return name


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix/*`` -> (bucket, ``prefix/``)."""
    match = _S3_URL.match(str(url or "").strip())
    if not match:
        raise InputError(f"IDC index: series_aws_url {url!r} is not of the form s3://bucket/<uuid>/*")
    return match.group(1), match.group(2).rstrip("/") + "/"


def _connect() -> Any:
    import duckdb

    return duckdb.connect()


def _check_columns(con: Any, path: Path) -> None:
    have = set(con.execute("SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(?))", [str(path)]).df()
               ["column_name"])
    missing = [c for c in INDEX_COLUMNS if c not in have]
    if missing:
        raise InputError(f"IDC index {path} lacks the columns {missing}; is it an idc_index.parquet of idc-index-data?")


def collection_name(index: Path, collection_id: str) -> str:
    """The collection's display name (``NSCLC Radiogenomics``) from ``collections_index.parquet``
    beside the index; the id itself when that file or row is absent."""
    path = Path(index).with_name("collections_index.parquet")
    if path.is_file():
        try:
            con = _connect()
            rows = con.execute("SELECT collection_name FROM read_parquet(?) WHERE collection_id = ?",
                               [str(path), collection_id]).fetchall()
            if rows and rows[0][0]:
                return str(rows[0][0])
        except Exception as exc:  # noqa: BLE001 - the name is cosmetic, the id works as well
            log.info("cannot read %s (%s); using the collection id as its name", path, exc)
    return collection_id


def normalise_collection(collection: str) -> str:
    """IDC collection ids are lower case with underscores: ``NSCLC Radiogenomics`` -> ``nsclc_radiogenomics``."""
    return re.sub(r"[^a-z0-9]+", "_", collection.strip().lower()).strip("_")


def select_series(index: str | Path | None, collection: str, patients: Sequence[str] | None = None,
                  modalities: Sequence[str] | None = None, segmentation: str = "all",
                  series_uids: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of the IDC index for a collection, filtered like ``rg fetch idc``.

    Parameters
    ----------
    index
        ``idc_index.parquet`` (None: the bundled one).
    collection
        IDC ``collection_id`` (``nsclc_radiogenomics``; the NBIA name is accepted too).
    patients, modalities
        Optional filters (PatientID; Modality among SEG, CT, PT).
    segmentation
        Which SEG series: ``original``, ``ai``, ``corrected`` or ``all``; other
        modalities are not affected.
    series_uids
        Only these SeriesInstanceUIDs (in any modality; the other filters still apply).

    Returns
    -------
    DataFrame
        The index columns of :data:`INDEX_COLUMNS` plus ``segmentation_source``
        (SEG rows), ``reader``, ``bucket`` and ``prefix``, ordered by patient, modality, series.

    Raises
    ------
    InputError
        Unknown modality/segmentation, or a requested patient the collection lacks.
    NotFoundError
        The index has no such collection.
    """
    if segmentation not in SEGMENTATIONS:
        raise InputError(f"--segmentation must be one of {', '.join(SEGMENTATIONS)}, not {segmentation!r}")
    mods = [m.upper() for m in (modalities or [])]
    bad = [m for m in mods if m not in MODALITIES]
    if bad:
        raise InputError(f"--modality takes {', '.join(MODALITIES)}, not {bad}")
    path = resolve_index(index)
    cid = normalise_collection(collection)
    con = _connect()
    _check_columns(con, path)
    cols = ", ".join(f'"{c}"' for c in INDEX_COLUMNS)
    sql = f"SELECT {cols} FROM read_parquet(?) WHERE collection_id = ?"
    params: list[Any] = [str(path), cid]
    if patients:
        sql += " AND PatientID IN (SELECT unnest(?))"
        params.append(list(patients))
    if mods:
        sql += " AND Modality IN (SELECT unnest(?))"
        params.append(mods)
    if series_uids is not None:
        sql += " AND SeriesInstanceUID IN (SELECT unnest(?))"
        params.append(list(series_uids))
    frame = con.execute(sql + " ORDER BY PatientID, Modality, SeriesInstanceUID", params).df()
    if frame.empty:
        known = con.execute("SELECT count(*) FROM read_parquet(?) WHERE collection_id = ?", [str(path), cid]).fetchall()[0][0]
        if not known:
            close = [r[0] for r in con.execute(
                "SELECT DISTINCT collection_id FROM read_parquet(?) WHERE collection_id LIKE ? ORDER BY 1 LIMIT 5",
                [str(path), f"%{cid.split('_')[0]}%"]).fetchall()]
            raise NotFoundError(f"the IDC index ({path.name}) has no collection {collection!r} (id {cid!r})"
                                + (f"; did you mean {close}?" if close else ""))
    if patients:
        found = set(con.execute("SELECT DISTINCT PatientID FROM read_parquet(?) WHERE collection_id = ? "
                                "AND PatientID IN (SELECT unnest(?))", [str(path), cid, list(patients)]).df()["PatientID"])
        absent = [p for p in patients if p not in found]
        if absent:
            raise InputError(f"IDC collection {cid} has no patient {absent[:5]}; check the PatientID "
                             "(NSCLC Radiogenomics ids look like R01-001 or AMC-001)")
    is_seg = frame["Modality"] == "SEG"
    frame["segmentation_source"] = None
    frame.loc[is_seg, "segmentation_source"] = [
        segmentation_source(a, d) for a, d in zip(frame.loc[is_seg, "analysis_result_id"],
                                                  frame.loc[is_seg, "SeriesDescription"])]
    if segmentation != "all":
        frame = frame[~is_seg | (frame["segmentation_source"] == segmentation)]
    frame = frame.copy()
    frame["reader"] = [segmentation_reader(s, d) for s, d in zip(frame["segmentation_source"], frame["SeriesDescription"])]
    where = [parse_s3_url(u) for u in frame["series_aws_url"]]
    frame["bucket"] = [b for b, _ in where]
    frame["prefix"] = [p for _, p in where]
    return frame.reset_index(drop=True)


def to_listings(frame: pd.DataFrame, collection: str) -> list[dict[str, Any]]:
    """Index rows as the listing dicts the series download engine takes (see :mod:`.tcia`)."""
    out = []
    for rec in frame.to_dict("records"):
        size = rec.get("series_size_MB")
        out.append(dict(
            series_uid=str(rec["SeriesInstanceUID"]), study_uid=rec.get("StudyInstanceUID"),
            patient_id=str(rec["PatientID"]), collection=collection, modality=rec.get("Modality"),
            description=rec.get("SeriesDescription"), image_count=int(rec["instanceCount"])
            if pd.notna(rec.get("instanceCount")) else None,
            file_size=int(round(float(size) * 1e6)) if size is not None and pd.notna(size) else None,
            manufacturer=rec.get("Manufacturer"), manufacturer_model=rec.get("ManufacturerModelName"),
            study_description=rec.get("StudyDescription"),
            license_name=rec.get("license_short_name"), doi=rec.get("source_DOI"), source="IDC",
            segmentation_source=rec.get("segmentation_source"), reader=rec.get("reader"),
            analysis_result_id=rec.get("analysis_result_id") if pd.notna(rec.get("analysis_result_id")) else None,
            bucket=rec["bucket"], prefix=rec["prefix"]))
    return out


@dataclass
class IdcPlan:
    """What ``rg fetch idc`` would fetch (``--dry-run``)."""

    collection: str
    series: pd.DataFrame
    index: Path
    referenced_candidates: pd.DataFrame | None = None

    @property
    def n_patients(self) -> int:
        return int(self.series["PatientID"].nunique())

    @property
    def size_mb(self) -> float:
        return float(self.series["series_size_MB"].fillna(0).sum())

    def licences(self) -> pd.DataFrame:
        """Series, patients and MB per (licence, DOI)."""
        return (self.series.groupby(["license_short_name", "source_DOI"], dropna=False)
                .agg(series=("SeriesInstanceUID", "size"), patients=("PatientID", "nunique"),
                     size_MB=("series_size_MB", "sum")).reset_index())

    def counts(self) -> pd.DataFrame:
        """Series, patients and MB per modality and segmentation source."""
        key = self.series["segmentation_source"].fillna("")
        return (self.series.assign(segmentation=key)
                .groupby(["Modality", "segmentation"]).agg(series=("SeriesInstanceUID", "size"),
                                                           patients=("PatientID", "nunique"),
                                                           size_MB=("series_size_MB", "sum")).reset_index())

    def text(self, limit: int | None = None) -> str:
        """The plan as text: one line per series, then totals per modality and per licence."""
        lines = [f"IDC index {self.index} - collection {self.collection}"]
        rows = self.series if limit is None else self.series.head(limit)
        for rec in rows.itertuples():
            seg = f" [{rec.segmentation_source}]" if isinstance(rec.segmentation_source, str) else ""
            lines.append(f"  {rec.PatientID:<10} {rec.Modality:<4}{seg:<13} {rec.instanceCount:>5} files "
                         f"{rec.series_size_MB:>9.1f} MB  {rec.license_short_name}  {rec.SeriesDescription}  "
                         f"{rec.SeriesInstanceUID}")
        if limit is not None and len(self.series) > limit:
            lines.append(f"  ... and {len(self.series) - limit} more series")
        lines.append(f"{len(self.series)} series, {self.n_patients} patients, {self.size_mb:,.1f} MB")
        for rec in self.counts().itertuples():
            seg = f" {rec.segmentation}" if rec.segmentation else ""
            lines.append(f"  {rec.Modality}{seg}: {rec.series} series, {rec.patients} patients, {rec.size_MB:,.1f} MB")
        lines.append("licences (cite the DOI of every source you use):")
        for rec in self.licences().itertuples():
            lines.append(f"  {rec.license_short_name}  doi:{rec.source_DOI}  {rec.series} series, "
                         f"{rec.patients} patients, {rec.size_MB:,.1f} MB")
        if self.referenced_candidates is not None:
            cand = self.referenced_candidates
            lines.append(f"--referenced-ct: the CT series each SEG references is read from the SEG once downloaded; "
                         f"the SEGs' studies hold {len(cand)} CT series ({cand['series_size_MB'].fillna(0).sum():,.1f} MB), "
                         "of which only the referenced ones are fetched")
        return "\n".join(lines)


def plan(index: str | Path | None, collection: str, patients: Sequence[str] | None = None,
         modalities: Sequence[str] | None = None, segmentation: str = "all",
         referenced_ct: bool = False) -> IdcPlan:
    """Select the series ``rg fetch idc`` would fetch (see :func:`select_series`)."""
    path = resolve_index(index)
    if referenced_ct:
        modalities = list(modalities or ["SEG"])
        if [m.upper() for m in modalities] != ["SEG"]:
            raise InputError("--referenced-ct goes with --modality SEG only (it adds the CT series the SEGs reference)")
    frame = select_series(path, collection, patients, modalities, segmentation)
    candidates = None
    if referenced_ct:
        studies = frame["StudyInstanceUID"].dropna().unique().tolist()
        con = _connect()
        candidates = con.execute(
            "SELECT SeriesInstanceUID, series_size_MB FROM read_parquet(?) WHERE collection_id = ? AND Modality = 'CT' "
            "AND StudyInstanceUID IN (SELECT unnest(?))", [str(path), normalise_collection(collection), studies]).df()
    return IdcPlan(normalise_collection(collection), frame, path, candidates)
