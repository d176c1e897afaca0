"""Store sessions used by the connectors (moved to :mod:`radiogenomics.store.session`)."""

from ..store.session import RunRecorder, StoreLike, StoreSession

__all__ = ["RunRecorder", "StoreLike", "StoreSession"]
