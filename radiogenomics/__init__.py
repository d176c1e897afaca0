"""radiogenomics: link what a tumour looks like on CT to what its genes do."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # importlib.metadata is slow to import; only --version and provenance need it
    if name == "__version__":
        from importlib import metadata

        try:
            version = metadata.version("radiogenomics")
        except metadata.PackageNotFoundError:  # running from a source tree without install
            version = "0.0.0+unknown"
        globals()["__version__"] = version
        return version
    raise AttributeError(f"module 'radiogenomics' has no attribute {name!r}")
