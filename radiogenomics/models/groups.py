"""Risk groups from a score: by a fixed cut-off, by rank counts/proportions, or by quantiles.

The reference study ranked its 96 external patients by Rad-score: top 36 "high", middle 32
"middle", bottom 32 "low".  :func:`groups_by_ranks` takes such counts and, when the cohort
has another size, uses them as proportions (36/100, 32/100, 32/100).
"""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ..exceptions import DataQualityWarning, InputError

log = logging.getLogger(__name__)

#: the reference study's 3-group split (high, middle, low) on 96 + 4 patients
STUDY_RANKS = (36, 32, 32)


def _labels(k: int, labels: Sequence[str] | None) -> list[str]:
    if labels is not None:
        if len(labels) != k:
            raise InputError(f"{len(labels)} group label(s) given for {k} groups")
        return list(labels)
    if k == 2:
        return ["high", "low"]
    if k == 3:
        return ["high", "middle", "low"]
    return [f"q{k - i}" for i in range(k)]  # q<k> = highest scores


def groups_by_cutoff(score: pd.Series, cutoff: float) -> pd.Series:
    """``"high"`` where ``score > cutoff``, else ``"low"`` (missing scores are dropped)."""
    s = pd.Series(score, dtype=float).dropna()
    return pd.Series(np.where(s > cutoff, "high", "low"), index=s.index, name="grp")


def groups_by_ranks(score: pd.Series, ranks: Sequence[int] = STUDY_RANKS,
                    labels: Sequence[str] | None = None) -> pd.Series:
    """Split patients by descending score into consecutive groups of the given sizes.

    Parameters
    ----------
    score
        Scores indexed by patient.
    ranks
        Group sizes from the highest score down, e.g. ``(36, 32, 32)``.  When they do not
        add up to the number of patients they are used as proportions (largest-remainder
        rounding, the last group takes the rest).
    labels
        Group names from highest to lowest (default high/low, high/middle/low, or
        ``q<k>..q1``).

    Returns
    -------
    Series
        Group label per patient; ties in the score are broken by patient id (stable).
    """
    s = pd.Series(score, dtype=float).dropna()
    sizes = [int(r) for r in ranks]
    if len(sizes) < 2 or any(r <= 0 for r in sizes):
        raise InputError(f"ranks must be at least two positive group sizes, got {list(ranks)}")
    n = len(s)
    if sum(sizes) != n:
        raw = np.asarray(sizes, dtype=float) / sum(sizes) * n
        counts = np.floor(raw).astype(int)
        for i in np.argsort(-(raw - counts), kind="mergesort")[: n - counts.sum()]:
            counts[i] += 1
        log.info("ranks %s rescaled to %s for %d patients", sizes, [int(c) for c in counts], n)
        sizes = list(counts)
    names = _labels(len(sizes), labels)
    order = s.sort_index(kind="mergesort").sort_values(ascending=False, kind="mergesort").index
    out = pd.Series(index=order, dtype=object, name="grp")
    start = 0
    for name, size in zip(names, sizes):
        out.iloc[start:start + size] = name
        start += size
    _warn_ties(s, out)
    return out.loc[s.index]


def groups_by_quantiles(score: pd.Series, quantiles: Sequence[float],
                        labels: Sequence[str] | None = None) -> pd.Series:
    """Groups cut at score quantiles (e.g. ``[1/3, 2/3]`` -> low, middle, high).

    A patient is in the upper group when its score is strictly above the quantile.
    """
    s = pd.Series(score, dtype=float).dropna()
    q = sorted(float(v) for v in quantiles)
    if not q or any(not 0 < v < 1 for v in q):
        raise InputError(f"quantiles must be strictly between 0 and 1, got {list(quantiles)}")
    cuts = np.quantile(s.to_numpy(), q)  # R type 7, the default of quantile()
    names = _labels(len(q) + 1, labels)  # from highest to lowest
    idx = np.searchsorted(cuts, s.to_numpy(), side="left")  # 0 = at or below the first cut
    out = pd.Series([names[len(q) - i] for i in idx], index=s.index, name="grp")
    return out


def _warn_ties(score: pd.Series, groups: pd.Series) -> None:
    for value, members in score.groupby(score):
        if len(members) > 1 and groups.loc[members.index].nunique() > 1:
            warnings.warn(f"patients with the same score {value:.4g} fall in different groups "
                          "(ties broken by patient id)", DataQualityWarning, stacklevel=3)
            return


def require_levels(groups: pd.Series, source: str, minimum: int = 2) -> None:
    """Refuse a grouping with fewer than ``minimum`` non-empty levels: it compares nothing.

    Parameters
    ----------
    groups
        Group label per patient (missing labels are ignored).
    source
        What the grouping was built from, named in the error (e.g. ``clinical column egfr``).

    Raises
    ------
    InputError
        Fewer than ``minimum`` distinct labels have patients.
    """
    counts = pd.Series(groups).dropna().astype(str).value_counts()
    if len(counts) < minimum:
        found = ", ".join(f"{k} ({v})" for k, v in counts.items()) or "none"
        raise InputError(f"{source} gives fewer than {minimum} non-empty groups (groups with patients: {found}); "
                         "a grouping must split the patients: choose another column, threshold or predicate")


def groups_by_levels(values: pd.Series, levels: Sequence[str] | None = None) -> pd.Series:
    """Categorical grouping: each distinct (non-missing) value is a group.

    Parameters
    ----------
    values
        One value per patient; missing values and empty strings are left out.
    levels
        Keep only patients whose value is one of these (others are left out); an unknown
        level is an error naming the levels present.
    """
    s = pd.Series(values).dropna()
    s = s.map(lambda v: str(v).strip())
    s = s[s != ""]
    if levels is not None:
        present = sorted(set(s))
        unknown = [lv for lv in levels if lv not in present]
        if unknown:
            raise InputError(f"level(s) {unknown} do not occur (levels present: {present})")
        s = s[s.isin(list(levels))]
    return s.rename("grp")


def groups_by_thresholds(values: pd.Series, thresholds: Sequence[float],
                         labels: Sequence[str] | None = None) -> pd.Series:
    """Numeric split at fixed thresholds; a value strictly above a threshold is in the upper group.

    One threshold gives ``high`` (> t) and ``low`` (<= t), as :func:`groups_by_cutoff`;
    k thresholds give k + 1 groups labelled as in :func:`groups_by_ranks` (highest first).
    """
    s = pd.Series(values, dtype=float).dropna()
    cuts = sorted(float(t) for t in thresholds)
    if not cuts or not np.all(np.isfinite(cuts)):
        raise InputError(f"thresholds must be finite numbers, got {list(thresholds)}")
    if len(set(cuts)) < len(cuts):
        raise InputError(f"thresholds must differ, got {list(thresholds)}")
    names = _labels(len(cuts) + 1, labels)
    idx = np.searchsorted(cuts, s.to_numpy(), side="left")
    return pd.Series([names[len(cuts) - i] for i in idx], index=s.index, name="grp")
