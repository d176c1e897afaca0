"""Opening a store for a stage: a missing store is "not in the store" (exit 11, names the path
and the command that creates it); an older store is upgraded before a reading stage reads it."""

from __future__ import annotations

import duckdb
import pytest
import typer

from radiogenomics.cli import app, main
from radiogenomics.exceptions import NotInStoreError, OutdatedSchemaError
from radiogenomics.store import SCHEMA_VERSION, Store
from radiogenomics.store.session import reading
from radiogenomics.store.tables import groupings
from test_hints import check_hint  # the hint checker of tests/test_hints.py


def _old_store(path, monkeypatch) -> None:
    """A store written by a package that knew only migration 1 (as in test_store.py)."""
    from radiogenomics.store import db, schema

    with monkeypatch.context() as m:
        m.setattr(db, "MIGRATIONS", schema.MIGRATIONS[:1])
        m.setattr(db, "SCHEMA_VERSION", 1)
        m.setattr(db.Store, "_create_views", lambda self: None)
        with Store.open(path) as old:
            old.execute("INSERT INTO core.series (series_uid, modality, status) VALUES ('1.2.3', 'CT', 'complete')")
            assert old.schema_version() == 1


@pytest.fixture
def old_store(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    _old_store(path, monkeypatch)
    return path


def test_plain_read_only_open_does_not_change_an_old_store(old_store):
    # rg sql / rg store info open read-only and never migrate unless asked (--write, --migrate)
    with pytest.raises(OutdatedSchemaError, match="needs migration"):
        Store.open(old_store, read_only=True)
    con = duckdb.connect(str(old_store), read_only=True)
    try:
        assert con.execute("SELECT max(version) FROM core.schema_version").fetchone()[0] == 1
    finally:
        con.close()


def test_reading_upgrades_an_old_store_then_reads(old_store):
    with reading(old_store) as store:
        assert store.read_only
        assert store.schema_version() == SCHEMA_VERSION
        assert groupings(store) == []
        row = store.query("SELECT series_uid, source FROM series").iloc[0]
    assert row["series_uid"] == "1.2.3" and row["source"] == "NBIA"  # migration 2's default for old rows


def test_a_reading_stage_runs_on_an_old_store(old_store, capsys):
    # before: SchemaError "run any rg stage to upgrade" (exit 4) from the stage's first, read-only open
    code = main(["--store", str(old_store), "associate", "-g", "nope"])
    err = capsys.readouterr().err
    assert code == NotInStoreError.exit_code, err
    assert "no risk groups named 'nope'" in err and "schema version" not in err
    with Store.open(old_store, read_only=True) as store:
        assert store.schema_version() == SCHEMA_VERSION


@pytest.mark.parametrize("argv", [["associate", "-g", "nope"], ["map"], ["report", "-g", "nope"]])
def test_a_missing_store_is_not_in_the_store(tmp_path, capsys, argv):
    path = tmp_path / "nowhere" / "rg.duckdb"
    code = main(["--store", str(path), *argv])
    err = capsys.readouterr().err
    assert code == NotInStoreError.exit_code == 11, err
    assert f"no store at {path}" in err
    hints = [h for h in ("rg demo", "rg fetch nsclc-radiogenomics") if f"`{h}`" in err]
    assert hints, err
    root = typer.main.get_command(app)
    assert all(check_hint(h, root) is None for h in hints)
    assert not path.exists() and not path.parent.exists()  # nothing left behind
