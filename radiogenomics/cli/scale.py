"""Scale-out commands: Parquet-backed features (``rg store features-*``) and the
reusable ``--executor`` option for per-patient stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from . import _state

EXECUTOR_HELP = (
    "Where per-patient tasks run: 'local' (process pool of --workers processes; default), "
    "'local:N', 'dask-local' / 'dask-local:N' (a Dask LocalCluster of N single-threaded "
    "worker processes on this machine) or 'dask://HOST:PORT' (a running Dask scheduler; "
    "workers need radiogenomics installed and the data at the same paths). "
    "[env: RG_EXECUTOR]"
)


def executor_option(default: str = "local") -> Any:
    """A typer option ``--executor`` for per-patient stages.

    Use it as a parameter default in another CLI module::

        from .scale import executor_option

        def features(..., executor: str = executor_option()):
            with get_executor(executor, _state.settings().workers) as ex: ...

    Accepted specs are those of :func:`radiogenomics.executor.get_executor`:
    ``local``, ``local:N``, ``dask-local``, ``dask-local:N``, ``dask://HOST:PORT``.
    The environment variable ``RG_EXECUTOR`` supplies the default.
    """
    return typer.Option(default, "--executor", envvar="RG_EXECUTOR", help=EXECUTOR_HELP,
                        metavar="SPEC")


def _print(details: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(details, indent=2, default=str))
        return
    for key, value in details.items():
        typer.echo(f"{key}: {value}")


def features_to_parquet(
    location: Optional[Path] = typer.Option(None, "--location", help="Folder of the Parquet layout (default: <data-dir>/features_parquet).", show_default=False),
    buckets: int = typer.Option(64, "--buckets", min=1, help="Patient buckets per params_hash partition (fixed once files exist)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Store features as partitioned Parquet (read through the same `features` view); moves existing rows."""
    from ..store.maintenance import run_features_to_parquet

    target = location or (_state.settings().data_dir / "features_parquet")
    _print(run_features_to_parquet(_state.settings().store, target, buckets=buckets).summary, as_json)


def features_to_duckdb(
    keep_files: bool = typer.Option(False, "--keep-files", help="Leave the Parquet files in place."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Move Parquet-backed features back into the DuckDB table and disable the option."""
    from ..store.maintenance import run_features_to_duckdb

    _print(run_features_to_duckdb(_state.settings().store, keep_files=keep_files).summary, as_json)


def features_attach(
    location: str = typer.Argument(..., help="Folder or URL of an existing layout, e.g. s3://bucket/prefix."),
    buckets: int = typer.Option(64, "--buckets", min=1, help="Bucket count of that layout."),
) -> None:
    """Read features from an existing Parquet layout (a shared folder or object storage); nothing is moved."""
    from ..store.maintenance import run_features_attach

    result = run_features_attach(_state.settings().store, location, buckets=buckets)
    typer.echo(f"features view reads {location}: {result.counts['rows']} rows")


def features_compact(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Merge each Parquet partition's files into one (fewer files, faster scans)."""
    from ..store.maintenance import run_features_compact

    _print(run_features_compact(_state.settings().store).summary, as_json)


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the rg app (under ``rg store``)."""
    from .store_cmds import store_app

    store_app.command("features-to-parquet")(features_to_parquet)
    store_app.command("features-to-duckdb")(features_to_duckdb)
    store_app.command("features-compact")(features_compact)
    store_app.command("features-attach")(features_attach)
