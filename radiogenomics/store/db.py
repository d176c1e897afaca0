"""The DuckDB store: open with migrations, upserts on primary keys, runs with provenance.

DuckDB allows one writing process per file.  Stages should compute first and hold
a read-write :class:`Store` only while they write, so that ``rg sql`` (read-only)
gets in between; a reader that still meets the lock waits up to ``wait`` seconds
and then raises :class:`~radiogenomics.exceptions.StoreBusyError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import duckdb

from ..exceptions import (NotInStoreError, OutdatedSchemaError, ReadOnlyError, RGError, SchemaError, StoreBusyError,
                          StoreError, WriteError)
from ..locks import pid_alive, process_label
from .schema import MIGRATIONS, SCHEMA_VERSION, VIEWS

if TYPE_CHECKING:  # numpy/pandas load lazily: `rg sql` and `rg --help` do not need them
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

TRACKED_PACKAGES = (
    "radiogenomics", "numpy", "pandas", "scipy", "statsmodels", "duckdb", "pydicom",
    "highdicom", "SimpleITK", "pyradiomics", "PyWavelets", "scikit-learn",
    "scikit-survival", "gseapy", "pydeseq2", "requests",
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour determines results.

    Read from the names of the installed ``<name>-<version>.dist-info`` folders (the wheel
    layout) in one listing of each ``sys.path`` folder, first hit on the path winning as in
    :mod:`importlib.metadata`, which answers only for a package not found that way (it scans
    the path once per package: a tenth of a second per run record).
    """
    import sys

    wanted = {_dist_key(n): n for n in TRACKED_PACKAGES}
    out: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for fname in names:
            if not fname.endswith(".dist-info"):
                continue
            name, sep, version = fname[: -len(".dist-info")].rpartition("-")
            package = wanted.get(_dist_key(name)) if sep else None
            if package is not None and package not in out:
                out[package] = version
    missing = [n for n in TRACKED_PACKAGES if n not in out]
    if missing:
        from importlib import metadata

        for name in missing:
            try:
                out[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
    return {n: out[n] for n in TRACKED_PACKAGES if n in out}


def _dist_key(name: str) -> str:
    """A distribution name normalised as in PEP 503 (``scikit_learn`` == ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def new_run_id() -> str:
    """A sortable, unique run identifier: UTC timestamp plus random suffix."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _check_header(path: Path) -> None:
    """Refuse a file that is not a DuckDB database before DuckDB tries to open it.

    DuckDB would otherwise try to install an extension for e.g. an SQLite file.
    """
    if not path.is_file():
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise StoreError(f"cannot read store {path}: {exc.strerror}") from exc
    if not head or head[8:12] == b"DUCK":
        return
    what = "an SQLite database" if head.startswith(b"SQLite format 3") else "not a DuckDB database"
    raise StoreError(f"cannot open store {path}: the file is {what}; --store/RG_STORE must name an "
                     "rg DuckDB store (or a new file to create one)")


def discard_if_empty(path: str | os.PathLike[str], folders: Sequence[str | os.PathLike[str]] = ()) -> bool:
    """Remove the store at ``path`` (and then each empty folder of ``folders``) if no table
    holds a row beyond the schema's bookkeeping; True if it was removed.

    For a store that a failed command created: nothing is left unless a stage wrote.
    """
    path = Path(path)
    removed = False
    if path.is_file():
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            return False  # busy or not ours: leave it alone
        try:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='core' "
                "AND table_type='BASE TABLE'").fetchall()]
            empty = not any(con.execute(f'SELECT 1 FROM core."{t}" LIMIT 1').fetchall()
                            for t in tables if t != "schema_version")
        except duckdb.Error:
            empty = False
        finally:
            con.close()
        if empty:
            for extra in (path, path.with_name(path.name + ".wal")):
                with contextlib.suppress(OSError):
                    extra.unlink(missing_ok=True)
            removed = True
    if removed or not path.exists():
        for folder in sorted({Path(f) for f in folders}, key=lambda f: len(f.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds while empty
    return removed


def _row_count(rows: pd.DataFrame | Mapping[str, Any]) -> int:
    """Rows of a DataFrame or of a column mapping (its longest column; 1 when all are single values)."""
    if not isinstance(rows, Mapping):
        return len(rows)
    lengths = [len(v) for v in rows.values() if _is_column(v)]
    return max(lengths) if lengths else (1 if rows else 0)


def _is_column(value: Any) -> bool:
    """A column of a column mapping (list, tuple, 1-D array); anything else is one value for every row."""
    return isinstance(value, (list, tuple)) or getattr(value, "ndim", None) == 1


def _parquet_features(store: "Store") -> bool:
    """Whether the store keeps its features in Parquet files (:mod:`radiogenomics.store.parquet`)."""
    from .parquet import features_parquet_location

    return features_parquet_location(store) is not None


def _is_null(value: Any) -> bool:
    """None or a float NaN (an empty key value)."""
    return value is None or (isinstance(value, float) and value != value)


def _as_json(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value


def _json_frame_columns(frame: pd.DataFrame) -> None:
    """Dict/list values of a DataFrame's object columns as JSON text (in place)."""
    from pandas.api.types import infer_dtype

    for col in frame.columns:
        # only columns holding Python objects other than strings can carry dicts/lists (JSON)
        if frame[col].dtype == object and infer_dtype(frame[col], skipna=True) not in ("string", "empty"):
            frame[col] = frame[col].map(_as_json)


def _json_columns(frame: dict[str, Any]) -> None:
    """Dict/list values of a column mapping's object arrays as JSON text (in place)."""
    import numpy as np

    for name, col in frame.items():
        if col.dtype == object and any(issubclass(t, (dict, list)) for t in set(map(type, col))):
            frame[name] = np.array([_as_json(v) for v in col], dtype=object)


def _disk_full(text: str) -> bool:
    low = text.lower()
    return "no space left" in low or "disk quota" in low


def _open_error(path: Path, exc: Exception) -> StoreError:
    """A clear error for a store file DuckDB cannot open (damaged, truncated, not DuckDB)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    low = first.lower()
    if _disk_full(first):
        return WriteError(f"no space left on {path.parent} (opening the store {path.name}); free disk space and rerun")
    if "permission denied" in low or "read-only file system" in low:
        return WriteError(f"cannot write the store {path}: its folder is not writable ({first}); "
                          "pass another --store or fix the permissions")
    size = path.stat().st_size if path.exists() else 0
    return StoreError(f"cannot open store {path} ({size / 1e6:.1f} MB): {first}; the file is damaged or not a "
                      "DuckDB store written by rg; restore it from a backup (or move it away to start a new store)")


def raise_if_damaged(details: Mapping[str, Any]) -> None:
    """Raise :class:`StoreError` when :meth:`Store.info` found problems with the file."""
    if details.get("problems"):
        raise StoreError(f"store {details['path']} is damaged: {'; '.join(details['problems'])}; restore it from "
                         "a backup or rebuild it (rerun the stages)")


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


class Store:
    """A DuckDB store of one study.

    Use :meth:`open` (a context manager) rather than the constructor.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self._txn_depth = 0
        self._created: list[Path] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike[str], read_only: bool = False, wait: float = 10.0,
             sandbox: bool = False, _fix_runs: bool = True) -> "Store":
        """Open (and create/migrate unless read-only) the store at ``path``.

        Parameters
        ----------
        path
            DuckDB file.  Its folder is created for read-write opens.
        read_only
            Open read-only: writes fail with :class:`ReadOnlyError`.
        wait
            Seconds to keep retrying while another process holds the write lock
            (logged once, naming that process).
        sandbox
            With ``read_only``: lock the connection down so that it reaches nothing but
            the store (no other files, URLs, ATTACH, extensions or settings; see
            :func:`radiogenomics.store.sql.lock_down`).  ``rg sql`` without ``--write``.

        Runs left ``running`` by a process of this host that no longer exists are
        marked ``interrupted`` (a read-only open does it through a short read-write
        open when the store is free).

        A store file (and folder) created by this open is removed again when the
        ``with`` block fails before anything was written to it, so a failed command
        leaves no empty store behind.

        Raises
        ------
        StoreError
            Bad path or not a DuckDB file.
        NotInStoreError
            (read-only) No store there yet.
        StoreBusyError
            Another process still holds the lock after ``wait`` seconds.
        SchemaError
            The store was written by a newer radiogenomics.
        OutdatedSchemaError
            (read-only) The store needs a migration (:func:`~radiogenomics.store.session.reading`
            applies it).
        """
        path = Path(path).expanduser()
        if path.exists() and path.is_dir():
            raise StoreError(f"store path {path} is a folder; give a file such as {path / 'rg.duckdb'}")
        if read_only and not path.exists():
            raise NotInStoreError(f"no store at {path}; create it by running a stage first (e.g. `rg demo` or "
                                  "`rg fetch nsclc-radiogenomics`) or pass the path of an existing one with --store")
        _check_header(path)
        created: list[Path] = []
        if not read_only:
            missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store's folder {path.parent}: {exc.strerror}; pass another --store") from exc
            if not path.exists():
                created = [path, *missing]
        # a locked-down store must not fetch extensions (e.g. for a file it does not recognise)
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False} if sandbox else {}
        deadline = time.monotonic() + max(0.0, wait)
        delay = 0.1
        told = False
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only, config=config)
                break
            except duckdb.IOException as exc:
                if _is_lock_error(exc):
                    if time.monotonic() < deadline:
                        if not told and deadline - time.monotonic() >= 1.0:  # say once that (and for whom) we wait
                            holder = re.search(r"PID (\d+)", str(exc))
                            who = process_label(int(holder.group(1))) if holder else "another rg process"
                            log.info("waiting up to %.0f s for store %s: %s is writing to it",
                                     deadline - time.monotonic(), path, who)
                            told = True
                        time.sleep(delay)
                        delay = min(delay * 2, 1.0)
                        continue
                    holder = re.search(r"PID (\d+)", str(exc))
                    who = f" ({process_label(int(holder.group(1)))})" if holder else ""
                    raise StoreBusyError(
                        f"store {path} is busy: another rg process{who} is writing to it; "
                        "retry when it has finished") from exc
                raise _open_error(path, exc) from exc
            except duckdb.Error as exc:
                raise _open_error(path, exc) from exc
        store = cls(con, path, read_only)
        store._created = created
        try:
            store._migrate()
            from .parquet import tune_connection  # Parquet-backed features: planner setting

            tune_connection(store)
            # runs left 'running' by a dead process (a second, read-only open does not look again)
            stale = store._dead_runs() if (_fix_runs or not read_only) else []
            if sandbox and read_only and not stale:
                from .sql import lock_down

                lock_down(store)
        except duckdb.Error as exc:
            store.close(failed=True)
            raise _open_error(path, exc) from exc
        except BaseException:
            store.close(failed=True)
            raise
        if stale and not read_only:
            store._mark_interrupted(stale)
        elif stale:
            # a reader cannot write: mark them through a short read-write open if free
            store.close()
            with contextlib.suppress(StoreError):
                cls.open(path, read_only=False, wait=0.0).close()
            return cls.open(path, read_only=True, wait=wait, sandbox=sandbox, _fix_runs=False)
        return store

    def _dead_runs(self) -> list[str]:
        """Runs still ``running`` whose process (on this host) no longer exists."""
        if self.schema_version() < 3:  # pid/host arrived with migration 3
            return []
        rows = self.con.execute("SELECT run_id, pid FROM core.runs WHERE status = 'running' AND pid IS NOT NULL "
                                "AND host = ?", [socket.gethostname()]).fetchall()
        return [run_id for run_id, pid in rows if int(pid) != os.getpid() and not pid_alive(int(pid))]

    def _mark_interrupted(self, run_ids: list[str]) -> None:
        self.con.execute(
            "UPDATE core.runs SET status = 'interrupted', finished_at = coalesce(finished_at, ?), "
            "error = coalesce(error, 'the process running it ended without finishing (killed or crashed)') "
            "WHERE run_id IN (SELECT unnest(?)) AND status = 'running'", [_utcnow(), run_ids])
        log.info("marked %d run(s) left 'running' by a process that is gone as 'interrupted'", len(run_ids))

    def close(self, failed: bool = False) -> None:
        """Close the connection (idempotent).

        ``failed`` (the ``with`` block raised): a store file this open created is removed
        again, with the folders made for it, if nothing was written to it.
        """
        with contextlib.suppress(Exception):
            self.con.close()
        if self._created and failed:
            discard_if_empty(self.path, self._created[1:])
        self._created = []

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)

    # ------------------------------------------------------------------ schema
    def schema_version(self) -> int:
        """The highest migration applied to this store (0 for an empty file)."""
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='core' AND table_name='schema_version'"
        ).fetchall()[0][0]
        if not exists:
            return 0
        value = self.con.execute("SELECT max(version) FROM core.schema_version").fetchall()[0][0]
        return int(value or 0)

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"store {self.path} has schema version {current} but this radiogenomics knows only "
                f"up to {SCHEMA_VERSION}; upgrade radiogenomics")
        pending = [m for m in MIGRATIONS if m.version > current]
        if not pending:
            return
        if self.read_only:
            raise OutdatedSchemaError(
                f"store {self.path} is at schema version {current} and needs migration to {SCHEMA_VERSION}; "
                "run any rg stage (or `rg store info --migrate`) once to upgrade it")
        for migration in pending:
            log.debug("applying store migration %d: %s", migration.version, migration.description)
            try:
                self.con.execute("BEGIN TRANSACTION")
                self.con.execute("CREATE SCHEMA IF NOT EXISTS core")
                self.con.execute(
                    "CREATE TABLE IF NOT EXISTS core.schema_version (version INTEGER PRIMARY KEY, "
                    "description VARCHAR, applied_at TIMESTAMP)")
                self.con.execute(migration.sql)
                self.con.execute("INSERT INTO core.schema_version VALUES (?, ?, ?)",
                                 [migration.version, migration.description, _utcnow()])
                if migration is pending[-1]:  # the views name columns of the latest schema
                    self._create_views()
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.con.execute("ROLLBACK")
                raise SchemaError(f"migration {migration.version} of {self.path} failed: {exc}") from exc

    def _create_views(self) -> None:
        for name, body in VIEWS.items():
            self.con.execute(f'CREATE OR REPLACE VIEW main."{name}" AS {body}')
        # Parquet-backed features (store/parquet.py) widen the features view
        from .parquet import refresh_features_view

        refresh_features_view(self)

    # ------------------------------------------------------------------ reading
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run SQL and return a DataFrame (writes fail on read-only stores)."""
        try:
            return self.con.execute(sql, params or []).df()
        except duckdb.Error as exc:
            raise self._translate(exc) from exc

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run SQL and return ``(column names, rows as tuples)`` without building a DataFrame."""
        try:
            cursor = self.con.execute(sql, params or [])
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall() if columns else []
        except duckdb.Error as exc:
            raise self._translate(exc) from exc

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Execute SQL (DDL/DML) with errors translated to :class:`StoreError`."""
        try:
            return self.con.execute(sql, params or [])
        except duckdb.Error as exc:
            raise self._translate(exc) from exc

    def expression_matrix(self, dataset_id: str) -> tuple[np.ndarray, list[str], list[str]]:
        """One dataset of ``core.expression`` as a dense genes x patients array (NaN where absent).

        Genes and patients come sorted.  The long table is coded to row/column numbers in SQL
        and scattered into the array in numpy, so no Python runs per value.

        Returns
        -------
        (values, genes, patients)
        """
        import numpy as np

        genes = self.execute("SELECT DISTINCT gene FROM core.expression WHERE dataset_id = ? ORDER BY gene",
                             [dataset_id]).fetchnumpy()["gene"].tolist()
        patients = self.execute("SELECT DISTINCT patient_id FROM core.expression WHERE dataset_id = ? "
                                "ORDER BY patient_id", [dataset_id]).fetchnumpy()["patient_id"].tolist()
        values = np.full((len(genes), len(patients)), np.nan)
        if not genes:
            return values, genes, patients
        # each dimension is numbered in its own small subquery (a CTE of the whole slice would be
        # materialised); NULL values stay NaN by not being fetched
        cols = self.execute(
            "SELECT g.gi, p.pi, e.value FROM core.expression e "
            "JOIN (SELECT gene, (row_number() OVER (ORDER BY gene) - 1)::INTEGER AS gi "
            "      FROM (SELECT DISTINCT gene FROM core.expression WHERE dataset_id = $1)) g USING (gene) "
            "JOIN (SELECT patient_id, (row_number() OVER (ORDER BY patient_id) - 1)::INTEGER AS pi "
            "      FROM (SELECT DISTINCT patient_id FROM core.expression WHERE dataset_id = $1)) p USING (patient_id) "
            "WHERE e.dataset_id = $1 AND e.value IS NOT NULL", [dataset_id]).fetchnumpy()
        values[np.asarray(cols["gi"]), np.asarray(cols["pi"])] = np.asarray(cols["value"], dtype=float)
        return values, genes, patients

    def _translate(self, exc: duckdb.Error) -> RGError:
        text = str(exc)
        if _disk_full(text):
            return WriteError(f"no space left on {self.path.parent} (writing the store {self.path.name}); "
                              "free disk space and rerun: nothing of the failed write was kept")
        if "read-only" in text.lower() or "read only" in text.lower():
            return ReadOnlyError(f"the store {self.path} is open read-only: {text.splitlines()[0]} (use --write to modify it)")
        return StoreError(text.splitlines()[0] if text else repr(exc))

    def table_columns(self, table: str) -> list[str]:
        """Columns of ``core.<table>`` in order."""
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema='core' AND table_name=? "
            "ORDER BY ordinal_position", [table]).fetchall()
        if not rows:
            raise StoreError(f"unknown store table {table!r}")
        return [r[0] for r in rows]

    def primary_key(self, table: str) -> list[str]:
        """Primary-key columns of ``core.<table>``."""
        rows = self.con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name='core' "
            "AND table_name=? AND constraint_type='PRIMARY KEY'", [table]).fetchall()
        if not rows:
            raise StoreError(f"table {table!r} has no primary key")
        return list(rows[0][0])

    # ------------------------------------------------------------------ writing
    def _require_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"the store {self.path} is open read-only (use --write to modify it)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing block: on error nothing written inside it is kept."""
        self._require_writable()
        if self._txn_depth:
            # nested: the outer block decides commit or rollback
            self._txn_depth += 1
            try:
                yield
            finally:
                self._txn_depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._txn_depth = 1
        try:
            yield
        except BaseException:
            self._txn_depth = 0
            self.con.execute("ROLLBACK")
            raise
        else:
            self._txn_depth = 0
            try:
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    self.con.execute("ROLLBACK")
                raise self._translate(exc) from exc

    def upsert(self, table: str, rows: pd.DataFrame | Mapping[str, Any], run_id: str | None = None) -> int:
        """Insert or replace ``rows`` into ``core.<table>`` on its primary key.

        Parameters
        ----------
        table
            Base table name (without ``core.``).
        rows
            A DataFrame, or a mapping of column name -> 1-D array / list (or one value for
            every row), which writes without pandas.  Columns must be a subset of the
            table's; every primary-key column must be present and non-null.  Rows repeating
            a key keep the last occurrence.
        run_id
            Filled into the ``run_id`` column when given.

        Returns
        -------
        int
            Number of rows written.
        """
        self._require_writable()
        if not _IDENT.match(table):
            raise StoreError(f"invalid table name {table!r}")
        if rows is None or _row_count(rows) == 0:
            return 0
        frame, key, _ = self._checked_rows(table, rows, run_id)
        if table == "features" and _parquet_features(self):
            from .parquet import write_features

            if isinstance(frame, dict):
                import pandas as pd

                frame = pd.DataFrame(frame)
            return write_features(self, frame)
        return self._write(table, frame)

    def _checked_rows(self, table: str, rows: pd.DataFrame | Mapping[str, Any], run_id: str | None
                      ) -> tuple[pd.DataFrame | dict[str, Any], list[str], list[str]]:
        """``rows`` ready to write (run_id filled, duplicates dropped) with the table's key and columns.

        ``rows`` is a DataFrame or a mapping of column name -> 1-D array (or one value for all
        rows): the mapping lets a stage write without importing pandas.
        """
        if isinstance(rows, Mapping):
            return self._checked_columns(table, rows, run_id)
        columns, key, fill_run_id = self._checked_names(table, list(rows.columns), run_id)
        frame = rows.copy()
        if fill_run_id:
            frame["run_id"] = run_id
        null_key = frame[key].isna().any(axis=1)
        if null_key.any():
            raise StoreError(f"{int(null_key.sum())} rows for {table} have an empty primary key ({key})")
        return frame.drop_duplicates(subset=key, keep="last"), key, columns

    def _checked_names(self, table: str, names: list[str], run_id: str | None) -> tuple[list[str], list[str], bool]:
        """The table's columns and primary key, once the rows' column ``names`` are checked against them.

        The third value says whether ``run_id`` is to be filled into the rows.
        """
        columns = self.table_columns(table)
        fill_run_id = run_id is not None and "run_id" in columns
        named = names + ["run_id"] if fill_run_id and "run_id" not in names else names
        unknown = [c for c in named if c not in columns]
        if unknown:
            raise StoreError(f"columns {unknown} are not in table {table} (columns: {columns})")
        key = self.primary_key(table)
        missing = [c for c in key if c not in named]
        if missing:
            raise StoreError(f"rows for {table} lack primary-key columns {missing}")
        return columns, key, fill_run_id

    def _checked_columns(self, table: str, rows: Mapping[str, Any], run_id: str | None
                         ) -> tuple[dict[str, Any], list[str], list[str]]:
        """:meth:`_checked_rows` for a mapping of columns (same checks, same messages)."""
        import numpy as np

        lengths = {len(v) for v in rows.values() if _is_column(v)}
        if len(lengths) > 1:
            raise StoreError(f"rows for {table}: columns of different lengths {sorted(lengths)}")
        columns, key, fill_run_id = self._checked_names(table, [str(c) for c in rows], run_id)
        n = lengths.pop() if lengths else 1
        frame: dict[str, Any] = {}
        constant: dict[str, Any] = {}  # columns given as one value: checked once, not per row
        for name, value in rows.items():
            if _is_column(value):
                arr = np.asarray(value)
                frame[str(name)] = arr.astype(object) if arr.dtype.kind == "U" else arr
            else:
                constant[str(name)] = value
                frame[str(name)] = np.full(n, value, dtype=object if isinstance(value, str) or value is None
                                           else None)
        if fill_run_id:
            constant["run_id"] = run_id
            frame["run_id"] = np.full(n, run_id, dtype=object)
        null_key = np.zeros(n, dtype=bool)
        for k in key:
            col = frame[k]
            if k in constant:
                null_key |= _is_null(constant[k])
            elif col.dtype.kind == "f":
                null_key |= np.isnan(col)
            elif col.dtype == object and any(t is type(None) or issubclass(t, float) for t in set(map(type, col))):
                null_key |= np.fromiter((_is_null(v) for v in col), dtype=bool, count=n)
        if null_key.any():
            raise StoreError(f"{int(null_key.sum())} rows for {table} have an empty primary key ({key})")
        varying = [frame[k] for k in key if k not in constant]
        if varying and n:
            keys = varying[0] if len(varying) == 1 else list(zip(*varying))
            if len(set(keys)) < n:
                last = {k: i for i, k in enumerate(keys)}  # a repeated key keeps its last row
                keep = np.fromiter(sorted(last.values()), dtype=np.int64, count=len(last))
                frame = {c: v[keep] for c, v in frame.items()}
        return frame, key, columns

    def _write(self, table: str, frame: pd.DataFrame | dict[str, Any], stale: tuple[str, Sequence[Any] | None] | None = None,
               key: Sequence[str] = (), whole_rows: Sequence[str] = ()) -> int:
        """One bulk ``INSERT OR REPLACE`` of ``frame`` (registered with DuckDB, no Python per row).

        ``frame``: a DataFrame or a dict of equal-length numpy columns (see :meth:`_checked_rows`).
        ``stale = (where, params)`` first deletes the rows matching ``where`` whose ``key`` is
        not among the new rows.  ``whole_rows`` (all table columns) sets the columns the frame
        lacks to their defaults, so a replaced row keeps nothing of its previous version.
        """
        if isinstance(frame, dict):
            _json_columns(frame)
            n_rows = len(next(iter(frame.values()))) if frame else 0
        else:
            _json_frame_columns(frame)
            n_rows = len(frame)
        view = f"_rg_upsert_{uuid.uuid4().hex[:8]}"
        given = [str(c) for c in frame]  # a DataFrame and a column dict both iterate over their column names
        targets = list(given) + [c for c in whole_rows if c not in given]
        defaults = self._column_defaults(table) if len(targets) > len(given) else {}
        select = [f'"{c}"' for c in given] + [f'{defaults.get(c, "NULL")} AS "{c}"' for c in targets[len(given):]]
        cols = ", ".join(f'"{c}"' for c in targets)
        self.con.register(view, frame)
        try:
            own_txn = not self._in_transaction()
            if own_txn:
                self.con.execute("BEGIN TRANSACTION")
            try:
                if stale is not None:
                    # deleting a key and inserting it again costs DuckDB an index rebuild at
                    # commit (a third of a second for 20,000 rows); rows that are re-written
                    # are replaced in place instead
                    where, params = stale
                    match = " AND ".join(f'_new."{k}" = _old."{k}"' for k in key)
                    self.con.execute(f'DELETE FROM core."{table}" AS _old WHERE ({where}) '
                                     f"AND NOT EXISTS (SELECT 1 FROM {view} AS _new WHERE {match})", params or [])
                self.con.execute(f'INSERT OR REPLACE INTO core."{table}" ({cols}) SELECT {", ".join(select)} FROM {view}')
            except BaseException:
                if own_txn:
                    self.con.execute("ROLLBACK")
                raise
            if own_txn:
                self.con.execute("COMMIT")
        except duckdb.Error as exc:
            if _disk_full(str(exc)):
                raise self._translate(exc) from exc
            raise StoreError(f"writing {n_rows} rows to {table} failed: {str(exc).splitlines()[0]}") from exc
        finally:
            self.con.unregister(view)
        return n_rows

    def _column_defaults(self, table: str) -> dict[str, str]:
        """SQL of the default value of each column of ``core.<table>`` that has one (one query for all)."""
        rows = self.con.execute("SELECT column_name, column_default FROM duckdb_columns() WHERE schema_name = 'core' "
                                "AND table_name = ? AND column_default IS NOT NULL", [table]).fetchall()
        return {name: f"({default})" for name, default in rows}

    def _in_transaction(self) -> bool:
        return self._txn_depth > 0

    def replace(self, table: str, rows: pd.DataFrame | Mapping[str, Any], where: str, params: Sequence[Any] | None = None,
                run_id: str | None = None) -> int:
        """Replace a slice of ``core.<table>``: delete rows matching ``where``, upsert ``rows``.

        Both happen in one transaction, so a rerun that produces fewer rows (a gene set no
        longer tested, a patient no longer grouped) leaves no stale ones behind, and a
        failure keeps the previous slice whole.  A written row is replaced whole (columns
        ``rows`` lacks are reset to their defaults).  ``rows`` as in :meth:`upsert`.  Returns
        the number of rows written.
        """
        self._require_writable()
        if not _IDENT.match(table):
            raise StoreError(f"invalid table name {table!r}")
        with self.transaction():
            if rows is None or _row_count(rows) == 0 or (table == "features" and _parquet_features(self)):
                # nothing to write (upsert returns 0), or Parquet files: delete, then write them
                self.delete(table, where, params)
                return self.upsert(table, rows, run_id=run_id)
            frame, key, columns = self._checked_rows(table, rows, run_id)
            return self._write(table, frame, stale=(where, params), key=key, whole_rows=columns)

    def delete(self, table: str, where: str, params: Sequence[Any] | None = None) -> None:
        """Delete rows of ``core.<table>`` matching ``where`` (a SQL predicate)."""
        self._require_writable()
        if not _IDENT.match(table):
            raise StoreError(f"invalid table name {table!r}")
        self.execute(f'DELETE FROM core."{table}" WHERE {where}', params)

    # ------------------------------------------------------------------ runs
    @contextlib.contextmanager
    def run(self, command: str, parameters: Mapping[str, Any] | None = None,
            inputs: Mapping[str, str] | None = None) -> Iterator["RunRecorder"]:
        """Record one stage execution in ``runs``.

        The row is written as ``running`` on entry and finished as ``ok``, ``partial``
        (per-patient failures recorded) or ``failed`` (with the error) on exit.  The
        handle gives ``run_id``, ``record_failure(...)`` and ``add_inputs(...)``.
        """
        from .session import RunRecorder, StoreSession

        self._require_writable()
        with RunRecorder(StoreSession(self), command, parameters, inputs) as handle:
            yield handle

    # ------------------------------------------------------------------ ids
    def add_patients(self, patient_ids: Sequence[str], collection: str | None, source: str,
                     run_id: str | None = None) -> None:
        """Register canonical patients (idempotent).

        Raises
        ------
        InputError
            An id is empty, holds control characters or is absurdly long
            (:func:`radiogenomics.ids.check_patient_id`); nothing is written then.
        """
        import pandas as pd

        from ..ids import check_patient_id

        ids = [check_patient_id(p, f"from {source}") for p in dict.fromkeys(patient_ids)]
        frame = pd.DataFrame({"patient_id": ids})
        frame["collection"] = collection
        frame["source"] = source
        self.upsert("patients", frame, run_id=run_id)

    def add_crosswalk(self, source: str, mapping: Mapping[str, str], run_id: str | None = None) -> None:
        """Map identifiers of one source to canonical patient ids (idempotent)."""
        import pandas as pd
        if not mapping:
            return
        frame = pd.DataFrame({"source": source, "source_id": list(mapping.keys()),
                              "patient_id": list(mapping.values())})
        self.upsert("id_crosswalk", frame, run_id=run_id)

    def resolve_patients(self, source: str, source_ids: Sequence[str]) -> dict[str, str]:
        """Canonical patient ids for identifiers of ``source`` (unknown ids are absent)."""
        import pandas as pd
        if not source_ids:
            return {}
        frame = pd.DataFrame({"source_id": list(source_ids)})
        self.con.register("_rg_ids", frame)
        try:
            rows = self.con.execute(
                "SELECT c.source_id, c.patient_id FROM core.id_crosswalk c JOIN _rg_ids i USING (source_id) "
                "WHERE c.source = ?", [source]).fetchall()
        finally:
            self.con.unregister("_rg_ids")
        return dict(rows)

    # ------------------------------------------------------------------ info
    #: DuckDB's file header: 1 main + 2 database headers of 4 KiB before the first block
    _HEADER_BYTES = 3 * 4096

    def check_file(self, deep: bool = False) -> list[str]:
        """Problems of the store file (empty list: none found).

        Always: the file must be as long as the blocks DuckDB's header says it holds (a
        file cut short by a full disk or a partial copy is not).  With ``deep``, every
        row of every base table is read as well, which finds damaged blocks (DuckDB
        checks block checksums) at the cost of reading the whole store.
        """
        problems: list[str] = []
        try:
            row = self.con.execute("SELECT block_size, total_blocks FROM pragma_database_size() "
                                   "WHERE database_name = current_database()").fetchall()
        except duckdb.Error as exc:
            return [f"its size cannot be read ({str(exc).splitlines()[0]})"]
        if row and self.path.exists():
            block_size, blocks = (int(v) for v in row[0])
            expected = self._HEADER_BYTES + block_size * blocks
            actual = self.path.stat().st_size
            if actual < expected:
                problems.append(f"the file is truncated: {actual:,d} bytes but its header lists {blocks} blocks "
                                f"of {block_size:,d} bytes ({expected:,d} bytes)")
        if deep:
            tables = [r[0] for r in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='core' "
                "AND table_type='BASE TABLE' ORDER BY table_name").fetchall()]
            for table in tables:
                try:
                    self.con.execute(f'SELECT sum(hash(t)) FROM core."{table}" AS t').fetchall()
                except duckdb.Error as exc:
                    problems.append(f"table {table} cannot be read: {str(exc).splitlines()[0]}")
        return problems

    def info(self, deep: bool = False) -> dict[str, Any]:
        """Schema version, row count of every base table, file size in bytes, ``problems``
        found by :meth:`check_file` (empty when the file looks whole; ``deep`` reads every row).

        With Parquet-backed features, ``features_parquet`` adds their location, files,
        bytes and rows (rows None for a remote location).
        """
        tables = [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='core' "
            "AND table_type='BASE TABLE' ORDER BY table_name").fetchall()]
        counts = {t: self.con.execute(f'SELECT count(*) FROM core."{t}"').fetchall()[0][0]
                  for t in tables if t != "schema_version"}
        size = self.path.stat().st_size if self.path.exists() else 0
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists():
            size += wal.stat().st_size
        details = {"path": str(self.path), "schema_version": self.schema_version(),
                   "tables": counts, "size_bytes": size, "problems": self.check_file(deep=deep)}
        from .parquet import features_parquet_info, is_remote, read_parquet_sql

        parquet = features_parquet_info(self)
        if parquet.get("enabled"):
            # features rows then live (mostly) in Parquet files, not in core.features;
            # counting a remote layout would fetch every file footer, so only local ones
            rows = None
            if not is_remote(parquet["location"]) and parquet["files"]:
                rows = self.con.execute(f"SELECT count(*) FROM {read_parquet_sql(parquet['location'])}").fetchall()[0][0]
            elif not parquet["files"]:
                rows = 0
            details["features_parquet"] = {**parquet, "rows": rows}
        return details
