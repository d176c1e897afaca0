"""Metrics of binary classifiers: Youden cutoff, AUC with DeLong CI and threshold metrics, net benefit,
and the reader-vs-model comparison (DeLong; reader + model probability)."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from ...exceptions import InputError, StatisticalWarning
from ..delong import auc_ci, delong_test

__all__ = ["DCA_THRESHOLDS", "binary_metrics", "net_benefit", "reader_comparison", "youden_cutoff"]

#: thresholds of the decision curves
DCA_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def youden_cutoff(y_true, score) -> tuple[float, float, float]:
    """Cutoff maximising sensitivity + specificity - 1 (``score >= cutoff`` is positive).

    Returns
    -------
    cutoff, sensitivity, specificity
        Ties in J are broken towards the smaller cutoff (more sensitive).
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(score, dtype=float)
    if y.min() == y.max():
        raise InputError("a cutoff needs both classes in the training data")
    best = (-np.inf, np.nan, np.nan, np.nan)
    for c in np.unique(s):
        pred = s >= c
        sens = float(pred[y == 1].mean())
        spec = float((~pred[y == 0]).mean())
        j = sens + spec - 1.0
        if j > best[0] + 1e-12:
            best = (j, float(c), sens, spec)
    return best[1], best[2], best[3]


def binary_metrics(y_true, prob, cutoff: float = 0.5) -> dict[str, float]:
    """AUC (DeLong 95% CI) and threshold metrics of one score on one cohort.

    Returns
    -------
    dict
        ``n, n_positive, auc, auc_se, auc_lower, auc_upper, accuracy, precision,
        recall, f1, sensitivity, specificity, cutoff``; AUC entries are NaN with one class.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, dtype=float)
    pred = p >= cutoff
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    out = dict(n=float(len(y)), n_positive=float(y.sum()))
    if 0 < y.sum() < len(y):
        a = auc_ci(y, p)
        out.update(auc=a.auc, auc_se=a.se, auc_lower=a.ci[0], auc_upper=a.ci[1])
    else:
        out.update(auc=np.nan, auc_se=np.nan, auc_lower=np.nan, auc_upper=np.nan)
    precision = tp / (tp + fp) if tp + fp else np.nan
    recall = tp / (tp + fn) if tp + fn else np.nan
    f1 = 2 * precision * recall / (precision + recall) if tp else (0.0 if tp + fp + fn else np.nan)
    out.update(accuracy=(tp + tn) / len(y), precision=precision, recall=recall, f1=f1,
               sensitivity=recall, specificity=tn / (tn + fp) if tn + fp else np.nan, cutoff=float(cutoff))
    return out


def net_benefit(y_true, prob, thresholds: Sequence[float] = DCA_THRESHOLDS) -> pd.DataFrame:
    """Decision-curve net benefit of "treat if prob >= t" (Vickers & Elkin 2006).

    ``NB(t) = TP/n - FP/n * t / (1 - t)``, with the treat-all and treat-none strategies;
    computed by :func:`radiogenomics.models.dca.decision_curve`.

    Returns
    -------
    DataFrame
        ``threshold, net_benefit, treat_all, treat_none``.
    """
    from ..dca import decision_curve

    return decision_curve(y_true, prob, thresholds)[["threshold", "net_benefit", "treat_all", "treat_none"]]


def reader_comparison(y_valid, reader_valid, prob_valid, y_train=None, reader_train=None, prob_train=None,
                      seed: int = 0, folds: int = 5) -> pd.DataFrame:
    """Reader vs model AUCs (DeLong) and the "reader + model probability" logistic model (seed 003).

    Parameters
    ----------
    y_valid, reader_valid, prob_valid
        Validation outcome, reader score (higher = more likely positive) and model
        probability; patients without a reader score (NaN) are left out.
    y_train, reader_train, prob_train
        Training outcome, reader scores and *out-of-fold* model probabilities.  When
        they hold both classes the combination is fitted on them and applied to the
        validation patients; otherwise it is estimated by ``folds``-fold
        cross-validation within the validation patients.

    Returns
    -------
    DataFrame
        ``comparison, auc_a, auc_b, ci_a_lower, ci_a_upper, ci_b_lower, ci_b_upper, z,
        pvalue, n, method`` for ``model_vs_reader`` and ``reader_plus_model_vs_reader``.
    """
    y = np.asarray(y_valid, dtype=float)
    r = np.asarray(reader_valid, dtype=float)
    p = np.asarray(prob_valid, dtype=float)
    ok = ~np.isnan(y) & ~np.isnan(r) & ~np.isnan(p)
    y, r, p = y[ok].astype(int), r[ok], p[ok]
    if len(y) < 4 or not 0 < y.sum() < len(y):
        raise InputError(f"reader comparison needs validation patients with reader scores in both classes "
                         f"(found {len(y)} with {int(y.sum())} positives)")
    logit = lambda q: np.log(np.clip(q, 1e-6, 1 - 1e-6) / (1 - np.clip(q, 1e-6, 1 - 1e-6)))  # noqa: E731
    Xv = np.column_stack([r, logit(p)])
    method = "cv_within_validation"
    combined = None
    if y_train is not None and reader_train is not None and prob_train is not None:
        yt = np.asarray(y_train, dtype=float)
        rt = np.asarray(reader_train, dtype=float)
        pt = np.asarray(prob_train, dtype=float)
        okt = ~np.isnan(yt) & ~np.isnan(rt) & ~np.isnan(pt)
        if okt.sum() >= 10 and 0 < yt[okt].sum() < okt.sum():
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(np.column_stack([rt[okt], logit(pt[okt])]),
                                                              yt[okt].astype(int))
            combined = lr.predict_proba(Xv)[:, 1]
            method = "fitted_on_training"
    if combined is None:
        k = min(folds, int(min(y.sum(), len(y) - y.sum())))
        if k < 2:
            raise InputError("too few validation patients with reader scores to cross-validate the "
                             "reader + model combination")
        combined = np.full(len(y), np.nan)
        for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(Xv, y):
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(Xv[tr], y[tr])
            combined[te] = lr.predict_proba(Xv[te])[:, 1]
    rows = []
    for name, score in (("model_vs_reader", p), ("reader_plus_model_vs_reader", combined)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            t = delong_test(y, score, r)
        rows.append(dict(comparison=name, auc_a=t.auc_a, auc_b=t.auc_b, ci_a_lower=t.ci_a[0],
                         ci_a_upper=t.ci_a[1], ci_b_lower=t.ci_b[0], ci_b_upper=t.ci_b[1], z=t.z,
                         pvalue=t.pvalue, n=len(y), method=method if name.startswith("reader_plus") else "paired"))
    return pd.DataFrame(rows)
