"""Optimal cut-off of a continuous score: maximally selected log-rank statistic or time-dependent Youden.

:func:`cutpoint` with ``method="maxstat"`` reproduces survminer's ``surv_cutpoint``
(``maxstat.test(..., smethod = "LogRank", pmethod = "none", minprop, maxprop = 1 - minprop)``):
log-rank scores (exactRankTests ``cscores``), standardised cumulative sums over the
sorted score, the cut is the observed score value maximising the statistic and
"high" means ``score > cut``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import FewEventsWarning, InputError
from .survival import _as_survival
from .timeroc import time_roc

log = logging.getLogger(__name__)


def logrank_scores(time, event) -> np.ndarray:
    """Log-rank (Savage) scores of censored data, as exactRankTests ``cscores(Surv, "LogRank")``."""
    t, e = _as_survival(time, event)
    n = t.size
    order = np.argsort(t, kind="mergesort")
    # ties take the maximum rank, as exactRankTests' irank does
    rank_max = np.searchsorted(np.sort(t), t, side="right")
    fact = e / (n - rank_max + 1)
    cum = np.cumsum(fact[order])
    return e - cum[rank_max - 1]


@dataclass
class CutpointResult:
    """Result of :func:`cutpoint`."""

    cutpoint: float
    statistic: float
    method: str
    n_low: int
    n_high: int
    table: pd.DataFrame = field(repr=False)  # every candidate cut and its statistic

    def assign(self, score) -> np.ndarray:
        """``"high"`` where ``score > cutpoint`` else ``"low"`` (NaN stays NaN)."""
        s = np.asarray(score, dtype=float)
        out = np.where(s > self.cutpoint, "high", "low").astype(object)
        out[np.isnan(s)] = None
        return out


def _maxstat(t, e, x, minprop, maxprop):
    y = logrank_scores(t, e)
    order = np.argsort(x, kind="mergesort")
    y, xs = y[order], x[order]
    n = xs.size
    first = np.r_[True, xs[1:] != xs[:-1]]
    m = np.flatnonzero(first)  # number of observations strictly below each distinct value
    lo, hi = max(1, int(np.floor(n * minprop))), int(np.floor(n * maxprop))
    m = m[(m >= lo) & (m <= hi)]
    if m.size == 0:
        raise InputError(f"no candidate cut-off between minprop={minprop} and maxprop={maxprop} "
                         f"({n} patients, {np.unique(xs).size} distinct scores)")
    ss = y.sum()
    expect = m / n * ss
    var = m * (n - m) / (n ** 2 * (n - 1)) * (n * np.sum(y ** 2) - ss ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        test = np.abs((np.cumsum(y)[m - 1] - expect) / np.sqrt(var))
    cuts = xs[m - 1]
    best = int(np.nanargmax(test)) if np.isfinite(test).any() else 0
    return cuts, test, best


def cutpoint(time, event, score, minprop: float = 0.1, *, method: str = "maxstat",
             horizon: float | None = None) -> CutpointResult:
    """Optimal cut-off of ``score`` for survival.

    Parameters
    ----------
    time, event
        Follow-up and event indicator (1 = event).
    score
        Continuous score (e.g. the Rad-score); higher = higher risk.
    minprop
        ``maxstat``: smallest group proportion (the largest is ``1 - minprop``), as
        survminer's ``surv_cutpoint``.
    method
        ``"maxstat"`` (maximally selected log-rank statistic) or ``"youden"``
        (time-dependent ROC at ``horizon``: cumulative cases, dynamic controls, IPCW;
        the cut maximising sensitivity + specificity - 1).
    horizon
        Time point of the ROC (same unit as ``time``); required for ``"youden"``.

    Returns
    -------
    CutpointResult
        ``cutpoint`` (an observed score value; high risk = ``score > cutpoint``),
        ``statistic`` (standardised log-rank statistic, or Youden's J), candidate table.
    """
    t, e = _as_survival(time, event)
    x = np.asarray(score, dtype=float).ravel()
    if x.size != t.size:
        raise InputError(f"score ({x.size} values) and time ({t.size} values) differ in length")
    keep = ~(np.isnan(t) | np.isnan(e) | np.isnan(x))
    t, e, x = t[keep], e[keep], x[keep]
    if not 0 <= minprop < 0.5:
        raise InputError(f"minprop must be in [0, 0.5), got {minprop}")
    if np.unique(x).size < 2:
        raise InputError("the score has fewer than two distinct values: no cut-off possible")
    if e.sum() == 0:
        warnings.warn("no events: the cut-off is arbitrary", FewEventsWarning, stacklevel=2)
    if method == "maxstat":
        cuts, test, best = _maxstat(t, e, x, minprop, 1 - minprop)
        table = pd.DataFrame({"cut": cuts, "statistic": test})
        cut, stat = float(cuts[best]), float(test[best])
    elif method == "youden":
        if horizon is None:
            raise InputError("method='youden' needs horizon (the time point of the ROC curve)")
        roc = time_roc(t, e, x, horizon)
        j = roc["sensitivity"] + roc["specificity"] - 1
        table = pd.DataFrame({"cut": roc["cut"], "statistic": j,
                              "sensitivity": roc["sensitivity"], "specificity": roc["specificity"]})
        finite = table[np.isfinite(table["cut"])]
        best = finite["statistic"].idxmax()
        cut, stat = float(finite.loc[best, "cut"]), float(finite.loc[best, "statistic"])
    else:
        raise InputError(f"unknown cut-off method {method!r}; use 'maxstat' or 'youden'")
    n_high = int((x > cut).sum())
    return CutpointResult(cut, stat, method, int(x.size - n_high), n_high, table)
