"""``rg report`` as a stage: read the store (read-only), write the report folder."""

from __future__ import annotations

import re
from pathlib import Path

from ..result import StageResult, stage_entry
from ..store.session import StoreLike, reading


def default_report_dir(grouping: str) -> Path:
    """``reports/<grouping>`` with characters unsafe in folder names replaced by ``_``."""
    return Path("reports") / re.sub(r"[^A-Za-z0-9_.-]+", "_", grouping)


@stage_entry
def run_report(store: StoreLike, grouping: str, out: str | Path | None = None, *, dataset_id: str | None = None,
               title: str | None = None, truth: dict | str | Path | None = None) -> StageResult:
    """Write the study report of ``grouping`` (see :func:`radiogenomics.report.build_report`).

    The store is only read (a path is opened read-only), so the report records no run.
    ``truth`` (a synthetic cohort's ``truth.json``, as a path or already read) puts the
    planted-effect checks first.

    Returns
    -------
    StageResult
        ``summary`` is the :class:`~radiogenomics.report.ReportResult`; its notes are the
        result's warnings.
    """
    from .build import build_report

    if isinstance(truth, (str, Path)):
        from ..synth.checks import read_truth

        truth = read_truth(truth)
    folder = Path(out) if out is not None else default_report_dir(grouping)
    with reading(store) as st:
        result = build_report(st, grouping, folder, dataset_id=dataset_id, title=title, truth=truth)
    return StageResult("report", counts={"figures": int(result.figures), "tables": len(result.tables)},
                       warnings=list(result.notes), summary=result)
