"""The one result shape of a stage entry point: run ids, counts, warnings, per-item failures.

Every ``run_*`` stage entry (and every step of a pipeline) returns a :class:`StageResult`;
the stage's own detailed summary (what ``rg`` prints) rides along in ``summary``.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar


class Deferred:
    """A summary built when it is first read: ``Deferred(build)`` calls ``build()`` once.

    A stage hands its summary table over this way when the command line does not print it
    (``rg de`` prints counts): building it would import pandas, half of that command's time.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def __call__(self) -> Any:
        return self._build()


class _SummarySlot:
    """``StageResult.summary``: stores what it is given; a :class:`Deferred` is built on first read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:  # the dataclass asks for the field's default
            return None
        value = obj.__dict__.get(self._slot)
        if isinstance(value, Deferred):
            value = obj.__dict__[self._slot] = value()
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self._slot] = value


@dataclass
class StageResult:
    """What one stage did.

    Attributes
    ----------
    stage
        The stage's name (an ``rg`` command path such as ``"radscore fit"``).
    run_ids
        The rows of ``runs`` this stage wrote, in order (empty for a read-only stage).
    counts
        Named counts (patients, rows, series, ...), for printing and checks.
    warnings
        Messages of the statistical / data-quality warnings raised while it ran.
    failures
        Per-item failures ``(patient_or_item, detail, reason)``; the stage went on.
    partial
        True when some items failed in a way the command line reports with a non-zero
        exit code (e.g. series that did not download): a pipeline step is then ``partial``.
    summary
        The stage's own summary object (printed by the command line); given as a
        :class:`Deferred`, it is built when first read.
    facts
        Named values the command line prints besides the counts (e.g. the DE method that
        ``auto`` resolved to).
    """

    stage: str
    run_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    partial: bool = False
    summary: Any = _SummarySlot()
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        """The (last) run of the stage, None for a stage that wrote nothing."""
        return self.run_ids[-1] if self.run_ids else None

    @property
    def ok(self) -> bool:
        return not self.partial


@contextlib.contextmanager
def collect_warnings(result_warnings: list[str]) -> Iterator[None]:
    """Record the messages of warnings raised in the block, then let them through unchanged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        result_warnings.append(f"{w.category.__name__}: {w.message}")
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


_Entry = TypeVar("_Entry", bound=Callable[..., StageResult])


def stage_entry(fn: _Entry) -> _Entry:
    """Mark ``fn`` as a stage's ``run_*`` entry: the warnings it raises are recorded in the
    result's ``warnings`` (whoever calls it: the command line or the pipeline) and still shown."""
    @functools.wraps(fn)
    def entry(*args: Any, **kwargs: Any) -> StageResult:
        collected: list[str] = []
        with collect_warnings(collected):
            result = fn(*args, **kwargs)
        result.warnings.extend(w for w in collected if w not in result.warnings)
        return result

    return entry  # type: ignore[return-value]
