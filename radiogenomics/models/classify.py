"""Binary endpoints: LASSO-logistic signature and a classifier panel, tuned by nested CV.

Seed 003: a LASSO-logistic "Rad-score" with a Youden cutoff (sensitivity/specificity),
decision curve analysis and a reader-vs-model comparison (DeLong; reader + model
probability).  Seed 004: a panel of classifiers (LR, SVM, RF, KNN, NB, MLP, LDA)
compared per endpoint with AUC (95% CI, DeLong), accuracy, precision, recall and F1.

Every model is a scikit-learn pipeline whose imputation, scaling and feature
selection are fitted inside each training fold only.  Hyperparameters are tuned
by an inner CV; an outer CV on the training split estimates performance; the
validation split is touched only by ``predict``.

The store-level wrapper :func:`run_classify` reads the ``features`` and ``clinical``
views and writes ``core.models`` (kind ``classifier``) and ``core.model_results``.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ..exceptions import FewEventsWarning, InputError, ModelError, StatisticalWarning
from ..patient_list import read_patient_list  # noqa: F401 - re-exported (was defined here)
from .delong import auc_ci, delong_test

log = logging.getLogger(__name__)

__all__ = [
    "MODEL_NAMES", "DEFAULT_MODELS", "ModelSpec", "FittedModel", "ClassificationResult",
    "LassoLogisticSignature", "model_spec", "nested_cv", "classify", "youden_cutoff",
    "binary_metrics", "net_benefit", "reader_comparison", "binarize_endpoint",
    "ClassifyData", "load_classify_data", "compute_classify", "write_classify", "run_classify",
]

#: classifier names accepted by ``--models``
MODEL_NAMES = ("lasso", "lr", "svm", "rf", "knn", "nb", "mlp", "lda")
DEFAULT_MODELS = MODEL_NAMES
#: feature sets accepted by ``--features``
FEATURE_SETS = ("radiomics", "clinical", "deep")
#: thresholds of the decision curves
DCA_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


# ---------------------------------------------------------------- estimators
class LassoLogisticSignature(ClassifierMixin, BaseEstimator):
    """LASSO (L1) logistic signature with a Youden cutoff on its training Rad-score.

    The Rad-score is the linear predictor ``intercept + sum(coef * z)`` of the
    standardised (training mean/SD) features; ``predict`` is ``radscore >= cutoff_``.

    Parameters
    ----------
    C
        Inverse L1 penalty strength (smaller = fewer features).
    random_state
        Seed of the solver.

    Attributes
    ----------
    coef_, intercept_
        Coefficients on the standardised features.
    selected_ : ndarray of int
        Indices of the non-zero coefficients.
    cutoff_ : float
        Rad-score cutoff maximising Youden's J on the training data.
    sensitivity_, specificity_ : float
        Training sensitivity and specificity at ``cutoff_``.
    """

    def __init__(self, C: float = 1.0, random_state: int | None = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
        Xi = self.imputer_.transform(X)
        self.mean_ = Xi.mean(axis=0)
        sd = Xi.std(axis=0, ddof=1) if len(Xi) > 1 else np.ones(Xi.shape[1])
        self.scale_ = np.where(sd > 0, sd, 1.0)
        Z = (Xi - self.mean_) / self.scale_
        self.model_ = LogisticRegression(C=self.C, solver="liblinear", max_iter=5000,
                                         random_state=self.random_state, **_L1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkConvergenceWarning)
            self.model_.fit(Z, y)
        self.coef_ = self.model_.coef_.ravel().copy()
        self.intercept_ = float(self.model_.intercept_[0])
        self.selected_ = np.flatnonzero(self.coef_ != 0)
        self.n_features_in_ = X.shape[1]
        score = self.decision_function(X)
        self.cutoff_, self.sensitivity_, self.specificity_ = youden_cutoff(y, score)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The Rad-score (log-odds) of each row."""
        check_is_fitted(self, "coef_")
        Z = (self.imputer_.transform(np.asarray(X, dtype=float)) - self.mean_) / self.scale_
        return Z @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) >= self.cutoff_).astype(int)


def _l1_kwargs() -> dict[str, Any]:
    """L1 penalty spelled for the installed scikit-learn (``penalty`` is deprecated from 1.8)."""
    import sklearn

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}


_L1 = _l1_kwargs()


@dataclass
class ModelSpec:
    """A named estimator and the hyperparameter grid its inner CV searches."""

    name: str
    estimator: Any
    param_grid: dict[str, list] = field(default_factory=dict)


def _k_grid(n_features: int) -> list:
    ks = sorted({k for k in (5, 10) if k < n_features})
    return ks + ["all"] if n_features <= 20 or not ks else ks


def _pipeline(clf, n_features: int, select: bool = True) -> tuple[Pipeline, dict[str, list]]:
    steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
             ("variance", VarianceThreshold(0.0)),
             ("scale", StandardScaler())]
    grid: dict[str, list] = {}
    if select and n_features > 5:
        steps.append(("select", SelectKBest(f_classif, k="all")))
        grid["select__k"] = _k_grid(n_features)
    steps.append(("clf", clf))
    return Pipeline(steps), grid


def model_spec(name: str, n_features: int, n_train: int = 100, seed: int = 0) -> ModelSpec:
    """The default pipeline and grid of one panel model.

    Parameters
    ----------
    name
        One of :data:`MODEL_NAMES`.
    n_features
        Number of input features (sizes the univariate-selection grid: k in 5, 10, 20).
    n_train
        Training size (caps the KNN neighbourhood).
    seed
        Random state of stochastic models.
    """
    if name == "lasso":
        return ModelSpec("lasso", LassoLogisticSignature(random_state=seed),
                         {"C": [0.03, 0.1, 0.3, 1.0, 3.0]})
    if name == "lr":
        pipe, grid = _pipeline(LogisticRegression(max_iter=5000), n_features)
        grid["clf__C"] = [0.1, 1.0]
    elif name == "svm":
        # Platt probabilities fitted by CV inside the training rows (replaces SVC(probability=True))
        svc = CalibratedClassifierCV(SVC(kernel="rbf"), method="sigmoid", cv=3, ensemble=False)
        pipe, grid = _pipeline(svc, n_features)
        grid["clf__estimator__C"] = [0.1, 1.0, 10.0]
    elif name == "rf":
        pipe, grid = _pipeline(RandomForestClassifier(n_estimators=50, min_samples_leaf=2, random_state=seed),
                               n_features, select=False)
        grid["clf__max_depth"] = [3, None]
    elif name == "knn":
        pipe, grid = _pipeline(KNeighborsClassifier(), n_features)
        grid["clf__n_neighbors"] = sorted({max(1, min(k, n_train // 3)) for k in (7, 15)})
    elif name == "nb":
        pipe, grid = _pipeline(GaussianNB(), n_features)
    elif name == "mlp":
        # lbfgs: fast and stable on the small samples of radiomics studies
        pipe, grid = _pipeline(MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=300,
                                             random_state=seed), n_features)
        grid["clf__alpha"] = [0.1, 1.0]
    elif name == "lda":
        pipe, grid = _pipeline(LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"), n_features)
    else:
        raise InputError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return ModelSpec(name, pipe, grid)


# ---------------------------------------------------------------- metrics
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
    from .dca import decision_curve

    return decision_curve(y_true, prob, thresholds)[["threshold", "net_benefit", "treat_all", "treat_none"]]


# ---------------------------------------------------------------- nested CV
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


# ---------------------------------------------------------------- readers
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


# ---------------------------------------------------------------- store level
#: values meaning "not known" in the clinical table (dropped from the endpoint)
MISSING_TOKENS = {"", "na", "n/a", "nan", "none", "unknown", "not collected", "not assessed",
                  "not recorded in database", "not available", "missing"}
#: values taken as the positive class when --positive is not given
POSITIVE_TOKENS = {"mutant", "mutated", "present", "yes", "true", "1", "positive", "translocated",
                   "rearranged", "dead", "deceased"}
#: clinical covariates used by the "clinical" feature set unless told otherwise (pre-operative)
DEFAULT_CLINICAL = ("age", "gender", "smoking_status", "pack_years", "pct_gg")


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip().lower() in MISSING_TOKENS


def binarize_endpoint(values: pd.Series, positive: str | Sequence[str] | None = None) -> tuple[pd.Series, list[str]]:
    """Map a clinical column to 1 (positive), 0 (negative) or NaN (unknown).

    Parameters
    ----------
    values
        The endpoint column (strings, booleans or numbers).
    positive
        Value(s) of the positive class (comma-separated string or list, case-insensitive).
        Default: ``True``/1, a recognised token (Mutant, Present, Yes, ...), or for nodal
        stages (N0/N1/N2...) every stage but N0.

    Returns
    -------
    y : Series of float
    positive_values : list of str
    """
    name = values.name or "endpoint"
    known = values[~values.map(_is_missing)]
    if known.empty:
        raise InputError(f"endpoint {name!r} has no known values")
    text = known.map(lambda v: str(v).strip())
    if positive is None:
        levels = sorted(set(text))
        lower = {lv.lower() for lv in levels}
        if all(re.fullmatch(r"N\d\w*", lv, re.IGNORECASE) for lv in levels) and any(
                lv.upper().startswith("N0") for lv in levels):
            pos = [lv for lv in levels if not lv.upper().startswith("N0")]
        elif lower & POSITIVE_TOKENS and len(lower) == 2:
            pos = [lv for lv in levels if lv.lower() in POSITIVE_TOKENS]
        else:
            raise InputError(f"cannot tell the positive class of endpoint {name!r} (values: {', '.join(levels)}); "
                             "give it with --positive VALUE[,VALUE...]")
    else:
        pos = [p.strip() for p in positive.split(",")] if isinstance(positive, str) else [str(p) for p in positive]
        unknown = {p.lower() for p in pos} - {t.lower() for t in text}
        if unknown:
            raise InputError(f"--positive value(s) {sorted(unknown)} do not occur in endpoint {name!r} "
                             f"(values: {', '.join(sorted(set(text)))})")
    pos_lower = {p.lower() for p in pos}
    y = pd.Series(np.nan, index=values.index, name=name)
    y[known.index] = text.map(lambda v: 1.0 if v.lower() in pos_lower else 0.0).astype(float)
    if y.dropna().nunique() < 2:
        raise InputError(f"endpoint {name!r} has only one class after mapping (positive = {pos})")
    return y, pos


@dataclass
class ClassifyData:
    """Inputs of one classification run, read from the store."""

    endpoint: str
    positive: list[str]
    y: pd.Series                         # index patient_id, 0/1
    feature_sets: dict[str, pd.DataFrame]  # set name -> wide frame (index patient_id)
    train_ids: list[str]
    valid_ids: list[str]
    reader: pd.Series | None = None
    params_hash: str | None = None


def _clinical_matrix(clinical: pd.DataFrame, columns: Sequence[str], endpoint: str) -> pd.DataFrame:
    """Numeric clinical covariates: numbers as is, categories one-hot (unknown -> NaN)."""
    from .nodal import nodal_metrics

    out = {}
    for col in columns:
        if col == endpoint or col not in clinical.columns:
            if col != endpoint:
                log.warning("clinical column %r is not in the clinical table; skipped", col)
            continue
        s = clinical[col]
        num = pd.to_numeric(s, errors="coerce")
        if s.dtype != object or num.notna().sum() >= 0.8 * s.map(lambda v: not _is_missing(v)).sum():
            out[col] = num.astype(float)
            continue
        cat = s.map(lambda v: np.nan if _is_missing(v) else str(v).strip())
        for level in sorted(cat.dropna().unique()):
            dummy = (cat == level).astype(float)
            dummy[cat.isna()] = np.nan
            out[f"{col}={level}"] = dummy
    frame = pd.DataFrame(out, index=clinical.index)
    metrics = nodal_metrics(clinical.reset_index()) if "patient_id" in clinical.reset_index().columns else None
    if metrics is not None and not metrics.empty:
        if _is_nodal_endpoint(endpoint):
            # LNR/LODDS count the pathologically positive nodes: they would restate a nodal endpoint
            log.info("LNR/LODDS not used as covariates of the nodal endpoint %r", endpoint)
        else:
            frame = frame.join(metrics.set_index("patient_id")[["lnr", "lodds"]])
    return frame


_NODAL_ENDPOINT = re.compile(r"(^n_?stage|node|nodal|^lnm|^pn\b|^pn_|^lnr$|^lodds$)", re.IGNORECASE)


def _is_nodal_endpoint(endpoint: str) -> bool:
    """True for endpoints about lymph-node involvement (n_stage, lymph_node_metastasis, lnr, ...)."""
    return bool(_NODAL_ENDPOINT.search(str(endpoint)))


def _default_params_hash() -> str | None:
    """Hash of the default pyradiomics parameter file (None when the imaging arm cannot say)."""
    try:
        from ..imaging.features import load_params

        return load_params(None).hash
    except Exception:  # noqa: BLE001 - only a default; the caller asks for --params-hash instead
        return None


def _wide_features(long: pd.DataFrame) -> pd.DataFrame:
    long = long.assign(column=long["roi"].astype(str) + ":" + long["feature"].astype(str))
    wide = long.pivot_table(index="patient_id", columns="column", values="value", aggfunc="first")
    wide.columns.name = None
    return wide.sort_index(axis=1)


def load_classify_data(store, endpoint: str, positive: str | Sequence[str] | None = None,
                       features: Sequence[str] = ("radiomics", "clinical"), split: float = 0.3, seed: int = 0,
                       train: Sequence[str] | None = None, reader_scores: str | None = None,
                       params_hash: str | None = None, rois: Sequence[str] | None = None,
                       clinical_columns: Sequence[str] | None = None,
                       node_aggregation: Sequence[str] = ("max", "mean", "largest")) -> ClassifyData:
    """Read the endpoint, feature sets, reader scores and the train/validation split from the store.

    Radiomic features come from the ``features`` view (ROIs other than ``deep``; node
    ROIs aggregated per patient, see :func:`radiogenomics.models.nodal.aggregate_nodes`),
    deep features from ROI ``deep``, clinical covariates from the ``clinical`` view.
    The split is stratified by the endpoint unless ``train`` lists the training patients.
    ``rois`` restricts the radiomic ROIs (default: all but ``deep``); any node ROI name in
    it (e.g. ``node``) selects all lymph-node ROIs, aggregated per patient.
    """
    from .nodal import aggregate_nodes, is_node_roi

    if split is not None and not 0 <= split < 1:
        raise InputError(f"--split is the validation fraction and must be in [0, 1), got {split}")
    unknown = set(features) - set(FEATURE_SETS)
    if not features:
        raise InputError(f"no feature sets requested; choose from {', '.join(FEATURE_SETS)}")
    if unknown:
        raise InputError(f"unknown feature set(s) {sorted(unknown)}; choose from {', '.join(FEATURE_SETS)}")
    clinical = store.query("SELECT * FROM clinical").set_index("patient_id")
    if clinical.empty:
        raise InputError("the clinical table is empty; load the clinical CSV first (rg fetch clinical)")
    if endpoint not in clinical.columns:
        extra = clinical["extra"].map(lambda v: json.loads(v) if isinstance(v, str) and v else {}) \
            if "extra" in clinical.columns else pd.Series(dtype=object)
        if len(extra) and extra.map(lambda d: endpoint in d).any():
            clinical[endpoint] = extra.map(lambda d: d.get(endpoint))
        else:
            cols = [c for c in clinical.columns if c not in ("extra", "run_id")]
            raise InputError(f"endpoint {endpoint!r} is not a clinical column; choose one of {', '.join(cols)}")
    y, pos = binarize_endpoint(clinical[endpoint].rename(endpoint), positive)
    y = y.dropna()
    sets: dict[str, pd.DataFrame] = {}
    used_hash = params_hash
    if {"radiomics", "deep"} & set(features):
        feats = store.query("SELECT patient_id, roi, feature, value, params_hash FROM features")
        if "radiomics" in features:
            rad = feats[feats["roi"] != "deep"]
            if rois:
                rad = rad[rad["roi"].isin(rois) | (rad["roi"].map(is_node_roi) & any(map(is_node_roi, rois)))]
            hashes = sorted(rad["params_hash"].unique())
            if params_hash is not None:
                rad = rad[rad["params_hash"] == params_hash]
            elif len(hashes) > 1 and _default_params_hash() in hashes:
                used_hash = _default_params_hash()
                rad = rad[rad["params_hash"] == used_hash]
            elif len(hashes) > 1:
                raise InputError(f"features were extracted with {len(hashes)} parameter sets ({', '.join(hashes)}); "
                                 "choose one with --params-hash")
            elif hashes:
                used_hash = hashes[0]
            if rad.empty:
                if rois and not feats[feats["roi"] != "deep"].empty:
                    present = sorted(feats.loc[feats["roi"] != "deep", "roi"].unique())
                    raise InputError(f"no radiomic features for ROI(s) {', '.join(rois)} (the store has "
                                     f"{', '.join(present)}); choose --rois among those or run `rg features "
                                     "--roi NAME` first")
                raise InputError("no radiomic features in the store; run `rg features` first or drop 'radiomics' "
                                 "from --features")
            nodes = rad["roi"].map(is_node_roi)
            if nodes.any():
                vols = store.query("SELECT patient_id, roi, volume_mm3 FROM rois WHERE status = 'ok' AND reader = 'default'")
                agg = aggregate_nodes(rad[nodes], node_aggregation, volumes=vols)
                rad = pd.concat([rad[~nodes], agg], ignore_index=True)
            sets["radiomics"] = _wide_features(rad)
        if "deep" in features:
            deep = feats[feats["roi"] == "deep"]
            if deep.empty:
                raise InputError("no deep features in the store; run rg deep-features first or drop 'deep'")
            sets["deep"] = _wide_features(deep)
    if "clinical" in features:
        cols = list(clinical_columns) if clinical_columns else list(DEFAULT_CLINICAL)
        sets["clinical"] = _clinical_matrix(clinical, cols, endpoint)
        if sets["clinical"].shape[1] == 0:
            raise InputError(f"none of the clinical columns {cols} is usable")
    # patients with the endpoint and every requested set
    ids = set(y.index)
    for frame in sets.values():
        ids &= set(frame.index)
    ids = sorted(ids)
    if len(ids) < 10:
        raise InputError(f"only {len(ids)} patients have endpoint {endpoint!r} and all of {list(sets)}; need >= 10")
    y = y.loc[ids].astype(int)
    sets = {k: v.loc[ids] for k, v in sets.items()}
    if train is not None:
        train_set = {str(t) for t in train}
        train_ids = [i for i in ids if i in train_set]
        valid_ids = [i for i in ids if i not in train_set]
        if not train_ids:
            raise InputError("none of the --train patients has the endpoint and the requested features")
    elif split and split > 0:
        try:
            train_ids, valid_ids = train_test_split(ids, test_size=split, random_state=seed, stratify=y.loc[ids])
        except ValueError as exc:
            raise InputError(f"cannot split {len(ids)} patients stratified by {endpoint}: {exc}") from exc
        train_ids, valid_ids = sorted(train_ids), sorted(valid_ids)
    else:
        train_ids, valid_ids = ids, []
    reader = None
    if reader_scores:
        if reader_scores not in clinical.columns:
            extra = clinical["extra"].map(lambda v: json.loads(v) if isinstance(v, str) and v else {})
            if not extra.map(lambda d: reader_scores in d).any():
                raise InputError(f"reader-score column {reader_scores!r} is neither a clinical column nor a key "
                                 "of clinical.extra")
            clinical[reader_scores] = extra.map(lambda d: d.get(reader_scores))
        reader = pd.to_numeric(clinical.loc[ids, reader_scores], errors="coerce")
    return ClassifyData(endpoint=endpoint, positive=pos, y=y, feature_sets=sets, train_ids=list(train_ids),
                        valid_ids=list(valid_ids), reader=reader, params_hash=used_hash)


@dataclass
class ClassifyOutcome:
    """Results of :func:`compute_classify`: one ClassificationResult per feature set."""

    data: ClassifyData
    results: dict[str, ClassificationResult]
    readers: pd.DataFrame
    cross_set: pd.DataFrame
    parameters: dict[str, Any]
    #: set by :func:`run_classify` once written: the run and the rows written per table
    run_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """feature_set, model, cohort, auc, auc_lower, auc_upper, accuracy, precision, recall, f1."""
        parts = []
        for name, res in self.results.items():
            m = res.metrics.copy()
            m.insert(0, "feature_set", name)
            parts.append(m)
        return pd.concat(parts, ignore_index=True)


def compute_classify(data: ClassifyData, models: Sequence[str] = DEFAULT_MODELS, seed: int = 0,
                     inner_folds: int = 5, outer_folds: int = 5,
                     progress: Callable[[str], None] | None = None) -> ClassifyOutcome:
    """Fit the panel on each feature set and on their combination (if more than one).

    Reader comparison (when ``data.reader`` is set) uses, per feature set, the model
    with the best out-of-fold training AUC.
    """
    bad = [m for m in models if m not in MODEL_NAMES]
    if bad:
        raise InputError(f"unknown model(s) {bad}; choose from {', '.join(MODEL_NAMES)}")
    if not models:
        raise InputError(f"no models requested; choose from {', '.join(MODEL_NAMES)}")
    _check_folds(inner_folds, outer_folds)
    sets = dict(data.feature_sets)
    if len(sets) > 1:
        sets["combined"] = pd.concat(list(data.feature_sets.values()), axis=1)
    results = {}
    ytr = data.y.loc[data.train_ids]
    yva = data.y.loc[data.valid_ids] if data.valid_ids else None
    for name, frame in sets.items():
        Xtr = frame.loc[data.train_ids]
        Xva = frame.loc[data.valid_ids] if data.valid_ids else None
        results[name] = classify(Xtr, ytr, Xva, yva, models=models, seed=seed, inner_folds=inner_folds,
                                 outer_folds=outer_folds,
                                 progress=(lambda m, n=name: progress(f"{n}:{m}")) if progress else None)
    # DeLong between the best model of every feature set (validation, else cv)
    cross_rows = []
    cohort = "validation" if data.valid_ids else "cv"
    best = {n: r.best_model("cv") for n, r in results.items()}
    y_eval = (yva if data.valid_ids else ytr).to_numpy()
    pairs = itertools.combinations(results, 2) if 0 < y_eval.sum() < len(y_eval) else []
    for a, b in pairs:
        fa, fb = results[a].models[best[a]], results[b].models[best[b]]
        pa = fa.valid_prob if data.valid_ids else fa.oof_prob
        pb = fb.valid_prob if data.valid_ids else fb.oof_prob
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            t = delong_test(y_eval, pa, pb)
        cross_rows.append(dict(model_a=f"{a}:{best[a]}", model_b=f"{b}:{best[b]}", cohort=cohort,
                               auc_a=t.auc_a, auc_b=t.auc_b, z=t.z, pvalue=t.pvalue))
    readers = []
    if data.reader is not None:
        if not data.valid_ids:
            raise InputError("the reader comparison needs a validation cohort (use --split or --train)")
        for name, res in results.items():
            fm = res.models[best[name]]
            tab = reader_comparison(yva.to_numpy(), data.reader.loc[data.valid_ids].to_numpy(), fm.valid_prob,
                                    ytr.to_numpy(), data.reader.loc[data.train_ids].to_numpy(), fm.oof_prob,
                                    seed=seed)
            tab.insert(0, "model", f"{name}:{best[name]}")
            readers.append(tab)
    params = dict(endpoint=data.endpoint, positive=data.positive, feature_sets=list(data.feature_sets),
                  models=list(models), seed=seed, inner_folds=inner_folds, outer_folds=outer_folds,
                  n_train=len(data.train_ids), n_validation=len(data.valid_ids), params_hash=data.params_hash)
    return ClassifyOutcome(data=data, results=results,
                           readers=pd.concat(readers, ignore_index=True) if readers else pd.DataFrame(),
                           cross_set=pd.DataFrame(cross_rows), parameters=params)


def _model_id(endpoint: str, feature_set: str, model: str) -> str:
    return f"classifier:{endpoint}:{feature_set}:{model}"


def write_classify(store, outcome: ClassifyOutcome, run_id: str) -> dict[str, int]:
    """Write models and their evidence; replaces earlier results for the same endpoint.

    ``core.models``: one row per feature set x model (kind ``classifier``).
    ``core.model_results`` analyses (``<endpoint>`` = the endpoint column):
    ``classify:<endpoint>`` (metrics per cohort train|cv|validation),
    ``classify_coef:<endpoint>`` (lasso coefficients), ``classify_delong:<endpoint>``
    (pairs of models; term = the other model), ``classify_dca:<endpoint>`` (term =
    threshold; subjects include ``treat_all``), ``classify_reader:<endpoint>`` and
    ``classify_prediction:<endpoint>`` (term = patient_id, statistic probability).
    """
    data = outcome.data
    ep = data.endpoint
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    model_rows, res_rows = [], []

    def add(analysis, subject, term, statistic, value, cohort):
        res_rows.append(dict(analysis=f"{analysis}:{ep}", subject=subject, term=str(term), statistic=statistic,
                             value=None if value is None or (isinstance(value, float) and np.isnan(value))
                             else float(value), cohort=cohort))

    metric_cols = ["n", "n_positive", "auc", "auc_se", "auc_lower", "auc_upper", "accuracy", "precision", "recall",
                   "f1", "sensitivity", "specificity", "cutoff", "cv_auc_mean", "cv_auc_sd"]
    for fs, res in outcome.results.items():
        for name, fm in res.models.items():
            mid = _model_id(ep, fs, name)
            formula: dict[str, Any] = dict(model=name, feature_set=fs, best_params=fm.best_params,
                                           features=fm.feature_names, positive=data.positive,
                                           cv_aucs=[float(a) for a in fm.cv_aucs], seed=res.seed)
            if isinstance(fm.estimator, LassoLogisticSignature):
                est = fm.estimator
                formula.update(coefficients=fm.coefficients.to_dict(), intercept=est.intercept_,
                               means=dict(zip(fm.feature_names, est.mean_.tolist())),
                               sds=dict(zip(fm.feature_names, est.scale_.tolist())),
                               radscore_cutoff=est.cutoff_, train_sensitivity=est.sensitivity_,
                               train_specificity=est.specificity_)
                for feat, coef in fm.coefficients.items():
                    add("classify_coef", mid, feat, "coef", coef, "train")
                add("classify_coef", mid, "(Intercept)", "coef", est.intercept_, "train")
            model_rows.append(dict(model_id=mid, kind="classifier", endpoint=ep, formula=formula, cutoff=fm.cutoff,
                                   training_patients=list(data.train_ids), params_hash=data.params_hash,
                                   created_at=now))
        for _, row in res.metrics.iterrows():
            mid = _model_id(ep, fs, row["model"])
            for col in metric_cols:
                if col in row and pd.notna(row[col]):
                    add("classify", mid, "", col, row[col], row["cohort"])
        for _, row in res.comparisons.iterrows():
            a, b = _model_id(ep, fs, row["model_a"]), _model_id(ep, fs, row["model_b"])
            for stat in ("z", "pvalue"):
                add("classify_delong", a, b, stat, row[stat], row["cohort"])
            add("classify_delong", a, b, "auc_difference", row["auc_a"] - row["auc_b"], row["cohort"])
        for (model, cohort), grp in res.dca.groupby(["model", "cohort"]) if not res.dca.empty else []:
            mid = _model_id(ep, fs, model)
            for _, r in grp.iterrows():
                add("classify_dca", mid, f"{r['threshold']:.2f}", "net_benefit", r["net_benefit"], cohort)
                add("classify_dca", "treat_all", f"{r['threshold']:.2f}", "net_benefit", r["treat_all"], cohort)
        pred = res.predictions
        for _, r in pred.iterrows():
            mid = _model_id(ep, fs, r["model"])
            add("classify_prediction", mid, r["sample"], "probability", r["probability"], r["cohort"])
            if r["cohort"] == "train":
                add("classify_prediction", mid, r["sample"], "oof_probability", r["oof_probability"], "cv")
    for _, row in outcome.cross_set.iterrows():
        a, b = (f"classifier:{ep}:{row[k]}" for k in ("model_a", "model_b"))
        for stat in ("z", "pvalue"):
            add("classify_delong", a, b, stat, row[stat], row["cohort"])
        add("classify_delong", a, b, "auc_difference", row["auc_a"] - row["auc_b"], row["cohort"])
    for _, row in outcome.readers.iterrows():
        mid = f"classifier:{ep}:{row['model']}"
        for stat in ("auc_a", "auc_b", "ci_a_lower", "ci_a_upper", "ci_b_lower", "ci_b_upper", "z", "pvalue", "n"):
            add("classify_reader", mid, row["comparison"], stat, row[stat], "validation")
    results = pd.DataFrame(res_rows)
    models = pd.DataFrame(model_rows)
    with store.transaction():
        store.delete("model_results", "analysis IN (?, ?, ?, ?, ?, ?)",
                     [f"{a}:{ep}" for a in ("classify", "classify_coef", "classify_delong", "classify_dca",
                                            "classify_reader", "classify_prediction")])
        store.delete("models", "kind = 'classifier' AND endpoint = ?", [ep])
        n_models = store.upsert("models", models, run_id=run_id)
        n_results = store.upsert("model_results", results, run_id=run_id)
    return {"models": n_models, "model_results": n_results}


def run_classify(store, endpoint: str, positive: str | Sequence[str] | None = None,
                 features: Sequence[str] = ("radiomics", "clinical"), models: Sequence[str] = DEFAULT_MODELS,
                 split: float = 0.3, seed: int = 0, train: Sequence[str] | None = None,
                 reader_scores: str | None = None, params_hash: str | None = None,
                 inner_folds: int = 5, outer_folds: int = 5, clinical_columns: Sequence[str] | None = None,
                 rois: Sequence[str] | None = None,
                 progress: Callable[[str], None] | None = None) -> ClassifyOutcome:
    """Read, fit, compare and write one binary endpoint in one call (see :func:`load_classify_data`,
    :func:`compute_classify`, :func:`write_classify`); the run is recorded in ``runs``.

    ``store`` is an open store or a store path; a path is opened read-only to read and
    read-write only to write, so the lock is not held while the models are tuned.  The
    outcome carries the ``run_id`` and the rows written (``counts``).
    """
    from ..store.session import StoreSession, reading

    with reading(store) as st:
        data = load_classify_data(st, endpoint, positive, features, split, seed, train, reader_scores, params_hash,
                                  rois=rois, clinical_columns=clinical_columns)
    outcome = compute_classify(data, models, seed, inner_folds, outer_folds, progress)
    with StoreSession(store).open() as st, st.run("classify", outcome.parameters) as run:
        outcome.counts = write_classify(st, outcome, run.run_id)
        outcome.run_id = run.run_id
    return outcome
