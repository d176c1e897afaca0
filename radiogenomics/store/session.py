"""Short store sessions for long stages (downloads, feature extraction).

A fetch or an extraction can take hours; holding DuckDB's write lock all that time
would lock ``rg sql`` out.  Long stages therefore accept either an open
:class:`~radiogenomics.store.Store` (used as is: the caller decides) or a store
*path*, which is opened only for each write and closed in between.  The run's row
in ``runs`` is written by :class:`RunRecorder` the same way ``Store.run`` does.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping


from ..exceptions import OutdatedSchemaError
from .db import Store, _utcnow, new_run_id, package_versions

if TYPE_CHECKING:  # pandas loads lazily: `rg sql` and `rg --help` do not need it
    import pandas as pd

log = logging.getLogger(__name__)

#: an open store, or the path of one (opened for each write)
StoreLike = Any

# run ids started in this context, per active collect_runs() block (innermost last)
_COLLECTORS: contextvars.ContextVar[tuple[list[str], ...]] = contextvars.ContextVar("rg_run_collectors", default=())


@contextlib.contextmanager
def collect_runs() -> Iterator[list[str]]:
    """Collect the run_ids of every run started in this block (by this process, this context).

    The pipeline links a step to exactly the runs its stage started this way, never to
    runs another process happened to start at the same time.
    """
    ids: list[str] = []
    token = _COLLECTORS.set(_COLLECTORS.get() + (ids,))
    try:
        yield ids
    finally:
        _COLLECTORS.reset(token)


def reading(store: StoreLike, wait: float = 10.0) -> contextlib.AbstractContextManager[Store]:
    """A store to read from: an open :class:`Store` as is, or a path opened read-only for the block.

    Stages read (and compute) through this, then write through :meth:`StoreSession.open`,
    so the write lock is held only while writing.
    """
    if isinstance(store, Store):
        return contextlib.nullcontext(store)
    if isinstance(store, (str, os.PathLike)):
        return open_for_stage(store, wait=wait)
    raise TypeError(f"expected a Store or a store path, got {type(store).__name__}")


def open_for_stage(path: str | os.PathLike[str], wait: float = 10.0) -> Store:
    """Open the store at ``path`` read-only for a stage to read from, also when its schema is older.

    A store at an older schema version is first upgraded through a short read-write
    open (the write lock held only for it; every migration is one transaction), then
    opened read-only again.  ``rg sql`` and ``rg store info`` do not go through here:
    they never change a store unless asked (``--write``, ``--migrate``).
    """
    try:
        return Store.open(path, read_only=True, wait=wait)
    except OutdatedSchemaError:
        log.info("store %s has an older schema: upgrading it before reading", path)
        Store.open(path, read_only=False, wait=wait).close()
        return Store.open(path, read_only=True, wait=wait)


class StoreSession:
    """Opens the store for one block at a time (or reuses an open :class:`Store`)."""

    def __init__(self, store: StoreLike, wait: float = 600.0) -> None:
        if isinstance(store, Store):
            self._store: Store | None = store
            self.path = store.path
        elif isinstance(store, (str, os.PathLike)):
            self._store = None
            self.path = Path(store)
        else:
            raise TypeError(f"expected a Store or a store path, got {type(store).__name__}")
        self.wait = wait

    def reading(self) -> contextlib.AbstractContextManager[Store]:
        """The store to read from: an open :class:`Store` as is, else the path opened read-only for
        the block (see :func:`reading`), so reads never take the write lock.  Where no store
        exists yet, the block gets a read-write open (the first run creates the store)."""
        if self._store is not None:
            return contextlib.nullcontext(self._store)
        if not self.path.exists():
            return self.open()
        return reading(self.path, wait=self.wait)

    @contextlib.contextmanager
    def open(self) -> Iterator[Store]:
        """The store, read-write, for the duration of the block."""
        if self._store is not None:
            yield self._store
            return
        with Store.open(self.path, wait=self.wait) as store:
            yield store


class RunRecorder:
    """A ``runs`` row (running -> ok/partial/failed) without holding the store open.

    Mirrors :meth:`Store.run`: use as a context manager; ``run_id``,
    ``record_failure(stage, patient_id, reason, item)`` and ``failures``.
    """

    def __init__(self, session: StoreSession, command: str, parameters: Mapping[str, Any] | None = None,
                 inputs: Mapping[str, str] | None = None) -> None:
        self.session = session
        self.command = command
        self.parameters = dict(parameters or {})
        self.inputs = dict(inputs or {})
        self.run_id = new_run_id()
        self.failures: list[dict[str, Any]] = []

    def __enter__(self) -> "RunRecorder":
        for ids in _COLLECTORS.get():
            ids.append(self.run_id)
        with self.session.open() as store:
            store.execute(
                "INSERT INTO core.runs (run_id, command, parameters, package_versions, input_checksums, "
                "started_at, status, pid, host) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                [self.run_id, self.command, json.dumps(self.parameters, sort_keys=True, default=str),
                 json.dumps({**package_versions(), "_host": socket.gethostname()}, sort_keys=True),
                 json.dumps(self.inputs, sort_keys=True), _utcnow(), os.getpid(), socket.gethostname()])
        return self

    def add_inputs(self, checksums: Mapping[str, str], store: Store | None = None) -> None:
        """Merge input checksums (name -> sha256) into this run's record."""
        self.inputs.update(checksums)
        with (contextlib.nullcontext(store) if store is not None else self.session.open()) as st:
            st.execute("UPDATE core.runs SET input_checksums = ? WHERE run_id = ?",
                       [json.dumps(self.inputs, sort_keys=True), self.run_id])

    def record_failure(self, stage: str, patient_id: str, reason: str, item: str = "",
                       store: Store | None = None) -> None:
        """Record a per-item failure (in ``failures``); the run goes on and ends ``partial``."""
        import pandas as pd
        row = dict(run_id=self.run_id, stage=stage, patient_id=str(patient_id), item=str(item),
                   reason=str(reason), failed_at=_utcnow())
        self.failures.append(row)
        log.warning("%s failed for %s%s: %s", stage, patient_id, f" ({item})" if item else "", reason)
        if store is not None:
            store.upsert("failures", pd.DataFrame([row]))
            return
        with self.session.open() as st:
            st.upsert("failures", pd.DataFrame([row]))

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        with contextlib.ExitStack() as stack:
            try:
                store = stack.enter_context(self.session.open())
            except Exception:  # noqa: BLE001 - never mask the original error
                if exc is None:
                    raise
                return
            if exc is not None:
                # Ctrl-C and SIGTERM (raised as KeyboardInterrupt by the CLI) interrupt a run
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                with contextlib.suppress(Exception):
                    store.execute("UPDATE core.runs SET status=?, error=?, finished_at=? WHERE run_id=?",
                                  [status, f"{exc_type.__name__}: {exc}", _utcnow(), self.run_id])
                return
            store.execute("UPDATE core.runs SET status=?, finished_at=? WHERE run_id=?",
                          ["partial" if self.failures else "ok", _utcnow(), self.run_id])


def write_batch(session: StoreSession, run: Any, stage: str, failures: list[tuple[str, str, str]],
                tables: Mapping[str, list[pd.DataFrame]],
                recorded: list[tuple[str, str, str]] | None = None) -> list[str]:
    """Write one batch of a per-patient stage while holding the store only for this block.

    ``failures`` are ``(patient_id, item, reason)`` recorded as per-patient failures
    (and appended to ``recorded``); ``tables`` maps a table to the frames to upsert,
    all in one transaction so a batch is stored whole or not at all.  When the batch
    cannot be written (disk full ...), each patient is tried on its own and those that
    still fail are recorded as failures with the reason, instead of ending the run.

    Returns
    -------
    list of str
        Patients whose rows could not be written (so callers correct their counts).
    """
    import pandas as pd
    from ..exceptions import WriteError

    frames = {table: pd.concat(parts, ignore_index=True) for table, parts in tables.items() if parts}
    lost: list[str] = []
    if not (failures or frames):
        return lost
    with session.open() as st:
        for patient_id, item, reason in failures:
            run.record_failure(stage, patient_id, reason, item=item, store=st)
            if recorded is not None:
                recorded.append((patient_id, item, reason))
        if not frames:
            return lost
        try:
            _write_frames(st, run, frames)
            return lost
        except WriteError as exc:
            if not all("patient_id" in f for f in frames.values()):
                raise
            log.warning("writing a batch failed (%s); writing patient by patient", exc)
        patients = list(dict.fromkeys(p for f in frames.values() for p in f["patient_id"]))
        for patient_id in patients:
            mine = {t: f[f["patient_id"] == patient_id] for t, f in frames.items()}
            try:
                _write_frames(st, run, {t: f for t, f in mine.items() if len(f)})
            except WriteError as exc:
                lost.append(patient_id)
                run.record_failure(stage, patient_id, str(exc), item="", store=st)
                if recorded is not None:
                    recorded.append((patient_id, "", str(exc)))
    return lost


def _write_frames(st: Store, run: Any, frames: Mapping[str, pd.DataFrame]) -> None:
    # file-backed tables (Parquet features) last: a failed file write rolls back the rest
    order = sorted(frames, key=lambda t: t == "features")
    with st.transaction():
        for table in order:
            st.upsert(table, frames[table], run_id=run.run_id)
