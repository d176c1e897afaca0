"""Executors for per-patient work: a local process pool (default) or Dask.

Per-patient tasks are pure functions of picklable arguments that return picklable
results; they never touch the store.  Results stream back to the caller, the single
store writer, which writes them in batches.

Spec strings (``--executor``): ``local`` (process pool with ``workers`` processes;
``workers=1`` runs in-process), ``dask-local`` / ``dask-local:N`` (a Dask
LocalCluster with N workers), ``dask://HOST:PORT`` (an existing Dask scheduler).
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from .exceptions import ConfigError

log = logging.getLogger(__name__)


@dataclass
class TaskResult:
    """Outcome of one task: ``value`` on success, ``error`` (the exception) on failure."""

    key: Any
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor:
    """Interface: run ``fn(item)`` for each item, yield :class:`TaskResult` as they finish."""

    spec: str = "local"

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any],
                      keys: Sequence[Any] | None = None) -> Iterator[TaskResult]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """A process pool (``workers`` > 1) or in-process loop (``workers`` == 1)."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.spec = "local"

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any],
                      keys: Sequence[Any] | None = None) -> Iterator[TaskResult]:
        items = list(items)
        keys = list(keys) if keys is not None else list(range(len(items)))
        if self.workers == 1 or len(items) <= 1:
            for key, item in zip(keys, items):
                try:
                    yield TaskResult(key, value=fn(item))
                except Exception as exc:  # noqa: BLE001 - reported per task
                    yield TaskResult(key, error=exc)
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            futures = {pool.submit(fn, item): key for key, item in zip(keys, items)}
            for future in as_completed(futures):
                key = futures[future]
                try:
                    yield TaskResult(key, value=future.result())
                except Exception as exc:  # noqa: BLE001
                    yield TaskResult(key, error=exc)


def get_executor(spec: str | None = "local", workers: int = 1) -> Executor:
    """Build the executor named by ``spec`` (see module docstring)."""
    spec = (spec or "local").strip()
    if spec == "local":
        return LocalExecutor(workers)
    if spec.startswith("dask"):
        from .executor_dask import DaskExecutor  # optional engine, imported on demand

        return DaskExecutor.from_spec(spec, workers)
    raise ConfigError(f"unknown executor {spec!r}; use local, dask-local[:N] or dask://HOST:PORT")


def batched(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Group an iterable into lists of at most ``size`` items."""
    batch: list[Any] = []
    for item in iterable:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
