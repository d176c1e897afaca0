"""State shared by the CLI's commands: resolved settings and output switches."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Settings

_STATE: "AppState | None" = None


@dataclass
class AppState:
    settings: Settings
    verbose: int = 0
    quiet: bool = False
    #: the store file and folders that did not exist when the command started
    new_paths: list = field(default_factory=list)

    def note_new_paths(self) -> None:
        """Remember what this command would be the first to create (see :func:`discard_new_store`)."""
        s = self.settings
        candidates = [s.store, *s.store.parents, s.data_dir, *s.data_dir.parents, s.home, *s.home.parents]
        self.new_paths = [p for p in dict.fromkeys(candidates) if not p.exists()]


def discard_new_store() -> None:
    """After a failed command: remove the store it created if nothing was written, and the
    folders it created while they are empty, so that nothing is left behind."""
    if _STATE is None or not _STATE.new_paths:
        return
    store = _STATE.settings.store
    folders = [p for p in _STATE.new_paths if p != store]
    if store in _STATE.new_paths:
        from ..store.db import discard_if_empty

        discard_if_empty(store, folders)
    else:
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            try:
                folder.rmdir()
            except OSError:
                pass


def set_state(state: "AppState | None") -> None:
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


def progress():
    """A rich progress bar on stderr, silent with --quiet."""
    from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err_console(),
                    disable=state().quiet, transient=False)
