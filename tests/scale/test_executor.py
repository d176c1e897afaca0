"""Local executor: results, per-task errors, recovery from a dead worker process, spec parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radiogenomics.exceptions import ConfigError
from radiogenomics.executor import LocalExecutor, TaskResult, batched, get_executor
from radiogenomics.executor_dask import parse_spec


def _square(x: int) -> int:
    if x == 5:
        raise ValueError("five is bad")
    return x * x


def _die_once(item: tuple[str, int]) -> int:
    """Kill the worker process the first time item 3 runs (a marker file remembers)."""
    marker, x = item
    if x == 3 and not Path(marker).exists():
        Path(marker).write_text("died")
        os._exit(1)
    return x * 10


@pytest.mark.parametrize("workers", [1, 2])
def test_local_results_and_errors(workers):
    with get_executor("local", workers) as ex:
        results = list(ex.map_unordered(_square, range(8), keys=[f"P{i}" for i in range(8)]))
    by_key = {r.key: r for r in results}
    assert sorted(by_key) == [f"P{i}" for i in range(8)]
    assert all(by_key[f"P{i}"].value == i * i for i in range(8) if i != 5)
    assert not by_key["P5"].ok and isinstance(by_key["P5"].error, ValueError)


def test_local_pool_recovers_from_a_dead_worker(tmp_path):
    items = [(str(tmp_path / "marker"), i) for i in range(8)]
    results = list(LocalExecutor(workers=2).map_unordered(_die_once, items, keys=list(range(8))))
    assert (tmp_path / "marker").exists()  # the worker really died once
    assert sorted(r.key for r in results) == list(range(8))  # each task exactly once
    assert all(r.ok and r.value == r.key * 10 for r in results)


def test_local_pool_gives_up_after_retries(tmp_path):
    items = [(str(tmp_path / "marker"), i) for i in range(4)]
    results = list(LocalExecutor(workers=2, retries=0).map_unordered(_die_once, items, keys=list(range(4))))
    assert sorted(r.key for r in results) == list(range(4))
    assert any(not r.ok for r in results)


def test_specs():
    assert get_executor("local:3").workers == 3
    assert get_executor(None, 2).workers == 2
    assert parse_spec("dask-local", 3) == ("local", 3)
    assert parse_spec("dask-local:2") == ("local", 2)
    assert parse_spec("dask://10.0.0.5:8786") == ("remote", "tcp://10.0.0.5:8786")
    for bad in ("spark", "local:0", "local:x", "dask-local:0", "dask://nohost", "dask://h:port", "daskish"):
        with pytest.raises(ConfigError):
            get_executor(bad)
    with pytest.raises(ConfigError):
        list(LocalExecutor(2).map_unordered(_square, [1, 2], keys=["a"]))


def test_batched():
    assert list(batched(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(batched([], 3)) == []
    assert TaskResult("k", value=1).ok and not TaskResult("k", error=ValueError()).ok


def _blas_threads(_item):
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info()), default=1)


def test_pool_workers_run_single_threaded_blas():
    """One process per core: BLAS threads would oversubscribe (measured 2 workers slower than 1)."""
    pytest.importorskip("threadpoolctl")
    results = list(LocalExecutor(2).map_unordered(_blas_threads, [0, 1, 2]))
    assert all(r.ok for r in results)
    assert {r.value for r in results} == {1}
