"""``rg sql`` and ``rg store ...``: query and inspect the store."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import _state


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


store_app = typer.Typer(help="Inspect the DuckDB store.", no_args_is_help=True)


def sql(
    query: str = typer.Argument(..., help="SQL to run against the store's views (see docs/sql.md)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format (parquet needs --out)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the result to this file instead of printing it.", show_default=False),
    write: bool = typer.Option(False, "--write", help="Open the store read-write with DuckDB's full power (INSERT/UPDATE/DELETE/CREATE, files, extensions)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many rows (0: all). Default: 50 in table format, all otherwise.", show_default=False),
    wait: float = typer.Option(10.0, "--wait", help="Seconds to wait while another rg process is writing the store."),
) -> None:
    """Run SQL on the store (read-only unless --write)."""
    from ..exceptions import InputError
    from ..store.sql import open_for_sql, run_sql, write_parquet
    from . import _sqlout

    if limit is not None and limit < 0:
        raise InputError(f"--limit must be 0 (all rows) or positive, not {limit}")
    if fmt is OutputFormat.parquet and out is None:
        raise InputError("--format parquet writes a file: add --out FILE.parquet")
    if fmt is OutputFormat.table and out is not None:
        raise InputError("--out writes csv, json or parquet: add --format csv|json|parquet")
    if out is not None and out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name")
    with open_for_sql(_state.settings().store, write=write, wait=wait) as store:
        result = run_sql(store, query, write=write)
        if fmt is OutputFormat.parquet:
            rows = write_parquet(result, out)
            typer.echo(f"{rows:,d} rows written to {out}", err=True)
            return
        if fmt is OutputFormat.table:
            _sqlout.print_table(result, _state.out_console(), limit)
            return
        writer = _sqlout.write_csv if fmt is OutputFormat.csv else _sqlout.write_json
        if out is None:
            written, rest = writer(result, sys.stdout, limit)
        else:
            written, rest = _write_file(out, lambda handle: writer(result, handle, limit))
            typer.echo(f"{written:,d} rows written to {out}", err=True)
        if rest:
            typer.echo(f"{rest:,d} more rows left out by --limit {limit}", err=True)


def _write_file(path: Path, write):
    """Write through a temporary file renamed into place, so a failure leaves no half file."""
    import os

    from ..exceptions import StoreError

    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            counts = write(handle)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts


@store_app.command("info")
def info(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    migrate: bool = typer.Option(False, "--migrate", help="Open read-write so pending migrations are applied."),
    check: bool = typer.Option(False, "--check", help="Also read every row of every table (finds damaged blocks; slow on big stores)."),
) -> None:
    """Schema version, row counts of every table, the store's size, and whether the file is whole.

    A damaged store (truncated file, unreadable blocks) is reported and exits 4.
    """
    from ..store.db import raise_if_damaged
    from ..store.maintenance import run_store_info

    details = run_store_info(_state.settings().store, migrate=migrate, check=check).summary
    if as_json:
        typer.echo(json.dumps(details, indent=2))
    raise_if_damaged(details)
    if as_json:
        return
    typer.echo(f"store:          {details['path']}")
    typer.echo(f"schema version: {details['schema_version']}")
    typer.echo(f"size:           {details['size_bytes'] / 1e6:.2f} MB")
    for table, count in details["tables"].items():
        typer.echo(f"  {table:<22} {count:>12,d}")
    parquet = details.get("features_parquet")
    if parquet:
        rows = "?" if parquet["rows"] is None else f"{parquet['rows']:,d}"
        typer.echo(f"features in Parquet: {rows} rows, {parquet['files']} files, "
                   f"{parquet['bytes'] / 1e6:.2f} MB at {parquet['location']}")


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
    app.add_typer(store_app, name="store")
