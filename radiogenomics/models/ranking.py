"""Feature ranking for survival: mRMR scores and random-survival-forest importance, top-k union.

mRMR (minimum redundancy, maximum relevance; MID form as R ``mRMRe``): relevance of a
feature is ``|2 C - 1|`` (Somers' D of Harrell's C against the censored outcome, what
mRMRe uses for survival targets), redundancy is the mean absolute Pearson correlation with
the features already chosen; features are picked greedily by relevance - redundancy.
RSF importance is the permutation importance (drop in C-index) of a scikit-survival
``RandomSurvivalForest``, the analogue of randomForestSRC's VIMP.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from ..exceptions import FewEventsWarning, InputError
from .survival import _as_survival, concordance_index

log = logging.getLogger(__name__)


def _check(X: pd.DataFrame, time, event):
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X, dtype=float), columns=[f"x{i}" for i in range(np.shape(X)[1])])
    t, e = _as_survival(time, event)
    if len(X) != t.size:
        raise InputError(f"features have {len(X)} rows but the outcome has {t.size}")
    if X.isna().any().any():
        bad = list(X.columns[X.isna().any()])[:5]
        raise InputError(f"features contain missing values (e.g. {bad}); drop or impute them before ranking")
    return X, t, e


def mrmr_scores(X: pd.DataFrame, time, event, k: int | None = None) -> pd.DataFrame:
    """Greedy mRMR ranking of survival features.

    Parameters
    ----------
    X
        Features (patients x features).
    time, event
        The survival outcome.
    k
        Number of features to rank (default all).

    Returns
    -------
    DataFrame
        ``feature, relevance, redundancy, score, rank`` for the ``k`` chosen features in
        selection order (``rank`` 1 = first chosen).
    """
    X, t, e = _check(X, time, event)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewEventsWarning)
        rel = np.array([abs(2 * concordance_index(t, e, X[c].to_numpy()) - 1) for c in X.columns])
    rel = np.nan_to_num(rel)
    values = X.to_numpy(dtype=float)
    sd = values.std(axis=0)
    z = np.divide(values - values.mean(axis=0), np.where(sd > 0, sd, 1.0))
    k = X.shape[1] if k is None else min(k, X.shape[1])
    chosen: list[int] = []
    red_sum = np.zeros(X.shape[1])
    rows = []
    for rank in range(1, k + 1):
        red = red_sum / len(chosen) if chosen else np.zeros_like(red_sum)
        score = rel - red
        score[chosen] = -np.inf
        j = int(np.argmax(score))
        rows.append({"feature": X.columns[j], "relevance": rel[j], "redundancy": red[j],
                     "score": score[j], "rank": rank})
        chosen.append(j)
        red_sum += np.abs(z.T @ z[:, j]) / z.shape[0]
    return pd.DataFrame(rows)


def rsf_importance(X: pd.DataFrame, time, event, *, n_estimators: int = 100, n_repeats: int = 3,
                   min_samples_leaf: int = 3, random_state: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """Permutation importance of a random survival forest (mean drop of the C-index).

    Returns
    -------
    DataFrame
        ``feature, importance, importance_sd, rank`` sorted by decreasing importance.
    """
    from sklearn.inspection import permutation_importance
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.util import Surv

    X, t, e = _check(X, time, event)
    y = Surv.from_arrays(event=e.astype(bool), time=t)
    forest = RandomSurvivalForest(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
                                  max_features="sqrt", random_state=random_state, n_jobs=n_jobs)
    forest.fit(X.to_numpy(dtype=float), y)
    imp = permutation_importance(forest, X.to_numpy(dtype=float), y, n_repeats=n_repeats,
                                 random_state=random_state, n_jobs=n_jobs)
    out = pd.DataFrame({"feature": X.columns, "importance": imp.importances_mean,
                        "importance_sd": imp.importances_std})
    out = out.sort_values("importance", ascending=False, kind="mergesort").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def rank_features(X: pd.DataFrame, time, event, top_k: int = 20, *, random_state: int = 0,
                  rsf_kwargs: dict | None = None) -> tuple[list[str], pd.DataFrame]:
    """Top ``top_k`` by mRMR and top ``top_k`` by RSF importance; their union.

    Returns
    -------
    (list of str, DataFrame)
        The union (mRMR order first, then RSF additions) and a long table
        ``feature, method, value, rank`` of both rankings.
    """
    m = mrmr_scores(X, time, event, k=top_k)
    r = rsf_importance(X, time, event, random_state=random_state, **(rsf_kwargs or {}))
    top_r = r.head(top_k)
    union = list(dict.fromkeys(list(m["feature"]) + list(top_r["feature"])))
    table = pd.concat([
        pd.DataFrame({"feature": m["feature"], "method": "mrmr", "value": m["score"], "rank": m["rank"]}),
        pd.DataFrame({"feature": r["feature"], "method": "rsf", "value": r["importance"], "rank": r["rank"]}),
    ], ignore_index=True)
    log.info("ranking: %d mRMR + %d RSF -> %d features in the union", len(m), len(top_r), len(union))
    return union, table
