"""Locate shipped data files in ``data_catalog/`` (gene sets, signatures, parameter files)."""

from __future__ import annotations

import os
from pathlib import Path

from .exceptions import ConfigError


def catalog_dir() -> Path:
    """The ``data_catalog`` folder: ``$RG_CATALOG`` or the one beside the package."""
    override = os.environ.get("RG_CATALOG")
    if override:
        path = Path(override)
    else:
        path = Path(__file__).resolve().parent.parent / "data_catalog"
    if not path.is_dir():
        raise ConfigError(f"data catalog folder {path} not found; install radiogenomics from its source tree "
                          "(pip install -e .) or set RG_CATALOG")
    return path


def catalog_file(*parts: str) -> Path:
    """Path of a shipped file, with a clear error when it is missing."""
    path = catalog_dir().joinpath(*parts)
    if not path.exists():
        raise ConfigError(f"shipped file {path} is missing from the data catalog; reinstall radiogenomics")
    return path
