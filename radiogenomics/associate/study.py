"""``rg associate``: the omics arm and the clinicopathological tests for one risk grouping.

Calls the omics stages (:mod:`radiogenomics.omics.run`) and the association stages
(:mod:`radiogenomics.associate.stage`) in dependency order (DE before ORA and prerank GSEA,
immune scores before their group tests).  One failing analysis is reported and the
others still run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..exceptions import InputError, RGError
from ..result import StageResult, stage_entry
from ..store import tables
from ..store.session import StoreLike, reading

log = logging.getLogger(__name__)

ANALYSES = ("de", "gsea", "ora", "immune", "clinical")
#: the comparison of a Rad-score grouping when --groups is not given
DEFAULT_GROUPS = ("high", "low")
#: analyses that compare exactly two groups (the others take 3+ groups: omnibus + pairwise)
TWO_GROUP_ANALYSES = ("de", "gsea", "ora")


@dataclass
class AssociateSummary:
    """What ``associate`` did per analysis: ok (with a short result), skipped or failed (with the reason)."""

    grouping: str
    dataset_id: str | None
    groups: tuple[str, ...] = DEFAULT_GROUPS
    done: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"associate {self.grouping}, groups {','.join(self.groups)} (dataset {self.dataset_id or 'none'}):"]
        lines += [f"  {k:<9} ok       {v}" for k, v in self.done.items()]
        lines += [f"  {k:<9} skipped  {v}" for k, v in self.skipped.items()]
        lines += [f"  {k:<9} FAILED   {v}" for k, v in self.failed.items()]
        return "\n".join(lines)


def parse_what(what: str | Sequence[str] | None) -> list[str]:
    """``"de,gsea"`` -> ``["de", "gsea"]`` in execution order; unknown names are an error."""
    if what is None or what == "" or what == "all":
        return list(ANALYSES)
    items = [w.strip().lower() for w in (what.split(",") if isinstance(what, str) else what) if w.strip()]
    unknown = [w for w in items if w not in ANALYSES]
    if unknown:
        raise InputError(f"--what: unknown analyses {unknown}; choose from {', '.join(ANALYSES)}")
    return [a for a in ANALYSES if a in items]


def resolve_groups(levels: Sequence[str], groups: Sequence[str] | str | None, grouping: str) -> tuple[str, ...]:
    """The groups compared: as given, ``all`` = every level, None = high,low when present else every level.

    Parameters
    ----------
    levels
        The grouping's levels (groups with patients).
    groups
        ``--groups`` as a sequence or comma-separated text; ``"all"``; or None.

    Raises
    ------
    InputError
        Fewer than two groups, a group repeated, or a group the grouping does not have.
    """
    # Rad-score levels in risk order, then any other level by name
    rank = {"high": 0, "middle": 1, "low": 2}
    present = sorted({str(v) for v in levels}, key=lambda g: (rank.get(g, 3), g))
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    if groups is None or len(groups) == 0:
        chosen = DEFAULT_GROUPS if set(DEFAULT_GROUPS) <= set(present) else tuple(present)
    elif len(groups) == 1 and groups[0].lower() == "all":
        chosen = tuple(present)
    else:
        chosen = tuple(str(g) for g in groups)
    if len(chosen) < 2:
        raise InputError(f"grouping {grouping!r} has {len(present)} group(s) ({', '.join(present)}); "
                         "a comparison needs two or more")
    if len(set(chosen)) < len(chosen):
        raise InputError(f"--groups names a group twice: {','.join(chosen)}")
    lacking = [g for g in chosen if g not in present]
    if lacking:
        raise InputError(f"grouping {grouping!r} has no patients in group(s) {lacking} (groups present: "
                         f"{', '.join(present)}); pass --groups accordingly, e.g. --groups {','.join(present[:2])}")
    return chosen


def default_dataset(store) -> str | None:
    """The only expression dataset in the store (None when there is none).

    Raises
    ------
    InputError
        Several datasets: the user must choose with ``--dataset``.
    """
    ds = tables.datasets(store)
    if not ds:
        return None
    if len(ds) > 1:
        raise InputError(f"the store holds several expression datasets ({', '.join(ds)}); choose one with --dataset")
    return ds[0]


def associate(store: StoreLike, grouping: str, dataset_id: str | None = None, what: str | Sequence[str] | None = None,
              groups: Sequence[str] | str | None = None, gsea_method: str = "prerank", permutations: int = 1000,
              seed: int = 0, libraries: Sequence[str] = ("go_bp",), signature: str | None = None,
              lfc_threshold: float = 0.1, p_threshold: float = 0.05, n_cpus: int = 2) -> AssociateSummary:
    """Run the requested analyses of one grouping (``high`` vs ``low`` by default).

    Parameters
    ----------
    store
        Open read-write store, or a store path: each analysis then opens it read-only
        to read and read-write only to write its results.
    grouping
        Name in ``risk_groups``.
    dataset_id
        Expression dataset [default: the only one in the store].
    what
        Subset of ``de, gsea, ora, immune, clinical`` (comma-separated or a list).
    groups
        The groups compared, others (the middle group) ignored; ``None`` = high,low when the
        grouping has both, else all its levels; ``"all"`` = all levels.  With three or more,
        DE, GSEA and ORA (two-group contrasts) are skipped with a note, and the clinical and
        immune tests are the omnibus ones plus pairwise contrasts with BH FDR.
    gsea_method, permutations, seed
        GSEA settings (prerank on the DE statistic by default; seeded).
    libraries
        ORA gene-set libraries (shipped names or GMT paths).
    signature
        Deconvolution signature matrix (LM22 layout); without it deconvolution is not run.
    lfc_threshold, p_threshold
        DE thresholds of the reference study.

    Raises
    ------
    NotInStoreError
        The grouping does not exist.
    """
    analyses = parse_what(what)
    omics = [a for a in analyses if a != "clinical"]
    with reading(store) as st:
        levels = tables.risk_groups(st, grouping)["grp"].drop_duplicates().tolist()  # one check, one message
        groups = resolve_groups(levels, groups, grouping)
        if omics and dataset_id is None:
            dataset_id = default_dataset(st)
    summary = AssociateSummary(grouping, dataset_id, groups=groups)
    from ..omics import run as omics_run
    from . import stage as assoc_mod

    def ran(rows) -> None:
        for run_id in dict.fromkeys(rows["run_id"]):
            if run_id not in summary.run_ids:
                summary.run_ids.append(str(run_id))

    def attempt(name: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        try:
            summary.done[name] = fn() + f" [{time.perf_counter() - t0:.1f}s]"
        except RGError as exc:
            summary.failed[name] = str(exc)
            log.warning("associate %s failed: %s", name, exc)

    for name in analyses:
        if name in TWO_GROUP_ANALYSES and len(groups) > 2:
            summary.skipped[name] = (f"compares two groups; {len(groups)} given ({','.join(groups)}): "
                                     "pass --groups A,B for this contrast")
            continue
        if name != "clinical" and dataset_id is None:
            summary.skipped[name] = "no expression dataset in the store (rg fetch geo)"
            continue
        if name == "de":
            def de() -> str:
                rows = omics_run.run_de(store, grouping, dataset_id, groups=groups, lfc_threshold=lfc_threshold,
                                        p_threshold=p_threshold, n_cpus=n_cpus).summary
                ran(rows)
                d = rows["direction"].value_counts()
                return f"{int(d.get('up', 0))} up, {int(d.get('down', 0))} down of {len(rows)} genes"
            attempt(name, de)
        elif name == "gsea":
            def gsea() -> str:
                rows = omics_run.run_gsea(store, grouping, dataset_id, groups=groups, method=gsea_method,
                                          permutations=permutations, seed=seed).summary
                ran(rows)
                return f"{int(rows['significant'].fillna(False).sum())} of {len(rows)} sets with FDR below threshold"
            attempt(name, gsea)
        elif name == "ora":
            if "de" in summary.failed:
                summary.skipped[name] = "needs the DE results, which failed"
                continue
            def ora() -> str:
                rows = omics_run.run_ora(store, grouping, dataset_id, groups=groups, libraries=libraries).summary
                ran(rows)
                return f"{int((rows['padj'] < 0.05).sum())} terms with padj < 0.05"
            attempt(name, ora)
        elif name == "immune":
            def immune() -> str:
                scores = omics_run.run_immune(store, dataset_id, signature=signature, seed=seed).summary
                ran(scores)
                rows = assoc_mod.associate_scores(store, grouping, dataset_id, groups)
                ran(rows)
                return f"{scores['score'].nunique()} scores; {int((rows['p'] < 0.05).sum())} tests with p < 0.05"
            attempt(name, immune)
        elif name == "clinical":
            def clinical() -> str:
                rows = assoc_mod.associate_clinical(store, grouping, groups)
                ran(rows)
                tested = rows[rows["test"] != "not_available"]
                return (f"{len(tested)} tests, {int((tested['p'] < 0.05).sum())} with p < 0.05; "
                        f"{int((rows['test'] == 'not_available').sum())} variables not available in this cohort")
            attempt(name, clinical)
    return summary


@stage_entry
def run_associate(store: StoreLike, *, grouping: str, dataset_id: str | None = None,
                  what: str | Sequence[str] | None = None, groups: Sequence[str] | str | None = None,
                  gsea_method: str = "prerank", permutations: int = 1000, seed: int = 0,
                  libraries: Sequence[str] = ("go_bp",), signature: str | None = None, lfc_threshold: float = 0.1,
                  p_threshold: float = 0.05, n_cpus: int = 2) -> StageResult:
    """``rg associate`` as a stage: :func:`associate` on a store path, as a :class:`StageResult`.

    The result is ``partial`` when an analysis failed (the others still ran); its
    ``failures`` name the analysis and the reason.

    ``groups`` as in :func:`associate` (None: high,low when present, else every level).

    Raises
    ------
    InputError
        Fewer than two groups, or unknown analyses.
    NotInStoreError
        The grouping does not exist.
    """
    if isinstance(groups, str):
        groups = tuple(g.strip() for g in groups.split(",") if g.strip())
    if groups is not None and len(groups) < 2 and tuple(groups) != ("all",):
        raise InputError("--groups needs at least two groups (e.g. high,low) or 'all'")
    summary = associate(store, grouping, dataset_id, what, groups=groups, gsea_method=gsea_method,
                        permutations=permutations, seed=seed, libraries=libraries, signature=signature,
                        lfc_threshold=lfc_threshold, p_threshold=p_threshold, n_cpus=n_cpus)
    return StageResult("associate", run_ids=list(summary.run_ids),
                       counts={"done": len(summary.done), "skipped": len(summary.skipped),
                               "failed": len(summary.failed)},
                       failures=[(name, "", reason) for name, reason in summary.failed.items()],
                       partial=bool(summary.failed), summary=summary)
