"""Fetch a whole study (clinical, TCIA imaging, GEO expression) from its catalog entry.

The entry is a YAML file in ``data_catalog/`` (e.g. ``nsclc_radiogenomics.yaml``)
naming the TCIA collection (and which modalities to fetch), the GEO accession
and supplementary file, the clinical CSV, their licences and citations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..config import Settings, stage_settings
from ..exceptions import ConfigError, InputError
from ..result import StageResult, stage_entry
from .clinical import ClinicalSummary, load_clinical
from .geo import GeoSummary, fetch_geo
from .tcia import FetchSummary, ProgressFn, fetch_tcia

log = logging.getLogger(__name__)


def load_entry(name: str) -> dict[str, Any]:
    """Read the catalog entry ``name`` (``nsclc-radiogenomics`` -> ``nsclc_radiogenomics.yaml``)."""
    import yaml

    from ..catalog import catalog_file

    path = catalog_file(name.replace("-", "_") + ".yaml")
    try:
        entry = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"catalog entry {path} is not valid YAML: {exc}") from exc
    for key in ("tcia", "geo", "clinical"):
        if not isinstance(entry.get(key), dict):
            raise ConfigError(f"catalog entry {path} lacks the section {key!r}")
    if not entry["tcia"].get("collection"):
        raise ConfigError(f"catalog entry {path}: tcia.collection is missing")
    if not entry["geo"].get("accession"):
        raise ConfigError(f"catalog entry {path}: geo.accession is missing")
    return entry


def clinical_source(settings: Settings, entry: dict[str, Any]) -> str:
    """The clinical CSV URL of a catalog entry, unless ``RG_CLINICAL_URL`` overrides it."""
    from ..config import DEFAULT_CLINICAL_URL

    if settings.clinical_url != DEFAULT_CLINICAL_URL:  # set by RG_CLINICAL_URL / an override
        return settings.clinical_url
    return str(entry["clinical"].get("url") or settings.clinical_url)


def fetch_clinical(settings: Settings, store: Any, name: str = "nsclc-radiogenomics",
                   file: str | Path | None = None) -> ClinicalSummary:
    """``rg fetch clinical``: load a catalog entry's clinical CSV (a local ``file`` copy, or its URL).

    Raises
    ------
    ConfigError
        No catalog entry ``name``.
    """
    entry = load_entry(name)
    return load_clinical(settings, store, file or clinical_source(settings, entry),
                         collection=entry["tcia"]["collection"])


@dataclass
class StudySummary:
    """Outcome of :func:`fetch_study`."""

    clinical: ClinicalSummary | None = None
    tcia: FetchSummary | None = None
    geo: GeoSummary | None = None
    citations: list[str] = field(default_factory=list)

    def text(self) -> str:
        parts = []
        if self.clinical:
            parts.append("clinical: " + self.clinical.text())
        if self.tcia:
            parts.append("tcia: " + self.tcia.text())
        if self.geo:
            parts.append("geo: " + self.geo.text())
        if self.citations:
            parts.append("please cite:\n" + "\n".join(f"  - {c}" for c in self.citations))
        return "\n".join(parts)


def fetch_study(settings: Settings, store: Any, name: str = "nsclc-radiogenomics",
                patients: Sequence[str] | None = None, workers: int = 4, clinical_file: str | Path | None = None,
                skip: Sequence[str] = (), progress: ProgressFn | None = None,
                executor: str = "local") -> StudySummary:
    """Run clinical, TCIA and GEO fetches of a catalog entry, in that order.

    Parameters
    ----------
    store
        Open read-write store, or its path (then opened only for each write).
    name
        Catalog entry, e.g. ``nsclc-radiogenomics``.
    patients
        Restrict the imaging fetch to these patients.
    clinical_file
        Local clinical CSV instead of ``settings.clinical_url``.
    skip
        Parts to leave out: any of ``clinical``, ``tcia``, ``geo``.
    executor
        Where the per-series downloads run (see :func:`~radiogenomics.executor.get_executor`):
        ``local`` (threads in this process), ``local:N``, ``dask-local[:N]`` or ``dask://HOST:PORT``.
    """
    entry = load_entry(name)
    out = StudySummary(citations=list(entry.get("citations") or []))
    if "clinical" not in skip:
        out.clinical = load_clinical(settings, store, clinical_file or clinical_source(settings, entry),
                                     collection=entry["tcia"]["collection"])
    if "tcia" not in skip:
        tcia = entry["tcia"]
        out.tcia = fetch_tcia(settings, store, tcia["collection"], patients=patients,
                              modalities=tcia.get("modalities"), referenced_ct=bool(tcia.get("referenced_ct")),
                              workers=workers, progress=progress, executor=executor)
    if "geo" not in skip:
        geo = entry["geo"]
        out.geo = fetch_geo(settings, store, geo["accession"], files=geo.get("files"))
    return out


@stage_entry
def run_fetch_clinical(store: Any, name: str = "nsclc-radiogenomics", *, file: str | Path | None = None,
                       settings: Settings | None = None) -> StageResult:
    """``rg fetch clinical``: :func:`fetch_clinical` as a stage; the ``summary`` is the
    :class:`~.clinical.ClinicalSummary`."""
    settings = stage_settings(settings)
    settings.ensure_dirs()
    summary = fetch_clinical(settings, store, name, file)
    return StageResult("fetch clinical", run_ids=[summary.run_id], counts={"rows": summary.rows}, summary=summary)


STUDY_PARTS = ("clinical", "tcia", "geo")


@stage_entry
def run_fetch_study(store: Any, name: str = "nsclc-radiogenomics", *, patients: Sequence[str] | None = None,
                    workers: int = 4, clinical_file: str | Path | None = None, skip: Sequence[str] = (),
                    progress: ProgressFn | None = None, executor: str = "local",
                    settings: Settings | None = None) -> StageResult:
    """``rg fetch nsclc-radiogenomics``: :func:`fetch_study` as a stage (one run per part).

    The ``summary`` is the :class:`StudySummary`; failed series make the result ``partial``.

    Raises
    ------
    InputError
        ``skip`` names something other than clinical, tcia or geo.
    """
    bad = [s for s in skip if s not in STUDY_PARTS]
    if bad:
        raise InputError(f"--skip takes clinical, tcia or geo, not {bad}")
    settings = stage_settings(settings)
    settings.ensure_dirs()
    summary = fetch_study(settings, store, name, patients=patients, workers=workers, clinical_file=clinical_file,
                          skip=skip, progress=progress, executor=executor)
    parts = [p for p in (summary.clinical, summary.tcia, summary.geo) if p is not None]
    failed = list(summary.tcia.failed) if summary.tcia is not None else []
    return StageResult(f"fetch {name}", run_ids=[p.run_id for p in parts if p.run_id],
                       counts={"failed": len(failed)}, failures=[(u, "", r) for u, r in failed],
                       partial=bool(failed), summary=summary)
