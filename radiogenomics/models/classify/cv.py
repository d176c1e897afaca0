"""Nested cross-validation of the panel: inner CV tunes, outer CV estimates, validation is only predicted.

:func:`classify` tunes, evaluates and compares the models of :mod:`.estimators` on one
feature matrix; nothing here reads or writes the store.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

from ...exceptions import FewEventsWarning, InputError, ModelError, StatisticalWarning
from ..delong import auc_ci, delong_test
from .estimators import DEFAULT_MODELS, LassoLogisticSignature, ModelSpec, model_spec
from .metrics import DCA_THRESHOLDS, binary_metrics, net_benefit, youden_cutoff

log = logging.getLogger(__name__)

__all__ = ["ClassificationResult", "FittedModel", "classify", "nested_cv"]

def _n_splits(y: np.ndarray, wanted: int) -> int:
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < 2:
        raise ModelError(f"the training data has {minority} patient(s) in the smaller class; "
                         "cross-validation needs at least 2 (choose another endpoint or --positive)")
    if minority < wanted:
        warnings.warn(f"only {minority} patients in the smaller class: using {minority}-fold CV",
                      FewEventsWarning, stacklevel=3)
    return min(wanted, minority)


def _quiet_sklearn() -> None:
    """Silence solver chatter inside CV loops (convergence; k > features after variance filter)."""
    warnings.simplefilter("ignore", SkConvergenceWarning)
    warnings.filterwarnings("ignore", message=r"k=\d+ is greater than n_features")
    warnings.filterwarnings("ignore", category=RuntimeWarning)


def _positive_prob(est, X) -> np.ndarray:
    return np.asarray(est.predict_proba(X))[:, 1]


def _search(spec: ModelSpec, inner: int, seed: int) -> GridSearchCV:
    return GridSearchCV(clone(spec.estimator), spec.param_grid or {}, scoring="roc_auc",
                        cv=StratifiedKFold(inner, shuffle=True, random_state=seed), refit=True,
                        error_score=np.nan)


def nested_cv(spec: ModelSpec, X: np.ndarray, y: np.ndarray, inner_folds: int = 5, outer_folds: int = 5,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outer-CV AUCs and out-of-fold probabilities of a model tuned by an inner CV.

    Each outer training fold runs its own grid search (inner CV); the outer test fold
    is only predicted.  Pass the training split only.

    Returns
    -------
    fold_aucs : ndarray
    oof_prob : ndarray
        Out-of-fold probability of every training row.
    """
    y = np.asarray(y).astype(int)
    outer = StratifiedKFold(_n_splits(y, outer_folds), shuffle=True, random_state=seed)
    oof = np.full(len(y), np.nan)
    aucs = []
    for fold, (tr, te) in enumerate(outer.split(X, y)):
        inner = _n_splits(y[tr], inner_folds)
        search = _search(spec, inner, seed + 1 + fold)
        with warnings.catch_warnings():
            _quiet_sklearn()
            search.fit(X[tr], y[tr])
        oof[te] = _positive_prob(search.best_estimator_, X[te])
        if 0 < y[te].sum() < len(te):
            aucs.append(auc_ci(y[te], oof[te]).auc)
    return np.asarray(aucs), oof


# ---------------------------------------------------------------- results
@dataclass
class FittedModel:
    """One tuned model: the final estimator (refitted on all training rows) and its evidence."""

    name: str
    estimator: Any
    best_params: dict[str, Any]
    cv_aucs: np.ndarray
    oof_prob: np.ndarray
    train_prob: np.ndarray
    valid_prob: np.ndarray | None
    cutoff: float
    feature_names: list[str]

    @property
    def coefficients(self) -> pd.Series:
        """Non-zero coefficients (standardised features) of the lasso signature; empty otherwise."""
        est = self.estimator
        if isinstance(est, LassoLogisticSignature):
            coef = pd.Series(est.coef_, index=self.feature_names)
            return coef[coef != 0]
        return pd.Series(dtype=float)


@dataclass
class ClassificationResult:
    """Everything :func:`classify` computed (tables are tidy/long-friendly)."""

    models: dict[str, FittedModel]
    metrics: pd.DataFrame          # model, cohort (train|cv|validation), n, auc, auc_lower, ...
    comparisons: pd.DataFrame      # model_a, model_b, cohort, auc_a, auc_b, z, pvalue
    dca: pd.DataFrame              # model, cohort, threshold, net_benefit, treat_all, treat_none
    predictions: pd.DataFrame      # sample, cohort, model, probability
    seed: int = 0

    def best_model(self, cohort: str = "cv") -> str:
        """Name of the model with the highest AUC in ``cohort``."""
        sel = self.metrics[self.metrics["cohort"] == cohort].dropna(subset=["auc"])
        if sel.empty:
            raise ModelError(f"no AUC for cohort {cohort!r}")
        return str(sel.sort_values("auc", ascending=False)["model"].iloc[0])


def _as_frame(X, feature_names) -> tuple[np.ndarray, list[str], pd.Index]:
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        index = X.index
        bad = [str(c) for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        if bad:
            raise InputError(f"feature columns {bad[:5]} are not numeric; encode them (e.g. one-hot) first")
        arr = X.to_numpy(dtype=float)
    else:
        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2:
            raise InputError(f"X must be 2-dimensional, got shape {arr.shape}")
        names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(arr.shape[1])]
        index = pd.RangeIndex(arr.shape[0])
    return arr, names, index


def _as_binary(y, what: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype == bool:
        arr = arr.astype(int)
    arr = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=float)
    if np.isnan(arr).any() or not set(np.unique(arr)) <= {0.0, 1.0}:
        raise InputError(f"{what} must be 0/1 without missing values (map the endpoint with binarize_endpoint)")
    return arr.astype(int)


def _check_folds(inner_folds: int, outer_folds: int) -> None:
    for flag, value in (("--inner-folds", inner_folds), ("--outer-folds", outer_folds)):
        if int(value) < 2:
            raise InputError(f"{flag} (folds of cross-validation) must be at least 2, got {value}")


def classify(X_train, y_train, X_valid=None, y_valid=None, models: Iterable[str | ModelSpec] = DEFAULT_MODELS,
             seed: int = 0, inner_folds: int = 5, outer_folds: int = 5, feature_names: Sequence[str] | None = None,
             thresholds: Sequence[float] = DCA_THRESHOLDS,
             progress: Callable[[str], None] | None = None) -> ClassificationResult:
    """Tune, evaluate and compare binary classifiers without touching the validation rows.

    Parameters
    ----------
    X_train, y_train
        Training features (DataFrame or array; NaN allowed, imputed per fold) and 0/1 outcome.
    X_valid, y_valid
        Optional validation cohort: only ever passed to ``predict_proba``.
    models
        Names from :data:`MODEL_NAMES` or :class:`ModelSpec` objects.
    seed
        Seed of the CV splits and stochastic models.
    inner_folds, outer_folds
        Folds of the hyperparameter search and of the performance estimate.
    feature_names
        Column names when arrays are given.
    thresholds
        Threshold probabilities of the decision curves.
    progress
        Called with each model name when it starts.

    Returns
    -------
    ClassificationResult
        Per model: outer-CV AUCs and out-of-fold probabilities, the final model refitted
        on all training rows, metrics for ``train`` (apparent), ``cv`` (pooled out-of-fold)
        and ``validation``; paired DeLong tests between models; decision curves.
        Cutoffs: the lasso's own training Youden cutoff; other models use the Youden
        cutoff of their out-of-fold training probabilities.
    """
    Xtr, names, idx_tr = _as_frame(X_train, feature_names)
    ytr = _as_binary(y_train, "y_train")
    if len(ytr) != len(Xtr):
        raise InputError(f"X_train has {len(Xtr)} rows but y_train has {len(ytr)}")
    has_valid = X_valid is not None
    if has_valid:
        Xva, vnames, idx_va = _as_frame(X_valid, names)
        if vnames != names:
            raise InputError("X_valid must have the same columns, in the same order, as X_train")
        yva = _as_binary(y_valid, "y_valid")
        if len(yva) != len(Xva):
            raise InputError(f"X_valid has {len(Xva)} rows but y_valid has {len(yva)}")
    _check_folds(inner_folds, outer_folds)
    specs = [m if isinstance(m, ModelSpec) else model_spec(m, Xtr.shape[1], len(ytr), seed) for m in models]
    if not specs:
        raise InputError("no models requested")
    # small matrices: BLAS threads only contend (25x slower on a loaded machine)
    with threadpool_limits(1):
        return _classify(specs, Xtr, ytr, names, idx_tr, Xva if has_valid else None,
                         yva if has_valid else None, idx_va if has_valid else None,
                         seed, inner_folds, outer_folds, thresholds, progress)


def _classify(specs, Xtr, ytr, names, idx_tr, Xva, yva, idx_va, seed, inner_folds, outer_folds, thresholds,
              progress) -> ClassificationResult:
    has_valid = Xva is not None
    fitted: dict[str, FittedModel] = {}
    metric_rows, pred_rows, dca_rows = [], [], []
    for spec in specs:
        if progress:
            progress(spec.name)
        log.info("tuning %s (%d training rows, %d features)", spec.name, len(ytr), Xtr.shape[1])
        cv_aucs, oof = nested_cv(spec, Xtr, ytr, inner_folds, outer_folds, seed)
        search = _search(spec, _n_splits(ytr, inner_folds), seed)
        with warnings.catch_warnings():
            _quiet_sklearn()
            search.fit(Xtr, ytr)
        est = search.best_estimator_
        train_prob = _positive_prob(est, Xtr)
        if isinstance(est, LassoLogisticSignature):
            cutoff = float(1.0 / (1.0 + np.exp(-est.cutoff_)))  # rad-score cutoff on the probability scale
            if est.selected_.size == 0:
                warnings.warn("the LASSO selected no feature: the signature is constant",
                              StatisticalWarning, stacklevel=2)
        else:
            cutoff = youden_cutoff(ytr, oof)[0]
        valid_prob = _positive_prob(est, Xva) if has_valid else None
        fitted[spec.name] = FittedModel(spec.name, est, dict(search.best_params_), cv_aucs, oof,
                                        train_prob, valid_prob, cutoff, names)
        cohorts = [("train", ytr, train_prob), ("cv", ytr, oof)] + ([("validation", yva, valid_prob)]
                                                                      if has_valid else [])
        for cohort, yy, pp in cohorts:
            row = dict(model=spec.name, cohort=cohort, **binary_metrics(yy, pp, cutoff))
            if cohort == "cv":
                row.update(cv_auc_mean=float(np.mean(cv_aucs)) if len(cv_aucs) else np.nan,
                           cv_auc_sd=float(np.std(cv_aucs, ddof=1)) if len(cv_aucs) > 1 else np.nan)
            metric_rows.append(row)
            if cohort != "cv":
                dca = net_benefit(yy, pp, thresholds)
                dca.insert(0, "cohort", cohort)
                dca.insert(0, "model", spec.name)
                dca_rows.append(dca)
        pred_rows.append(pd.DataFrame({"sample": idx_tr, "cohort": "train", "model": spec.name,
                                       "probability": train_prob, "oof_probability": oof}))
        if has_valid:
            pred_rows.append(pd.DataFrame({"sample": idx_va, "cohort": "validation", "model": spec.name,
                                           "probability": valid_prob, "oof_probability": np.nan}))
    comparisons = _compare(fitted, ytr, yva if has_valid else None)
    return ClassificationResult(models=fitted, metrics=pd.DataFrame(metric_rows), comparisons=comparisons,
                                dca=pd.concat(dca_rows, ignore_index=True) if dca_rows else pd.DataFrame(),
                                predictions=pd.concat(pred_rows, ignore_index=True), seed=seed)


def _compare(fitted: Mapping[str, FittedModel], ytr: np.ndarray, yva: np.ndarray | None) -> pd.DataFrame:
    """Paired DeLong tests between every pair of models (cv out-of-fold and validation)."""
    rows = []
    for a, b in itertools.combinations(fitted, 2):
        cohorts = [("cv", ytr, fitted[a].oof_prob, fitted[b].oof_prob)]
        if yva is not None:
            cohorts.append(("validation", yva, fitted[a].valid_prob, fitted[b].valid_prob))
        for cohort, y, pa, pb in cohorts:
            if not 0 < y.sum() < len(y):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                r = delong_test(y, pa, pb)
            rows.append(dict(model_a=a, model_b=b, cohort=cohort, auc_a=r.auc_a, auc_b=r.auc_b,
                             z=r.z, pvalue=r.pvalue))
    return pd.DataFrame(rows, columns=["model_a", "model_b", "cohort", "auc_a", "auc_b", "z", "pvalue"])
