"""Estimators of the binary-endpoint panel: the LASSO-logistic signature and the pipelines it is compared with.

Every panel model is a scikit-learn pipeline whose imputation, scaling and univariate
selection are fitted inside each training fold only (see :mod:`.cv`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from ...exceptions import InputError
from .metrics import youden_cutoff

__all__ = ["MODEL_NAMES", "DEFAULT_MODELS", "LassoLogisticSignature", "ModelSpec", "model_spec"]

#: classifier names accepted by ``--models``
MODEL_NAMES = ("lasso", "lr", "svm", "rf", "knn", "nb", "mlp", "lda")
DEFAULT_MODELS = MODEL_NAMES


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
