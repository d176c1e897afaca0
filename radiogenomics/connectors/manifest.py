"""TCIA ``.tcia`` manifests: parse, then fetch exactly the listed series.

A manifest (from the TCIA portal's cart) is ``key=value`` header lines
(``downloadServerUrl``, ``includeAnnotation``, ``manifestVersion``, ...), a line
``ListOfSeriesToDownload=``, then one SeriesInstanceUID per line.  The series are
looked up with ``getSeriesMetadata`` (patient, collection, image count) and fetched
through the same download / verify / register engine as ``rg fetch tcia``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..config import Settings, stage_settings
from ..exceptions import ParseError
from ..result import StageResult, stage_entry
from .http import HttpClient
from .storeio import RunRecorder, StoreLike, StoreSession
from .tcia import FetchSummary, NBIAClient, ProgressFn, clean_partials, download_series_list

log = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)+$")


@dataclass
class Manifest:
    """A parsed ``.tcia`` manifest."""

    path: Path
    header: dict[str, str] = field(default_factory=dict)
    series_uids: list[str] = field(default_factory=list)


def parse_manifest(path: str | Path) -> Manifest:
    """Read a ``.tcia`` manifest.

    Raises
    ------
    ParseError
        No ``ListOfSeriesToDownload=`` line, no series, or a line that is not a UID.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ParseError(f"cannot read manifest {path}: {exc.strerror}") from exc
    manifest = Manifest(path)
    in_list = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_list:
            if line.startswith("ListOfSeriesToDownload"):
                in_list = True
                rest = line.split("=", 1)[1].strip() if "=" in line else ""
                if rest:
                    manifest.series_uids.extend(u.strip() for u in rest.split(",") if u.strip())
                continue
            if "=" in line:
                key, value = line.split("=", 1)
                manifest.header[key.strip()] = value.strip()
            continue
        if not _UID.match(line):
            raise ParseError(f"{path}:{lineno}: {line[:60]!r} is not a SeriesInstanceUID")
        manifest.series_uids.append(line)
    if not in_list:
        raise ParseError(f"{path} has no 'ListOfSeriesToDownload=' line; is it a TCIA .tcia manifest?")
    manifest.series_uids = list(dict.fromkeys(manifest.series_uids))
    if not manifest.series_uids:
        raise ParseError(f"{path} lists no series after 'ListOfSeriesToDownload='")
    return manifest


def import_manifest(settings: Settings, store: StoreLike, path: str | Path, workers: int = 4, md5: bool = False,
                    progress: ProgressFn | None = None, http: HttpClient | None = None,
                    executor: str = "local") -> FetchSummary:
    """Fetch every series of a ``.tcia`` manifest into the store (see :func:`~.tcia.fetch_tcia`).

    Series NBIA does not know are reported as failed ("not found"); the others are
    downloaded, verified and registered.  A rerun skips complete series.
    """
    manifest = parse_manifest(path)
    http = http or HttpClient.from_settings(settings)
    client = NBIAClient(settings.tcia_url, http)
    clean_partials(settings)
    from ..store import sha256_file

    params = dict(manifest=str(manifest.path), n_series=len(manifest.series_uids), workers=workers, md5=md5,
                  tcia_url=settings.tcia_url, executor=executor)
    session = StoreSession(store)
    with RunRecorder(session, "import manifest", params, {manifest.path.name: sha256_file(manifest.path)}) as run:
        listings = client.series_metadata(manifest.series_uids)
        known = {x["series_uid"] for x in listings}
        summary = FetchSummary(run_id=run.run_id)
        for uid in manifest.series_uids:
            if uid not in known:
                reason = "not found in NBIA (getSeriesMetadata lists no such series)"
                summary.failed.append((uid, reason))
                run.record_failure("import_manifest", "unknown", reason, item=uid)
        if listings:
            download_series_list(settings, session, run, listings, workers, md5, progress, summary=summary,
                                 http=http, stage="import_manifest", executor=executor)
    return summary


def manifest_series(path: str | Path) -> Sequence[str]:
    """Just the SeriesInstanceUIDs of a manifest."""
    return parse_manifest(path).series_uids


@stage_entry
def run_import_manifest(store: StoreLike, manifest: str | Path, *, workers: int = 4, md5: bool = False,
                        progress: ProgressFn | None = None, http: HttpClient | None = None,
                        executor: str = "local", settings: Settings | None = None) -> StageResult:
    """``rg import manifest``: :func:`import_manifest` as a stage (failed series make it ``partial``)."""
    settings = stage_settings(settings)
    settings.ensure_dirs()
    return import_manifest(settings, store, manifest, workers=workers, md5=md5, progress=progress, http=http,
                           executor=executor).stage_result("import manifest")
