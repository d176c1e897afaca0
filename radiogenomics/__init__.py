"""radiogenomics: link what a tumour looks like on CT to what its genes do."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("radiogenomics")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
