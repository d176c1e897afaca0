"""State shared by the CLI's commands: resolved settings and output switches."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..config import Settings

_STATE: "AppState | None" = None


@dataclass
class AppState:
    settings: Settings
    verbose: int = 0
    quiet: bool = False


def set_state(state: AppState) -> None:
    global _STATE
    _STATE = state


def state() -> AppState:
    """The state of the current invocation (settings from the environment if none)."""
    global _STATE
    if _STATE is None:
        _STATE = AppState(settings=Settings.from_env())
    return _STATE


def settings() -> Settings:
    return state().settings


def verbose() -> int:
    return _STATE.verbose if _STATE else 0


def err_console():
    from rich.console import Console

    return Console(stderr=True)


def out_console():
    from rich.console import Console

    return Console()


@contextmanager
def open_store(read_only: bool = False, wait: float = 10.0, sandbox: bool = False) -> Iterator["object"]:
    """Open the configured store for one command (``sandbox``: see ``Store.open``)."""
    from ..store import Store

    with Store.open(settings().store, read_only=read_only, wait=wait, sandbox=sandbox) as store:
        yield store


def progress():
    """A rich progress bar on stderr, silent with --quiet."""
    from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err_console(),
                    disable=state().quiet, transient=False)
