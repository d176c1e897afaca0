"""Store maintenance as stages: move features between DuckDB and Parquet, compact, attach.

Each ``run_*`` takes an open read-write store or a store path, records its run (except
``attach``, which changes a setting only) and returns a
:class:`~radiogenomics.result.StageResult` whose ``summary`` holds the details printed
by ``rg store features-*``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..result import StageResult, stage_entry
from .parquet import (DEFAULT_BUCKETS, attach_features_parquet, compact_features_parquet, disable_features_parquet,
                      enable_features_parquet, features_parquet_info)
from .db import Store
from .session import StoreLike, StoreSession


@stage_entry
def run_features_to_parquet(store: StoreLike, location: str | os.PathLike[str], *,
                            buckets: int = DEFAULT_BUCKETS) -> StageResult:
    """Store features as partitioned Parquet under ``location``; existing rows are moved."""
    with StoreSession(store).open() as st:
        with st.run("store features-to-parquet", {"location": str(location), "buckets": buckets}) as run:
            moved = enable_features_parquet(st, Path(location), buckets=buckets, run_id=run.run_id)
        details: dict[str, Any] = {"moved_rows": moved, **features_parquet_info(st)}
    return StageResult("store features-to-parquet", run_ids=[run.run_id], counts={"moved_rows": int(moved)},
                       summary=details)


@stage_entry
def run_features_to_duckdb(store: StoreLike, *, keep_files: bool = False) -> StageResult:
    """Move Parquet-backed features back into the DuckDB table and disable the layout."""
    with StoreSession(store).open() as st:
        with st.run("store features-to-duckdb", {"keep_files": keep_files}) as run:
            moved = disable_features_parquet(st, remove_files=not keep_files)
    return StageResult("store features-to-duckdb", run_ids=[run.run_id], counts={"moved_rows": int(moved)},
                       summary={"moved_rows": moved})


@stage_entry
def run_features_compact(store: StoreLike) -> StageResult:
    """Merge each Parquet partition's files into one."""
    with StoreSession(store).open() as st:
        with st.run("store features-compact", {}) as run:
            details = compact_features_parquet(st)
        details.update(features_parquet_info(st))
    return StageResult("store features-compact", run_ids=[run.run_id], summary=details)


@stage_entry
def run_features_attach(store: StoreLike, location: str, *, buckets: int = DEFAULT_BUCKETS) -> StageResult:
    """Read features from an existing Parquet layout (nothing is moved, no run is recorded)."""
    with StoreSession(store).open() as st:
        attach_features_parquet(st, location, buckets=buckets)
        rows = int(st.query("SELECT count(*) AS n FROM features").n.iloc[0])
    return StageResult("store features-attach", counts={"rows": rows}, summary={"location": location, "rows": rows})


@stage_entry
def run_store_info(store: str | os.PathLike[str], *, migrate: bool = False, check: bool = False) -> StageResult:
    """``rg store info``: schema version, row counts of every table, size (``summary``: :meth:`Store.info`).

    Opened read-only (nothing changes) unless ``migrate``; ``check`` reads every row.  A
    damaged store is reported in the summary: :func:`~radiogenomics.store.db.raise_if_damaged`
    turns it into an error.
    """
    with Store.open(store, read_only=not migrate) as st:
        details = st.info(deep=check)
    return StageResult("store info", counts=dict(details["tables"]), summary=details)
