"""Cross-process file locks (``flock``) with a waiting message naming the holder.

Used where two rg processes may work on the same files of one data folder (two
``rg fetch tcia`` downloading the same series): the second waits, saying for whom,
then finds the first one's result.  The lock is released when its process dies, so
a killed run never leaves a lock behind.  On systems without ``fcntl`` the lock is
a no-op (documented limitation: no concurrent runs on one data folder there).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Iterator

from .exceptions import StoreBusyError

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def process_label(pid: int) -> str:
    """``process 123 (rg fetch tcia ...)`` from /proc when available."""
    try:
        raw = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return f"process {pid}"
    parts = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
    # drop the interpreter and the script path: "rg fetch tcia -c X" reads better
    while parts and (os.path.basename(parts[0]).startswith("python") or parts[0] == "-m"):
        parts = parts[1:]
    if parts:
        parts[0] = os.path.basename(parts[0])
    cmd = " ".join(" ".join(parts).split())  # one line, whatever the arguments hold
    if len(cmd) > 80:
        cmd = cmd[:77] + "..."
    return f"process {pid} ({cmd})" if cmd else f"process {pid}"


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this host."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError, OverflowError):
        return False
    return True


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], what: str, wait: float = 3600.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created) for the block.

    Parameters
    ----------
    path
        Lock file (kept afterwards; never delete a lock file another process may hold).
    what
        What is locked, for the waiting message (``"series 1.2.3"``).
    wait
        Seconds to wait for another holder before giving up.

    Raises
    ------
    StoreBusyError
        Still held by another process after ``wait`` seconds (exit code 75: retry later).
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, wait)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise StoreBusyError(f"{what} is in use by {holder}; retry when it has finished") from None
                if not told:
                    log.info("waiting for %s: in use by %s", what, holder)
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return process_label(int(text)) if text else "another rg process"
    except (OSError, ValueError):
        return "another rg process"


def try_lock(path: str | os.PathLike[str]) -> int | None:
    """Take an exclusive lock without waiting; the open descriptor, or None if held elsewhere.

    Close the descriptor (``os.close``) to release it.
    """
    if fcntl is None:  # pragma: no cover
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
