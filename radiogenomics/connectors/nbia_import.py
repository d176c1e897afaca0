"""Register a folder written by the NBIA Data Retriever, without network.

The Data Retriever writes ``<Collection>/<Subject ID>/<study folder>/<series folder>/*.dcm``
plus a ``metadata.csv`` (one row per series: Series UID, Collection, Subject ID,
Study UID, Study Description, Study Date, Series Description, Manufacturer, Modality,
SOP Class Name, SOP Class UID, Number of Images, File Size as text such as
``3.91 MB``, File Location relative to the CSV, Download Timestamp).  Each series
folder is verified like a download (file count, every file parses, one series) and
registered in place (files are not copied).
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import Settings, stage_settings
from ..exceptions import InputError, ParseError, RGError
from ..ids import check_patient_id
from ..result import StageResult, stage_entry
from .series_io import verify_series_folder, write_series
from ..store import tables
from .storeio import RunRecorder, StoreLike, StoreSession
from .tcia import FetchSummary, ProgressFn

log = logging.getLogger(__name__)

_COLUMNS = {
    "Series UID": "series_uid", "Collection": "collection", "3rd Party Analysis": "third_party",
    "Data Description URI": "data_uri", "Subject ID": "patient_id", "Study UID": "study_uid",
    "Study Description": "study_description", "Study Date": "study_date",
    "Series Description": "description", "Manufacturer": "manufacturer", "Modality": "modality",
    "SOP Class Name": "sop_class_name", "SOP Class UID": "sop_class_uid",
    "Number of Images": "image_count", "File Size": "file_size_text", "File Location": "file_location",
    "Download Timestamp": "download_timestamp",
}
_REQUIRED = ("Series UID", "Subject ID", "Number of Images", "File Location")
_UNITS = {"B": 1, "BYTES": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
ImportSummary = FetchSummary


def parse_size(text: Any) -> int | None:
    """``'3.91 MB'`` -> 3910000 (decimal units, as the Data Retriever prints them); None if unparsable."""
    match = re.match(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$", str(text or ""))
    if not match:
        return None
    unit = (match.group(2) or "B").upper()
    if unit not in _UNITS:
        return None
    return int(round(float(match.group(1)) * _UNITS[unit]))


def _parse_date(text: str) -> _dt.date | None:
    for fmt in ("%m-%d-%Y", "%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def parse_nbia_metadata(path: str | Path) -> pd.DataFrame:
    """Read an NBIA Data Retriever ``metadata.csv`` into typed columns.

    Returns
    -------
    DataFrame
        One row per series with columns series_uid, collection, third_party,
        data_uri, patient_id, study_uid, study_description, study_date (date),
        description, manufacturer, modality, sop_class_name, sop_class_uid,
        image_count (int), file_size_text, file_size (bytes, int or None),
        file_location, download_timestamp.

    Raises
    ------
    ParseError
        Missing required columns, bad image counts or repeated Series UIDs.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot read NBIA metadata {path}: {exc}") from exc
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ParseError(f"{path} lacks the columns {missing}; is it the metadata.csv of an NBIA Data Retriever download?")
    frame = frame.rename(columns=_COLUMNS)
    for col in _COLUMNS.values():
        if col not in frame.columns:
            frame[col] = ""
    frame = frame[list(_COLUMNS.values())].copy()
    for col in frame.columns:
        frame[col] = frame[col].str.strip().replace({"null": None, "": None})
    counts = pd.to_numeric(frame["image_count"], errors="coerce")
    bad = frame.loc[counts.isna(), "series_uid"].tolist()
    if bad:
        raise ParseError(f"{path}: 'Number of Images' is not a number for series {bad[:3]}")
    frame["image_count"] = counts.astype(int)
    frame["file_size"] = frame["file_size_text"].map(parse_size).astype("Int64")
    frame["study_date"] = frame["study_date"].map(lambda v: _parse_date(v) if v else None)
    dup = frame["series_uid"][frame["series_uid"].duplicated()].tolist()
    if dup:
        raise ParseError(f"{path}: Series UID {dup[0]} appears more than once")
    return frame.reset_index(drop=True)


def _find_metadata(folder: Path) -> Path:
    if folder.is_file() and folder.name.lower().endswith(".csv"):
        return folder
    direct = folder / "metadata.csv"
    if direct.is_file():
        return direct
    found = sorted(folder.rglob("metadata.csv"), key=lambda p: len(p.parts))
    if not found:
        raise InputError(f"no metadata.csv under {folder}; point `rg import nbia` at the folder the NBIA Data Retriever wrote")
    return found[0]


def import_nbia(settings: Settings, store: StoreLike, folder: str | Path, workers: int = 4,
                progress: ProgressFn | None = None) -> ImportSummary:
    """Register an existing NBIA Data Retriever download in the store (no network).

    Parameters
    ----------
    settings
        Unused except for logging context (kept for a uniform API).
    store
        Open read-write store, or its path (opened only for each write).
    folder
        The download folder (holding ``metadata.csv``) or the CSV itself.
    workers
        Threads verifying series folders.

    Returns
    -------
    ImportSummary
        ``fetched`` = series verified and registered, ``skipped`` = already complete
        in the store at the same path, ``failed`` = (series_uid, reason).
    """
    meta_path = _find_metadata(Path(folder))
    meta = parse_nbia_metadata(meta_path)
    base = meta_path.parent
    from ..store import sha256_file

    params = dict(folder=str(base), n_series=len(meta))
    session = StoreSession(store)
    with RunRecorder(session, "import nbia", params, {meta_path.name: sha256_file(meta_path)}) as run:
        summary = ImportSummary(run_id=run.run_id)
        if progress:
            progress("total", len(meta))
        rows = meta.to_dict("records")
        paths = {r["series_uid"]: (base / r["file_location"]).resolve() if r["file_location"] else None for r in rows}
        with session.reading() as store:
            done = tables.complete_series(store, list(paths))
        complete = {u for u, p in zip(done["series_uid"], done["path"]) if p and paths.get(u) and Path(p) == paths[u]}

        def verify(row: dict[str, Any]) -> tuple[dict[str, Any], Any, str | None]:
            uid = row["series_uid"]
            folder_path = paths[uid]
            if row.get("patient_id"):
                try:
                    check_patient_id(row["patient_id"], f"{meta_path.name}, Subject ID of series {uid}")
                except InputError as exc:
                    return row, None, str(exc)
            if folder_path is None or not folder_path.is_dir():
                return row, None, f"series folder {row['file_location']} is missing under {base}"
            try:
                return row, verify_series_folder(folder_path, uid, row["image_count"]), None
            except RGError as exc:
                return row, None, str(exc)

        todo = [r for r in rows if r["series_uid"] not in complete]
        summary.skipped = len(rows) - len(todo)
        summary.skipped_uids = [r["series_uid"] for r in rows if r["series_uid"] in complete]
        if progress and summary.skipped:
            progress("series", summary.skipped)
        # SEGs last, so a SEG that names only source instances resolves through them
        todo.sort(key=lambda r: (r.get("modality") in ("SEG", "RTSTRUCT"),))
        with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
            for row, files, error in pool.map(verify, todo):
                uid = row["series_uid"]
                patient = row.get("patient_id") or (files.patient_id if files else "") or "unknown"
                listing = dict(row, doi=row.get("data_uri"))
                with session.open() as store:
                    if files is not None:
                        try:
                            write_series(store, run.run_id, files, patient, row.get("collection"), listing,
                                         source="import")
                            summary.fetched += 1
                            summary.fetched_uids.append(uid)
                        except RGError as exc:
                            error = f"store write failed: {exc}"
                    if error is not None:
                        summary.failed.append((uid, error))
                        run.record_failure("import_nbia", patient, error, item=uid, store=store)
                if progress:
                    progress("series", 1)
    return summary


@stage_entry
def run_import_nbia(store: StoreLike, folder: str | Path, *, workers: int = 4, progress: ProgressFn | None = None,
                    settings: Settings | None = None) -> StageResult:
    """``rg import nbia``: :func:`import_nbia` as a stage (series failing verification make it ``partial``)."""
    return import_nbia(stage_settings(settings), store, folder, workers=workers,
                       progress=progress).stage_result("import nbia")
