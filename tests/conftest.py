"""Shared fixtures: an isolated RG_HOME per test and the optional ../shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RG_SHARED_DIR", REPO.parent / "shared"))
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own RG_HOME so nothing touches ~/.radiogenomics."""
    home = tmp_path_factory.mktemp("rg_home")
    monkeypatch.setenv("RG_HOME", str(home))
    for var in ("RG_STORE", "RG_DATA_DIR", "RG_TCIA_URL", "RG_GEO_URL", "RG_CLINICAL_URL"):
        monkeypatch.delenv(var, raising=False)
    yield home


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ../shared folder; skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} not present")
    return SHARED


def shared_file(*parts: str) -> Path:
    """A file under ../shared, skipping the calling test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared file {path} not present")
    return path


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "store" / "rg.duckdb"
