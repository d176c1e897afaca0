"""Dask distributed executor for per-patient work.

Specs: ``dask-local`` / ``dask-local:N`` start a :class:`distributed.LocalCluster`
of N single-threaded worker processes on this machine; ``dask://HOST:PORT``
connects to a running scheduler (``dask scheduler`` on one node, ``dask worker
tcp://HOST:PORT --nthreads 1`` on each worker node; every worker needs this
package installed and the input files at the same paths, e.g. a shared mount).

Tasks are pure, idempotent functions of their item: when a worker is lost, the
scheduler reruns its tasks on another worker (up to Dask's
``distributed.scheduler.allowed-failures``, 3 by default) and the caller sees each
task's result once.  Results stream back with ``as_completed`` to the caller, the
single store writer.  At most ``max_in_flight`` tasks are submitted at a time so
that a 10^5-patient cohort does not hold 10^5 results in cluster memory.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from typing import Any, Callable, Iterator, Sequence

from .exceptions import ConfigError, OptionalDependencyError
from .executor import Executor, TaskResult, _parse_count

log = logging.getLogger(__name__)


def _distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise OptionalDependencyError(
            "the Dask executor needs dask[distributed]: pip install 'dask[distributed]'") from exc
    return distributed


def parse_spec(spec: str, workers: int = 1) -> tuple[str, Any]:
    """Split a Dask executor spec into ``("local", n_workers)`` or ``("remote", address)``.

    Raises
    ------
    ConfigError
        Not one of ``dask-local``, ``dask-local:N``, ``dask://HOST:PORT``.
    """
    spec = spec.strip()
    if spec == "dask-local":
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        return "local", workers
    if spec.startswith("dask-local:"):
        return "local", _parse_count(spec, spec.split(":", 1)[1])
    if spec.startswith("dask://"):
        hostport = spec[len("dask://"):].rstrip("/")
        host, sep, port = hostport.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"executor {spec!r}: give the scheduler as dask://HOST:PORT, e.g. dask://10.0.0.5:8786")
        return "remote", f"tcp://{host}:{port}"
    raise ConfigError(f"unknown Dask executor {spec!r}; use dask-local, dask-local:N or dask://HOST:PORT")


class DaskExecutor(Executor):
    """Run tasks on a Dask distributed cluster.

    Parameters
    ----------
    client
        A connected :class:`distributed.Client`.
    cluster
        The cluster this executor started (closed with it), if any.
    owns_client
        Close ``client`` on :meth:`close` (False for a client the caller passed in).
    retries
        Extra attempts for a task that *raised*; worker loss is handled by the
        scheduler regardless.  0 by default: per-patient errors are usually
        deterministic and are recorded as failures instead.
    max_in_flight
        Tasks submitted but not yet returned (default: 8 per worker thread, >= 32).
    spec
        The spec string, for logs and run parameters.
    """

    def __init__(self, client: Any, cluster: Any = None, owns_client: bool = False, retries: int = 0,
                 max_in_flight: int | None = None, spec: str = "dask") -> None:
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        self.client = client
        self.cluster = cluster
        self.owns_client = owns_client
        self.retries = retries
        self.max_in_flight = max_in_flight
        self.spec = spec

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, workers: int = 1, **kwargs: Any) -> "DaskExecutor":
        """Start or connect to the cluster named by ``spec`` (see :func:`parse_spec`)."""
        kind, arg = parse_spec(spec, workers)
        if kind == "local":
            return cls.local(arg, spec=spec, **kwargs)
        return cls.connect(arg, spec=spec, **kwargs)

    @classmethod
    def local(cls, n_workers: int, processes: bool = True, spec: str | None = None,
              **kwargs: Any) -> "DaskExecutor":
        """Start a LocalCluster of ``n_workers`` single-threaded workers."""
        distributed = _distributed()
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except Exception:
            cluster.close()
            raise
        log.info("started a Dask LocalCluster with %d worker(s) at %s", n_workers, cluster.scheduler_address)
        return cls(client, cluster=cluster, owns_client=True, spec=spec or f"dask-local:{n_workers}", **kwargs)

    @classmethod
    def connect(cls, address: str, timeout: float = 10.0, spec: str | None = None,
                **kwargs: Any) -> "DaskExecutor":
        """Connect to a running scheduler at ``address`` (``tcp://HOST:PORT``)."""
        distributed = _distributed()
        try:
            client = distributed.Client(address, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {address}: {exc}; start it with "
                "`dask scheduler` and check the host and port") from exc
        return cls(client, owns_client=True, spec=spec or address.replace("tcp://", "dask://"), **kwargs)

    # ------------------------------------------------------------------ running
    def n_threads(self) -> int:
        """Worker threads currently in the cluster (at least 1)."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - only used to size the submission window
            return 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any],
                      keys: Sequence[Any] | None = None) -> Iterator[TaskResult]:
        """Run ``fn(item)`` on the cluster; yield :class:`TaskResult` as tasks finish."""
        distributed = _distributed()
        items = list(items)
        keys = list(keys) if keys is not None else list(range(len(items)))
        if len(keys) != len(items):
            raise ConfigError(f"{len(keys)} keys given for {len(items)} items")
        if not items:
            return
        # unique task keys: identical items of two runs must not share a cached result
        prefix = f"rg-{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex[:8]}"
        window = self.max_in_flight or max(32, 8 * self.n_threads())
        todo = iter(range(len(items)))
        index: dict[str, int] = {}
        outstanding: dict[str, Any] = {}

        def submit(i: int) -> Any:
            future = self.client.submit(fn, items[i], key=f"{prefix}-{i}", pure=False, retries=self.retries)
            index[future.key] = i
            outstanding[future.key] = future
            return future

        stream = distributed.as_completed([submit(i) for i in itertools.islice(todo, window)],
                                          loop=self.client.loop)
        try:
            for future in stream:
                i = index.pop(future.key)
                outstanding.pop(future.key, None)
                # result() rather than the status: a finished result held by a worker that
                # died since is "lost" until the scheduler recomputes it; result() waits for that
                try:
                    result = TaskResult(keys[i], value=future.result())
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # noqa: BLE001 - task error, KilledWorker, CancelledError, unpicklable result
                    result = TaskResult(keys[i], error=exc)
                future.release()
                nxt = next(todo, None)
                if nxt is not None:
                    stream.add(submit(nxt))
                yield result
        finally:
            if outstanding:  # the consumer stopped early: do not leave work on the cluster
                self.client.cancel(list(outstanding.values()))

    def close(self) -> None:
        """Close the client, and the LocalCluster if this executor started it."""
        if self.owns_client:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing the Dask client failed", exc_info=True)
        if self.cluster is not None:
            try:
                self.cluster.close()
            except Exception:  # noqa: BLE001
                log.debug("closing the Dask LocalCluster failed", exc_info=True)
            self.cluster = None
