"""The ``rg`` command line: parse options, configure logging, call one stage.

No analysis logic lives here.  Each area registers its commands from its own
module (``store_cmds``, ``fetch``, ``imaging``, ``models``, ``omics``, ``study``);
heavy libraries are imported inside the command functions so ``rg --help`` is fast.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

try:  # recent typer vendors its own click, whose Abort and Exit are typer's
    from typer._click.exceptions import ClickException as _ClickException
    _ClickAbort, _ClickExit = typer.Abort, typer.Exit
except ImportError:  # pragma: no cover - older typer on real click
    from click.exceptions import Abort as _ClickAbort, ClickException as _ClickException, Exit as _ClickExit

import radiogenomics as _package
from ..config import Settings
from ..exceptions import RGError
from . import _state

app = typer.Typer(
    name="rg",
    help="radiogenomics: CT radiomics <-> gene expression, one reproducible DuckDB-backed study.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _untag_flags() -> None:
    """Rich help shows no value type for on/off flags and counters.

    typer's rich help prints a type column for every option (``--quiet <bool>``) as if a
    flag took a value; its plain help never does.  Wrapping the one method that makes
    the tag keeps the rich layout and drops the misleading part.
    """
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_rg_untagged", False):
        return

    def display_type_rich(self, ctx):  # noqa: ANN001 - typer's signature
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        return original(self, ctx)

    display_type_rich._rg_untagged = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_untag_flags()


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rg (radiogenomics) {_package.__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    store: Optional[Path] = typer.Option(None, "--store", help="DuckDB store file (default: $RG_STORE, else $RG_HOME/rg.duckdb)", show_default=False),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder for downloaded and derived data (default: $RG_HOME/data)", show_default=False),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, show_default=False, help="More logging (-vv for debug); show tracebacks on error."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only warnings and errors; no progress bars."),
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    """Global options apply to every sub-command."""
    settings = Settings.from_env(store=store, data_dir=data_dir)
    app_state = _state.AppState(settings=settings, verbose=verbose, quiet=quiet)
    app_state.note_new_paths()
    _state.set_state(app_state)
    _configure_logging(verbose, quiet)


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose >= 2 else logging.INFO)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rg_handler", False):
            root.removeHandler(handler)
    handler: logging.Handler = _LazyRichHandler(show_path=verbose >= 2)
    handler._rg_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("radiogenomics").setLevel(level)
    # third-party chatter stays at WARNING unless -vv
    if verbose >= 2:
        root.setLevel(logging.DEBUG)
    logging.getLogger("radiomics").setLevel(logging.ERROR if verbose < 2 else logging.INFO)
    logging.captureWarnings(False)
    warnings.showwarning = _show_warning


class _LazyRichHandler(logging.Handler):
    """rich's log handler, built at the first record.

    Importing rich's logging and console modules is a tenth of the start-up of a command
    that, like most under ``-q``, logs nothing.
    """

    def __init__(self, show_path: bool) -> None:
        super().__init__()
        self._show_path = show_path
        self._inner: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._inner is None:
            try:
                from rich.logging import RichHandler

                inner: logging.Handler = RichHandler(show_path=self._show_path, rich_tracebacks=False,
                                                     console=_state.err_console())
                inner.setFormatter(logging.Formatter("%(message)s"))
            except ImportError:  # pragma: no cover - rich is a dependency
                inner = logging.StreamHandler(sys.stderr)
                inner.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            self._inner = inner
        self._inner.handle(record)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Each warning as one human line on stderr; category and source only with -v.

    Python's default shows the file path and the source line of the ``warnings.warn``
    call, which says nothing to a user.
    """
    text = " ".join(str(message).split())
    from ..exceptions import RGWarning

    if not issubclass(category, RGWarning):
        text = f"{category.__name__}: {text}"  # third-party: say what kind of warning it is
    if _state.verbose():
        text += f" ({category.__name__} at {filename}:{lineno})"
    _state.err_console().print(f"[yellow]warning:[/yellow] {_escape(text)}", soft_wrap=True, highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _register() -> None:
    from . import _groups, classify, fetch, imaging, models, omics, scale, store_cmds, study

    for module in (store_cmds, fetch, imaging, models, omics, classify, study, scale):
        module.register(app)
    _groups.register(app)


_register()


def _terminate_as_interrupt() -> None:
    """SIGTERM (kill, a scheduler's stop) is handled like Ctrl-C: runs end ``interrupted``,
    worker processes are stopped, nothing half-written is kept."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # pragma: no cover - not allowed here
        pass


def run() -> None:
    """The ``rg`` script and ``python -m radiogenomics``: run :func:`main`, then end the process.

    After the command, the interpreter's own teardown (freeing every module of numpy,
    scipy, DuckDB, pandas one by one) took a tenth of a second of ``rg de``'s time; the
    process ends without it once everything is written: the atexit handlers (log
    handlers, worker pools) run, the standard streams are flushed, then ``os._exit``.  A
    command that left a non-daemon thread running ends the usual way (the thread is waited for).
    """
    import atexit
    import threading

    code = main()
    if any(t is not threading.main_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()  # noqa: SLF001 - what the interpreter would run at exit, in the same order
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rg`` script; returns the process exit code."""
    _state.set_state(None)
    code = _main(argv)
    if code != 0:
        _state.discard_new_store()  # a failed command leaves no empty store or folders behind
    return code


def _main(argv: list[str] | None) -> int:
    command = typer.main.get_command(app)
    _terminate_as_interrupt()
    try:
        # with standalone_mode=False click *returns* the code of a typer.Exit raised in a command
        result = command.main(args=argv, prog_name="rg", standalone_mode=False)
    except (typer.Exit, _ClickExit) as exc:
        return int(exc.exit_code or 0)
    except (typer.Abort, _ClickAbort):
        typer.echo("aborted", err=True)
        return 130
    except _ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except RGError as exc:
        if _state.verbose():
            import traceback

            traceback.print_exc()
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one clear line unless -v
        if _state.verbose():
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with -v for the traceback)", err=True)
        return 70
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
