"""TCIA through the anonymous NBIA v4 API: list series, download, verify, register.

A series is downloaded as a ZIP (``getImage``, or ``getImageWithMD5Hash`` with
``md5=True``) streamed to ``<data-dir>/tcia/.partial/<uid>~<host>-<pid>-<tag>.zip`` (unique per process,
so two fetches on one data folder never touch each other's files; one series at a time under a
lock in ``<data-dir>/tcia/.locks/``), unpacked beside it, verified (image count equals getSeries'
``ImageCount``, every file parses with pydicom and belongs to the series, MD5s
match when listed) and only then moved with one atomic rename to
``<data-dir>/tcia/<collection>/<patient>/<series_uid>/``.  The store marks the
series ``complete`` after the move, so a killed run never leaves a half series
marked complete; the next run removes stale partials, re-registers a verified
folder left between the move and the store write, and skips series already
complete (folder present with the right number of files).
"""

from __future__ import annotations

import logging
import shutil
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from ..config import Settings, stage_settings
from ..exceptions import ChecksumError, ConnectorError, InputError, NotFoundError, RGError
from ..result import StageResult, stage_entry
from .http import HttpClient
from .series_io import SeriesFiles, VerifyError, doi_from, safe_name, verify_series_folder, write_series
from ..store import tables
from .storeio import RunRecorder, StoreLike, StoreSession

log = logging.getLogger(__name__)

#: progress callback: ``progress(event, amount)`` with event ``total`` (series added to
#: the total), ``series`` (series finished) or ``bytes`` (bytes received)
ProgressFn = Callable[[str, int], None]

_ALIASES = {
    "series_uid": ("SeriesInstanceUID", "Series UID", "SeriesUID", "Series Instance UID"),
    "study_uid": ("StudyInstanceUID", "Study UID", "Study Instance UID"),
    "patient_id": ("PatientID", "PatientId", "Patient ID", "Subject ID"),
    "collection": ("Collection", "Project"),
    "modality": ("Modality",),
    "description": ("SeriesDescription", "Series Description"),
    "image_count": ("ImageCount", "Image Count", "Number of Images", "NumberOfImages"),
    "file_size": ("FileSize", "File Size"),
    "manufacturer": ("Manufacturer",),
    "study_description": ("StudyDescription", "Study Description"),
    "study_date": ("StudyDate", "Study Date"),
    "license_name": ("LicenseName", "License Name"),
    "manufacturer_model": ("ManufacturerModelName", "Manufacturer Model Name"),
    "doi": ("CollectionURI", "Collection URI", "Data Description URI", "DataDescriptionURI"),
}


def _pick(obj: Mapping[str, Any], field_name: str) -> Any:
    for key in _ALIASES[field_name]:
        if key in obj and obj[key] not in (None, ""):
            return obj[key]
    return None


def _to_int(value: Any) -> int | None:
    try:
        return int(float(str(value).replace(",", "")))
    except (TypeError, ValueError):
        return None


def normalize_series(obj: Mapping[str, Any], source: str = "getSeries") -> dict[str, Any]:
    """One NBIA series object (any key spelling) as a dict with our field names.

    Raises
    ------
    ConnectorError
        The object has no SeriesInstanceUID under any known spelling.
    """
    uid = _pick(obj, "series_uid")
    if not uid:
        raise ConnectorError(f"{source} answered a series without SeriesInstanceUID (keys: {sorted(obj)[:12]})")
    row = {name: _pick(obj, name) for name in _ALIASES}
    row["series_uid"] = str(uid).strip()
    row["image_count"] = _to_int(row["image_count"])
    row["file_size"] = _to_int(row["file_size"])
    for key in ("patient_id", "collection", "modality", "description", "study_uid"):
        if row[key] is not None:
            row[key] = str(row[key]).strip()
    return row


class NBIAClient:
    """Thin client of the NBIA v4 endpoints (anonymous)."""

    def __init__(self, base_url: str, http: HttpClient) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    def _url(self, endpoint: str) -> str:
        return f"{self.base}/{endpoint}"

    def collections(self) -> list[str]:
        """Names of the public collections."""
        rows = self.http.get_json(self._url("getCollectionValues"))
        return [str(r.get("Collection") or r.get("collection")) for r in rows if isinstance(r, dict)]

    def patients(self, collection: str) -> list[str]:
        """Patient ids of a collection."""
        rows = self.http.get_json(self._url("getPatient"), {"Collection": collection})
        return [str(r.get("PatientId") or r.get("PatientID")) for r in rows if isinstance(r, dict)]

    def series(self, collection: str | None = None, patient: str | None = None, modality: str | None = None,
               series_uid: str | None = None, study_uid: str | None = None) -> list[dict[str, Any]]:
        """Series objects (normalised by :func:`normalize_series`) matching the filters."""
        params = {k: v for k, v in dict(Collection=collection, PatientID=patient, Modality=modality,
                                         SeriesInstanceUID=series_uid, StudyInstanceUID=study_uid).items() if v}
        rows = self.http.get_json(self._url("getSeries"), params)
        if not isinstance(rows, list):
            raise ConnectorError(f"getSeries answered {type(rows).__name__}, expected a list")
        return [normalize_series(r) for r in rows if isinstance(r, dict)]

    def series_metadata(self, uids: Sequence[str], batch: int = 200) -> list[dict[str, Any]]:
        """getSeriesMetadata (POST, CSV) for many series, in batches."""
        import io

        out: list[dict[str, Any]] = []
        for start in range(0, len(uids), batch):
            text = self.http.post_form(self._url("getSeriesMetadata"), {"list": ",".join(uids[start:start + batch])})
            if not text.strip():
                continue
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            out.extend(normalize_series(r, "getSeriesMetadata") for r in frame.to_dict("records"))
        return out

    def sop_instance_uids(self, series_uid: str) -> list[str]:
        """SOP instance UIDs of a series."""
        rows = self.http.get_json(self._url("getSOPInstanceUIDs"), {"SeriesInstanceUID": series_uid})
        return [str(r.get("SOPInstanceUID") or r.get("sop_instance_uid")) if isinstance(r, dict) else str(r)
                for r in rows]

    def download_series(self, series_uid: str, dest: Path, md5: bool = False,
                        on_bytes: Callable[[int], None] | None = None) -> Path:
        """Stream a series ZIP to ``dest`` (nothing is left behind on failure)."""
        if md5:
            return self.http.download(self._url("getImageWithMD5Hash"), dest,
                                      {"SeriesInstanceUID": series_uid}, resume=False, on_bytes=on_bytes).path
        return self.http.download(self._url("getImage"), dest,
                                  {"NewFileNames": "Yes", "SeriesInstanceUID": series_uid},
                                  resume=False, on_bytes=on_bytes).path


@dataclass
class FetchSummary:
    """Outcome of a TCIA fetch or import.

    ``fetched``: series downloaded (or registered) and verified in this run;
    ``skipped``: already complete (or found verified on disk) so not downloaded;
    ``failed``: (series_uid, reason) pairs.
    """

    fetched: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0
    run_id: str = ""
    fetched_uids: list[str] = field(default_factory=list)
    skipped_uids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def text(self) -> str:
        """One-paragraph human summary."""
        head = f"fetched {self.fetched}, skipped {self.skipped} (already complete), failed {len(self.failed)}"
        size = f"{self.bytes / 1e6:.1f} MB" if self.bytes >= 1e5 else f"{self.bytes / 1e3:.1f} kB"
        lines = [head + (f"; {size} downloaded" if self.bytes else "")]
        lines += [f"  failed {uid}: {reason}" for uid, reason in self.failed]
        return "\n".join(lines)

    def stage_result(self, stage: str) -> StageResult:
        """This summary as a stage's result: failed series are failures and make it ``partial``."""
        return StageResult(stage, run_ids=[self.run_id] if self.run_id else [],
                           counts={"fetched": self.fetched, "skipped": self.skipped, "failed": len(self.failed)},
                           failures=[(uid, "", reason) for uid, reason in self.failed], partial=bool(self.failed),
                           summary=self)


# ---------------------------------------------------------------------------- folders


def tcia_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "tcia"


def partial_dir(settings: Settings) -> Path:
    return tcia_dir(settings) / ".partial"


_OWNER_SEP = "~"  # <uid>~<host>-<pid>-<random>: who made a partial entry


def _owner_tag() -> str:
    import os
    import socket
    import uuid

    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _stale(entry: Path) -> bool:
    """Whether a partial entry was left by a process that is gone (never one still running)."""
    import re
    import socket
    import time

    from ..locks import pid_alive

    if _OWNER_SEP not in entry.name:
        return True  # written by an older rg that did not tag its partials
    owner = re.match(r"^(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{6}(\..*)?$", entry.name.split(_OWNER_SEP, 1)[1])
    if owner is None:
        return True
    if owner["host"] == socket.gethostname():
        return not pid_alive(int(owner["pid"]))
    try:  # another host (shared data folder): only clearly abandoned entries
        return time.time() - entry.stat().st_mtime > 24 * 3600
    except OSError:
        return False


def clean_partials(settings: Settings) -> int:
    """Remove what interrupted runs left in ``<data-dir>/tcia/.partial``; returns the count.

    Entries of rg processes still running (another ``rg fetch`` on the same data folder)
    are left alone.
    """
    root = partial_dir(settings)
    if not root.is_dir():
        return 0
    n = 0
    for entry in root.iterdir():
        if not _stale(entry):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        n += 1
    if n:
        log.info("removed %d stale partial downloads from %s", n, root)
    return n


def series_lock_path(settings: Settings, series_uid: str) -> Path:
    """Lock file serialising work on one series across processes (kept; never deleted)."""
    return tcia_dir(settings) / ".locks" / f"{safe_name(series_uid)}.lock"


def series_folder(settings: Settings, collection: str | None, patient_id: str, series_uid: str) -> Path:
    """Final folder of a series."""
    return tcia_dir(settings) / safe_name(collection or "unknown") / safe_name(patient_id or "unknown") / safe_name(series_uid)


def _dicom_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file() and not p.name.upper().startswith("LICENSE")]


_TEXT_MEMBERS = (".csv", ".txt", ".md5", ".json", ".xml", ".html", ".md")


def _read_md5_list(zf: zipfile.ZipFile) -> dict[str, str]:
    """File name -> MD5 from the listing entry of a getImageWithMD5Hash ZIP (any CSV/TXT layout)."""
    import re

    hexre = re.compile(r"\b[0-9a-fA-F]{32}\b")
    out: dict[str, str] = {}
    for info in zf.infolist():
        low = info.filename.lower()
        if info.is_dir() or not low.endswith((".csv", ".txt", ".md5")) or "license" in low:
            continue
        text = zf.read(info).decode("utf-8", "replace")
        for line in text.splitlines():
            match = hexre.search(line)
            if not match:
                continue
            rest = (line[:match.start()] + " " + line[match.end():]).replace(",", " ").replace("\t", " ").replace('"', " ")
            names = [t for t in rest.split() if "." in t or "-" in t]
            if names:
                out[Path(names[0].replace("\\", "/")).name] = match.group(0).lower()
    return out


def _unpack(zip_path: Path, out: Path) -> dict[str, str]:
    """Unpack DICOM members flat into ``out``; returns the MD5 list if the ZIP has one."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise VerifyError(f"ZIP member {bad} is corrupt (CRC mismatch)")
            md5s = _read_md5_list(zf)
            used: set[str] = set()
            for info in zf.infolist():
                name = Path(info.filename.replace("\\", "/")).name
                low = name.lower()
                # only DICOM goes into the series folder: skip the licence, MD5 lists and other text
                if info.is_dir() or not name or low.startswith("license") or low.endswith(_TEXT_MEMBERS):
                    continue
                # flatten and de-duplicate: never trust member paths (zip-slip)
                target = name
                k = 1
                while target in used:
                    target = f"{k}-{name}"
                    k += 1
                used.add(target)
                with zf.open(info) as src, open(out / target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            return md5s
    except zipfile.BadZipFile as exc:
        raise VerifyError(f"the downloaded ZIP is incomplete or corrupt ({exc})") from None


# ---------------------------------------------------------------------------- one series


class _Cancelled(Exception):
    """Raised inside a download when the run is being interrupted."""


@dataclass
class _Outcome:
    uid: str
    listing: dict[str, Any]
    files: SeriesFiles | None = None
    error: str | None = None
    bytes: int = 0
    from_disk: bool = False


#: ``materialise(listing, work_dir, on_bytes) -> {file name: md5}`` puts one series' DICOM files into
#: ``work_dir`` (another source than NBIA, e.g. IDC's buckets); the MD5s, when known, are verified
Materialise = Callable[[dict[str, Any], Path, Callable[[int], None]], dict[str, str]]


def _fetch_one(settings: Settings, client: NBIAClient | None, listing: dict[str, Any], md5: bool, attempts: int,
               on_bytes: Callable[[int], None] | None, materialise: Materialise | None = None) -> _Outcome:
    """Download, verify and move one series into place (runs in a worker thread).

    Another rg process working on the same series (two fetches on one data folder)
    holds its lock: this one waits, then finds the verified folder and keeps it.
    """
    from ..locks import file_lock

    uid = listing["series_uid"]
    try:
        with file_lock(series_lock_path(settings, uid), f"series {uid}", wait=max(600.0, 10 * settings.timeout)):
            return _fetch_one_locked(settings, client, listing, md5, attempts, on_bytes, materialise)
    except RGError as exc:  # lock wait timed out, data folder not writable ...
        return _Outcome(uid, listing, error=str(exc))
    except OSError as exc:
        from ..atomic import write_error

        return _Outcome(uid, listing, error=str(write_error(exc, series_lock_path(settings, uid))))


def _fetch_one_locked(settings: Settings, client: NBIAClient | None, listing: dict[str, Any], md5: bool,
                      attempts: int, on_bytes: Callable[[int], None] | None,
                      materialise: Materialise | None = None) -> _Outcome:
    uid = listing["series_uid"]
    outcome = _Outcome(uid, listing)
    final = series_folder(settings, listing.get("collection"), listing.get("patient_id") or "", uid)
    # unique per process and call: a concurrent fetch never touches these
    tag = f"{safe_name(uid)}{_OWNER_SEP}{_owner_tag()}"
    work = partial_dir(settings) / tag
    zip_path = partial_dir(settings) / f"{tag}.zip"
    # left between a move and the store write by an interrupted run: verify and keep
    if final.is_dir():
        try:
            outcome.files = verify_series_folder(final, uid, listing.get("image_count"))
            outcome.from_disk = True
            return outcome
        except RGError as exc:
            log.info("re-downloading %s: the folder on disk failed verification (%s)", uid, exc)
    last = ""
    for attempt in range(max(1, attempts)):
        shutil.rmtree(work, ignore_errors=True)
        zip_path.unlink(missing_ok=True)
        try:
            def count(n: int) -> None:
                outcome.bytes += n
                if on_bytes:
                    on_bytes(n)
            if materialise is not None:
                work.mkdir(parents=True, exist_ok=True)
                md5s = materialise(listing, work, count)
                files = verify_series_folder(work, uid, listing.get("image_count"), md5s or None)
            else:
                assert client is not None  # an NBIA download needs the client
                client.download_series(uid, zip_path, md5=md5, on_bytes=count)
                md5s = _unpack(zip_path, work)
                zip_path.unlink(missing_ok=True)
                files = verify_series_folder(work, uid, listing.get("image_count"), md5s if md5 else None)
                if md5 and not md5s:
                    raise VerifyError("the MD5 variant returned no MD5 list")
            if final.exists():
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            work.rename(final)  # atomic on one file system
            files.relocate(final)
            outcome.files = files
            outcome.error = None
            return outcome
        except (VerifyError, InputError, ChecksumError) as exc:  # bad content: fetch again
            last = str(exc)
            log.warning("series %s attempt %d/%d failed verification: %s", uid, attempt + 1, attempts, exc)
        except RGError as exc:  # HTTP layer already retried
            last = str(exc)
            break
        except _Cancelled:
            last = "cancelled (the run was interrupted)"
            break
        except OSError as exc:  # disk full, folder not writable: say so
            from ..atomic import write_error

            last = str(write_error(exc, exc.filename or final))
            break
        except Exception as exc:  # noqa: BLE001 - one bad series must not end the run
            last = f"{type(exc).__name__}: {exc}"
            break
        finally:
            zip_path.unlink(missing_ok=True)
            shutil.rmtree(work, ignore_errors=True)
    outcome.error = last or "unknown error"
    return outcome


def _fetch_one_task(task: tuple[Settings, dict[str, Any], bool, int]) -> _Outcome:
    """Picklable wrapper of :func:`_fetch_one` for process/Dask executors (own HTTP client)."""
    settings, listing, md5, attempts = task
    client = NBIAClient(settings.tcia_url, HttpClient.from_settings(settings))
    return _fetch_one(settings, client, listing, md5, attempts, None)


# ---------------------------------------------------------------------------- many series


def _already_complete(store: Any, uids: Iterable[str]) -> dict[str, dict[str, Any]]:
    uids = list(uids)
    if not uids:
        return {}
    rows = tables.complete_series(store, uids)
    out = {}
    for rec in rows.to_dict("records"):
        path = Path(rec["path"]) if rec["path"] else None
        if path and path.is_dir() and (rec["image_count"] is None or len(_dicom_files(path)) == int(rec["image_count"])):
            out[rec["series_uid"]] = rec
    return out


def _register_listed(store: Any, run_id: str, listings: Sequence[dict[str, Any]]) -> None:
    """Rows with status 'listed' for series the store has not seen (keeps complete ones)."""
    uids = [x["series_uid"] for x in listings]
    known = set(store.query("SELECT series_uid FROM core.series WHERE series_uid IN (SELECT unnest(?))", [uids])["series_uid"])
    fresh = [x for x in listings if x["series_uid"] not in known]
    if not fresh:
        return
    frame = pd.DataFrame([dict(series_uid=x["series_uid"], patient_id=x.get("patient_id"), study_uid=x.get("study_uid"),
                               modality=x.get("modality"), description=x.get("description"),
                               image_count=x.get("image_count"), status="listed", collection=x.get("collection"),
                               manufacturer=x.get("manufacturer"), file_size=x.get("file_size"),
                               source=x.get("source") or "NBIA", license=x.get("license_name"),
                               doi=doi_from(x.get("doi")), manufacturer_model=x.get("manufacturer_model"),
                               segmentation_source=x.get("segmentation_source"),
                               analysis_result_id=x.get("analysis_result_id")) for x in fresh])
    store.upsert("series", frame, run_id=run_id)


def download_series_list(settings: Settings, store: StoreLike, run: Any, listings: Sequence[dict[str, Any]],
                         workers: int = 4, md5: bool = False, progress: ProgressFn | None = None,
                         summary: FetchSummary | None = None, http: HttpClient | None = None,
                         stage: str = "fetch_tcia", executor: str = "local",
                         materialise: Materialise | None = None) -> tuple[FetchSummary, list[SeriesFiles]]:
    """Download, verify and register listed series (the engine of fetch and manifest import).

    ``store`` is an open Store, a store path or a :class:`StoreSession`; with a path
    the store is opened only for each write.  Per-series failures are recorded in
    ``failures`` and on the series row (status ``failed``); the run goes on.  Returns
    the summary and the series verified in this call (not those skipped as complete).

    ``executor`` ``local`` downloads in ``workers`` threads of this process (downloads
    wait on the network, so threads suffice); any other spec of
    :func:`radiogenomics.executor.get_executor` (``dask-local:N``, ``dask://HOST:PORT``)
    runs each series' download + verification as a task there, the workers writing to
    the same ``data_dir`` (a shared file system on a cluster); this process stays the
    only store writer.

    ``materialise`` replaces the NBIA ZIP download by another way of putting a series'
    files into its work folder (see :data:`Materialise`; threads of this process only).
    """
    session = store if isinstance(store, StoreSession) else StoreSession(store)
    summary = summary or FetchSummary(run_id=run.run_id)
    http = http or HttpClient.from_settings(settings)
    client = NBIAClient(settings.tcia_url, http)
    uniq: dict[str, dict[str, Any]] = {}
    for item in listings:
        uniq.setdefault(item["series_uid"], item)
    listings = list(uniq.values())
    if progress:
        progress("total", len(listings))
    with session.reading() as st:
        done = _already_complete(st, uniq)
    for uid in done:
        summary.skipped += 1
        summary.skipped_uids.append(uid)
        if progress:
            progress("series", 1)
    todo = [x for x in listings if x["series_uid"] not in done]
    if not todo:
        return summary, []
    with session.open() as st:
        _register_listed(st, run.run_id, todo)
    lock = threading.Lock()
    stop = threading.Event()

    def on_bytes(n: int) -> None:
        if stop.is_set():
            raise _Cancelled()
        with lock:
            summary.bytes += n
        if progress:
            progress("bytes", n)

    attempts = 1 + min(int(settings.retries), 2)
    verified: list[SeriesFiles] = []
    if (executor or "local") != "local":
        if materialise is not None:
            raise ConnectorError("this source downloads in threads of this process only; use executor 'local'")
        _download_on_executor(settings, session, run, todo, workers, md5, attempts, progress, summary,
                              verified, stage, executor)
        return summary, verified
    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="rg-fetch")
    try:
        futures = [pool.submit(_fetch_one, settings, client, x, md5, attempts, on_bytes, materialise) for x in todo]
        for fut in as_completed(futures):
            _register_outcome(session, run, fut.result(), summary, verified, stage)
            if progress:
                progress("series", 1)
    except BaseException:
        # Ctrl-C or a store error: stop the downloads in flight (their partials are removed)
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return summary, verified


def _download_on_executor(settings: Settings, session: StoreSession, run: Any, todo: Sequence[dict[str, Any]],
                          workers: int, md5: bool, attempts: int, progress: ProgressFn | None,
                          summary: FetchSummary, verified: list[SeriesFiles], stage: str, spec: str) -> None:
    from ..executor import get_executor

    by_uid = {x["series_uid"]: x for x in todo}
    with get_executor(spec, max(1, int(workers))) as pool:
        tasks = [(settings, x, md5, attempts) for x in todo]
        for result in pool.map_unordered(_fetch_one_task, tasks, keys=list(by_uid)):
            listing = by_uid[result.key]
            if result.ok:
                out = result.value
            else:  # the task itself died (worker lost beyond retries, unpicklable error ...)
                out = _Outcome(result.key, listing, error=f"{type(result.error).__name__}: {result.error}")
            summary.bytes += out.bytes  # the workers' byte callbacks stay in their processes
            _register_outcome(session, run, out, summary, verified, stage)
            if progress:
                progress("bytes", out.bytes)
                progress("series", 1)


def _register_outcome(session: StoreSession, run: Any, out: "_Outcome", summary: FetchSummary,
                      verified: list[SeriesFiles], stage: str) -> None:
    """Store one series' outcome (opening the store for this write only) and count it."""
    listing = out.listing
    patient = listing.get("patient_id") or (out.files.patient_id if out.files else "") or "unknown"
    with session.open() as store:
        if out.files is not None:
            try:
                write_series(store, run.run_id, out.files, patient, listing.get("collection"), listing,
                             source="idc" if listing.get("source") == "IDC" else "tcia")
            except RGError as exc:
                out.error, out.files = f"store write failed: {exc}", None
        if out.files is not None:
            verified.append(out.files)
            if out.from_disk:
                summary.skipped += 1
                summary.skipped_uids.append(out.uid)
            else:
                summary.fetched += 1
                summary.fetched_uids.append(out.uid)
            return
        reason = out.error or "unknown error"
        summary.failed.append((out.uid, reason))
        store.execute("UPDATE core.series SET status='failed', error=?, run_id=? WHERE series_uid=? "
                      "AND coalesce(status, '') <> 'complete'", [reason, run.run_id, out.uid])
        run.record_failure(stage, patient, reason, item=out.uid, store=store)


def list_series(client: NBIAClient, collection: str, patients: Sequence[str] | None = None,
                modalities: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """getSeries over every (patient, modality) combination asked for."""
    out: list[dict[str, Any]] = []
    for patient in (list(patients) if patients else [None]):
        for modality in (list(modalities) if modalities else [None]):
            rows = client.series(collection=collection, patient=patient, modality=modality)
            for row in rows:
                row["collection"] = row.get("collection") or collection
            out.extend(rows)
    return out


def fetch_tcia(settings: Settings, store: StoreLike, collection: str, patients: Sequence[str] | None = None,
               modalities: Sequence[str] | None = None, referenced_ct: bool = False, workers: int = 4,
               md5: bool = False, progress: ProgressFn | None = None,
               http: HttpClient | None = None, executor: str = "local") -> FetchSummary:
    """Fetch series of a TCIA collection into ``<data-dir>/tcia`` and the store.

    Parameters
    ----------
    settings
        ``tcia_url``, ``data_dir``, ``timeout``, ``retries`` are used.
    store
        Open read-write :class:`~radiogenomics.store.Store`, or the path of one: then the
        store is opened only for each write, so ``rg sql`` can read during a long fetch.
    collection
        NBIA collection name, e.g. ``"NSCLC Radiogenomics"``.
    patients, modalities
        Optional filters (getSeries ``PatientID`` / ``Modality``).
    referenced_ct
        With ``modalities=["SEG"]`` (the default when this is set): also fetch exactly
        the CT series each SEG references in its header, and nothing else.
    workers
        Parallel downloads.
    md5
        Use ``getImageWithMD5Hash`` and check every file's MD5.
    progress
        ``progress(event, n)`` callback, see :data:`ProgressFn`.
    executor
        ``local`` (threads) or a Dask spec, see :func:`download_series_list`.

    Returns
    -------
    FetchSummary

    Raises
    ------
    NotFoundError
        Nothing matches the collection / filters.
    ConnectorError, DownloadError
        Listing failed after retries (per-series download failures do not raise).
    """
    if referenced_ct:
        modalities = [m for m in (modalities or ["SEG"])]
        if [m.upper() for m in modalities] != ["SEG"]:
            raise InputError("--referenced-ct goes with --modality SEG only (it adds the CT series the SEGs reference)")
    http = http or HttpClient.from_settings(settings)
    client = NBIAClient(settings.tcia_url, http)
    clean_partials(settings)
    listings = list_series(client, collection, patients, modalities)
    if not listings:
        hint = ""
        try:
            names = client.collections()
            if collection not in names:
                close = [n for n in names if collection.lower().replace(" ", "") in n.lower().replace(" ", "")]
                hint = f"; no such collection (did you mean {close[:3]}?)" if close else "; no such collection"
        except RGError:
            pass
        filters = f" patients={list(patients)}" if patients else ""
        filters += f" modalities={list(modalities)}" if modalities else ""
        raise NotFoundError(f"NBIA lists no series for collection {collection!r}{filters}{hint}")
    params = dict(collection=collection, patients=list(patients or []), modalities=list(modalities or []),
                  referenced_ct=referenced_ct, workers=workers, md5=md5, tcia_url=settings.tcia_url,
                  executor=executor)
    session = StoreSession(store)
    with RunRecorder(session, "fetch tcia", params) as run:
        summary, _ = download_series_list(settings, session, run, listings, workers, md5, progress, http=http,
                                          executor=executor)
        if referenced_ct:
            _fetch_referenced(settings, session, run, client, collection, listings, workers, md5, progress, summary, http,
                              executor)
    return summary


def referenced_by_complete_segs(session: StoreSession, run: Any, stage: str, seg_listings: Sequence[dict[str, Any]],
                                summary: FetchSummary) -> dict[str, str]:
    """Series uid -> patient of the series that the complete SEGs among ``seg_listings`` reference
    (read from their stored headers); a SEG naming none is a recorded failure. Shared by NBIA and IDC."""
    seg_uids = [x["series_uid"] for x in seg_listings]
    with session.reading() as store:
        refs = tables.complete_series(store, seg_uids)
    wanted: dict[str, str] = {}
    for rec in refs.to_dict("records"):
        if rec["referenced_series_uid"]:
            wanted.setdefault(rec["referenced_series_uid"], rec["patient_id"])
        else:
            reason = "the SEG header names no referenced series"
            summary.failed.append((rec["series_uid"], reason))
            run.record_failure(stage, rec["patient_id"] or "unknown", reason, item=rec["series_uid"])
    return wanted


def _fetch_referenced(settings: Settings, session: StoreSession, run: Any, client: NBIAClient, collection: str,
                      seg_listings: Sequence[dict[str, Any]], workers: int, md5: bool,
                      progress: ProgressFn | None, summary: FetchSummary, http: HttpClient,
                      executor: str = "local") -> None:
    wanted = referenced_by_complete_segs(session, run, "fetch_tcia", seg_listings, summary)
    listings = []
    for ref, patient in wanted.items():
        try:
            rows = client.series(series_uid=ref)
        except RGError as exc:
            rows, why = [], str(exc)
        else:
            why = "NBIA does not list it"
        if not rows:
            reason = f"referenced CT series not available: {why}"
            summary.failed.append((ref, reason))
            run.record_failure("fetch_tcia", patient or "unknown", reason, item=ref)
            continue
        for row in rows:
            row["collection"] = row.get("collection") or collection
            row["patient_id"] = row.get("patient_id") or patient
        listings.extend(rows)
    if listings:
        download_series_list(settings, session, run, listings, workers, md5, progress, summary=summary, http=http,
                             executor=executor)


@stage_entry
def run_fetch_tcia(store: StoreLike, *, collection: str, patients: Sequence[str] | None = None,
                   modalities: Sequence[str] | None = None, referenced_ct: bool = False, workers: int = 4,
                   md5: bool = False, progress: ProgressFn | None = None, http: HttpClient | None = None,
                   executor: str = "local", settings: Settings | None = None) -> StageResult:
    """``rg fetch tcia``: :func:`fetch_tcia` as a stage (``settings``: the environment's by default).

    The ``summary`` is the :class:`FetchSummary`; failed series make the result ``partial``.
    """
    settings = stage_settings(settings)
    settings.ensure_dirs()
    return fetch_tcia(settings, store, collection, patients=patients, modalities=modalities,
                      referenced_ct=referenced_ct, workers=workers, md5=md5, progress=progress, http=http,
                      executor=executor).stage_result("fetch tcia")
