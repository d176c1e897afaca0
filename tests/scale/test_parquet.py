"""Parquet-backed features: same `features` view, idempotent writes, moving rows both ways."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import ConfigError, StoreError
from radiogenomics.store import Store
from radiogenomics.store import parquet as pq


def _rows(patients, features, params_hash="abc123", roi="tumor", offset=0.0) -> pd.DataFrame:
    return pd.DataFrame([dict(patient_id=p, roi=roi, feature=f, params_hash=params_hash,
                              value=offset + 10 * i + j, image_sha1="img", mask_sha1="msk")
                         for i, p in enumerate(patients) for j, f in enumerate(features)])


def _view(store) -> pd.DataFrame:
    return store.query("SELECT patient_id, roi, feature, params_hash, value, run_id FROM features "
                       "ORDER BY patient_id, roi, feature, params_hash")


def test_parquet_features_through_the_view_and_reruns(tmp_path):
    location = tmp_path / "fp"
    with Store.open(tmp_path / "rg.duckdb") as store:
        store.upsert("features", _rows(["A", "B"], ["f1", "f2"]), run_id="r0")
        assert pq.enable_features_parquet(store, location, buckets=4) == 4  # moved from core.features
        assert store.query("SELECT count(*) AS n FROM core.features").n.iloc[0] == 0
        assert len(_view(store)) == 4 and set(_view(store).run_id) == {"r0"}

        # rerun writes the same keys: replaced, not duplicated; a new patient with an awkward id
        for _ in range(2):
            store.upsert("features", _rows(["A", "C/1 x"], ["f1", "f3"], offset=100), run_id="r1")
        view = _view(store)
        assert not view.duplicated(["patient_id", "roi", "feature", "params_hash"]).any()
        assert len(view) == 4 + 3  # A gains f3; C has f1, f3
        a = view[view.patient_id == "A"].set_index("feature")
        assert a.loc["f1", "value"] == 100 and a.loc["f1", "run_id"] == "r1"  # new value wins
        assert a.loc["f2", "value"] == 1 and a.loc["f2", "run_id"] == "r0"    # untouched row kept
        # another ROI and another params_hash of the same patient live beside the old rows
        store.upsert("features", _rows(["A"], ["f1"], roi="node"), run_id="r2")
        store.upsert("features", _rows(["A"], ["f1"], params_hash="def456"), run_id="r2")
        assert len(_view(store)) == 9
        before = _view(store)

        files = sorted(p.relative_to(location).as_posix() for p in location.rglob("*.parquet"))
        assert all(f.startswith("params_hash=") and "/bucket=" in f for f in files)
        assert not list(location.rglob("*.tmp"))
        compacted = pq.compact_features_parquet(store)
        assert compacted["files_removed"] >= 1
        pd.testing.assert_frame_equal(_view(store), before)
        store.upsert("features", _rows(["B"], ["f2"], offset=50), run_id="r3")  # B now inside a compacted file
        after = _view(store)
        assert len(after) == 9
        b = after[after.patient_id == "B"].set_index("feature")
        assert b.loc["f2", "value"] == 50 and b.loc["f1", "value"] == 10 and b.loc["f1", "run_id"] == "r0"

    # readers (rg sql) see the Parquet rows through the read-only store
    with Store.open(tmp_path / "rg.duckdb", read_only=True) as store:
        assert len(_view(store)) == 9
        joined = store.query("SELECT f.params_hash, count(*) AS n FROM features f GROUP BY ALL ORDER BY 1")
        assert joined.n.tolist() == [8, 1]

    with Store.open(tmp_path / "rg.duckdb") as store:
        assert pq.disable_features_parquet(store) == 9
        assert store.query("SELECT count(*) AS n FROM core.features").n.iloc[0] == 9
        pd.testing.assert_frame_equal(_view(store), after)
        assert not list(location.rglob("*.parquet"))


def test_bucket_is_the_same_in_python_and_sql():
    ids = ["R01-001", "AMC-012", "x", "C/1 x", "ü"]
    con = duckdb.connect()
    got = [con.execute(f"SELECT {pq.bucket_sql('?', 64)}", [i]).fetchone()[0] for i in ids]
    assert got == [pq.patient_bucket(i, 64) for i in ids]


def test_refuses_bad_input(tmp_path):
    with Store.open(tmp_path / "rg.duckdb") as store:
        with pytest.raises(StoreError, match="not enabled"):
            pq.write_features(store, _rows(["A"], ["f1"]))
        with pytest.raises(ConfigError, match="local folder"):
            pq.enable_features_parquet(store, "s3://bucket/prefix")
        pq.enable_features_parquet(store, tmp_path / "fp")
        with pytest.raises(StoreError, match="params_hash"):
            store.upsert("features", _rows(["A"], ["f1"], params_hash="../x"))
        store.upsert("features", _rows(["A"], ["f1"]))
        with pytest.raises(ConfigError, match="already stored"):
            pq.enable_features_parquet(store, tmp_path / "elsewhere")
        # remote locations are read, never written by this process
        store.upsert("store_settings", pd.DataFrame({"key": [pq.LOCATION_KEY], "value": ["s3://b/p"]}))
        with pytest.raises(StoreError, match="cannot write"):
            store.upsert("features", _rows(["A"], ["f1"]))


def test_cli_moves_features(tmp_path, monkeypatch, capsys):
    store_path = tmp_path / "rg.duckdb"
    with Store.open(store_path) as store:
        store.upsert("features", _rows(["A", "B", "C"], ["f1", "f2"]), run_id="r0")
    base = ["--store", str(store_path), "--data-dir", str(tmp_path / "data")]
    assert main([*base, "store", "features-to-parquet", "--buckets", "8", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"moved_rows": 6' in out and str(tmp_path / "data" / "features_parquet") in out
    assert main([*base, "sql", "SELECT count(*) AS n FROM features", "-f", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["n", "6"]
    assert main([*base, "store", "features-compact"]) == 0
    assert main([*base, "store", "features-to-duckdb"]) == 0
    assert "moved_rows: 6" in capsys.readouterr().out
    with Store.open(store_path, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM core.features").n.iloc[0] == 6
        assert store.query("SELECT count(*) AS n FROM runs WHERE command LIKE 'store features%'").n.iloc[0] == 3


def test_attach_reads_another_layout(tmp_path):
    with Store.open(tmp_path / "a.duckdb") as store:
        pq.enable_features_parquet(store, tmp_path / "shared", buckets=8)
        store.upsert("features", _rows(["A", "B"], ["f1", "f2", "f3"]), run_id="r0")
    with Store.open(tmp_path / "b.duckdb") as store:
        store.upsert("features", _rows(["Z"], ["f1"]), run_id="local")  # own rows stay visible
        pq.attach_features_parquet(store, str(tmp_path / "shared"), buckets=8)
        view = _view(store)
        assert sorted(view.patient_id.unique()) == ["A", "B", "Z"] and len(view) == 7
        with pytest.raises(ConfigError, match="features-to-duckdb"):
            pq.attach_features_parquet(store, str(tmp_path / "elsewhere"))


def test_planner_setting_only_for_parquet_stores(tmp_path):
    setting = "SELECT current_setting('disabled_optimizers') AS v"
    with Store.open(tmp_path / "rg.duckdb") as store:
        assert "partial_aggregate_pushdown" not in str(store.query(setting).v.iloc[0])
        pq.enable_features_parquet(store, tmp_path / "fp")
    with Store.open(tmp_path / "rg.duckdb", read_only=True) as store:
        assert "partial_aggregate_pushdown" in str(store.query(setting).v.iloc[0])
