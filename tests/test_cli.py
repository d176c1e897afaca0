"""The rg command line: help everywhere, version, global options, sql, store info, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import typer

from radiogenomics import __version__
from radiogenomics.cli import app, main
from radiogenomics.store import Store


def _all_commands(command: click.Command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if True:
            yield from _all_commands(sub, path + (name,))


def test_help_on_every_command(capsys):
    root = typer.main.get_command(app)
    seen = 0
    for path, _command in _all_commands(root):
        code = main([*path, "--help"])
        out = capsys.readouterr().out
        assert code == 0, path
        assert "Usage" in out, path
        seen += 1
    assert seen >= 3


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def _seed_store(path: Path) -> None:
    with Store.open(path) as store:
        with store.run("seed") as run:
            store.add_patients(["P1", "P2"], "TEST", "test", run_id=run.run_id)


def test_sql_formats(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    _seed_store(db)
    assert main(["--store", str(db), "sql", "SELECT patient_id FROM patients ORDER BY 1", "--format", "json"]) == 0
    assert [r["patient_id"] for r in json.loads(capsys.readouterr().out)] == ["P1", "P2"]
    assert main(["--store", str(db), "sql", "SELECT patient_id FROM patients ORDER BY 1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["patient_id", "P1", "P2"]
    assert main(["--store", str(db), "sql", "SELECT count(*) AS n FROM patients"]) == 0
    assert "2" in capsys.readouterr().out


def test_store_defaults_follow_rg_store_and_rg_home(tmp_path, monkeypatch, capsys):
    db = tmp_path / "env.duckdb"
    _seed_store(db)
    monkeypatch.setenv("RG_STORE", str(db))
    assert main(["sql", "SELECT count(*) AS n FROM patients", "-f", "csv"]) == 0
    assert capsys.readouterr().out.split()[-1] == "2"
    monkeypatch.delenv("RG_STORE")
    home = tmp_path / "home"
    monkeypatch.setenv("RG_HOME", str(home))
    _seed_store(home / "rg.duckdb")
    assert main(["sql", "SELECT count(*) AS n FROM patients", "-f", "csv"]) == 0
    assert capsys.readouterr().out.split()[-1] == "2"


def test_sql_is_read_only_unless_write(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    _seed_store(db)
    code = main(["--store", str(db), "sql", "DELETE FROM core.patients"])
    err = capsys.readouterr().err
    assert code != 0 and "--write" in err
    assert main(["--store", str(db), "sql", "--write", "DELETE FROM core.patients WHERE patient_id='P1'"]) == 0
    capsys.readouterr()
    assert main(["--store", str(db), "sql", "SELECT count(*) n FROM patients", "-f", "csv"]) == 0
    assert capsys.readouterr().out.split()[-1] == "1"


def test_store_info(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    _seed_store(db)
    assert main(["--store", str(db), "store", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["schema_version"] >= 1 and info["tables"]["patients"] == 2 and info["size_bytes"] > 0
    assert main(["--store", str(db), "store", "info"]) == 0
    assert "schema version" in capsys.readouterr().out


def test_store_info_counts_parquet_backed_features(tmp_path, capsys):
    import pandas as pd

    from radiogenomics.store import Store
    from radiogenomics.store.parquet import enable_features_parquet

    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        enable_features_parquet(store, tmp_path / "fp", buckets=2)
        store.upsert("features", pd.DataFrame({"patient_id": ["A", "A", "B"], "roi": "tumor", "feature": ["f1", "f2", "f1"],
                                               "params_hash": "h", "value": [1.0, 2.0, 3.0]}), run_id="r1")
    assert main(["--store", str(db), "store", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tables"]["features"] == 0  # the rows are in Parquet ...
    assert info["features_parquet"]["rows"] == 3 and info["features_parquet"]["files"] == 2  # ... and counted
    assert main(["--store", str(db), "store", "info"]) == 0
    assert "features in Parquet: 3 rows, 2 files" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["sql", "SELECT * FROM no_such_table"], "no_such_table"),
    (["--store", "/", "sql", "SELECT 1"], "is a folder"),
    (["store", "info"], "no store at"),
])
def test_errors_are_one_line_without_traceback(argv, needle, capsys, _isolated_home):
    if needle == "no_such_table":
        _seed_store(_isolated_home / "rg.duckdb")
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert needle in err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_unknown_option_is_a_usage_error(capsys):
    assert main(["sql", "--nope"]) == 2


def test_console_script_runs(tmp_path):
    rg = Path(sys.executable).with_name("rg")
    if not rg.exists():
        pytest.skip("rg console script not installed in this environment")
    db = tmp_path / "s.duckdb"
    _seed_store(db)
    done = subprocess.run([str(rg), "--store", str(db), "sql", "SELECT 42 AS x", "-f", "csv"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["x", "42"]
    bad = subprocess.run([str(rg), "--store", str(db), "sql", "SELEC nonsense"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    verbose = subprocess.run([str(rg), "-v", "--store", str(db), "sql", "SELEC nonsense"], capture_output=True, text=True, timeout=60)
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr


def test_reader_meets_busy_writer_then_reads_consistent_data(tmp_path):
    """While another process holds the write lock, rg sql says the store is busy (exit 75, one
    line); a reader that waits gets in once the writer has committed and sees all of its rows."""
    db = tmp_path / "s.duckdb"
    _seed_store(db)
    # the writer holds the lock until told to go (a line on stdin), so the busy check does not
    # depend on how fast the reader's interpreter starts
    writer = textwrap.dedent(f"""
        import sys
        from radiogenomics.store import Store
        with Store.open({str(db)!r}) as s:
            with s.transaction():
                s.add_patients(['W%d' % i for i in range(100)], 'T', 'writer')
            print('ready', flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        busy = subprocess.run([sys.executable, "-m", "radiogenomics", "--store", str(db), "sql",
                               "SELECT count(*) FROM patients", "--wait", "0.2"],
                              capture_output=True, text=True, timeout=120)
        assert busy.returncode == 75, (busy.returncode, busy.stdout, busy.stderr)
        assert busy.stdout == ""
        assert "busy" in busy.stderr and len(busy.stderr.strip().splitlines()) == 1
        waited = subprocess.Popen([sys.executable, "-m", "radiogenomics", "--store", str(db), "sql",
                                   "SELECT count(*) AS n FROM patients", "-f", "csv", "--wait", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = waited.communicate(timeout=120)
        assert waited.returncode == 0, err
        assert out.split() == ["n", "102"]
    finally:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=30)
