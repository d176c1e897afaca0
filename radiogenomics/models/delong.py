"""DeLong's test for ROC AUCs (DeLong et al. 1988) with the fast algorithm of Sun & Xu (2014).

The AUC of a score is the Mann-Whitney statistic ``P(score_case > score_control) + 0.5 P(=)``.
DeLong's structural components (placements) give its variance and, for several scores
measured on the same patients, their covariance; the fast algorithm computes them
from midranks in ``O(n log n)``.  Results match R ``pROC`` (``ci.auc(method="delong")``,
``roc.test(method="delong", paired=TRUE)``); see ``tests/data/R/proc/``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..exceptions import InputError, StatisticalWarning

log = logging.getLogger(__name__)

__all__ = ["AUCResult", "DeLongResult", "auc_ci", "delong_test", "delong_placements", "midrank"]


@dataclass(frozen=True)
class AUCResult:
    """One AUC with its DeLong standard error and confidence interval."""

    auc: float
    se: float
    ci: tuple[float, float]
    n_positive: int
    n_negative: int
    direction: str


@dataclass(frozen=True)
class DeLongResult:
    """Paired DeLong comparison of two AUCs measured on the same patients."""

    auc_a: float
    auc_b: float
    ci_a: tuple[float, float]
    ci_b: tuple[float, float]
    se_a: float
    se_b: float
    covariance: float
    z: float
    pvalue: float
    n_positive: int
    n_negative: int

    @property
    def difference(self) -> float:
        return self.auc_a - self.auc_b


def midrank(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` with ties given the mean of the ranks they span."""
    x = np.asarray(x, dtype=float)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    before = np.cumsum(counts) - counts          # values strictly smaller than each unique value
    return (before + (counts + 1) / 2.0)[inverse.ravel()]


def _check_inputs(y_true, scores: list) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise InputError(f"y_true must be one-dimensional (got shape {y.shape})")
    if y.dtype == bool:
        y = y.astype(int)
    try:
        y = y.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError("y_true must be binary 0/1 (or boolean); map the endpoint to 0/1 first") from exc
    if np.isnan(y).any():
        raise InputError("y_true contains missing values; drop those patients first")
    if not set(np.unique(y)) <= {0.0, 1.0}:
        raise InputError(f"y_true must be binary 0/1, got values {sorted(set(np.unique(y)))[:5]}")
    out = []
    for k, s in enumerate(scores):
        s = np.asarray(s, dtype=float)
        if s.shape != y.shape:
            raise InputError(f"score {k} has shape {s.shape} but y_true has {y.shape}")
        if np.isnan(s).any():
            raise InputError(f"score {k} contains missing values; use complete cases only")
        out.append(s)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise InputError(f"AUC needs both classes; y_true has {n_pos} positives out of {len(y)}")
    return y.astype(int), out


def _direction(y: np.ndarray, s: np.ndarray, direction: str) -> str:
    """The orientation used: pROC's ``"auto"`` picks ``"<"`` when median(controls) <= median(cases)."""
    if direction in ("<", ">"):
        return direction
    if direction == "auto":
        return "<" if np.median(s[y == 0]) <= np.median(s[y == 1]) else ">"
    raise InputError(f"direction must be '<', '>' or 'auto', got {direction!r}")


def _resolve_direction(y: np.ndarray, s: np.ndarray, direction: str) -> np.ndarray:
    """Orient a score so that higher means 'positive'."""
    return s if _direction(y, s, direction) == "<" else -s


def delong_placements(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for several scores on the same patients.

    Parameters
    ----------
    y_true
        Binary outcome (1 = positive), shape ``(n,)``.
    scores
        Array-like of shape ``(k, n)``: ``k`` scores, higher = more likely positive.

    Returns
    -------
    aucs : ndarray, shape (k,)
    cov : ndarray, shape (k, k)
        ``S10 / m + S01 / n`` with ``m`` positives and ``n`` negatives (Sun & Xu 2014, eq. 4).
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    y, _ = _check_inputs(y_true, list(scores))
    pos = scores[:, y == 1]
    neg = scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    k = scores.shape[0]
    tx = np.empty((k, m))
    ty = np.empty((k, n))
    tz = np.empty((k, m + n))
    for r in range(k):
        tx[r] = midrank(pos[r])
        ty[r] = midrank(neg[r])
        tz[r] = midrank(np.concatenate([pos[r], neg[r]]))
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1.0) / (2.0 * n)
    v01 = (tz[:, :m] - tx) / n          # placement of each positive among the negatives
    v10 = 1.0 - (tz[:, m:] - ty) / m    # placement of each negative among the positives
    s01 = np.atleast_2d(np.cov(v01)) if m > 1 else np.zeros((k, k))
    s10 = np.atleast_2d(np.cov(v10)) if n > 1 else np.zeros((k, k))
    cov = s01 / m + s10 / n
    return aucs, cov


def _ci(auc: float, var: float, level: float) -> tuple[float, float]:
    if not np.isfinite(var) or var < 0:
        return (float("nan"), float("nan"))
    half = stats.norm.ppf(0.5 + level / 2.0) * np.sqrt(var)
    # pROC clips the normal interval to [0, 1]
    return (float(max(0.0, auc - half)), float(min(1.0, auc + half)))


def auc_ci(y_true, score, level: float = 0.95, direction: str = "<") -> AUCResult:
    """AUC of one score with its DeLong 95% confidence interval.

    Parameters
    ----------
    y_true
        Binary outcome (1 = positive).
    score
        Continuous score; with ``direction="<"`` higher values mean positive.
    level
        Confidence level of the interval.
    direction
        ``"<"`` (controls < cases), ``">"`` or ``"auto"`` (as pROC's default).

    Returns
    -------
    AUCResult
        ``auc``, ``se``, ``ci`` (clipped to [0, 1] like pROC), class counts.
    """
    y, (s,) = _check_inputs(y_true, [score])
    used = _direction(y, s, direction)
    aucs, cov = delong_placements(y, (s if used == "<" else -s)[None, :])
    var = float(cov[0, 0])
    auc = float(aucs[0])
    return AUCResult(auc=auc, se=float(np.sqrt(max(var, 0.0))), ci=_ci(auc, var, level),
                     n_positive=int(y.sum()), n_negative=int((1 - y).sum()), direction=used)


def delong_test(y_true, score_a, score_b, level: float = 0.95, direction: str = "<") -> DeLongResult:
    """Two-sided paired DeLong test of ``AUC(score_a) == AUC(score_b)``.

    Parameters
    ----------
    y_true
        Binary outcome (1 = positive), shape ``(n,)``.
    score_a, score_b
        Two scores measured on the same ``n`` patients.
    level
        Confidence level of ``ci_a`` and ``ci_b``.
    direction
        Orientation applied to each score separately (``"<"``: higher = positive;
        ``"auto"`` decides per score like pROC).

    Returns
    -------
    DeLongResult
        ``auc_a``, ``auc_b``, ``ci_a``, ``ci_b``, ``z``, ``pvalue`` (two-sided), the
        standard errors and their covariance.  ``z`` and ``pvalue`` are NaN when
        the two scores are identical in ranking (zero variance of the difference).
    """
    y, (a, b) = _check_inputs(y_true, [score_a, score_b])
    a = _resolve_direction(y, a, direction)
    b = _resolve_direction(y, b, direction)
    aucs, cov = delong_placements(y, np.vstack([a, b]))
    var_diff = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    diff = aucs[0] - aucs[1]
    if var_diff <= 1e-15:
        warnings.warn("the two scores rank the patients identically; DeLong's z is undefined",
                      StatisticalWarning, stacklevel=2)
        z = float("nan")
        p = float("nan")
    else:
        z = float(diff / np.sqrt(var_diff))
        p = float(2.0 * stats.norm.sf(abs(z)))
    return DeLongResult(auc_a=float(aucs[0]), auc_b=float(aucs[1]),
                        ci_a=_ci(float(aucs[0]), float(cov[0, 0]), level),
                        ci_b=_ci(float(aucs[1]), float(cov[1, 1]), level),
                        se_a=float(np.sqrt(max(cov[0, 0], 0.0))), se_b=float(np.sqrt(max(cov[1, 1], 0.0))),
                        covariance=float(cov[0, 1]), z=z, pvalue=p,
                        n_positive=int(y.sum()), n_negative=int((1 - y).sum()))
