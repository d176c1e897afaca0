"""`rg sql`: exact values in every format, a readable table, and read-only that means read-only."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import ReadOnlyError
from radiogenomics.store import Store

TYPES_SQL = (
    "SELECT sum(image_count) AS total, 12345678901234567890::HUGEINT AS huge, "
    "340282366920938463463374607431768211455::UHUGEINT AS uhuge, 1.50::DECIMAL(10,2) AS dec, "
    "DATE '2024-01-02' AS d, TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, "
    "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tstz, [1, 2, NULL] AS l, {'a': 1, 'b': 'x'} AS s, "
    "MAP([1], ['one']) AS m, NULL::INTEGER AS n, 0.1::FLOAT AS f32, 0.1::DOUBLE AS f64, "
    "'nan'::DOUBLE AS nan, true AS yes, INTERVAL '1 month 2 days' AS iv, "
    "'{\"k\": [1, 2.5]}'::JSON AS j FROM series"
)


def _seed(path: Path) -> None:
    with Store.open(path) as store:
        with store.run("seed") as run:
            store.add_patients(["P1", "P2"], "TEST", "test", run_id=run.run_id)
            store.upsert("series", pd.DataFrame({
                "series_uid": ["1.2.826.0.1.3680043.8.498.11111111111111111111111111111111111",
                               "1.2.826.0.1.3680043.8.498.22222222222222222222222222222222222"],
                "patient_id": ["P1", "P2"], "modality": "CT", "image_count": [100, 20], "status": "complete",
                "description": ["a very long series description " * 4, None]}), run_id=run.run_id)
            store.upsert("risk_groups", pd.DataFrame({
                "grouping": "demo", "patient_id": ["P1", "P2"], "grp": ["high", "low"], "model_id": "m",
                "score": [1.0, -1.0], "method": "ranks"}), run_id=run.run_id)


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "s.duckdb"
    _seed(path)
    return path


def _sql(db: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(db), "sql", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------- values
def test_csv_values_are_exact(db, capsys):
    code, out, err = _sql(db, capsys, TYPES_SQL, "-f", "csv")
    assert code == 0, err
    row = next(csv.DictReader(io.StringIO(out)))
    assert row["total"] == "120"  # an integer sum, not 120.0
    assert row["huge"] == "12345678901234567890"
    assert row["uhuge"] == "340282366920938463463374607431768211455"
    assert row["dec"] == "1.50"
    assert row["d"] == "2024-01-02"
    assert row["ts"] == "2024-01-02T03:04:05.123456"
    assert row["tstz"].startswith("2024-01-02T03:04:05")
    assert json.loads(row["l"]) == [1, 2, None]
    assert json.loads(row["s"]) == {"a": 1, "b": "x"}
    assert json.loads(row["m"]) == {"1": "one"}
    assert row["n"] == ""  # NULL is an empty field, not "nan"
    assert row["f32"] == "0.1" and row["f64"] == "0.1" and row["nan"] == "nan"
    assert row["yes"] == "true" and row["iv"] == "1 month 2 days"
    assert json.loads(row["j"]) == {"k": [1, 2.5]}


def test_json_values_are_exact(db, capsys):
    code, out, err = _sql(db, capsys, TYPES_SQL, "-f", "json")
    assert code == 0, err
    row = json.loads(out, parse_float=Decimal)[0]
    assert row["total"] == 120 and isinstance(row["total"], int)
    assert row["huge"] == 12345678901234567890  # every digit, not 1.2345678901234567e+19
    assert row["uhuge"] == 2 ** 128 - 1
    assert row["dec"] == Decimal("1.50") and '"dec":1.50' in out
    assert row["d"] == "2024-01-02" and row["ts"] == "2024-01-02T03:04:05.123456"
    assert row["l"] == [1, 2, None] and row["s"] == {"a": 1, "b": "x"} and row["m"] == {"1": "one"}
    assert row["n"] is None and row["nan"] == "NaN" and row["yes"] is True
    assert row["f32"] == Decimal("0.1") and row["j"] == {"k": [1, Decimal("2.5")]}


def test_table_prints_exact_values_and_dimmed_null(db, capsys):
    code, out, err = _sql(db, capsys, "SELECT sum(image_count) AS total, 12345678901234567890::HUGEINT AS huge, "
                          "NULL AS nothing FROM series")
    assert code == 0, err
    assert "120" in out and "120.0" not in out and "12345678901234567890" in out
    assert "NULL" in out and "nan" not in out


def test_parquet_output_keeps_types(db, tmp_path, capsys):
    import pyarrow.parquet as pq

    out = tmp_path / "r.parquet"
    code, _, err = _sql(db, capsys, "SELECT patient_id, image_count, 12345678901234567890::HUGEINT AS huge, "
                        "1.50::DECIMAL(10,2) AS dec, DATE '2024-01-02' AS d, [1, 2] AS l "
                        "FROM series ORDER BY patient_id", "-f", "parquet", "--out", str(out))
    assert code == 0, err
    assert "2 rows written" in err
    rows = pq.read_table(out).to_pylist()
    assert rows[0]["patient_id"] == "P1" and rows[0]["image_count"] == 100
    assert rows[0]["huge"] == Decimal("12345678901234567890") and rows[0]["dec"] == Decimal("1.50")
    assert str(rows[0]["d"]) == "2024-01-02" and rows[0]["l"] == [1, 2]
    code, _, err = _sql(db, capsys, "SELECT 1", "-f", "parquet")
    assert code != 0 and "--out" in err
    code, _, err = _sql(db, capsys, "SELECT INTERVAL 1 DAY AS iv", "-f", "parquet", "--out", str(tmp_path / "i.parquet"))
    assert code != 0 and "iv" in err and not (tmp_path / "i.parquet").exists()


def test_csv_and_json_to_file(db, tmp_path, capsys):
    out = tmp_path / "r.csv"
    code, printed, err = _sql(db, capsys, "SELECT patient_id FROM patients ORDER BY 1", "-f", "csv", "-o", str(out))
    assert code == 0 and printed == "" and out.read_text().split() == ["patient_id", "P1", "P2"]


# ---------------------------------------------------------------------------------------- table
def test_table_is_readable(db, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = _sql(db, capsys, "SELECT series_uid, description, patient_id FROM series ORDER BY patient_id")
    assert code == 0, err
    # ids whole, long text cut with an ellipsis, no line wider than the terminal
    assert "1.2.826.0.1.3680043.8.498.11111111111111111111111111111111111" in out
    assert "…" in out and ("a very long series description " * 4).strip() not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, err = _sql(db, capsys, "SELECT range AS i FROM range(120)")
    assert code == 0
    assert "70 more rows: use --limit" in out and " 49 " in out and " 50 " not in out
    code, out, err = _sql(db, capsys, "SELECT range AS i FROM range(120)", "--limit", "0")
    assert " 119 " in out and "more rows" not in out
    code, out, err = _sql(db, capsys, "SELECT range AS i FROM range(120)", "--limit", "5", "-f", "csv")
    assert out.split() == ["i", "0", "1", "2", "3", "4"] and "115 more rows" in err


def test_wide_result_names_the_columns_left_out(db, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = _sql(db, capsys, "SELECT * FROM series")
    assert code == 0
    assert "more columns (" in out and max(len(line) for line in out.splitlines()) <= 60


# ---------------------------------------------------------------------------------------- errors
def test_empty_sql_is_a_clear_one_line_error(db, capsys):
    for query in ("", "   ", ";"):
        code, out, err = _sql(db, capsys, query)
        assert code not in (0, 70), (query, err)
        assert "no SQL statement" in err and len(err.strip().splitlines()) == 1


def test_write_to_a_view_names_the_owner_and_base_table(db, capsys):
    for args in (["DELETE FROM risk_groups"], ["--write", "DELETE FROM risk_groups"],
                 ["--write", "UPDATE main.risk_groups SET grp = 'x'"], ["INSERT INTO risk_groups VALUES (1)"]):
        code, _, err = _sql(db, capsys, *args)
        assert code != 0, args
        assert "rg groups" in err and "core.risk_groups" in err and "--write" in err, err
        assert len(err.strip().splitlines()) == 1
    assert _sql(db, capsys, "SELECT count(*) FROM risk_groups", "-f", "csv")[1].split()[-1] == "2"
    # the base table is writable with --write
    assert _sql(db, capsys, "--write", "DELETE FROM core.risk_groups WHERE patient_id = 'P1'")[0] == 0
    assert _sql(db, capsys, "SELECT count(*) FROM risk_groups", "-f", "csv")[1].split()[-1] == "1"


def test_read_only_refusal_says_how_to_write(db, capsys):
    code, _, err = _sql(db, capsys, "DELETE FROM core.patients")
    assert code != 0 and "--write" in err and "read-only" in err


# ---------------------------------------------------------------------------------------- lock-down (17.1)
def _count_features(db: Path) -> int:
    with Store.open(db, read_only=True) as store:
        return int(store.query("SELECT count(*) AS n FROM core.patients").n.iloc[0])


@pytest.mark.parametrize("target", ["hardlink", "copy"])
def test_attach_and_delete_is_refused(db, tmp_path, capsys, target):
    other = tmp_path / f"{target}.duckdb"
    if target == "hardlink":
        os.link(db, other)
    else:
        other.write_bytes(db.read_bytes())
    before = _count_features(other)
    code, _, err = _sql(db, capsys, f"ATTACH '{other}' AS w (READ_WRITE); DELETE FROM w.core.patients")
    assert code != 0 and "ATTACH" in err and "--write" in err
    assert _count_features(other) == before == 2


def test_copy_export_install_load_set_and_urls_are_refused(db, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    cases = {
        f"COPY (SELECT 'x') TO '{victim}'": "COPY",
        f"EXPORT DATABASE '{tmp_path / 'export'}'": "EXPORT",
        "INSTALL httpfs": "extensions",
        "LOAD httpfs": "extensions",
        "SET enable_external_access = true": "settings",
        "RESET lock_configuration": "settings",
        "SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')": "reads only the store",
        "SELECT * FROM 'https://127.0.0.1:1/x.parquet'": "reads only the store",
        f"SELECT * FROM read_csv('{victim}')": "reads only the store",
        "PRAGMA enable_profiling": "locked",
        "CREATE TEMP TABLE t AS SELECT 1": "--write",
    }
    for query, needle in cases.items():
        code, _, err = _sql(db, capsys, query)
        assert code not in (0, 70), query
        assert needle in err and "--write" in err, (query, err)
        assert len(err.strip().splitlines()) == 1
    assert victim.read_text() == "keep"
    assert not (tmp_path / "export").exists()


def test_connection_itself_is_locked_down(db, tmp_path):
    """Even past the statement check, the sandboxed connection reaches nothing but the store."""
    import duckdb

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    with Store.open(db, read_only=True, sandbox=True) as store:
        for sql in (f"COPY (SELECT 1) TO '{victim}'", f"SELECT * FROM read_csv('{victim}')",
                    "SET enable_external_access = true", "SET autoload_known_extensions = true",
                    "LOAD httpfs", f"ATTACH '{tmp_path / 'x.duckdb'}' AS x"):
            with pytest.raises(duckdb.Error):
                store.con.execute(sql)
        assert store.query("SELECT count(*) AS n FROM patients").n.iloc[0] == 2
    assert victim.read_text() == "keep" and not (tmp_path / "x.duckdb").exists()


def test_write_keeps_full_power(db, tmp_path, capsys):
    out = tmp_path / "copy.csv"
    code, _, err = _sql(db, capsys, "--write", f"COPY (SELECT 42 AS x) TO '{out}'")
    assert code == 0, err
    assert out.read_text().split() == ["x", "42"]
    code, out_text, err = _sql(db, capsys, "--write", f"SELECT * FROM read_csv('{out}')", "-f", "csv")
    assert code == 0 and out_text.split() == ["x", "42"]


def test_sqlite_store_is_refused_without_downloading_an_extension(tmp_path):
    import sqlite3

    lite = tmp_path / "data.sqlite"
    con = sqlite3.connect(lite)
    con.execute("CREATE TABLE t (a)")
    con.commit()
    con.close()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    for args in (["sql", "SELECT 1"], ["sql", "--write", "SELECT 1"], ["store", "info"]):
        done = subprocess.run([sys.executable, "-m", "radiogenomics", "--store", str(lite), *args],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode not in (0, 70), done.stderr
        assert "SQLite" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    # a sandboxed query that would need an extension does not fetch one either
    db = tmp_path / "s.duckdb"
    _seed(db)
    done = subprocess.run([sys.executable, "-m", "radiogenomics", "--store", str(db), "sql",
                           "SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode not in (0, 70)
    assert not (home / ".duckdb").exists()


def test_parquet_backed_features_stay_readable_when_locked_down(tmp_path, capsys):
    from radiogenomics.store.parquet import enable_features_parquet

    db = tmp_path / "p.duckdb"
    with Store.open(db) as store:
        enable_features_parquet(store, tmp_path / "fp", buckets=2)
        store.upsert("features", pd.DataFrame({"patient_id": ["A", "A", "B"], "roi": "tumor", "feature": ["f1", "f2", "f1"],
                                               "params_hash": "h", "value": [1.0, 2.0, 3.0]}), run_id="r1")
    code, out, err = _sql(db, capsys, "SELECT count(*) AS n, sum(value) AS s FROM features", "-f", "csv")
    assert code == 0, err
    assert out.split() == ["n,s", "3,6.0"]
    code, _, err = _sql(db, capsys, f"COPY (SELECT 1) TO '{tmp_path / 'fp' / 'evil.parquet'}'")
    assert code != 0 and not (tmp_path / "fp" / "evil.parquet").exists()


# ---------------------------------------------------------------------------------------- new store paths
@pytest.mark.parametrize("argv", [
    ["groups", "--model", "nope"],
    ["rois"],
    ["features"],
    ["associate", "--grouping", "nope"],
    ["fetch", "clinical", "--file", "/no/such/clinical.csv"],
    ["sql", "--write", "SELEC nonsense"],
])
def test_failed_command_on_new_store_path_leaves_nothing(tmp_path, capsys, argv):
    base = tmp_path / "new"
    code = main(["--store", str(base / "sub" / "rg.duckdb"), "--data-dir", str(base / "data"), *argv])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert not base.exists(), sorted(str(p) for p in base.rglob("*"))


def test_library_open_that_fails_leaves_no_store(tmp_path):
    path = tmp_path / "a" / "b.duckdb"
    with pytest.raises(ReadOnlyError):
        with Store.open(path) as store:
            store.read_only = True
            store.upsert("patients", pd.DataFrame({"patient_id": ["x"]}))
    assert not (tmp_path / "a").exists()
    with Store.open(path) as store:  # a successful open keeps its store
        pass
    assert path.exists()
