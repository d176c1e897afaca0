"""Model evaluation for survival: clinical vs combined Cox models, calibration, nomogram points.

All functions work on one DataFrame with the duration, event and covariate columns and
use :func:`radiogenomics.models.survival.cox` (Efron ties) with its baseline
hazard for predicted survival ``S(t | x) = exp(-H0(t) exp(x'b))``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import FewEventsWarning, InputError
from .survival import CoxResult, cox, kaplan_meier, km_at
from .timeroc import time_dependent_auc

log = logging.getLogger(__name__)

#: 1, 3 and 5 years in days
YEARS_1_3_5 = (365.25, 1095.75, 1826.25)


def compare_models(df: pd.DataFrame, duration: str, event: str, clinical: Sequence[str], score: str,
                   times: Sequence[float] = YEARS_1_3_5) -> pd.DataFrame:
    """Clinical Cox model vs combined (clinical + ``score``) model.

    Both are fitted on the same complete rows.  Reported per model: Harrell's C, AIC,
    log-likelihood and the IPCW time-dependent AUC of the linear predictor at ``times``;
    plus the likelihood-ratio test of adding the score (nested models).

    Returns
    -------
    DataFrame
        Long table ``model, metric, term, value`` (``term`` = time point for ``td_auc``).
    """
    cols = [duration, event, *clinical, score]
    data = df[cols].dropna()
    models: dict[str, CoxResult] = {}
    rows = []
    for name, covs in (("clinical", list(clinical)), ("combined", [*clinical, score])):
        if not covs:
            continue
        res = cox(data, duration, event, covs)
        models[name] = res
        lp = res.linear_predictor(data)
        rows += [{"model": name, "metric": "cindex", "term": "", "value": res.concordance},
                 {"model": name, "metric": "aic", "term": "", "value": res.aic},
                 {"model": name, "metric": "loglik", "term": "", "value": res.loglik}]
        auc = time_dependent_auc(data[duration], data[event], lp, times)
        rows += [{"model": name, "metric": "td_auc", "term": f"{r.time:g}", "value": r.auc}
                 for r in auc.itertuples()]
    if "clinical" in models:
        lr = 2 * (models["combined"].loglik - models["clinical"].loglik)
        rows += [{"model": "combined_vs_clinical", "metric": "lr_chisq", "term": "", "value": lr},
                 {"model": "combined_vs_clinical", "metric": "lr_p", "term": "", "value": float(stats.chi2.sf(lr, 1))}]
    return pd.DataFrame(rows)


def calibration(time, event, predicted_survival, horizon: float, n_groups: int = 3) -> pd.DataFrame:
    """Calibration at ``horizon``: predicted vs Kaplan-Meier observed survival by risk group.

    Patients are split into ``n_groups`` quantile groups of predicted survival; each group
    reports its mean predicted survival and the observed KM survival with 95% CI.

    Returns
    -------
    DataFrame
        ``group, n, predicted, observed, lower, upper``.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    p = np.asarray(predicted_survival, dtype=float)
    keep = ~(np.isnan(t) | np.isnan(e) | np.isnan(p))
    t, e, p = t[keep], e[keep], p[keep]
    if t.size < n_groups * 5:
        warnings.warn(f"only {t.size} patients for {n_groups} calibration groups", FewEventsWarning, stacklevel=2)
    ranks = pd.Series(p).rank(method="first").to_numpy()
    grp = np.ceil(ranks / t.size * n_groups).astype(int).clip(1, n_groups)
    rows = []
    for g in range(1, n_groups + 1):
        m = grp == g
        if not m.any():
            continue
        at = km_at(kaplan_meier(t[m], e[m]), [horizon]).iloc[0]
        rows.append({"group": g, "n": int(m.sum()), "predicted": float(p[m].mean()),
                     "observed": at["survival"], "lower": at["lower"], "upper": at["upper"]})
    return pd.DataFrame(rows)


def nomogram(model: CoxResult, df: pd.DataFrame, times: Sequence[float] = YEARS_1_3_5,
             max_points: float = 100.0, n_values: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nomogram tables of a Cox model (as ``rms::nomogram``: the widest term spans 0-100 points).

    Parameters
    ----------
    model
        A fitted :func:`cox` result.
    df
        The data the model was fitted on (ranges of numeric covariates).
    times
        Time points of the survival scales.
    n_values
        Values shown per numeric covariate (evenly spaced over its observed range).

    Returns
    -------
    (points, survival)
        ``points``: ``covariate, value, points`` per level / value; ``survival``:
        ``total_points`` then one column ``S(<t>)`` per time point.
    """
    contrib: dict[str, tuple[list, np.ndarray]] = {}
    coef = dict(zip(model.terms, model.coef))
    for cov in model.covariates:
        if cov in model.levels:
            lv = model.levels[cov]
            contrib[cov] = (lv, np.array([0.0] + [coef[f"{cov}{level}"] for level in lv[1:]]))
        else:
            col = df[cov].dropna().astype(float)
            values = np.linspace(col.min(), col.max(), n_values)
            contrib[cov] = (list(values), coef[cov] * values)
    widest = max(float(c.max() - c.min()) for _, c in contrib.values())
    if widest <= 0:
        raise InputError("every coefficient is zero: the nomogram is empty")
    scale = max_points / widest
    rows = []
    offset = 0.0
    for cov, (values, c) in contrib.items():
        offset += c.min()
        for v, ci in zip(values, c):
            rows.append({"covariate": cov, "value": v, "points": float((ci - c.min()) * scale)})
    points = pd.DataFrame(rows)
    max_total = sum(float(c.max() - c.min()) for _, c in contrib.values()) * scale
    total = np.linspace(0, max_total, 11)
    lp = offset + total / scale
    h0 = model.cumulative_baseline_hazard(times)
    surv = pd.DataFrame({"total_points": total})
    for tt, h in zip(times, h0):
        surv[f"S({tt:g})"] = np.exp(-h * np.exp(lp))
    return points, surv
