"""Test doubles for IDC: moto's S3 server on loopback behind a fault-injecting proxy, an IDC
index Parquet in the real idc-index-data schema, and DICOM CT + SEGs (original and AIMI-like)."""

from __future__ import annotations

import hashlib
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

BUCKET = "idc-open-data"

#: the columns of idc-index-data's idc_index.parquet (25.0.5), in order, with their types
INDEX_SCHEMA: dict[str, str] = {
    "collection_id": "str", "analysis_result_id": "str", "PatientID": "str", "SeriesInstanceUID": "str",
    "StudyInstanceUID": "str", "source_DOI": "str", "PatientAge": "str", "PatientSex": "str", "StudyDate": "str",
    "StudyDescription": "str", "BodyPartExamined": "str", "Modality": "str", "SOPClassUID": "str",
    "sop_class_name": "str", "TransferSyntaxUID": "str", "transfer_syntax_name": "str",
    "PhotometricInterpretation": "str", "PixelRepresentation": "str", "Manufacturer": "str",
    "ManufacturerModelName": "str", "SeriesDate": "str", "SeriesDescription": "str", "SeriesNumber": "str",
    "instanceCount": "int64", "license_short_name": "str", "series_init_idc_version": "int64",
    "series_revised_idc_version": "int64", "aws_bucket": "str", "crdc_series_uuid": "str",
    "series_aws_url": "str", "series_size_MB": "float64",
}


# ---------------------------------------------------------------------------- fault proxy
@dataclass
class Fault:
    kind: str                 # status | drop | truncate | corrupt | slow
    match: str                # "list" (ListObjectsV2 of a prefix containing ...) or a substring of the object key
    times: int = 1            # -1: always
    status: int = 503
    retry_after: str | None = None
    prefix: str = ""          # for "list": only listings of this prefix
    delay: float = 30.0       # "slow": seconds of silence after part of the body


@dataclass
class S3Proxy:
    """A loopback HTTP proxy in front of moto's S3 server that injects faults."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                is_list = "list-type=2" in self.path
                fault = proxy._take(self.path, is_list)
                entry = dict(kind="list" if is_list else "get", path=self.path, range=self.headers.get("Range"),
                             fault=fault.kind if fault else None, anonymous="Authorization" not in self.headers)
                proxy.log.append(entry)
                if fault and fault.kind == "status":
                    body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>"
                            f"{'SlowDown' if fault.status == 503 else 'InternalError'}</Code>"
                            f"<Message>injected</Message></Error>").encode()
                    self.send_response(fault.status)
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", fault.retry_after)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("range",)}
                up = requests.get(proxy.upstream + self.path, headers=headers, timeout=30)
                body = up.content
                if fault and fault.kind == "truncate":
                    body = body[: len(body) // 2]
                elif fault and fault.kind == "corrupt":
                    body = bytes(255 - b for b in body)
                self.send_response(up.status_code)
                for key in ("Content-Type", "ETag", "Content-Range", "Accept-Ranges", "Last-Modified"):
                    if key in up.headers:
                        self.send_header(key, up.headers[key])
                full = len(up.content) if fault and fault.kind == "drop" else len(body)
                self.send_header("Content-Length", str(full))
                self.end_headers()
                if fault and fault.kind == "slow":
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    proxy.slow_started.set()
                    threading.Event().wait(fault.delay)
                    self.wfile.write(body[len(body) // 3:])
                    return
                if fault and fault.kind == "drop":
                    self.wfile.write(body[: max(1, 2 * len(body) // 3)])
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()
        self.slow_started = threading.Event()

    def _take(self, path: str, is_list: bool) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times == 0:
                    continue
                if fault.match == "list":
                    if not is_list or (fault.prefix and f"prefix={fault.prefix.rstrip('/')}" not in path):
                        continue
                elif is_list or fault.match not in path:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    def gets(self) -> list[dict[str, Any]]:
        return [e for e in self.log if e["kind"] == "get"]

    def lists(self) -> list[dict[str, Any]]:
        return [e for e in self.log if e["kind"] == "list"]

    def __enter__(self) -> "S3Proxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------------------- DICOM
def add_scanner_tags(files: list[Path], model: str, kernel: Any, manufacturer: str = "GE MEDICAL SYSTEMS") -> None:
    """Give a synthetic CT series the scanner tags real ones carry."""
    import pydicom

    for path in files:
        ds = pydicom.dcmread(path)
        ds.Manufacturer = manufacturer
        ds.ManufacturerModelName = model
        ds.ConvolutionKernel = kernel
        ds.save_as(path)


def write_aimi_seg(masks: dict[str, tuple[np.ndarray, tuple[str, str, str]]], ct_files: list[Path], out: Path,
                   description: str) -> Path:
    """A multi-segment AI SEG like IDC's AIMI ones (dcmqi-made, AUTOMATIC, coded lung / nodule segments).

    ``masks``: label -> (bool (z, y, x) mask, (code value, scheme, meaning) of the segmented property type).
    """
    import highdicom as hd
    import pydicom

    sources = sorted((pydicom.dcmread(p) for p in ct_files), key=lambda d: float(d.ImagePositionPatient[2]))
    algo = hd.AlgorithmIdentificationSequence(name="BAMF nnU-Net", version="1.0",
                                              family=hd.sr.CodedConcept("123110", "DCM", "Artificial Intelligence"))
    descriptions, arrays = [], []
    for number, (label, (mask, code)) in enumerate(masks.items(), start=1):
        category = (hd.sr.CodedConcept("123037004", "SCT", "Anatomical Structure") if code[2] == "Lung"
                    else hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"))
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label, segmented_property_category=category,
            segmented_property_type=hd.sr.CodedConcept(*code), algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algo))
        arrays.append(np.asarray(mask, dtype=bool))
    pixels = np.stack(arrays, axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=300,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="QIICR",
        manufacturer_model_name="git@github.com:QIICR/dcmqi.git", software_versions="1.0",
        device_serial_number="1", series_description=description)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out)
    return out


# ---------------------------------------------------------------------------- bucket + index
@dataclass
class IdcSeries:
    files: list[Path]
    row: dict[str, Any]
    uuid: str


def series_row(files: list[Path], collection_id: str = "nsclc_radiogenomics", analysis_result_id: str | None = None,
               license_short_name: str = "CC BY 3.0", source_doi: str = "10.7937/k9/tcia.2017.7hs46erv",
               instance_count: int | None = None, series_uuid: str | None = None) -> IdcSeries:
    """An index row (real schema) describing the DICOM files of one series."""
    import pydicom

    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    crdc = series_uuid or str(uuid.uuid4())
    size = sum(p.stat().st_size for p in files) / 1e6
    row = {k: None for k in INDEX_SCHEMA}
    row.update(collection_id=collection_id, analysis_result_id=analysis_result_id, PatientID=str(ds.PatientID),
               SeriesInstanceUID=str(ds.SeriesInstanceUID), StudyInstanceUID=str(ds.StudyInstanceUID),
               source_DOI=source_doi, StudyDate="1994-01-01", StudyDescription=str(getattr(ds, "StudyDescription", "")),
               Modality=str(ds.Modality), SOPClassUID=str(ds.SOPClassUID),
               Manufacturer=str(getattr(ds, "Manufacturer", "") or "") or None,
               ManufacturerModelName=str(getattr(ds, "ManufacturerModelName", "") or "") or None,
               SeriesDescription=str(getattr(ds, "SeriesDescription", "")),
               instanceCount=len(files) if instance_count is None else instance_count,
               license_short_name=license_short_name, series_init_idc_version=19, series_revised_idc_version=19,
               aws_bucket=BUCKET, crdc_series_uuid=crdc, series_aws_url=f"s3://{BUCKET}/{crdc}/*",
               series_size_MB=size)
    return IdcSeries(files, row, crdc)


def write_index(rows: list[dict[str, Any]], path: Path, collection_name: str | None = "NSCLC Radiogenomics") -> Path:
    """Write the index Parquet (and a collections_index.parquet beside it) in idc-index-data's schema."""
    frame = pd.DataFrame(rows, columns=list(INDEX_SCHEMA))
    for col, kind in INDEX_SCHEMA.items():
        frame[col] = frame[col].astype("Int64" if kind == "int64" else kind if kind == "float64" else "object")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    if collection_name:
        pd.DataFrame({"collection_name": [collection_name], "collection_id": [rows[0]["collection_id"]]}).to_parquet(
            path.with_name("collections_index.parquet"), index=False)
    return path


def upload(s3_client: Any, series: IdcSeries, extra: dict[str, bytes] | None = None) -> None:
    """Put each file of a series under ``<uuid>/<instance uuid>.dcm`` (as IDC names them)."""
    for path in series.files:
        key = f"{series.uuid}/{hashlib.sha1(path.read_bytes()).hexdigest()[:8]}-{uuid.uuid4()}.dcm"
        s3_client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes(), ACL="public-read")
    for name, body in (extra or {}).items():
        s3_client.put_object(Bucket=BUCKET, Key=f"{series.uuid}/{name}", Body=body, ACL="public-read")
