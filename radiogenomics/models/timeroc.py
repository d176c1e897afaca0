"""Time-dependent ROC (cumulative cases / dynamic controls) with inverse-probability-of-censoring weights.

Cases at time ``t`` are patients with an event by ``t`` (weight ``1/G(T_i)``), controls
are those still event-free after ``t`` (weight ``1/G(t)``), ``G`` being the Kaplan-Meier
estimate of the censoring distribution (an event tied with a censoring comes first) -- as
``sksurv.metrics.cumulative_dynamic_auc`` (R ``timeROC`` uses ``G(T_i-)``; differences are tiny).  A marker above the cut is
"positive".
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ..exceptions import FewEventsWarning, InputError
from .survival import _as_survival


def _censoring_km(t: np.ndarray, e: np.ndarray):
    """Kaplan-Meier of the censoring times; returns G(s) (right-continuous) and G(s-)."""
    times = np.unique(t)
    # an event tied with a censoring happens first: it leaves the censoring risk set (prodlim reverse KM)
    n_risk = np.array([(t >= u).sum() - ((t == u) & (e == 1)).sum() for u in times], dtype=float)
    n_cens = np.array([((t == u) & (e == 0)).sum() for u in times], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_risk > 0, 1 - n_cens / np.where(n_risk > 0, n_risk, 1), 1.0))

    def G(s, left=False):
        s = np.asarray(s, dtype=float)
        idx = np.searchsorted(times, s, side="left" if left else "right") - 1
        return np.where(idx >= 0, surv[np.clip(idx, 0, None)], 1.0)

    return G


def _cases_controls(time, event, marker, horizon):
    t, e = _as_survival(time, event)
    m = np.asarray(marker, dtype=float).ravel()
    if m.size != t.size:
        raise InputError(f"marker ({m.size} values) and time ({t.size} values) differ in length")
    keep = ~(np.isnan(t) | np.isnan(e) | np.isnan(m))
    t, e, m = t[keep], e[keep], m[keep]
    G = _censoring_km(t, e)
    cases = (t <= horizon) & (e == 1)
    controls = t > horizon
    w_cases = 1.0 / G(t[cases])
    return m[cases], w_cases, m[controls]


def time_roc(time, event, marker, horizon: float) -> pd.DataFrame:
    """IPCW time-dependent ROC curve at ``horizon``.

    Returns
    -------
    DataFrame
        ``cut`` (-inf then every distinct marker value), ``sensitivity`` = P(M > cut |
        T <= horizon), ``specificity`` = P(M <= cut | T > horizon).
    """
    mc, wc, mk = _cases_controls(time, event, marker, horizon)
    if mc.size == 0 or mk.size == 0:
        warnings.warn(f"no {'cases' if mc.size == 0 else 'controls'} at time {horizon}: ROC undefined",
                      FewEventsWarning, stacklevel=2)
        return pd.DataFrame({"cut": [-np.inf], "sensitivity": [np.nan], "specificity": [np.nan]})
    cuts = np.r_[-np.inf, np.unique(np.r_[mc, mk])]
    sens = np.array([(wc * (mc > c)).sum() for c in cuts]) / wc.sum()
    spec = np.array([(mk <= c).mean() for c in cuts])
    return pd.DataFrame({"cut": cuts, "sensitivity": sens, "specificity": spec})


def time_dependent_auc(time, event, marker, times: Sequence[float]) -> pd.DataFrame:
    """IPCW cumulative/dynamic AUC at each of ``times`` (ties in the marker count 1/2).

    Returns
    -------
    DataFrame
        ``time, auc, n_cases, n_controls``; AUC is NaN (with a FewEventsWarning) where
        there are no cases or no controls.
    """
    rows = []
    for h in np.atleast_1d(np.asarray(times, dtype=float)):
        mc, wc, mk = _cases_controls(time, event, marker, h)
        if mc.size == 0 or mk.size == 0:
            warnings.warn(f"no {'cases' if mc.size == 0 else 'controls'} at time {h:g}: AUC undefined",
                          FewEventsWarning, stacklevel=2)
            auc = np.nan
        else:
            greater = (mc[:, None] > mk[None, :]).sum(axis=1) + 0.5 * (mc[:, None] == mk[None, :]).sum(axis=1)
            auc = float((wc * greater).sum() / (wc.sum() * mk.size))
        rows.append({"time": h, "auc": auc, "n_cases": int(mc.size), "n_controls": int(mk.size)})
    return pd.DataFrame(rows)
