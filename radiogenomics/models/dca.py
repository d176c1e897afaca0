"""Decision curve analysis (Vickers & Elkin 2006): net benefit against the threshold probability.

``net benefit = TP/n - FP/n * pt / (1 - pt)`` for "treat if predicted risk >= pt".
:func:`decision_curve` works on a binary outcome; :func:`decision_curve_survival` on
censored data at a time horizon, where the event probability among the patients above the
threshold is estimated by Kaplan-Meier (Vickers 2008, ``stdca``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InputError
from .survival import _as_survival, kaplan_meier, km_at

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def _thresholds(thresholds) -> np.ndarray:
    th = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=float)
    if np.any((th <= 0) | (th >= 1)):
        raise InputError("decision-curve thresholds must be strictly between 0 and 1")
    return th


def _risk(risk, n) -> np.ndarray:
    r = np.asarray(risk, dtype=float).ravel()
    if r.size != n:
        raise InputError(f"risk ({r.size} values) and outcome ({n} values) differ in length")
    if np.any((r[~np.isnan(r)] < 0) | (r[~np.isnan(r)] > 1)):
        raise InputError("predicted risks must be probabilities in [0, 1]")
    return r


def decision_curve(y_true, risk, thresholds=None) -> pd.DataFrame:
    """Net benefit of a model for a binary outcome.

    Parameters
    ----------
    y_true
        Outcome (1 = event / positive).
    risk
        Predicted probability of the outcome.
    thresholds
        Threshold probabilities (default 0.01 .. 0.99).

    Returns
    -------
    DataFrame
        ``threshold, net_benefit, treat_all, treat_none, n_positive``.
    """
    y = np.asarray(y_true, dtype=float).ravel()
    r = _risk(risk, y.size)
    keep = ~(np.isnan(y) | np.isnan(r))
    y, r = y[keep], r[keep]
    if not np.isin(y, (0, 1)).all():
        raise InputError("y_true must be 0/1")
    n = y.size
    prevalence = y.mean()
    rows = []
    for pt in _thresholds(thresholds):
        pos = r >= pt
        odds = pt / (1 - pt)
        tp, fp = float((pos & (y == 1)).sum()), float((pos & (y == 0)).sum())
        rows.append({"threshold": pt, "net_benefit": tp / n - fp / n * odds,
                     "treat_all": prevalence - (1 - prevalence) * odds, "treat_none": 0.0,
                     "n_positive": int(pos.sum())})
    return pd.DataFrame(rows)


def decision_curve_survival(time, event, risk, horizon: float, thresholds=None) -> pd.DataFrame:
    """Net benefit at ``horizon`` for censored outcomes (risk = predicted P(event by horizon)).

    Returns
    -------
    DataFrame
        ``threshold, net_benefit, treat_all, treat_none, n_positive`` (Kaplan-Meier event
        probability among patients with ``risk >= threshold``).
    """
    t, e = _as_survival(time, event)
    r = _risk(risk, t.size)
    keep = ~(np.isnan(t) | np.isnan(e) | np.isnan(r))
    t, e, r = t[keep], e[keep], r[keep]
    n = t.size

    def event_prob(mask):
        s = km_at(kaplan_meier(t[mask], e[mask]), [horizon])["survival"].iloc[0]
        return 1.0 - s

    p_all = event_prob(np.ones(n, bool))
    rows = []
    for pt in _thresholds(thresholds):
        pos = r >= pt
        odds = pt / (1 - pt)
        frac = pos.mean()
        if frac == 0:
            nb = 0.0
        else:
            p = event_prob(pos)
            nb = p * frac - (1 - p) * frac * odds
        rows.append({"threshold": pt, "net_benefit": nb, "treat_all": p_all - (1 - p_all) * odds,
                     "treat_none": 0.0, "n_positive": int(pos.sum())})
    return pd.DataFrame(rows)
