"""A local HTTP server that answers like NBIA v4 and the GEO folder tree, with faults.

Used by the tests and by ``rg demo``: the real connectors run unchanged against it
(``RG_TCIA_URL=srv.url_tcia``, ``RG_GEO_URL=srv.url_geo``), no internet involved.

Example
-------
>>> plan = FaultPlan().add("status", "getImage", status=503, times=2, retry_after=0)
>>> with LocalNBIAServer(series_root, collection="SYNTH", geo_root=geo, faults=plan) as srv:
...     settings = Settings.from_env(tcia_url=srv.url_tcia, geo_url=srv.url_geo)

Endpoints (under ``/nbia-api/services/v4/``): ``getCollectionValues``, ``getPatient``,
``getPatientStudy``, ``getSeries``, ``getSeriesMetadata`` (POST ``list=``, CSV),
``getSOPInstanceUIDs``, ``getImage`` (ZIP of ``1-NNN.dcm`` plus a ``LICENSE``
entry) and ``getImageWithMD5Hash`` (the same plus ``md5hashes.csv``: ``FileName,MD5``).
Series are found by reading every DICOM file under ``series_root`` (any layout).
Files under ``geo_root`` are served at ``/geo/...`` (folders as HTML listings, HTTP
Range supported); ``files`` maps extra URL paths to local files (e.g. the clinical CSV).

Faults (:class:`Fault`, collected in a :class:`FaultPlan`) apply to the requests whose
endpoint name (last path segment) equals ``where`` or whose path ends with it,
optionally only when query parameters match ``match``; the first ``skip`` matching
requests pass, the next ``times`` get the fault (``times=-1``: all of them):

``status``      answer ``status`` (500, 503, 429, ...) with ``Retry-After`` if given
``drop``        announce the full length, send ``fraction`` of the body, close the socket
``truncate``    send only ``fraction`` of a ZIP as a complete response (a broken ZIP)
``corrupt``     replace one DICOM file inside the ZIP by garbage
``missing``     leave one DICOM file out of the ZIP (image count mismatch)
``md5``         give one file a wrong MD5 in ``md5hashes.csv``
``slow``        send ``fraction`` of the body, then stay silent ``delay`` seconds
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import logging
import socket
import threading
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..connectors.geo import geo_stub

log = logging.getLogger(__name__)

NBIA_PREFIX = "/nbia-api/services/v4"
FAULT_KINDS = ("status", "drop", "truncate", "corrupt", "missing", "md5", "slow")


@dataclass
class Fault:
    """One injected fault; see the module docstring for the kinds."""

    kind: str
    where: str = "getImage"
    match: Mapping[str, str] | None = None
    times: int = 1
    skip: int = 0
    status: int = 503
    retry_after: float | str | None = None
    delay: float = 2.0
    fraction: float = 0.5
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")

    def matches(self, path: str, params: Mapping[str, str]) -> bool:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if not (name == self.where or path.endswith(self.where)):
            return False
        return all(params.get(k) == v for k, v in (self.match or {}).items())


class FaultPlan:
    """Thread-safe list of faults; the first fault due for a request is applied."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.faults: list[Fault] = list(faults)
        self._lock = threading.Lock()

    def add(self, kind: str, where: str = "getImage", **kwargs: Any) -> "FaultPlan":
        """Append a :class:`Fault` (chainable)."""
        self.faults.append(Fault(kind, where, **kwargs))
        return self

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, path: str, params: Mapping[str, str]) -> Fault | None:
        """The fault to apply to this request, counting it (None when none is due)."""
        with self._lock:
            chosen = None
            for fault in self.faults:
                if not fault.matches(path, params):
                    continue
                fault.seen += 1
                due = fault.seen > fault.skip and (fault.times < 0 or fault.fired < fault.times)
                if due and chosen is None:
                    fault.fired += 1
                    chosen = fault
            return chosen

    @property
    def fired(self) -> int:
        """How many faults were applied in all."""
        return sum(f.fired for f in self.faults)


@dataclass
class ServedSeries:
    """One series as the server knows it."""

    uid: str
    files: list[Path]
    meta: dict[str, Any]
    instance_uids: list[str]


def _scan_series(root: Path, collection: str, license_name: str, license_uri: str) -> dict[str, ServedSeries]:
    import pydicom

    groups: dict[str, list[tuple[int, str, Path, Any]]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            uid = str(ds.SeriesInstanceUID)
        except Exception:  # not DICOM: ignore (licence files, notes, ...)
            continue
        number = int(getattr(ds, "InstanceNumber", 0) or 0)
        groups.setdefault(uid, []).append((number, str(ds.SOPInstanceUID), path, ds))
    out: dict[str, ServedSeries] = {}
    for uid, items in groups.items():
        items.sort(key=lambda t: (t[0], t[1]))
        ds = items[0][3]
        size = sum(p.stat().st_size for _, _, p, _ in items)
        meta = {
            "SeriesInstanceUID": uid,
            "StudyInstanceUID": str(getattr(ds, "StudyInstanceUID", "")),
            "Modality": str(getattr(ds, "Modality", "")),
            "PatientID": str(getattr(ds, "PatientID", "")),
            "Collection": collection,
            "SeriesDescription": str(getattr(ds, "SeriesDescription", "")),
            "SeriesNumber": str(getattr(ds, "SeriesNumber", "") or ""),
            "BodyPartExamined": str(getattr(ds, "BodyPartExamined", "") or "CHEST"),
            "Manufacturer": str(getattr(ds, "Manufacturer", "")),
            "ManufacturerModelName": str(getattr(ds, "ManufacturerModelName", "") or ""),
            "StudyDate": str(getattr(ds, "StudyDate", "") or ""),
            "StudyDescription": str(getattr(ds, "StudyDescription", "") or ""),
            "SOPClassUID": str(getattr(ds, "SOPClassUID", "")),
            "ImageCount": len(items),
            "FileSize": size,
            "LicenseName": license_name,
            "LicenseURI": license_uri,
            "CollectionURI": "https://doi.org/10.0000/SYNTH",
            "DateReleased": "2026-01-01 00:00:00.0",
        }
        out[uid] = ServedSeries(uid, [p for _, _, p, _ in items], meta, [s for _, s, _, _ in items])
    return out


class LocalNBIAServer:
    """Serve DICOM series like NBIA v4 and a folder like GEO, on 127.0.0.1, random port.

    Parameters
    ----------
    series_root
        Folder searched (recursively) for DICOM files; every series found is served.
    collection
        Collection name given to every served series.
    geo_root
        Folder served at ``/geo/`` (lay it out as ``series/GSEnnn/GSE.../matrix/...``).
    files
        Extra URL path -> local file (e.g. ``{"/clinical/data.csv": path}``).
    faults
        A :class:`FaultPlan` (``srv.faults`` can be changed while serving).
    port
        Port to listen on; 0 (default) lets the system choose a free one.
    """

    def __init__(self, series_root: str | Path | None = None, collection: str = "SYNTH",
                 geo_root: str | Path | None = None, files: Mapping[str, str | Path] | None = None,
                 faults: FaultPlan | None = None, license_name: str = "CC BY 4.0",
                 license_uri: str = "https://creativecommons.org/licenses/by/4.0/",
                 chunk_size: int = 1 << 16, port: int = 0) -> None:
        self.collection = collection
        self._bind_port = int(port)
        self.series_root = Path(series_root) if series_root else None
        self.geo_root = Path(geo_root) if geo_root else None
        self.files = {k if k.startswith("/") else "/" + k: Path(v) for k, v in (files or {}).items()}
        self.faults = faults or FaultPlan()
        self.license_name = license_name
        self.license_uri = license_uri
        self.chunk_size = chunk_size
        self.series: dict[str, ServedSeries] = {}
        self.log: list[tuple[str, str, dict[str, str], int]] = []
        self._log_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.rescan()

    def rescan(self) -> None:
        """Re-read ``series_root`` (after adding series to it)."""
        if self.series_root is not None:
            self.series = _scan_series(self.series_root, self.collection, self.license_name, self.license_uri)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LocalNBIAServer":
        handler = type("_Handler", (_Handler,), {"srv": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", self._bind_port), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # a handler sleeping in a 'slow' fault must not block close
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="LocalNBIAServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "LocalNBIAServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_tcia(self) -> str:
        """Value for ``RG_TCIA_URL``."""
        return self.url + NBIA_PREFIX

    @property
    def url_geo(self) -> str:
        """Value for ``RG_GEO_URL``."""
        return self.url

    def file_url(self, path: str) -> str:
        """URL of an extra file registered in ``files``."""
        return self.url + (path if path.startswith("/") else "/" + path)

    def requests_for(self, endpoint: str) -> list[tuple[str, str, dict[str, str], int]]:
        """Logged requests (method, path, params, status) whose endpoint name is ``endpoint``."""
        with self._log_lock:
            return [r for r in self.log if r[1].rstrip("/").rsplit("/", 1)[-1] == endpoint]

    def _record(self, method: str, path: str, params: dict[str, str], status: int) -> None:
        with self._log_lock:
            self.log.append((method, path, params, status))

    # ------------------------------------------------------------------ content
    def series_zip(self, uid: str, with_md5: bool, fault: Fault | None) -> bytes:
        served = self.series[uid]
        buf = io.BytesIO()
        md5_rows = []
        victim = len(served.files) // 2
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for i, path in enumerate(served.files):
                name = f"1-{i + 1:03d}.dcm"
                data = path.read_bytes()
                if fault and fault.kind == "missing" and i == victim:
                    continue
                digest = hashlib.md5(data).hexdigest()
                if fault and fault.kind == "md5" and i == victim:
                    digest = "0" * 32
                if fault and fault.kind == "corrupt" and i == victim:
                    data = b"NOT A DICOM FILE " * 64
                zf.writestr(name, data)
                md5_rows.append((name, digest))
            zf.writestr("LICENSE", f"{self.license_name}\n{self.license_uri}\n")
            if with_md5:
                text = io.StringIO()
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(["FileName", "MD5"])
                writer.writerows(md5_rows)
                zf.writestr("md5hashes.csv", text.getvalue())
        return buf.getvalue()


def _series_metadata_csv(rows: list[dict[str, Any]]) -> str:
    cols = ["Series Instance UID", "Collection", "3rd Party Analysis", "Data Description URI",
            "Patient ID", "Study Instance UID", "Study Date", "Study Description", "Modality",
            "Series Description", "Manufacturer", "Manufacturer Model Name", "Image Count",
            "File Size", "License Name", "License URI"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(cols)
    for m in rows:
        writer.writerow([m["SeriesInstanceUID"], m["Collection"], "NO", m["CollectionURI"], m["PatientID"],
                         m["StudyInstanceUID"], m["StudyDate"], m["StudyDescription"], m["Modality"],
                         m["SeriesDescription"], m["Manufacturer"], m["ManufacturerModelName"],
                         m["ImageCount"], m["FileSize"], m["LicenseName"], m["LicenseURI"]])
    return out.getvalue()


class _Handler(BaseHTTPRequestHandler):
    srv: LocalNBIAServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: route to logging
        log.debug("nbia_server: " + fmt, *args)

    # ------------------------------------------------------------------ dispatch
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parsed.path)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            params.update({k: v[-1] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()})
        fault = self.srv.faults.take(path, params)
        if self.headers.get("Range"):
            params = {**params, "Range": self.headers["Range"]}  # logged, so tests can see resumes
        try:
            if fault is not None and fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                self._send(fault.status, f"injected HTTP {fault.status}".encode(), "text/plain", headers=headers,
                           record=(method, path, params))
                return
            if path.startswith(NBIA_PREFIX + "/"):
                self._nbia(method, path, params, fault)
            elif path.startswith("/geo/") or path == "/geo":
                self._geo(method, path, params, fault)
            elif path in self.srv.files:
                self._file(method, path, params, self.srv.files[path], fault)
            else:
                self._send(404, b"not found", "text/plain", record=(method, path, params))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (timeouts in fault tests)

    # ------------------------------------------------------------------ NBIA
    def _nbia(self, method: str, path: str, params: dict[str, str], fault: Fault | None) -> None:
        endpoint = path[len(NBIA_PREFIX) + 1:].strip("/")
        rec = (method, path, params)
        srv = self.srv
        series = list(srv.series.values())

        def filtered() -> list[dict[str, Any]]:
            keys = {"Collection": "Collection", "PatientID": "PatientID", "StudyInstanceUID": "StudyInstanceUID",
                    "SeriesInstanceUID": "SeriesInstanceUID", "Modality": "Modality",
                    "BodyPartExamined": "BodyPartExamined", "Manufacturer": "Manufacturer"}
            rows = []
            for s in series:
                if all(params.get(p) in (None, "") or str(s.meta[k]).lower() == params[p].lower()
                       for p, k in keys.items()):
                    rows.append(s.meta)
            return rows

        if endpoint == "getCollectionValues":
            return self._json([{"Collection": srv.collection}] if series else [], rec, fault)
        if endpoint == "getPatient":
            seen: dict[str, dict[str, Any]] = {}
            for m in filtered():
                seen.setdefault(m["PatientID"], {"PatientId": m["PatientID"], "PatientName": m["PatientID"],
                                                 "PatientSex": "", "Collection": m["Collection"]})
            return self._json(list(seen.values()), rec, fault)
        if endpoint == "getPatientStudy":
            studies: dict[str, dict[str, Any]] = {}
            for m in filtered():
                studies.setdefault(m["StudyInstanceUID"], {
                    "StudyInstanceUID": m["StudyInstanceUID"], "PatientID": m["PatientID"],
                    "Collection": m["Collection"], "StudyDate": m["StudyDate"],
                    "StudyDescription": m["StudyDescription"], "SeriesCount": 0})
                studies[m["StudyInstanceUID"]]["SeriesCount"] += 1
            return self._json(list(studies.values()), rec, fault)
        if endpoint == "getSeries":
            keep = ("SeriesInstanceUID", "StudyInstanceUID", "Modality", "PatientID", "Collection",
                    "SeriesDescription", "SeriesNumber", "BodyPartExamined", "Manufacturer",
                    "ManufacturerModelName", "ImageCount", "FileSize", "LicenseName", "LicenseURI",
                    "CollectionURI", "DateReleased")
            return self._json([{k: m[k] for k in keep} for m in filtered()], rec, fault)
        if endpoint == "getSeriesMetadata":
            uids = [u.strip() for u in params.get("list", "").split(",") if u.strip()]
            rows = [srv.series[u].meta for u in uids if u in srv.series]
            return self._send_body(200, _series_metadata_csv(rows).encode(), "text/csv", rec, fault)
        if endpoint == "getSOPInstanceUIDs":
            uid = params.get("SeriesInstanceUID", "")
            found = srv.series.get(uid)
            return self._json([{"SOPInstanceUID": s} for s in (found.instance_uids if found else [])], rec, fault)
        if endpoint in ("getImage", "getImageWithMD5Hash"):
            uid = params.get("SeriesInstanceUID", "")
            if uid not in srv.series:
                return self._send(404, f"series {uid} not found".encode(), "text/plain", record=rec)
            body = srv.series_zip(uid, endpoint == "getImageWithMD5Hash", fault)
            return self._send_body(200, body, "application/zip", rec, fault)
        self._send(404, f"unknown endpoint {endpoint}".encode(), "text/plain", record=rec)

    # ------------------------------------------------------------------ GEO / files
    def _geo(self, method: str, path: str, params: dict[str, str], fault: Fault | None) -> None:
        rec = (method, path, params)
        root = self.srv.geo_root
        if root is None:
            return self._send(404, b"no GEO tree served", "text/plain", record=rec)
        rel = path[len("/geo"):].strip("/")
        target = (root / rel).resolve()
        if root.resolve() not in (target, *target.parents) or not target.exists():
            return self._send(404, b"not found", "text/plain", record=rec)
        if target.is_dir():
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir())
            links = "\n".join(f'<a href="{html.escape(n)}">{html.escape(n)}</a>' for n in names)
            body = f"<html><head><title>Index of {html.escape(path)}</title></head><body><pre>\n{links}\n</pre></body></html>"
            return self._send_body(200, body.encode(), "text/html", rec, fault)
        return self._file(method, path, params, target, fault)

    def _file(self, method: str, path: str, params: dict[str, str], target: Path, fault: Fault | None) -> None:
        rec = (method, path, params)
        data = target.read_bytes()
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            try:
                start = int(rng[len("bytes="):-1])
            except ValueError:
                start = -1
            if start >= len(data) or start < 0:
                return self._send(416, b"", "text/plain", headers={"Content-Range": f"bytes */{len(data)}"}, record=rec)
            headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}", "Accept-Ranges": "bytes"}
            return self._send_body(206, data[start:], "application/octet-stream", rec, fault, headers)
        return self._send_body(200, data, "application/octet-stream", rec, fault, {"Accept-Ranges": "bytes"})

    # ------------------------------------------------------------------ output
    def _json(self, obj: Any, rec: tuple, fault: Fault | None) -> None:
        self._send_body(200, json.dumps(obj).encode(), "application/json", rec, fault)

    def _send(self, status: int, body: bytes, ctype: str, headers: Mapping[str, str] | None = None,
              record: tuple | None = None) -> None:
        # log before the body goes out: a client may finish reading (and a test look at
        # the log) before this thread runs again
        self._start(status, ctype, len(body), headers, record)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _start(self, status: int, ctype: str, length: int, headers: Mapping[str, str] | None,
               record: tuple | None) -> None:
        """Log the request, then send the status line and headers."""
        if record:
            self.srv._record(record[0], record[1], record[2], status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _send_body(self, status: int, body: bytes, ctype: str, rec: tuple, fault: Fault | None,
                   headers: Mapping[str, str] | None = None) -> None:
        kind = fault.kind if fault else None
        if kind == "truncate":
            body = body[: max(1, int(len(body) * fault.fraction))]  # type: ignore[union-attr]
        if kind not in ("drop", "slow"):
            return self._send(status, body, ctype, headers, rec)
        cut = max(1, int(len(body) * fault.fraction))  # type: ignore[union-attr]
        self._start(status, ctype, len(body), headers, rec)
        self.wfile.write(body[:cut])
        self.wfile.flush()
        if kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        time.sleep(fault.delay)  # type: ignore[union-attr]
        self.close_connection = True
        self.wfile.write(body[cut:])


# ---------------------------------------------------------------------------- GEO tree writer


def write_geo_series(root: str | Path, gse: str, samples: list[Mapping[str, Any]], platform: str = "GPL16791",
                     expression: "Any | None" = None, expression_name: str | None = None,
                     data_processing: str = "Expression estimated with Cufflinks (FPKM)",
                     matrix_table: "Any | None" = None) -> Path:
    """Write a GEO-like folder tree for one series (for the local server and tests).

    Parameters
    ----------
    root
        Served as ``geo_root``; the series goes to ``root/series/<stub>/<gse>/``.
    samples
        One mapping per sample: ``gsm``, ``title`` and optional ``characteristics``
        (mapping key -> value).
    expression
        Optional DataFrame genes x sample titles written gzipped, tab separated, with
        an empty first header cell, as ``suppl/<expression_name>``.
    matrix_table
        Optional DataFrame (ID_REF rows x GSM columns) written inside the series matrix.

    Returns
    -------
    Path
        The series folder.
    """
    import gzip

    folder = Path(root) / "series" / geo_stub(gse) / gse
    (folder / "matrix").mkdir(parents=True, exist_ok=True)
    (folder / "suppl").mkdir(parents=True, exist_ok=True)

    def q(v: Any) -> str:
        return '"' + str(v).replace('"', "'") + '"'

    lines = [f"!Series_title\t{q('Synthetic series ' + gse)}", f"!Series_geo_accession\t{q(gse)}",
             f"!Series_platform_id\t{q(platform)}",
             "!Series_sample_id\t" + q(" ".join(s["gsm"] for s in samples) + " ")]
    lines.append("")
    lines.append("!Sample_title\t" + "\t".join(q(s["title"]) for s in samples))
    lines.append("!Sample_geo_accession\t" + "\t".join(q(s["gsm"]) for s in samples))
    keys: list[str] = []
    for s in samples:
        for k in (s.get("characteristics") or {}):
            if k not in keys:
                keys.append(k)
    for k in keys:
        lines.append("!Sample_characteristics_ch1\t" + "\t".join(
            q(f"{k}: {(s.get('characteristics') or {}).get(k, '')}") for s in samples))
    lines.append("!Sample_platform_id\t" + "\t".join(q(platform) for _ in samples))
    lines.append("!Sample_data_processing\t" + "\t".join(q(data_processing) for _ in samples))
    lines.append("!series_matrix_table_begin")
    lines.append("\t".join(q(c) for c in ["ID_REF", *[s["gsm"] for s in samples]]))
    if matrix_table is not None:
        for idx, row in matrix_table.iterrows():
            lines.append("\t".join([q(idx), *("" if v != v else repr(float(v)) for v in row.values)]))
    lines.append("!series_matrix_table_end")
    with gzip.open(folder / "matrix" / f"{gse}_series_matrix.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    listing = ["#Archive/File\tName\tTime\tSize\tType"]
    if expression is not None:
        name = expression_name or f"{gse}_expression.txt.gz"
        text = expression.to_csv(sep="\t", na_rep="NA", index=True, index_label="")
        with gzip.open(folder / "suppl" / name, "wt", encoding="utf-8") as fh:
            fh.write(text)
        size = (folder / "suppl" / name).stat().st_size
        listing.append(f"File\t{name}\t01/01/2026 00:00:00\t{size}\tTXT")
    (folder / "suppl" / "filelist.txt").write_text("\n".join(listing) + "\n")
    return folder
