"""One BLAS thread for thin matrix products.

Products like (20,000 genes x 130 samples) @ (130 x 2) are memory bound: OpenBLAS's
threads cost more to wake than they save, and on a shared machine a second thread is
often not free at all (the limma solve ran several times faster on one thread here).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

_CONTROLLER = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit the BLAS libraries to one thread inside the block (no-op without threadpoolctl)."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    if _CONTROLLER is None:
        # building the controller scans the loaded libraries once; later limits are cheap
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


def limit_blas_threads() -> None:
    """Process-pool initializer: one BLAS/OpenMP thread per worker (one worker per core)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return
    threadpool_limits(limits=1)
