"""Store: migrations, upsert idempotency, runs provenance, read-only, bad paths."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from radiogenomics.exceptions import ReadOnlyError, SchemaError, StoreError
from radiogenomics.store import SCHEMA_VERSION, VIEWS, Store
from radiogenomics.store.schema import MIGRATIONS


def _features(values):
    return pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(len(values))],
        "roi": "tumor",
        "feature": "original_firstorder_Mean",
        "params_hash": "abc",
        "value": values,
    })


def test_new_store_has_schema_and_every_view(store_path):
    with Store.open(store_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        views = set(store.query("SELECT view_name FROM duckdb_views() WHERE schema_name='main' AND NOT internal")["view_name"])
    required = {"patients", "series", "clinical", "samples", "expression", "features", "radscores",
                "risk_groups", "de_results", "gsea_results", "immune_scores", "associations", "runs"}
    assert required <= views
    assert set(VIEWS) <= views


def test_required_view_columns(store_path):
    required = {
        "patients": {"patient_id", "collection"},
        "series": {"series_uid", "patient_id", "study_uid", "modality", "description", "image_count", "status"},
        "clinical": {"patient_id"},
        "samples": {"sample_id", "patient_id", "dataset"},
        "expression": {"dataset", "patient_id", "gene", "value"},
        "features": {"patient_id", "roi", "feature", "value", "params_hash", "run_id"},
        "radscores": {"model_id", "patient_id", "score"},
        "risk_groups": {"grouping", "patient_id", "grp"},
        "runs": {"run_id", "command", "parameters", "package_versions", "input_checksums", "started_at",
                 "finished_at", "status", "error"},
    }
    with Store.open(store_path) as store:
        for view, columns in required.items():
            got = set(store.query(f'SELECT * FROM "{view}" LIMIT 0').columns)
            assert columns <= got, (view, columns - got)


def test_every_base_table_has_a_primary_key(store_path):
    with Store.open(store_path) as store:
        tables = store.query("SELECT table_name FROM information_schema.tables WHERE table_schema='core' "
                             "AND table_type='BASE TABLE'")["table_name"]
        for table in tables:
            assert store.primary_key(table), table


def test_reopen_applies_no_migration_twice(store_path):
    Store.open(store_path).close()
    with Store.open(store_path) as store:
        rows = store.query("SELECT version FROM core.schema_version")
    assert rows["version"].tolist() == [m.version for m in MIGRATIONS]


def test_migration_from_older_version_is_applied_on_open(store_path, monkeypatch):
    from radiogenomics.store import db, schema

    # an "old" store: only migration 1
    first = schema.MIGRATIONS[:1]
    monkeypatch.setattr(db, "MIGRATIONS", first)
    monkeypatch.setattr(db, "SCHEMA_VERSION", 1)
    # the views name columns of the latest schema: a v1 store had its own
    with monkeypatch.context() as m:
        m.setattr(db.Store, "_create_views", lambda self: None)
        with Store.open(store_path) as old:
            old.execute("INSERT INTO core.series (series_uid, modality, status) VALUES ('1.2.3', 'CT', 'complete')")
    extra = schema.Migration(SCHEMA_VERSION + 1, "add a test column",
                             "ALTER TABLE core.patients ADD COLUMN test_col INTEGER;")
    monkeypatch.setattr(db, "MIGRATIONS", list(schema.MIGRATIONS) + [extra])
    monkeypatch.setattr(db, "SCHEMA_VERSION", extra.version)
    with Store.open(store_path) as store:
        assert store.schema_version() == extra.version
        assert "test_col" in store.table_columns("patients")
        # v2: rows from before it came from NBIA; the series view shows the new columns
        row = store.query("SELECT source, license, convolution_kernel, slice_thickness FROM series").iloc[0]
        assert row["source"] == "NBIA" and row["license"] is None and pd.isna(row["slice_thickness"])
        assert "segmentation_source" in store.table_columns("rois")


def test_store_newer_than_package_is_refused(store_path, monkeypatch):
    from radiogenomics.store import db

    Store.open(store_path).close()
    con = duckdb.connect(str(store_path))
    con.execute("INSERT INTO core.schema_version VALUES (999, 'future', now())")
    con.close()
    with pytest.raises(SchemaError, match="upgrade radiogenomics"):
        Store.open(store_path)


def test_upsert_is_idempotent_and_replaces_on_key(store_path):
    with Store.open(store_path) as store:
        store.upsert("features", _features([1.0, 2.0]), run_id="r1")
        store.upsert("features", _features([1.0, 2.0]), run_id="r1")
        assert store.query("SELECT count(*) n FROM features")["n"][0] == 2
        store.upsert("features", _features([5.0, 6.0]), run_id="r2")
        got = store.query("SELECT value, run_id FROM features ORDER BY patient_id")
    assert got["value"].tolist() == [5.0, 6.0]
    assert set(got["run_id"]) == {"r2"}


def test_upsert_keeps_last_of_duplicate_keys_in_one_batch(store_path):
    frame = pd.concat([_features([1.0]), _features([3.0])])
    with Store.open(store_path) as store:
        store.upsert("features", frame)
        assert store.query("SELECT value FROM features")["value"].tolist() == [3.0]


def test_upsert_rejects_unknown_columns_and_empty_keys(store_path):
    with Store.open(store_path) as store:
        with pytest.raises(StoreError, match="not in table features"):
            store.upsert("features", _features([1.0]).assign(bogus=1))
        bad = _features([1.0])
        bad.loc[0, "patient_id"] = None
        with pytest.raises(StoreError, match="empty primary key"):
            store.upsert("features", bad)
        with pytest.raises(StoreError, match="lack primary-key"):
            store.upsert("features", _features([1.0]).drop(columns="roi"))


def test_failed_transaction_leaves_nothing_half_written(store_path):
    with Store.open(store_path) as store:
        store.upsert("features", _features([1.0]))
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.upsert("features", _features([9.0, 9.0, 9.0]))
                raise RuntimeError("boom")
        assert store.query("SELECT value FROM features")["value"].tolist() == [1.0]


def test_run_records_provenance_and_status(store_path):
    with Store.open(store_path) as store:
        with store.run("rg test", {"k": 1}, {"input.csv": "0" * 64}) as run:
            store.upsert("features", _features([1.0]), run_id=run.run_id)
        row = store.query("SELECT * FROM runs WHERE run_id = ?", [run.run_id]).iloc[0]
        assert row["status"] == "ok" and row["finished_at"] is not None
        assert json.loads(row["parameters"]) == {"k": 1}
        assert "duckdb" in json.loads(row["package_versions"])
        assert json.loads(row["input_checksums"]) == {"input.csv": "0" * 64}
        assert store.query("SELECT run_id FROM features")["run_id"].tolist() == [run.run_id]

        with pytest.raises(ValueError):
            with store.run("rg fails") as failing:
                raise ValueError("bad input")
        row = store.query("SELECT status, error FROM runs WHERE run_id = ?", [failing.run_id]).iloc[0]
        assert row["status"] == "failed" and "bad input" in row["error"]

        with store.run("rg partial") as partial:
            partial.record_failure("features", "P9", "empty mask", item="tumor")
        assert store.query("SELECT status FROM runs WHERE run_id = ?", [partial.run_id])["status"][0] == "partial"
        failure = store.query("SELECT * FROM failures").iloc[0]
        assert (failure["patient_id"], failure["item"], failure["reason"]) == ("P9", "tumor", "empty mask")


def test_crosswalk_maps_every_source_to_one_patient(store_path):
    with Store.open(store_path) as store:
        store.add_patients(["R01-001"], "NSCLC Radiogenomics", "tcia")
        store.add_crosswalk("geo_gsm", {"GSM1": "R01-001"})
        store.add_crosswalk("clinical", {"R01-001": "R01-001"})
        store.add_crosswalk("geo_gsm", {"GSM1": "R01-001"})  # rerun: no duplicate
        assert store.resolve_patients("geo_gsm", ["GSM1", "GSM2"]) == {"GSM1": "R01-001"}
        assert store.query("SELECT count(*) n FROM id_crosswalk")["n"][0] == 2


def test_read_only_store_refuses_writes(store_path):
    Store.open(store_path).close()
    with Store.open(store_path, read_only=True) as store:
        with pytest.raises(ReadOnlyError, match="--write"):
            store.upsert("features", _features([1.0]))
        with pytest.raises(ReadOnlyError):
            store.query("INSERT INTO core.patients (patient_id) VALUES ('x')")


def test_bad_store_paths_give_clear_errors(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Store.open(tmp_path)
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_path / "missing.duckdb", read_only=True)
    not_db = tmp_path / "notes.duckdb"
    not_db.write_text("this is not a database")
    with pytest.raises(StoreError, match="cannot open store"):
        Store.open(not_db)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create"):
        Store.open(blocker / "sub" / "rg.duckdb")


def test_reopened_store_can_register_frames(store_path):
    """A fetchone() left pending by migrations must not block DataFrame registration."""
    Store.open(store_path).close()
    with Store.open(store_path) as store:
        assert store.resolve_patients("tcia", ["nobody"]) == {}
        store.upsert("features", _features([1.0]))


def _documented_columns() -> dict[str, set[str]]:
    """Columns per view named in docs/sql.md: first cells of column tables under ``## <view>``,
    plus a parenthesised backtick list such as ``Long table (`a, b, c`)`` for long tables."""
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
    out: dict[str, set[str]] = {}
    current = None
    for line in doc.read_text().splitlines():
        heading = re.match(r"^## ([A-Za-z_]+)\b", line)
        if heading:
            current = heading.group(1)
            out.setdefault(current, set())
            continue
        if current is None:
            continue
        if line.startswith("| ") and not line.startswith(("| column", "| ---")):
            out[current] |= {c.strip().strip("`") for c in line.split("|")[1].split(",")}
        for listed in re.findall(r"\(`([A-Za-z_, ]+)`\)", line):
            out[current] |= {c.strip() for c in listed.split(",")}
    return out


@pytest.mark.parametrize("parquet", [False, True])
def test_every_view_column_is_documented(store_path, parquet):
    documented = _documented_columns()
    with Store.open(store_path) as store:
        if parquet:  # Parquet-backed features keep the same documented view
            from radiogenomics.store.parquet import enable_features_parquet

            enable_features_parquet(store, store_path.parent / "fp", buckets=2)
        views = store.query("SELECT view_name FROM duckdb_views() WHERE schema_name='main' AND NOT internal")["view_name"]
        for view in views:
            assert view in documented, f"view {view} has no '## {view}' section in docs/sql.md"
            columns = store.query(f'SELECT * FROM "{view}" LIMIT 0').columns
            missing = [c for c in columns if c not in documented[view]]
            assert not missing, f"docs/sql.md does not document {view}.{missing}"


def test_replace_swaps_a_slice_whole_or_not_at_all(store_path):
    with Store.open(store_path) as store:
        store.upsert("features", _features([1.0, 2.0, 3.0]))
        store.upsert("features", _features([7.0]).assign(params_hash="other"))
        # a rerun producing fewer rows leaves no stale ones in its slice, and others untouched
        assert store.replace("features", _features([5.0]), "params_hash = ?", ["abc"], run_id="r2") == 1
        got = store.query("SELECT patient_id, params_hash, value, run_id FROM features ORDER BY params_hash")
        assert got.values.tolist() == [["P0", "abc", 5.0, "r2"], ["P0", "other", 7.0, None]]
        # a failing write keeps the previous slice whole
        with pytest.raises(StoreError):
            store.replace("features", _features([9.0]).assign(bogus=1), "params_hash = ?", ["abc"])
        assert store.query("SELECT value FROM features WHERE params_hash = 'abc'")["value"].tolist() == [5.0]


def test_replace_rewrites_rows_whole_and_drops_stale_ones(store_path):
    """Rows of the slice that are written again are replaced whole (columns the new rows lack
    are reset), rows of the slice that are not written again are gone, other slices stay."""
    def de(genes, **cols):
        return pd.DataFrame({"grouping": "g", "dataset_id": "d", "method": "limma", "contrast": "high-low",
                             "gene": genes, **cols})

    where = "grouping = ? AND dataset_id = ? AND method = ? AND contrast = ?"
    with Store.open(store_path) as store:
        store.upsert("de_results", de(["A", "B", "C"], t=[1.0, 2.0, 3.0], B=[0.1, 0.2, 0.3], direction="ns"))
        store.upsert("de_results", de(["A"], t=[9.0]).assign(contrast="low-high"))
        assert store.replace("de_results", de(["B", "C", "D"], t=[20.0, 30.0, 40.0]), where,
                             ["g", "d", "limma", "high-low"], run_id="r2") == 3
        got = store.query('SELECT contrast, gene, t, "B", direction, run_id FROM core.de_results ORDER BY contrast, gene')
        assert got.astype(object).where(got.notna(), None).values.tolist() == [
            ["high-low", "B", 20.0, None, None, "r2"], ["high-low", "C", 30.0, None, None, "r2"],
            ["high-low", "D", 40.0, None, None, "r2"], ["low-high", "A", 9.0, None, None, None]]
        # an empty result empties the slice
        assert store.replace("de_results", de([]), where, ["g", "d", "limma", "high-low"]) == 0
        assert store.query("SELECT gene FROM core.de_results")["gene"].tolist() == ["A"]


def test_replace_keeps_column_defaults_and_json(store_path):
    with Store.open(store_path) as store:
        store.execute("CREATE TABLE core.t_defaults (k VARCHAR PRIMARY KEY, n INTEGER DEFAULT 7, info JSON, run_id VARCHAR)")
        store.upsert("t_defaults", pd.DataFrame({"k": ["a"], "n": [1], "info": [{"x": 1}]}))
        store.replace("t_defaults", pd.DataFrame({"k": ["a", "b"], "info": [None, ["y"]]}), "TRUE", run_id="r")
        rows = store.query("SELECT k, n, info::VARCHAR AS info, run_id FROM core.t_defaults ORDER BY k")
        assert rows.astype(object).where(rows.notna(), None).values.tolist() == [["a", 7, None, "r"], ["b", 7, '["y"]', "r"]]


def test_package_versions_match_importlib_metadata():
    from importlib import metadata

    from radiogenomics.store import package_versions
    from radiogenomics.store.db import TRACKED_PACKAGES

    expected = {}
    for name in TRACKED_PACKAGES:
        try:
            expected[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    assert package_versions() == expected and "numpy" in expected and "duckdb" in expected


def test_column_mappings_write_as_dataframes_do(store_path):
    """``upsert``/``replace`` take a mapping of numpy columns (how ``rg de`` writes without pandas):
    same rows, same checks and messages, one value broadcast to every row."""
    import numpy as np

    where = "grouping = ? AND dataset_id = ? AND method = ? AND contrast = ?"
    key = ["g", "d", "limma", "high-low"]

    def columns(genes, t):
        return {"grouping": "g", "dataset_id": "d", "method": "limma", "contrast": "high-low",
                "gene": np.array(genes, dtype=object), "t": np.asarray(t, dtype=float)}

    with Store.open(store_path) as store:
        store.upsert("de_results", columns(["A", "B", "A"], [1.0, 2.0, 3.0]), run_id="r1")  # repeated key: last row
        got = store.query("SELECT gene, t, run_id FROM core.de_results ORDER BY gene")
        assert got.values.tolist() == [["A", 3.0, "r1"], ["B", 2.0, "r1"]]
        assert store.replace("de_results", columns(["B", "C"], [np.nan, 4.0]), where, key, run_id="r2") == 2
        got = store.query("SELECT gene, t, run_id FROM core.de_results ORDER BY gene")
        assert got["gene"].tolist() == ["B", "C"] and np.isnan(got["t"][0]) and got["t"][1] == 4.0
        assert store.replace("de_results", columns([], []), where, key) == 0
        assert store.query("SELECT count(*) AS n FROM core.de_results")["n"][0] == 0

        with pytest.raises(StoreError, match="not in table de_results"):
            store.upsert("de_results", {**columns(["A"], [1.0]), "bogus": np.array([1])})
        with pytest.raises(StoreError, match="1 rows for de_results have an empty primary key"):
            store.upsert("de_results", columns(["A", None], [1.0, 2.0]))
        with pytest.raises(StoreError, match="2 rows for de_results have an empty primary key"):
            store.upsert("de_results", {**columns(["A", "B"], [1.0, 2.0]), "grouping": None})
        with pytest.raises(StoreError, match="lack primary-key"):
            store.upsert("de_results", {k: v for k, v in columns(["A"], [1.0]).items() if k != "gene"})
        with pytest.raises(StoreError, match="different lengths"):
            store.upsert("de_results", columns(["A", "B"], [1.0]))
        assert store.query("SELECT count(*) AS n FROM core.de_results")["n"][0] == 0  # nothing half-written

        store.execute("CREATE TABLE core.t_json (k VARCHAR PRIMARY KEY, info JSON, run_id VARCHAR)")
        store.upsert("t_json", {"k": ["a", "b"], "info": np.array([{"x": 1}, None], dtype=object)})
        rows = store.query("SELECT k, info::VARCHAR AS info FROM core.t_json ORDER BY k")
        assert rows.astype(object).where(rows.notna(), None).values.tolist() == [["a", '{"x": 1}'], ["b", None]]
