"""``rg sql`` and ``rg store ...``: query and inspect the store."""

from __future__ import annotations

import json
import sys
from enum import Enum

import typer

from . import _state


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


store_app = typer.Typer(help="Inspect the DuckDB store.", no_args_is_help=True)


def sql(
    query: str = typer.Argument(..., help="SQL to run against the store's views (see docs/sql.md)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format."),
    write: bool = typer.Option(False, "--write", help="Open the store read-write (needed for INSERT/UPDATE/DELETE/CREATE)."),
    limit: int = typer.Option(0, "--limit", help="Show at most this many rows in table format (0: all)."),
    wait: float = typer.Option(10.0, "--wait", help="Seconds to wait while another rg process is writing the store."),
) -> None:
    """Run SQL on the store (read-only unless --write)."""
    with _state.open_store(read_only=not write, wait=wait) as store:
        if fmt is OutputFormat.json:
            frame = store.query(query)
        else:  # rows as Python values: no pandas import for a quick query
            columns, rows = store.fetch(query)
    if fmt is OutputFormat.json:
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", default_handler=str))
        sys.stdout.write("\n")
    elif fmt is OutputFormat.csv:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        from rich.table import Table

        shown = rows[:limit] if limit > 0 else rows
        table = Table(show_lines=False)
        for col in columns:
            table.add_column(str(col))
        for row in shown:
            table.add_row(*("" if v is None else str(v) for v in row))
        _state.out_console().print(table)
        if limit > 0 and len(rows) > limit:
            typer.echo(f"({len(rows)} rows, {limit} shown)", err=True)


@store_app.command("info")
def info(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    migrate: bool = typer.Option(False, "--migrate", help="Open read-write so pending migrations are applied."),
) -> None:
    """Schema version, row counts of every table, and the store's size."""
    with _state.open_store(read_only=not migrate) as store:
        details = store.info()
    if as_json:
        typer.echo(json.dumps(details, indent=2))
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
