"""DuckDB store: schema and migrations, upserts, id crosswalk, provenance of runs."""

from .db import Store, new_run_id, package_versions, sha256_file
from .schema import SCHEMA_VERSION, VIEWS
from .session import RunRecorder, StoreLike, StoreSession, collect_runs, reading

#: the handle ``Store.run`` yields
Run = RunRecorder

__all__ = ["Store", "Run", "new_run_id", "package_versions", "sha256_file", "SCHEMA_VERSION", "VIEWS",
           "RunRecorder", "StoreLike", "StoreSession", "collect_runs", "reading"]
