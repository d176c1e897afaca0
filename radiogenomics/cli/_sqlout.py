"""Printing ``rg sql`` results: table, CSV and JSON, every value exactly as DuckDB holds it.

Values arrive from :class:`radiogenomics.store.sql.SqlResult` as exact Python objects
(ints of any width, :class:`~decimal.Decimal`, floats) or as text DuckDB rendered
(dates and times in ISO 8601, FLOAT, INTERVAL, JSON for nested values); each
column's ``kind`` says which.  NULL is an empty CSV field, JSON ``null`` and a dimmed
``NULL`` in the table.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import uuid
from decimal import Decimal
from typing import IO, Any

#: characters a non-id table cell keeps before an ellipsis
MAX_CELL = 40
#: rows the table shows unless --limit says otherwise
TABLE_ROWS = 50
_NUMERIC = ("int", "decimal", "float", "number")


def text(value: Any, kind: str) -> str:
    """The exact text of a non-NULL value (CSV fields and table cells)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in bytes(value))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        return json_value(value, "json")
    return str(value)


def json_value(value: Any, kind: str) -> str:
    """One value as JSON text; numbers stay exact, nested values stay nested."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _json_number(format(value, "f"))
    if isinstance(value, float):
        return _json_number(repr(value))
    if isinstance(value, str):
        if kind == "number":
            return _json_number(value)
        if kind == "json":
            return _json_text(value)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{json_value(v, 'json')}"
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_value(v, "json") for v in value) + "]"
    if isinstance(value, uuid.UUID):
        return json.dumps(str(value))
    return json.dumps(text(value, kind), ensure_ascii=False)


def _json_number(literal: str) -> str:
    """A numeric literal, or the string "NaN" / "Infinity" / "-Infinity" JSON has no number for."""
    low = literal.strip().lower()
    if low in ("nan", "-nan"):
        return '"NaN"'
    if low in ("inf", "infinity", "+inf"):
        return '"Infinity"'
    if low in ("-inf", "-infinity"):
        return '"-Infinity"'
    return literal


def _json_text(raw: str) -> str:
    """JSON text from DuckDB embedded as is; non-finite numbers inside become strings."""
    if "NaN" not in raw and "Infinity" not in raw:
        return raw
    try:
        parsed = json.loads(raw, parse_float=Decimal, parse_constant=lambda c: {"-Infinity": -math.inf,
                                                                              "Infinity": math.inf}.get(c, math.nan))
    except ValueError:
        return json.dumps(raw, ensure_ascii=False)
    return json_value(parsed, "json")


def write_csv(result, out: IO[str], limit: int | None = None) -> tuple[int, int]:
    """Header and rows as CSV; returns (rows written, rows left out by ``limit``)."""
    kinds = [c.kind for c in result.columns]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in result.columns])
    written = 0
    for row in _limited(result, limit):
        writer.writerow(["" if v is None else text(v, k) for v, k in zip(row, kinds)])
        written += 1
    return written, _rest(result, limit, written)


def write_json(result, out: IO[str], limit: int | None = None) -> tuple[int, int]:
    """An array of row objects; returns (rows written, rows left out by ``limit``)."""
    from ..store.sql import unique_names

    kinds = [c.kind for c in result.columns]
    keys = [json.dumps(n, ensure_ascii=False) for n in unique_names([c.name for c in result.columns])]
    written = 0
    out.write("[")
    for row in _limited(result, limit):
        out.write(",\n" if written else "")
        out.write("{" + ",".join(f"{k}:{json_value(v, kind)}" for k, v, kind in zip(keys, row, kinds)) + "}")
        written += 1
    out.write("]\n")
    return written, _rest(result, limit, written)


def _limited(result, limit: int | None):
    if not limit:
        yield from result.rows()
        return
    yield from result.fetch(limit)


def _rest(result, limit: int | None, written: int) -> int:
    return result.count_rest() if limit and written >= limit else 0


def print_table(result, console, limit: int | None = None) -> int:
    """A readable table: long cells end in an ellipsis, ids stay whole, at most ``limit`` rows
    (``TABLE_ROWS`` when None; 0 = all).  Returns the number of rows not shown."""
    from rich.table import Table
    from rich.text import Text

    cap = TABLE_ROWS if limit is None else limit
    rows = list(result.rows()) if cap == 0 else result.fetch(cap)
    hidden = result.count_rest() if cap and len(rows) >= cap else 0
    columns = result.columns
    if [c.name for c in columns] == ["explain_key", "explain_value"]:  # a query plan: print it whole
        for row in rows:
            console.print(Text(str(row[1])))
        return 0
    cells = [[_cell(value, col) for value, col in zip(row, columns)] for row in rows]
    # widths: ids and numbers whole; other columns shrink (ellipsis) down to their header, if
    # need be, and columns that still do not fit are named below the table instead of cut off
    natural = [max([len(col.name)] + [len(r[i].plain) for r in cells]) for i, col in enumerate(columns)]
    whole = [col.is_id or col.kind in _NUMERIC or col.type.upper().startswith(("DATE", "TIME", "INTERVAL"))
             for col in columns]
    minimum = [n if keep else min(n, max(len(col.name), 8), 16) for n, col, keep in zip(natural, columns, whole)]
    shown, used = 0, 1
    for width in minimum:
        if shown and used + width + 3 > console.width:
            break
        used += width + 3
        shown += 1
    widths = [n if whole[i] else min(n, MAX_CELL) for i, n in enumerate(natural[:shown])]
    excess = 1 + 3 * shown + sum(widths) - console.width
    while excess > 0:
        shrinkable = [i for i in range(shown) if widths[i] > minimum[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    table = Table(show_lines=False, header_style="bold")
    for i, col in enumerate(columns[:shown]):
        table.add_column(col.name, no_wrap=True, overflow="ellipsis" if not whole[i] else "fold", width=widths[i],
                         justify="right" if col.kind in _NUMERIC else "left")
    for row in cells:
        table.add_row(*row[:shown])
    console.print(table)
    if shown < len(columns):
        left = ", ".join(c.name for c in columns[shown:])
        console.print(Text(f"{len(columns) - shown} more columns ({left}): select fewer columns, widen the "
                           "terminal or use --format csv|json", style="dim"))
    if hidden:
        console.print(Text(f"{hidden:,d} more rows: use --limit N (0 = all) or --format csv|json|parquet --out FILE",
                           style="dim"))
    return hidden


def _cell(value: Any, col) -> "Any":
    """One table cell: dimmed NULL, one line, long non-id text cut with an ellipsis."""
    from rich.text import Text

    if value is None:
        return Text("NULL", style="dim")
    cell = text(value, col.kind).replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    if not col.is_id and col.kind not in _NUMERIC and len(cell) > MAX_CELL:
        cell = cell[: MAX_CELL - 1] + "…"
    return Text(cell)
