"""Parquet-backed feature storage, read through the same ``features`` view.

A 10^5-patient x 10^3-feature table (10^8 rows) is too large for a DuckDB table
with a four-column primary-key index, but DuckDB scans partitioned Parquet fast.
When a store has Parquet-backed features enabled (the ``features_parquet`` row of
``core.store_settings`` names the location), every ``store.upsert("features", ...)``
writes Parquet instead of ``core.features``, and the ``features`` view becomes::

    SELECT ... FROM core.features
    UNION ALL
    SELECT ... FROM read_parquet('<location>/*/*/*.parquet', hive_partitioning = true)

Layout (hive partitioning; ``params_hash`` and ``bucket`` come from the path)::

    <location>/params_hash=<hash>/bucket=<b>/p-<patient id>.parquet   one patient (upserts; id
                                                   percent-quoted, or p-+<slug>_<hash> when long)
    <location>/params_hash=<hash>/bucket=<b>/c-<uuid>.parquet         many patients (compacted)

``bucket`` = first 8 hex digits of md5(patient_id) modulo the bucket count, the
same in Python and SQL (:func:`bucket_sql`).  Invariant: the rows of one
(params_hash, patient) live in exactly one file, so a rerun replaces the patient's
file (written to a temporary name, then renamed) and never duplicates rows.
Files are only written by the single store writer (it holds the DuckDB lock).

The same layout can sit on object storage (``s3://bucket/prefix``): readers use
DuckDB's httpfs; see ``docs/sql.md``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..exceptions import ConfigError, StoreError
from .schema import VIEWS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # loaded lazily: opening a store does not need it

    from .db import Store

log = logging.getLogger(__name__)

#: store_settings keys
LOCATION_KEY = "features_parquet"
BUCKETS_KEY = "features_parquet_buckets"
DEFAULT_BUCKETS = 64

#: columns stored inside each file (params_hash and bucket are in the path)
FILE_COLUMNS = ("patient_id", "roi", "feature", "value", "image_sha1", "mask_sha1", "run_id")
_VIEW_COLUMNS = "patient_id, roi, feature, value, params_hash, run_id, image_sha1, mask_sha1"
_HASH_OK = re.compile(r"^[A-Za-z0-9_.-]+$")


# ---------------------------------------------------------------------------- layout
def is_remote(location: str) -> bool:
    """True for URLs (``s3://``, ``gs://``, ``https://`` ...) rather than local folders."""
    return "://" in str(location)


def patient_bucket(patient_id: str, n_buckets: int) -> int:
    """Bucket of a patient: md5 of its id, first 8 hex digits, modulo ``n_buckets``."""
    return int(hashlib.md5(str(patient_id).encode("utf-8")).hexdigest()[:8], 16) % n_buckets


def bucket_sql(column: str, n_buckets: int) -> str:
    """SQL expression computing :func:`patient_bucket` of ``column`` in DuckDB."""
    return f"(('0x' || md5({column})[1:8])::UBIGINT % {int(n_buckets)})::INTEGER"


#: longest percent-quoted id kept as the file name; longer ids use a slug + hash
_MAX_QUOTED = 100


def patient_file_name(patient_id: str) -> str:
    """File name of one patient: ``p-<percent-quoted id>.parquet``, or for ids whose quoted
    form is long (CJK, very long ids) ``p-+<slug>_<hash>.parquet``.  Quoting never yields
    ``+``, so the two forms cannot collide; both are bounded and injective."""
    quoted = quote(str(patient_id), safe="-_.")
    if len(quoted) <= _MAX_QUOTED:
        return f"p-{quoted}.parquet"
    from ..ids import id_file_name

    return f"p-+{id_file_name(str(patient_id))}.parquet"


def patient_file(location: str | os.PathLike[str], params_hash: str, bucket: int, patient_id: str) -> Path:
    """Path of one patient's file (see :func:`patient_file_name`)."""
    return partition_dir(location, params_hash, bucket) / patient_file_name(patient_id)


def partition_dir(location: str | os.PathLike[str], params_hash: str, bucket: int) -> Path:
    """Folder of one (params_hash, bucket) partition."""
    if not _HASH_OK.match(str(params_hash)):
        raise StoreError(f"params_hash {params_hash!r} cannot name a Parquet partition (letters, digits, _.- only)")
    return Path(location) / f"params_hash={params_hash}" / f"bucket={int(bucket)}"


def parquet_glob(location: str) -> str:
    """The glob the ``features`` view reads."""
    return f"{str(location).rstrip('/')}/*/*/*.parquet"


def read_parquet_sql(location: str) -> str:
    """``read_parquet(...)`` call over the layout at ``location``."""
    glob = parquet_glob(location).replace("'", "''")
    return (f"read_parquet('{glob}', hive_partitioning = true, "
            "hive_types = {'params_hash': VARCHAR, 'bucket': INTEGER})")


def _files(location: str) -> list[Path]:
    root = Path(location)
    if not root.is_dir():
        return []
    return sorted(root.glob("params_hash=*/bucket=*/*.parquet"))


# ---------------------------------------------------------------------------- settings
def _setting(store: "Store", key: str) -> str | None:
    try:
        rows = store.con.execute("SELECT value FROM core.store_settings WHERE key = ?", [key]).fetchall()
    except Exception:  # noqa: BLE001 - table absent while a migration is being applied
        return None
    return rows[0][0] if rows else None


def features_parquet_location(store: "Store") -> str | None:
    """Location of Parquet-backed features of this store, or None when disabled."""
    return _setting(store, LOCATION_KEY)


def n_buckets(store: "Store") -> int:
    """Patient buckets per params_hash partition."""
    value = _setting(store, BUCKETS_KEY)
    return int(value) if value else DEFAULT_BUCKETS


# ---------------------------------------------------------------------------- the view
def features_view_sql(store: "Store") -> str:
    """Body of the ``features`` view: core.features, plus the Parquet layout when enabled.

    The Parquet part is included only once at least one file exists (DuckDB's
    ``read_parquet`` rejects a glob that matches nothing); remote locations are
    always included.
    """
    base = VIEWS["features"]
    location = features_parquet_location(store)
    if location is None or (not is_remote(location) and not _files(location)):
        return base
    return f"{base} UNION ALL SELECT {_VIEW_COLUMNS} FROM {read_parquet_sql(location)}"


def refresh_features_view(store: "Store") -> None:
    """(Re)create ``main.features`` from the store's settings."""
    body = features_view_sql(store)
    tune_connection(store)
    try:
        store.con.execute(f'CREATE OR REPLACE VIEW main."features" AS {body}')
    except Exception as exc:  # noqa: BLE001 - e.g. remote location without httpfs credentials
        raise StoreError(f"cannot create the features view over {features_parquet_location(store)}: "
                         f"{str(exc).splitlines()[0]}; for s3:// load httpfs and create a secret "
                         "(see docs/sql.md)") from exc


def tune_connection(store: "Store") -> None:
    """Planner setting for stores with Parquet-backed features (called on open).

    DuckDB 2.0's ``partial_aggregate_pushdown`` pre-aggregates the Parquet scan by the
    join key *and* the group key before joining ``risk_groups``/``clinical``; with a
    bad group-count estimate that makes one group per row and the typical
    ``features x risk_groups x clinical`` group-by 10-25x slower (measured on 10^7
    rows: 9.6 s vs 0.4-1.1 s) and memory-hungry.  Disabled for this connection only.
    """
    if features_parquet_location(store) is None:
        return
    try:
        store.con.execute("SET disabled_optimizers = 'partial_aggregate_pushdown'")
    except Exception:  # noqa: BLE001 - a DuckDB without this optimizer needs nothing
        log.debug("could not disable partial_aggregate_pushdown", exc_info=True)


def _view_reads_parquet(store: "Store") -> bool:
    rows = store.con.execute(
        "SELECT sql FROM duckdb_views() WHERE schema_name = 'main' AND view_name = 'features'").fetchall()
    return bool(rows) and "read_parquet" in (rows[0][0] or "")


# ---------------------------------------------------------------------------- writing
def _arrow_schema():
    import pyarrow as pa

    return pa.schema([("patient_id", pa.string()), ("roi", pa.string()), ("feature", pa.string()),
                      ("value", pa.float64()), ("image_sha1", pa.string()), ("mask_sha1", pa.string()),
                      ("run_id", pa.string())])


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """The file columns in their stored types (missing columns become NULL)."""
    import pandas as pd
    out = pd.DataFrame(index=range(len(frame)))
    for col in FILE_COLUMNS:
        if col not in frame:
            out[col] = float("nan") if col == "value" else None
        elif col == "value":
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
        else:
            out[col] = [None if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)
                        for v in frame[col]]
    return out


def _write_file(rows: pd.DataFrame, path: Path) -> None:
    """Write atomically: a temporary name the view's glob ignores, checked, then renamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..atomic import atomic_path

    table = pa.Table.from_pandas(_normalise(rows), schema=_arrow_schema(), preserve_index=False)
    with atomic_path(path, check=_check_parquet, keep_suffix=False) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _check_parquet(path: Path) -> None:
    """The footer of a just-written file reads back."""
    import pyarrow.parquet as pq

    from ..exceptions import WriteError

    try:
        pq.ParquetFile(path).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types on a bad file
        raise WriteError(f"the Parquet file written to {path} does not read back ({exc}); is the disk full?") from exc


def _read_file(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=list(FILE_COLUMNS)).to_pandas()


def write_features(store: "Store", rows: pd.DataFrame) -> int:
    """Upsert feature rows into the Parquet layout (called by ``store.upsert("features")``).

    Each (params_hash, patient) file is merged with the rows already stored for that
    key -- in its own file, in a compacted file of its bucket, or in ``core.features``
    -- with the new rows winning on (roi, feature), then replaced atomically.

    Returns
    -------
    int
        Number of rows written.
    """
    import pandas as pd
    location = features_parquet_location(store)
    if location is None:
        raise StoreError("Parquet-backed features are not enabled for this store (rg store features-to-parquet)")
    if is_remote(location):
        raise StoreError(f"features are stored at {location}, which this process cannot write; "
                         "extract into a store with a local features location and sync it "
                         "(see docs/sql.md, 'Parquet-backed features')")
    if rows.empty:
        return 0
    buckets = n_buckets(store)
    frame = rows.copy()
    frame["_bucket"] = [patient_bucket(p, buckets) for p in frame["patient_id"]]
    had_files = _view_reads_parquet(store)
    core_keys = _core_rows(store, frame)
    for (params_hash, bucket), part in frame.groupby(["params_hash", "_bucket"], sort=False):
        folder = partition_dir(location, params_hash, bucket)
        patients = list(dict.fromkeys(part["patient_id"]))
        compacted = _compacted_files(folder)
        moved = _rows_in_compacted(compacted, patients)
        for patient_id, new in part.groupby("patient_id", sort=False):
            path = patient_file(location, params_hash, bucket, patient_id)
            old = [f for f in (
                core_keys.get((patient_id, params_hash)),
                moved.get(patient_id),
                _read_file(path) if path.exists() else None,
            ) if f is not None and len(f)]
            merged = pd.concat([*old, _normalise(new)], ignore_index=True) if old else _normalise(new)
            merged = merged.drop_duplicates(subset=["roi", "feature"], keep="last")
            _write_file(merged, path)
        # only after the patient files exist: a crash in between leaves duplicates
        # (removed by compaction), never lost rows
        _drop_from_compacted(compacted, [p for p in patients if p in moved])
    if core_keys:
        _delete_core_rows(store, list(core_keys))
    if not had_files:
        refresh_features_view(store)
    return len(frame)


def _core_rows(store: "Store", frame: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Rows of ``core.features`` for the (patient, params_hash) keys being written."""
    if store.con.execute("SELECT count(*) FROM core.features").fetchall()[0][0] == 0:
        return {}
    keys = frame[["patient_id", "params_hash"]].drop_duplicates()
    store.con.register("_rg_pq_keys", keys)
    try:
        found = store.con.execute(
            f"SELECT f.params_hash, {', '.join('f.' + c for c in FILE_COLUMNS)} FROM core.features f "
            "JOIN _rg_pq_keys k USING (patient_id, params_hash)").df()
    finally:
        store.con.unregister("_rg_pq_keys")
    return {(p, h): g.drop(columns="params_hash") for (p, h), g in found.groupby(["patient_id", "params_hash"])}


def _delete_core_rows(store: "Store", keys: list[tuple[str, str]]) -> None:
    import pandas as pd
    frame = pd.DataFrame(keys, columns=["patient_id", "params_hash"])
    store.con.register("_rg_pq_del", frame)
    try:
        store.con.execute("DELETE FROM core.features WHERE (patient_id, params_hash) IN "
                          "(SELECT patient_id, params_hash FROM _rg_pq_del)")
    finally:
        store.con.unregister("_rg_pq_del")


def _compacted_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [f for f in sorted(folder.glob("*.parquet")) if not f.name.startswith("p-")]


def _rows_in_compacted(compacted: list[Path], patients: list[str]) -> dict[str, pd.DataFrame]:
    """Rows of ``patients`` held in compacted files, by patient."""
    if not compacted:
        return {}
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute(f"SELECT {', '.join(FILE_COLUMNS)} FROM read_parquet(?) "
                           "WHERE patient_id IN (SELECT unnest(?))",
                           [[str(f) for f in compacted], patients]).df()
    return {p: g for p, g in rows.groupby("patient_id")}


def _drop_from_compacted(compacted: list[Path], patients: list[str]) -> None:
    """Rewrite compacted files without ``patients`` (now in their own files)."""
    if not compacted or not patients:
        return
    import duckdb

    with duckdb.connect() as con:
        for path in compacted:
            hit = con.execute("SELECT count(*) FROM read_parquet(?) WHERE patient_id IN (SELECT unnest(?))",
                              [str(path), patients]).fetchall()[0][0]
            if not hit:
                continue
            keep = con.execute(f"SELECT {', '.join(FILE_COLUMNS)} FROM read_parquet(?) "
                               "WHERE patient_id NOT IN (SELECT unnest(?))", [str(path), patients]).df()
            if len(keep):
                _write_file(keep, path)
            else:
                path.unlink()


# ---------------------------------------------------------------------------- moving
def enable_features_parquet(store: "Store", location: str | os.PathLike[str],
                            buckets: int = DEFAULT_BUCKETS, run_id: str | None = None) -> int:
    """Store this store's features as Parquet at ``location``; move ``core.features`` there.

    Idempotent: enabling again with the same location moves any rows written to
    ``core.features`` meanwhile.  Rows already in the layout are replaced, never
    duplicated.

    Parameters
    ----------
    store
        A read-write store.
    location
        Local folder (created), usually ``<data-dir>/features_parquet``.
    buckets
        Patient buckets per params_hash (fixed once files exist).
    run_id
        Recorded on the settings rows.

    Returns
    -------
    int
        Rows moved from ``core.features``.
    """
    import pandas as pd
    store._require_writable()
    location = str(location)
    if is_remote(location):
        raise ConfigError(f"{location}: features are written to a local folder; sync that folder to object "
                          "storage and point readers at it (docs/sql.md)")
    location = str(Path(location).expanduser().resolve())
    if buckets < 1:
        raise ConfigError(f"buckets must be >= 1, got {buckets}")
    current = features_parquet_location(store)
    if current is not None and current != location and _files(current):
        raise ConfigError(f"this store's features are already stored at {current}; "
                          "run `rg store features-to-duckdb` first to move them back")
    if current == location and _files(location) and n_buckets(store) != buckets:
        buckets = n_buckets(store)  # the existing layout fixes the bucket count
    Path(location).mkdir(parents=True, exist_ok=True)
    settings = pd.DataFrame({"key": [LOCATION_KEY, BUCKETS_KEY], "value": [location, str(buckets)]})
    with store.transaction():
        store.upsert("store_settings", settings, run_id=run_id)
    moved = _move_core_to_parquet(store, location, buckets)
    refresh_features_view(store)
    return moved


def _move_core_to_parquet(store: "Store", location: str, buckets: int) -> int:
    total = store.con.execute("SELECT count(*) FROM core.features").fetchall()[0][0]
    if total == 0:
        return 0
    existing = _files(location)
    if existing:
        # patients may already have files: go through the merging upsert path
        moved = 0
        patients = [r[0] for r in store.con.execute(
            "SELECT DISTINCT patient_id FROM core.features ORDER BY 1").fetchall()]
        for start in range(0, len(patients), 200):
            chunk = patients[start:start + 200]
            rows = store.con.execute(
                "SELECT * FROM core.features WHERE patient_id IN (SELECT unnest(?))", [chunk]).df()
            moved += write_features(store, rows)
        return moved
    # empty layout: one bulk COPY into compacted files, then drop the rows from the table
    target = location.replace("'", "''")
    cols = ", ".join(FILE_COLUMNS)
    store.con.execute(
        f"COPY (SELECT {cols}, params_hash, {bucket_sql('patient_id', buckets)} AS bucket FROM core.features) "
        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (params_hash, bucket), "
        "FILENAME_PATTERN 'c-{uuid}', APPEND)")
    store.con.execute("DELETE FROM core.features")
    return int(total)


def attach_features_parquet(store: "Store", location: str, buckets: int = DEFAULT_BUCKETS) -> None:
    """Read features from an existing layout, e.g. a team's ``s3://bucket/prefix``.

    Nothing is moved.  For a remote location DuckDB's httpfs extension and a secret
    with credentials must be available (``CREATE PERSISTENT SECRET ... (TYPE s3,
    PROVIDER credential_chain)``); such a store refuses to write features.

    Raises
    ------
    ConfigError
        This store already keeps features in another local layout.
    StoreError
        The view cannot read the location (missing credentials, no files).
    """
    import pandas as pd
    store._require_writable()
    location = str(location) if is_remote(location) else str(Path(location).expanduser().resolve())
    current = features_parquet_location(store)
    if current is not None and current != location and not is_remote(current) and _files(current):
        raise ConfigError(f"this store's features are stored at {current}; "
                          "run `rg store features-to-duckdb` first")
    settings = pd.DataFrame({"key": [LOCATION_KEY, BUCKETS_KEY], "value": [location.rstrip("/"), str(buckets)]})
    with store.transaction():
        store.upsert("store_settings", settings)
        refresh_features_view(store)


def disable_features_parquet(store: "Store", remove_files: bool = True) -> int:
    """Move Parquet-backed features back into ``core.features`` and disable the option.

    Returns
    -------
    int
        Rows moved back.
    """
    store._require_writable()
    location = features_parquet_location(store)
    if location is None:
        return 0
    if is_remote(location):
        raise ConfigError(f"features are at the remote location {location}; this store cannot move them")
    files = _files(location)
    moved = 0
    with store.transaction():
        if files:
            cols = ", ".join(c for c in FILE_COLUMNS)
            moved = store.con.execute(
                f"INSERT OR REPLACE INTO core.features ({cols}, params_hash) "
                f"SELECT {cols}, params_hash FROM {read_parquet_sql(location)}").fetchall()[0][0]
        store.con.execute("DELETE FROM core.store_settings WHERE key IN (?, ?)", [LOCATION_KEY, BUCKETS_KEY])
        refresh_features_view(store)
    if remove_files:
        for path in files:
            path.unlink(missing_ok=True)
        _remove_empty_dirs(Path(location))
    return int(moved)


def _remove_empty_dirs(root: Path) -> None:
    for folder in sorted(root.glob("params_hash=*/bucket=*"), reverse=True) + sorted(root.glob("params_hash=*")):
        try:
            folder.rmdir()
        except OSError:
            continue


def compact_features_parquet(store: "Store") -> dict[str, int]:
    """Merge each partition's files into one compacted file (fewer files, faster scans).

    Returns
    -------
    dict
        ``partitions`` compacted and ``files_removed``.
    """
    import duckdb

    store._require_writable()
    location = features_parquet_location(store)
    if location is None or is_remote(location):
        return {"partitions": 0, "files_removed": 0}
    partitions = files_removed = 0
    folders = sorted({f.parent for f in _files(location)})
    con = duckdb.connect()
    try:
        for folder in folders:
            files = sorted(folder.glob("*.parquet"))
            if len(files) < 2:
                continue
            # one row per key: a patient's own file (newer) wins over a compacted copy
            # left behind by an interrupted write or compaction
            rows = con.execute(
                f"SELECT {', '.join(FILE_COLUMNS)} FROM read_parquet(?, filename = true) "
                "QUALIFY row_number() OVER (PARTITION BY patient_id, roi, feature "
                "ORDER BY (parse_filename(filename) LIKE 'p-%') DESC, filename DESC) = 1 "
                "ORDER BY patient_id, roi, feature", [[str(f) for f in files]]).df()
            # new file first, then remove the old ones: a crash in between leaves
            # duplicates, which the next compaction removes
            _write_file(rows, folder / f"c-{uuid.uuid4().hex}.parquet")
            for f in files:
                f.unlink()
            partitions += 1
            files_removed += len(files) - 1
    finally:
        con.close()
    return {"partitions": partitions, "files_removed": files_removed}


def features_parquet_info(store: "Store") -> dict[str, Any]:
    """Location, bucket count, file count and bytes of the Parquet layout."""
    location = features_parquet_location(store)
    if location is None:
        return {"enabled": False}
    files = [] if is_remote(location) else _files(location)
    return {"enabled": True, "location": location, "buckets": n_buckets(store), "files": len(files),
            "bytes": sum(f.stat().st_size for f in files)}
