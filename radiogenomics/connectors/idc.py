"""NCI Imaging Data Commons: series from IDC's public buckets into the store (``rg fetch idc``).

The series are chosen from the bundled IDC index (:mod:`.idc_index`, no network); each
series' files are the objects under ``s3://<bucket>/<crdc_series_uuid>/`` of a public
bucket, read with unsigned S3 requests (no account, no credentials) from
``settings.idc_endpoint`` (``RG_IDC_ENDPOINT``; AWS S3 by default, any S3-compatible
mirror or a local test server otherwise): ``ListObjectsV2`` to list a series' objects,
``GetObject`` for each file.

Requests go through the connectors' one HTTP layer (:class:`~.http.HttpClient`), so
IDC downloads are retried exactly like NBIA ones: throttling (``503 SlowDown``, 429),
other 5xx and dropped connections with exponential backoff and full jitter, honouring
``Retry-After``; a dropped object is resumed with a Range request; an object whose
size (or, for single-part uploads, MD5 ETag) differs from the listing is fetched again.
The series then takes the same road as an NBIA download (:mod:`.tcia`): its files sit
in ``<data-dir>/tcia/.partial/<uid>/`` until verified (file count equals the index's
``instanceCount``, every file a readable DICOM of that series, SOP Instance UIDs
unique), are moved with one rename to ``<data-dir>/tcia/<collection>/<patient>/<uid>/``
and registered in ``series`` with ``source = 'IDC'``, licence and DOI.  Nothing partial
is kept; a rerun skips complete series (whichever source fetched them).

Why not IDC's own client: ``idc-index`` (0.13) fixes the endpoints (AWS or GCS), copies
whole manifests with one ``s5cmd`` process without per-series verification, and pins
``duckdb<2``; its index is what matters and is read here directly from ``idc-index-data``.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote

from ..config import Settings, stage_settings
from ..exceptions import ConfigError, ConnectorError, InputError, RGError
from ..result import StageResult, stage_entry
from . import idc_index
from .http import HttpClient
from .series_io import VerifyError, safe_name
from .storeio import RunRecorder, StoreLike, StoreSession
from .tcia import FetchSummary, ProgressFn, clean_partials, download_series_list, referenced_by_complete_segs

log = logging.getLogger(__name__)

STAGE = "fetch_idc"
_PLAIN_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


@dataclass(frozen=True)
class S3Object:
    """One object of a listing."""

    key: str
    size: int
    etag: str

    @property
    def md5(self) -> str | None:
        """The MD5 of the content when the ETag is one (single-part upload), else None."""
        match = _PLAIN_ETAG.match(self.etag or "")
        return match.group(1).lower() if match else None


def _strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_list_objects(xml_text: str, where: str = "ListObjectsV2") -> tuple[list[S3Object], str | None]:
    """Objects and the continuation token (None on the last page) of a ListObjectsV2 answer.

    Raises
    ------
    ConnectorError
        Not a ListBucketResult (an S3 error document, HTML, ...), or an entry without Key/Size.
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ConnectorError(f"{where} did not answer XML ({exc}): {xml_text[:200]!r}") from None
    if _strip_ns(root.tag) != "ListBucketResult":
        code = next((c.text for c in root if _strip_ns(c.tag) == "Code"), None)
        raise ConnectorError(f"{where} answered {_strip_ns(root.tag)}{f' {code}' if code else ''}, not a listing")
    objects: list[S3Object] = []
    token = None
    truncated = False
    for child in root:
        tag = _strip_ns(child.tag)
        if tag == "Contents":
            fields = {_strip_ns(c.tag): (c.text or "") for c in child}
            if not fields.get("Key") or not fields.get("Size", "").isdigit():
                raise ConnectorError(f"{where}: an entry lacks Key or Size ({fields})")
            objects.append(S3Object(fields["Key"], int(fields["Size"]), fields.get("ETag", "")))
        elif tag == "IsTruncated":
            truncated = (child.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            token = child.text
    if truncated and not token:
        raise ConnectorError(f"{where}: the listing is truncated but gives no NextContinuationToken")
    return objects, (token if truncated else None)


class PublicBucket:
    """Unsigned S3 access (ListObjectsV2, GetObject) to public buckets at one endpoint.

    Parameters
    ----------
    endpoint
        ``http(s)://host[:port]``; path-style URLs ``<endpoint>/<bucket>/<key>`` are used.
    http
        The HTTP client (timeouts, retries, Retry-After, resumable downloads).
    """

    def __init__(self, endpoint: str, http: HttpClient) -> None:
        if not re.match(r"^https?://[^/]+", endpoint or ""):
            raise ConfigError(f"RG_IDC_ENDPOINT={endpoint!r} is not an http(s) URL; e.g. https://s3.amazonaws.com")
        self.endpoint = endpoint.rstrip("/")
        self.http = http

    def url(self, bucket: str, key: str = "") -> str:
        """Path-style URL of a bucket or object."""
        return f"{self.endpoint}/{quote(bucket)}" + (f"/{quote(key)}" if key else "")

    def list_objects(self, bucket: str, prefix: str, page_size: int = 1000) -> list[S3Object]:
        """Every object under ``prefix`` (all pages)."""
        out: list[S3Object] = []
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": prefix, "max-keys": str(page_size)}
            if token:
                params["continuation-token"] = token
            text = self.http.get_text(self.url(bucket), params)
            page, token = parse_list_objects(text, f"ListObjectsV2 s3://{bucket}/{prefix}")
            out.extend(page)
            if not token:
                return out

    def download(self, bucket: str, obj: S3Object, dest: Path, on_bytes: Callable[[int], None] | None = None) -> None:
        """GET one object to ``dest`` (via ``dest.part``, resumed after a drop; size and MD5 checked)."""
        self.http.download(self.url(bucket, obj.key), dest, resume=True, expected_size=obj.size, md5=obj.md5,
                           on_bytes=on_bytes)


def _file_name(key: str, prefix: str) -> str:
    name = key[len(prefix):] if key.startswith(prefix) else key.rsplit("/", 1)[-1]
    return safe_name(name.replace("/", "_"))


def make_materialise(bucket_client: PublicBucket) -> Callable[[dict[str, Any], Path, Callable[[int], None]], dict[str, str]]:
    """The per-series step of the download engine: list the series' objects and GET each one."""

    def materialise(listing: dict[str, Any], work: Path, on_bytes: Callable[[int], None]) -> dict[str, str]:
        bucket, prefix = listing["bucket"], listing["prefix"]
        try:
            listed = bucket_client.list_objects(bucket, prefix)
        except ConnectorError as exc:
            # same error class (retried or not, as before), with where to look
            raise type(exc)(f"{exc} (listing s3://{bucket}/{prefix} at RG_IDC_ENDPOINT={bucket_client.endpoint}; "
                            "is it an endpoint serving IDC's public buckets?)") from exc
        objects = [o for o in listed if not o.key.endswith("/")]
        if not objects:
            raise VerifyError(f"s3://{bucket}/{prefix} holds no objects (the index lists "
                              f"{listing.get('image_count')} instances)")
        expected = listing.get("image_count")
        if expected is not None and len(objects) != int(expected):
            raise VerifyError(f"s3://{bucket}/{prefix} holds {len(objects)} objects but the index lists "
                              f"{expected} instances")
        md5s: dict[str, str] = {}
        for obj in objects:
            name = _file_name(obj.key, prefix)
            bucket_client.download(bucket, obj, work / name, on_bytes)
            if obj.md5:
                md5s[name] = obj.md5
        # MD5s count as verified only when every object had one
        return md5s if len(md5s) == len(objects) else {}

    return materialise


def fetch_idc(settings: Settings, store: StoreLike, collection: str = "nsclc_radiogenomics",
              patients: Sequence[str] | None = None, modalities: Sequence[str] | None = None,
              segmentation: str = "all", referenced_ct: bool = False, workers: int = 4,
              progress: ProgressFn | None = None, http: HttpClient | None = None,
              index: str | Path | None = None) -> FetchSummary:
    """Fetch series of an IDC collection from its public bucket into ``<data-dir>/tcia`` and the store.

    Parameters
    ----------
    settings
        ``idc_endpoint`` (``RG_IDC_ENDPOINT``), ``idc_index`` (``RG_IDC_INDEX``), ``data_dir``,
        ``timeout``, ``retries`` are used.
    store
        Open read-write store or its path (then opened only for each write).
    collection
        IDC collection id (``nsclc_radiogenomics``; ``NSCLC Radiogenomics`` works too).
    patients, modalities, segmentation
        Filters, see :func:`.idc_index.select_series`.
    referenced_ct
        With SEG only: after the SEGs, fetch exactly the series each SEG references in
        its header (looked up in the index), as ``rg fetch tcia --referenced-ct`` does.
    workers
        Series downloaded in parallel (threads).
    progress
        ``progress(event, n)``, see :data:`.tcia.ProgressFn`.
    http
        An injected HTTP client (tests); default one from ``settings``.
    index
        The index Parquet; default ``settings.idc_index`` or the bundled one.

    Returns
    -------
    FetchSummary

    Raises
    ------
    NotFoundError, InputError
        Nothing to fetch: unknown collection/patient, or the filters select no series.
    ConfigError
        Bad endpoint or index path.
    """
    index = index or settings.idc_index
    the_plan = idc_index.plan(index, collection, patients, modalities, segmentation, referenced_ct)
    if the_plan.series.empty:
        raise InputError(f"the IDC index selects no series for collection {the_plan.collection}"
                         f"{' patients ' + ', '.join(patients) if patients else ''}"
                         f"{' modality ' + ', '.join(modalities) if modalities else ''} segmentation {segmentation}; "
                         "try --dry-run with fewer filters")
    index_path = the_plan.index
    name = idc_index.collection_name(index_path, the_plan.collection)
    listings = idc_index.to_listings(the_plan.series, name)
    http = http or HttpClient.from_settings(settings)
    bucket = PublicBucket(settings.idc_endpoint, http)
    prefer_ct: frozenset[str] | None = None
    if any(x["modality"] == "SEG" for x in listings):
        ct = idc_index.select_series(index_path, the_plan.collection, modalities=["CT"])
        prefer_ct = frozenset(ct["SeriesInstanceUID"])
        for x in listings:
            if x["modality"] == "SEG":
                x["prefer_referenced"] = prefer_ct
    clean_partials(settings)
    params = dict(collection=the_plan.collection, patients=list(patients or []), modalities=list(modalities or []),
                  segmentation=segmentation, referenced_ct=referenced_ct, workers=workers,
                  endpoint=settings.idc_endpoint, index=str(index_path), index_version=idc_index.index_version())
    session = StoreSession(store)
    materialise = make_materialise(bucket)
    with RunRecorder(session, "fetch idc", params) as run:
        summary, _ = download_series_list(settings, session, run, listings, workers, False, progress, http=http,
                                          stage=STAGE, materialise=materialise)
        if referenced_ct:
            _fetch_referenced(settings, session, run, index_path, the_plan.collection, name, listings, workers,
                              progress, summary, http, materialise)
    return summary


def _fetch_referenced(settings: Settings, session: StoreSession, run: Any, index_path: Path, collection_id: str,
                      name: str, seg_listings: Sequence[dict[str, Any]], workers: int, progress: ProgressFn | None,
                      summary: FetchSummary, http: HttpClient, materialise: Any) -> None:
    """Fetch the series the complete SEGs reference (from their headers), found in the index."""
    wanted = referenced_by_complete_segs(session, run, STAGE, seg_listings, summary)
    if not wanted:
        return
    try:
        rows = idc_index.select_series(index_path, collection_id, series_uids=list(wanted))
    except RGError as exc:
        raise ConnectorError(f"cannot look the referenced series up in the IDC index: {exc}") from exc
    found = set(rows["SeriesInstanceUID"])
    for uid, patient in wanted.items():
        if uid not in found:
            reason = f"referenced series {uid} is not in the IDC index of {collection_id}"
            summary.failed.append((uid, reason))
            run.record_failure(STAGE, patient or "unknown", reason, item=uid)
    listings = idc_index.to_listings(rows, name)
    if listings:
        download_series_list(settings, session, run, listings, workers, False, progress, summary=summary, http=http,
                             stage=STAGE, materialise=materialise)


@stage_entry
def run_fetch_idc(store: StoreLike, *, collection: str, patients: Sequence[str] | None = None,
                  modalities: Sequence[str] | None = None, segmentation: str = "all", referenced_ct: bool = False,
                  dry_run: bool = False, workers: int = 4, progress: ProgressFn | None = None,
                  http: HttpClient | None = None, settings: Settings | None = None) -> StageResult:
    """``rg fetch idc``: :func:`fetch_idc` as a stage; with ``dry_run`` only the plan
    (:class:`~.idc_index.IdcPlan`, the ``summary``) and nothing fetched or written."""
    settings = stage_settings(settings)
    if dry_run:
        plan = idc_index.plan(settings.idc_index, collection, patients, modalities, segmentation, referenced_ct)
        return StageResult("fetch idc", summary=plan)
    settings.ensure_dirs()
    return fetch_idc(settings, store, collection, patients=patients, modalities=modalities,
                     segmentation=segmentation, referenced_ct=referenced_ct, workers=workers, progress=progress,
                     http=http).stage_result("fetch idc")
