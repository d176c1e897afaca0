"""Dask executor: same `features` rows as the local executor; a killed worker is redone, no duplicates.

One LocalCluster (2 single-threaded worker processes) serves the whole module: its
startup is the slow part.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402 - a dependency of distributed

from radiogenomics.executor import batched, get_executor  # noqa: E402
from radiogenomics.executor_dask import DaskExecutor  # noqa: E402
from radiogenomics.store import Store  # noqa: E402
from radiogenomics.store.parquet import enable_features_parquet  # noqa: E402

# worker processes cannot import this test module: ship its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

PARAMS = {
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": [], "glcm": ["Contrast", "JointEntropy"], "shape": ["MeshVolume"]},
    "setting": {"binWidth": 25, "label": 1},
}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cl:
        yield cl


@pytest.fixture
def dask_spec(cluster) -> str:
    return "dask://" + cluster.scheduler_address.replace("tcp://", "")


def _cohort(root: Path, n: int = 4) -> list[dict]:
    from radiogenomics.synth.dicom import write_nrrd_pair

    rng = np.random.default_rng(7)
    rows = []
    z, y, x = np.mgrid[:20, :20, :20]
    for i in range(n):
        volume = rng.normal(0, 40, (20, 20, 20)) + 30 * i
        mask = (z - 10) ** 2 + (y - 10) ** 2 + (x - 10) ** 2 <= (4 + i % 3) ** 2
        image, msk = write_nrrd_pair(volume, mask, (1.0, 1.0, 1.5), root / f"P{i}")
        rows.append(dict(patient_id=f"P{i}", roi="tumor", reader="default", image_path=str(image),
                         mask_path=str(msk), source="import", status="ok"))
    return rows


def _extract(store_path: Path, rois: list[dict], executor: str, workers: int) -> pd.DataFrame:
    from radiogenomics.config import Settings
    from radiogenomics.imaging.features import run_features

    with Store.open(store_path) as store:
        store.upsert("rois", pd.DataFrame(rois))
        summary = run_features(store, settings=Settings.from_env(), params=PARAMS, workers=workers, executor=executor).summary
        assert summary.failed == 0 and summary.computed == len(rois)
        return store.query("SELECT * EXCLUDE (run_id) FROM features ORDER BY patient_id, roi, feature")


def test_local_and_dask_give_identical_features(tmp_path, dask_spec):
    pytest.importorskip("radiogenomics.imaging.features")
    rois = _cohort(tmp_path / "images")
    local = _extract(tmp_path / "a.duckdb", rois, "local", 2)
    dask = _extract(tmp_path / "b.duckdb", rois, dask_spec, 1)
    assert len(local) > 4 * 20
    pd.testing.assert_frame_equal(local, dask, check_exact=True)


def _patient_features(item: tuple[str, str]) -> pd.DataFrame:
    """A deterministic per-patient task that kills its worker the first time P3 runs."""
    marker, patient = item
    if patient == "P3" and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    seed = int(patient[1:])
    values = np.random.default_rng(seed).normal(size=5)
    return pd.DataFrame({"patient_id": patient, "roi": "tumor", "feature": [f"f{j}" for j in range(5)],
                         "params_hash": "h1", "value": values})


def _run_and_store(store: Store, executor, items, keys) -> int:
    written = 0
    with store.run("test") as run:
        for batch in batched(executor.map_unordered(_patient_features, items, keys=keys), 3):
            failed = [r for r in batch if not r.ok]
            assert not failed, failed[0].error
            written += store.upsert("features", pd.concat([r.value for r in batch]), run_id=run.run_id)
    return written


@pytest.mark.parametrize("parquet", [False, True])
def test_killed_worker_is_redone_without_duplicates(tmp_path, cluster, parquet):
    patients = [f"P{i}" for i in range(8)]
    items = [(str(tmp_path / "marker"), p) for p in patients]
    with Store.open(tmp_path / "rg.duckdb") as store:
        if parquet:
            enable_features_parquet(store, tmp_path / "features_parquet", buckets=4)
        with distributed.Client(cluster, set_as_default=False) as client:
            executor = DaskExecutor(client, spec="test", max_in_flight=4)
            assert _run_and_store(store, executor, items, patients) == 8 * 5
            assert (tmp_path / "marker").exists()  # a worker really died
            # a rerun of the whole cohort (idempotent tasks) replaces, never duplicates
            _run_and_store(store, executor, items, patients)
        counts = store.query("SELECT patient_id, count(*) AS n, count(DISTINCT feature) AS k FROM features "
                             "GROUP BY ALL ORDER BY patient_id")
        assert counts.patient_id.tolist() == patients
        assert (counts.n == 5).all() and (counts.k == 5).all()
        if parquet:
            assert store.query("SELECT count(*) AS n FROM core.features").n.iloc[0] == 0
        expected = np.random.default_rng(3).normal(size=5)
        got = store.query("SELECT value FROM features WHERE patient_id = 'P3' ORDER BY feature").value
        np.testing.assert_array_equal(got.to_numpy(), expected)


def test_connect_by_spec_and_errors(cluster, dask_spec):
    # an earlier test kills a worker on purpose; its nanny starts a new one: wait for the
    # cluster to be whole again so the thread count below is the cluster's real size
    with distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(n_workers=2, timeout=120)
    with get_executor(dask_spec) as ex:
        assert isinstance(ex, DaskExecutor) and ex.n_threads() == 2
        out = sorted((r.key, r.value) for r in ex.map_unordered(abs, [-1, -2, 3], keys=["a", "b", "c"]))
        errors = list(ex.map_unordered(int, ["x"], keys=["bad"]))
    assert out == [("a", 1), ("b", 2), ("c", 3)]
    assert errors[0].key == "bad" and isinstance(errors[0].error, ValueError)
