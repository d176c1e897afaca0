"""Typed settings read from the environment, overridable from the CLI.

Environment variables
---------------------
RG_HOME          base folder (default ``~/.radiogenomics``)
RG_STORE         DuckDB store path (default ``$RG_HOME/rg.duckdb``)
RG_DATA_DIR      downloaded / imported data (default ``$RG_HOME/data``)
RG_TCIA_URL      NBIA v4 base URL
RG_GEO_URL       GEO host (the ``/geo/series/...`` tree is appended)
RG_CLINICAL_URL  URL of the NSCLC Radiogenomics clinical CSV
RG_IDC_ENDPOINT  S3-compatible endpoint of IDC's public buckets (unsigned requests)
RG_IDC_INDEX     IDC series index Parquet (default: the one bundled in ``idc-index-data``)
RG_TIMEOUT       HTTP timeout in seconds (connect and read)
RG_RETRIES       HTTP retries on 429/5xx/connection errors
RG_WORKERS       default number of worker processes
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from .exceptions import ConfigError

DEFAULT_TCIA_URL = "https://nbia.cancerimagingarchive.net/nbia-api/services/v4"
DEFAULT_GEO_URL = "https://ftp.ncbi.nlm.nih.gov"
#: AWS S3 in us-east-1, where IDC's ``idc-open-data`` bucket lives (path-style URLs)
DEFAULT_IDC_ENDPOINT = "https://s3.amazonaws.com"
DEFAULT_CLINICAL_URL = (
    "https://www.cancerimagingarchive.net/wp-content/uploads/"
    "NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to seconds, e.g. {name}=60") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be > 0")
    return value


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number, e.g. {name}=4") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must be >= 0")
    return value


def _absolute(path: Path) -> Path:
    """``path`` made absolute against the working directory (symlinks kept, no I/O)."""
    return Path(os.path.abspath(path))


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one rg invocation."""

    home: Path
    store: Path
    data_dir: Path
    tcia_url: str = DEFAULT_TCIA_URL
    geo_url: str = DEFAULT_GEO_URL
    clinical_url: str = DEFAULT_CLINICAL_URL
    idc_endpoint: str = DEFAULT_IDC_ENDPOINT
    idc_index: Path | None = None
    timeout: float = 60.0
    retries: int = 5
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Build settings from environment variables, then apply non-None overrides.

        Parameters
        ----------
        environ
            Mapping to read instead of ``os.environ`` (tests).
        **overrides
            Field values that win over the environment (CLI options); ``None`` is ignored.
        """
        env = os.environ if environ is None else environ
        home = Path(env.get("RG_HOME") or Path.home() / ".radiogenomics").expanduser()
        store = Path(env["RG_STORE"]).expanduser() if env.get("RG_STORE") else home / "rg.duckdb"
        data_dir = Path(env["RG_DATA_DIR"]).expanduser() if env.get("RG_DATA_DIR") else home / "data"
        values: dict[str, object] = dict(
            home=home,
            store=store,
            data_dir=data_dir,
            tcia_url=(env.get("RG_TCIA_URL") or DEFAULT_TCIA_URL).rstrip("/"),
            geo_url=(env.get("RG_GEO_URL") or DEFAULT_GEO_URL).rstrip("/"),
            clinical_url=env.get("RG_CLINICAL_URL") or DEFAULT_CLINICAL_URL,
            idc_endpoint=(env.get("RG_IDC_ENDPOINT") or DEFAULT_IDC_ENDPOINT).rstrip("/"),
            idc_index=Path(env["RG_IDC_INDEX"]).expanduser() if env.get("RG_IDC_INDEX") else None,
        )
        if env.get("RG_TIMEOUT"):
            values["timeout"] = _positive_float("RG_TIMEOUT", env["RG_TIMEOUT"])
        if env.get("RG_RETRIES"):
            values["retries"] = _non_negative_int("RG_RETRIES", env["RG_RETRIES"])
        if env.get("RG_WORKERS"):
            values["workers"] = max(1, _non_negative_int("RG_WORKERS", env["RG_WORKERS"]))
        settings = cls(**values)  # type: ignore[arg-type]
        clean = {k: v for k, v in overrides.items() if v is not None}
        for key in ("store", "data_dir", "home"):
            if key in clean:
                clean[key] = Path(str(clean[key])).expanduser()
        settings = replace(settings, **clean) if clean else settings
        # paths the store records (series folders, ROI files) must work from any working
        # directory: a relative --data-dir / RG_DATA_DIR / --store is made absolute here
        return replace(settings, **{k: _absolute(getattr(settings, k)) for k in ("store", "data_dir", "home")})

    def ensure_dirs(self) -> None:
        """Create the home and data folders (not the store, which DuckDB creates); check the
        data folder is writable."""
        for path in (self.home, self.data_dir, self.store.parent):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create folder {path}: {exc.strerror}; choose another with --store/--data-dir or RG_HOME") from exc
        # a read-only data folder is found here, not as a failure of every item later
        import tempfile

        try:
            with tempfile.TemporaryFile(dir=self.data_dir):
                pass
        except OSError as exc:
            raise ConfigError(f"the data folder {self.data_dir} is not writable ({exc.strerror}); choose another "
                              "with --data-dir / RG_DATA_DIR or fix its permissions") from exc


def stage_settings(settings: Settings | None = None, **overrides: object) -> Settings:
    """The settings a stage entry runs with: ``settings`` (default: the environment's), with
    the non-None ``overrides`` (a stage's keyword arguments such as ``data_dir``) applied."""
    base = settings if settings is not None else Settings.from_env()
    clean = {k: (Path(str(v)).expanduser() if k in ("store", "data_dir", "home") else v)
             for k, v in overrides.items() if v is not None}
    return replace(base, **clean) if clean else base
