"""Write every file the same safe way: temporary name, flush + fsync, check, atomic rename.

A reader (or a later stage) must never see a half-written or empty file under its
final name, and a full disk must surface as one clear per-item error naming the
path, not as a 0-byte file registered as ``ok``.  :func:`atomic_path` gives the
writer a temporary path in the destination folder (unique per process and call,
so two processes writing the same file never collide), then checks the result,
syncs it to disk and renames it over the destination in one step.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

from .exceptions import WriteError

log = logging.getLogger(__name__)

#: ``errno`` values that mean "the disk (or quota) is full"
_FULL = {errno.ENOSPC, errno.EDQUOT} if hasattr(errno, "EDQUOT") else {errno.ENOSPC}


def write_error(exc: BaseException, path: str | os.PathLike[str]) -> WriteError:
    """A :class:`WriteError` with a clear message for an exception raised while writing ``path``."""
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code in _FULL or "no space left" in text or "disk quota" in text:
        return WriteError(f"no space left on {path}: free disk space (or use another --data-dir) and rerun")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) or "permission denied" in text or "read-only file system" in text:
        return WriteError(f"cannot write {path}: the folder is not writable ({getattr(exc, 'strerror', None) or exc}); "
                          "choose a writable --data-dir or fix its permissions")
    text = str(exc).strip()
    reason = getattr(exc, "strerror", None) or (text.splitlines()[-1] if text else type(exc).__name__)
    return WriteError(f"cannot write {path}: {reason}")


_DOUBLE_SUFFIXES = (".nii.gz", ".tar.gz", ".csv.gz", ".txt.gz")


def temp_name(path: Path, keep_suffix: bool = True) -> Path:
    """A hidden temporary name beside ``path``, unique per process and call.

    With ``keep_suffix`` it ends like ``path`` (writers that choose a format by suffix
    still work); without, it ends in ``.tmp`` (so globs such as ``*.parquet`` skip it).
    """
    name = path.name
    if not keep_suffix:
        return path.with_name(f".{name[:80]}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    suffix = next((s for s in _DOUBLE_SUFFIXES if name.lower().endswith(s)), path.suffix)
    stem = name[:len(name) - len(suffix)] if suffix else name
    return path.with_name(f".{stem[:80]}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system syncs folders
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], check: Callable[[Path], None] | None = None,
                allow_empty: bool = False, keep_suffix: bool = True) -> Iterator[Path]:
    """Context manager: write to the yielded temporary path; on success it replaces ``path``.

    Parameters
    ----------
    path
        Final destination.  Its folder is created.
    check
        Called with the temporary path after the writer finished (e.g. read it back);
        raise to reject the file.
    allow_empty
        Accept a 0-byte result (otherwise it is refused: a full disk often looks like that).
    keep_suffix
        See :func:`temp_name`.

    Raises
    ------
    WriteError
        The folder cannot be created, the writer or the rename failed (disk full,
        read-only folder ...), or the result is empty or fails ``check``.  Nothing is
        left under either name then.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path.parent) from exc
    tmp = temp_name(path, keep_suffix)
    try:
        yield tmp
        if not tmp.is_file():
            raise WriteError(f"cannot write {path}: the writer produced no file")
        size = tmp.stat().st_size
        if size == 0 and not allow_empty:
            raise WriteError(f"cannot write {path}: the result is empty (0 bytes); is the disk full? "
                             "Free space and rerun")
        if check is not None:
            check(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except WriteError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, (OSError, RuntimeError)):
            raise write_error(exc, path) from exc
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, allow_empty: bool = False) -> Path:
    """Write ``data`` atomically (see :func:`atomic_path`); returns the path."""
    path = Path(path)
    with atomic_path(path, allow_empty=allow_empty) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
    return path


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (see :func:`atomic_path`); returns the path."""
    return write_bytes(path, text.encode(encoding), allow_empty=not text)
