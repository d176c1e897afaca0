"""User SQL on the store (``rg sql``): statement policy, read-only lock-down, exact values.

Read-only means read-only: without ``--write`` a statement runs only if it is a
query (SELECT, EXPLAIN, PRAGMA, CALL, a transaction or a PIVOT), and the
connection itself is locked (:func:`lock_down`) so that no file outside the store
is read or written, no extension is installed or loaded and no setting changes.
Writes aimed at a view are refused in both modes with the command that owns the
rows and the base table behind the view.

Values come from DuckDB's own result rows, never through pandas floats: integers
of any width stay Python ints, DECIMAL stays :class:`decimal.Decimal`, and the types
Python cannot hold exactly (FLOAT, INTERVAL, nanosecond timestamps, infinite dates,
BIT, BIGNUM) or that are nested (LIST, STRUCT, MAP, ARRAY, UNION) are rendered by
DuckDB itself (ISO 8601 text for dates and times, JSON for nested values).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..exceptions import InputError, ReadOnlyError, StoreError
from .schema import VIEW_OWNERS, VIEWS

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from .db import Store

log = logging.getLogger(__name__)

#: statement types a read-only ``rg sql`` runs (the connection is locked down as well)
READ_ONLY_TYPES = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL", "TRANSACTION", "MULTI"})

_WHY_REFUSED = {
    "COPY": "COPY reads or writes files",
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens another database",
    "DETACH": "DETACH changes the attached databases",
    "LOAD": "INSTALL/LOAD of DuckDB extensions is not allowed",
    "SET": "settings (SET/RESET/USE) are locked",
    "VARIABLE_SET": "SET VARIABLE is not allowed",
    "PREPARE": "PREPARE/EXECUTE is not allowed",
    "EXECUTE": "PREPARE/EXECUTE is not allowed",
}

#: DuckDB type ids whose Python values are not exact; DuckDB renders them as text
_AS_TEXT = {"float": "number", "bignum": "number", "interval": "text", "bit": "text", "time": "text",
            "time with time zone": "text", "time_ns": "text", "date": "text", "blob": "text"}
_TIMESTAMPS = {"timestamp", "timestamp with time zone", "timestamp_ns", "timestamp_ms", "timestamp_s"}
_NESTED = {"list", "struct", "map", "array", "union"}
_INTEGERS = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger",
             "ubigint", "uhugeint"}
_TARGET = re.compile(
    r"^\s*(?:DELETE\s+FROM|UPDATE|INSERT\s+(?:OR\s+\w+\s+)?INTO|TRUNCATE(?:\s+TABLE)?"
    r"|DROP\s+(?:VIEW|TABLE)(?:\s+IF\s+EXISTS)?|ALTER\s+(?:VIEW|TABLE)(?:\s+IF\s+EXISTS)?"
    r"|CREATE\s+OR\s+REPLACE\s+(?:VIEW|TABLE))\s+"
    r"((?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:\"[^\"]+\"|[A-Za-z_][\w$]*))*)", re.IGNORECASE)


@dataclass(frozen=True)
class Column:
    """One result column.

    ``kind`` says how a value is written: ``int``, ``decimal``, ``float``, ``bool``,
    ``number`` (exact numeric text from DuckDB), ``json`` (JSON text: JSON columns and
    nested values) or ``text``.
    """

    name: str
    type: str
    kind: str

    @property
    def is_id(self) -> bool:
        """Identifier columns (``run_id``, ``patient_id``, ``*_uid`` ...) are never shortened."""
        name = self.name.lower()
        return name in ("id", "uid") or name.endswith(("_id", "_uid", "uid"))


@dataclass
class SqlResult:
    """The result of the last statement, fetched in batches of exact Python values."""

    columns: list[Column]
    _cursor: Any = field(repr=False)
    _relation: Any = field(default=None, repr=False)
    _pending: tuple[Any, str, str] | None = field(default=None, repr=False)  # (con, sql, shown): run on first fetch

    def _start(self) -> None:
        if self._pending is not None:
            con, final, shown = self._pending
            self._pending = None
            self._cursor = _execute(con, final, shown=shown)

    def fetch(self, n: int) -> list[tuple]:
        """Up to ``n`` further rows."""
        self._start()
        if self._cursor is None or n <= 0:
            return []
        try:
            return self._cursor.fetchmany(n)
        except Exception as exc:  # noqa: BLE001 - errors while streaming (e.g. a cast failing late)
            raise _translate(exc, None) from exc

    def rows(self, batch: int = 10_000) -> Iterator[tuple]:
        """Every remaining row."""
        while chunk := self.fetch(batch):
            yield from chunk

    def count_rest(self) -> int:
        """Consume the remaining rows, returning how many there were (through Arrow: cheap)."""
        self._start()
        if self._cursor is None:
            return 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Arrow output on a DB-API result makes an extra copy"
                reader = self._cursor.to_arrow_reader(1 << 16)
            return sum(batch.num_rows for batch in reader)
        except Exception:  # noqa: BLE001 - a type Arrow cannot carry: count the slow way
            return sum(1 for _ in self.rows())

    def arrow_reader(self, batch: int = 1 << 16):
        """The whole result as a pyarrow ``RecordBatchReader`` in DuckDB's own types (for Parquet).

        HUGEINT/UHUGEINT become DECIMAL(38,0) (an error, not a wrapped number, if a value
        does not fit) and BIGNUM becomes text.
        """
        if self._relation is None or self._pending is None:
            raise InputError("only a query (SELECT ...) can be written as Parquet")
        self._pending = None  # the relation runs instead
        exprs = []
        for i, (col, name) in enumerate(zip(self.columns, unique_names([c.name for c in self.columns])), start=1):
            type_id = col.type.lower()
            if type_id in ("hugeint", "uhugeint"):
                exprs.append(f"#{i}::DECIMAL(38,0) AS {_quote(name)}")
            elif type_id == "bignum":
                exprs.append(f"#{i}::VARCHAR AS {_quote(name)}")
            else:
                exprs.append(f"#{i} AS {_quote(name)}")
        try:
            return self._relation.project(", ".join(exprs)).to_arrow_reader(batch)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, None) from exc


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique for formats keyed by name (JSON, Parquet): ``a, a`` -> ``a, a_1``."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        new, n = name, 0
        while new in seen or (new != name and new in taken):
            n += 1
            new = f"{name}_{n}"
        seen.add(new)
        out.append(new)
    return out


def statement_types(sql: str) -> list[tuple[str, str]]:
    """``(type, text)`` of each statement of ``sql`` (DuckDB's parser; errors as :class:`StoreError`)."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise StoreError(f"SQL error: {_first_line(exc)}") from exc
    return [(st.type.name, st.query) for st in statements]


def view_target(statement: str) -> str | None:
    """The view a DML/DDL statement writes to (``DELETE FROM risk_groups``), if any."""
    match = _TARGET.match(statement)
    if not match:
        return None
    parts = [p.strip().strip('"') for p in re.split(r"\s*\.\s*", match.group(1))]
    name = parts[-1]
    schema = parts[-2].lower() if len(parts) >= 2 else "main"
    if schema == "main" and name in VIEWS:
        return name
    return None


def view_write_message(view: str) -> str:
    """Why a view cannot be written, who writes its rows and how to change the base table."""
    owner = VIEW_OWNERS.get(view, "the rg command that computes it")
    return (f"{view} is a view of the base table core.{view} and cannot be written; its rows are "
            f"written by {owner}: rerun that command to replace them, or change the base table with "
            f"rg sql --write \"DELETE FROM core.{view} WHERE ...\" (see docs/sql.md)")


def check_statements(statements: list[tuple[str, str]], write: bool) -> None:
    """Refuse what ``rg sql`` must not run, with a message that says what to do instead.

    Raises
    ------
    InputError
        No statement at all.
    ReadOnlyError
        A write to a view (either mode) or, without ``write``, any statement that is
        not a query.
    """
    if not statements:
        raise InputError('no SQL statement given; e.g. rg sql "SELECT * FROM runs" (views: docs/sql.md)')
    for kind, text in statements:
        view = view_target(text)
        if view is not None:
            raise ReadOnlyError(view_write_message(view))
        if write or kind in READ_ONLY_TYPES:
            continue
        why = _WHY_REFUSED.get(kind, f"{kind.replace('_', ' ')} would modify the store")
        raise ReadOnlyError(f"rg sql is read-only: {why}; rerun with --write to allow it "
                            "(to save a result use --format csv|json|parquet --out FILE)")


def lock_down(store: "Store") -> None:
    """Make the store's connection unable to touch anything but the store.

    No file access (``read_csv``, ``COPY``, ``ATTACH``, URLs ...) except the store's own
    Parquet-backed features folder, no extension install/load (known extensions are
    neither auto-installed nor auto-loaded: the connection was opened that way), and
    the configuration is locked so none of this can be undone by ``SET``.
    """
    from .parquet import features_parquet_location, is_remote

    con = store.con
    location = features_parquet_location(store)
    if location is not None:
        if is_remote(location):
            try:  # reading a shared layout on object storage needs httpfs, loaded before the lock
                con.execute("LOAD httpfs")
            except Exception:  # noqa: BLE001 - not installed: the features view then says so
                log.debug("httpfs not loadable for %s", location, exc_info=True)
            allowed = str(location).rstrip("/") + "/"
        else:
            allowed = os.path.join(os.path.abspath(location), "")
        con.execute(f"SET allowed_directories = ['{allowed.replace(chr(39), chr(39) * 2)}']")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def run_sql(store: "Store", sql: str, write: bool = False) -> SqlResult:
    """Run user SQL; return the result of its last statement.

    Parameters
    ----------
    store
        An open store; without ``write`` it should be opened read-only with
        ``sandbox=True`` (see :meth:`Store.open`).
    sql
        One or more statements.
    write
        Allow statements that modify the store or reach outside it.
    """
    statements = statement_types(sql)
    check_statements(statements, write)
    con = store.con
    for _type, text in statements[:-1]:
        _execute(con, text)
    kind, text = statements[-1]
    if kind != "SELECT":
        cursor = _execute(con, text)
        return SqlResult(_columns_from_description(cursor), cursor if cursor.description else None)
    query = text.strip().rstrip(";").rstrip()
    try:
        relation = con.sql(query)
        types = list(relation.types)
        names = list(relation.columns)
    except Exception as exc:  # noqa: BLE001 - binder/catalog errors
        raise _translate(exc, text) from exc
    columns: list[Column] = []
    exprs: list[str] = []
    for i, (name, dtype) in enumerate(zip(names, types), start=1):
        type_id, type_text = dtype.id, str(dtype)
        if type_id in _NESTED:
            exprs.append(f"to_json(#{i})")
            columns.append(Column(name, type_text, "json"))
        elif type_id in _TIMESTAMPS:
            exprs.append(f"replace(#{i}::VARCHAR, ' ', 'T')")  # ISO 8601: date 'T' time
            columns.append(Column(name, type_text, "text"))
        elif type_id in _AS_TEXT:
            exprs.append(f"#{i}::VARCHAR")
            columns.append(Column(name, type_text, _AS_TEXT[type_id]))
        else:
            exprs.append(f"#{i}")
            columns.append(Column(name, type_text, _kind(type_id, type_text)))
    needs_rendering = any(e != f"#{i}" for i, e in enumerate(exprs, start=1))
    final = (f"SELECT {', '.join(f'{e} AS {_quote(c.name)}' for e, c in zip(exprs, columns))} "
             f"FROM ({query}\n) AS _rg_result") if needs_rendering else query
    return SqlResult(columns, None, relation, (con, final, text))


def _kind(type_id: str, type_text: str) -> str:
    if type_id in _INTEGERS:
        return "int"
    if type_id == "decimal":
        return "decimal"
    if type_id == "double":
        return "float"
    if type_id == "boolean":
        return "bool"
    if type_text.upper() == "JSON":
        return "json"
    return "text"


def _columns_from_description(cursor: "duckdb.DuckDBPyConnection") -> list[Column]:
    out = []
    for name, dtype, *_ in cursor.description or []:
        type_text = str(dtype)
        type_id = type_text.split("(")[0].lower()
        if type_text.endswith("]") or type_id in _NESTED:
            kind = "json"  # Python lists/dicts: written as JSON by the printer
        else:
            kind = _kind(type_id, type_text)
        out.append(Column(name, type_text, kind))
    return out


def _execute(con: "duckdb.DuckDBPyConnection", text: str, shown: str | None = None):
    try:
        return con.execute(text)
    except Exception as exc:  # noqa: BLE001 - duckdb.Error and friends
        raise _translate(exc, shown or text) from exc


def _translate(exc: BaseException, statement: str | None) -> StoreError:
    text = _first_line(exc)
    lower = text.lower()
    if statement is not None:
        view = view_target(statement)
        if view is not None:
            return ReadOnlyError(view_write_message(view))
    if "disabled by configuration" in lower or "file system operations are disabled" in lower:
        return ReadOnlyError(f"rg sql without --write reads only the store: {text} "
                             "(rerun with --write to read or write other files)")
    if "configuration has been locked" in lower:
        return ReadOnlyError(f"rg sql is read-only and its settings are locked: {text} (rerun with --write to change settings)")
    if "read-only" in lower or "read only" in lower:
        return ReadOnlyError(f"rg sql is read-only: {text} (rerun with --write to modify the store)")
    return StoreError(f"SQL error: {text}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def write_parquet(result: SqlResult, path: str | os.PathLike[str]) -> int:
    """Write the whole result to a Parquet file (to a temporary name, then renamed).

    Returns the number of rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    reader = result.arrow_reader()
    unsupported = [f.name for f in reader.schema if pa.types.is_interval(f.type)]
    if unsupported:
        raise InputError(f"Parquet has no type for INTERVAL column(s) {', '.join(unsupported)}: cast them, "
                         "e.g. to_seconds(...) or col::VARCHAR, or use --format csv|json")
    tmp = path.with_name(f".{path.name}.partial")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        os.replace(tmp, path)
    except (pa.ArrowException, OSError) as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise InputError(f"cannot write the result as Parquet: {exc}; cast the column to a "
                         "supported type (e.g. col::VARCHAR)") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows


def open_for_sql(path: str | os.PathLike[str], *, write: bool = False, wait: float = 10.0) -> "Store":
    """The store as ``rg sql`` opens it: read-only and locked down (:func:`lock_down`) unless ``write``."""
    from .db import Store

    return Store.open(path, read_only=not write, wait=wait, sandbox=not write)
