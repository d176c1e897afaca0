"""The Rad-score: z-scoring, optional mRMR/RSF pre-selection and LASSO-Cox with cross-validated lambda.

``RadScore`` is an sklearn-style estimator; everything it learns (means, sds, ranking,
lambda, coefficients) comes from the rows passed to :meth:`RadScore.fit` only.  The
fitted formula is a plain dict (:meth:`RadScore.to_formula`) that can be stored, exported
as JSON and turned back into a predictor with :meth:`RadScore.from_formula`.

Lambda selection follows ``cv.glmnet(family = "cox")``: the lambda path of the full fit,
``k`` seeded folds, the "grouped" partial-likelihood deviance (Verweij & van Houwelingen:
deviance of the full data minus that of the training folds at the fold's coefficients),
per-fold values divided by the fold's events and averaged weighted by them;
``lambda.min`` minimises it, ``lambda.1se`` is the largest lambda within one standard
error.  The penalty is the glmnet one (``alpha`` here = glmnet's ``lambda``) with
Breslow ties, so fixed-lambda coefficients reproduce ``glmnet(..., standardize = FALSE)``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..exceptions import (AllZeroCoefficientsWarning, ConvergenceWarning, DataQualityWarning, FewEventsWarning,
                          InputError, ModelError)
from .survival import _as_survival

log = logging.getLogger(__name__)


def _split_y(y) -> tuple[np.ndarray, np.ndarray]:
    """(time, event) from a sksurv structured array, a 2-column frame/array or a (time, event) tuple."""
    if isinstance(y, tuple) and len(y) == 2:
        return _as_survival(y[0], y[1])
    if isinstance(y, np.ndarray) and y.dtype.names:
        names = y.dtype.names
        ev = next((n for n in names if y[n].dtype == bool), names[0])
        tm = next(n for n in names if n != ev)
        return _as_survival(y[tm], y[ev])
    if isinstance(y, pd.DataFrame):
        cols = {c.lower(): c for c in y.columns}
        if "time" in cols and "event" in cols:
            return _as_survival(y[cols["time"]], y[cols["event"]])
        return _as_survival(y.iloc[:, 0], y.iloc[:, 1])
    arr = np.asarray(y, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return _as_survival(arr[:, 0], arr[:, 1])
    raise InputError("y must be a sksurv structured array, a (time, event) tuple or a 2-column "
                     "time/event table")


def breslow_loglik(X: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Breslow log partial likelihood for each column of ``beta`` (p x m) -> m values."""
    eta = X @ beta
    eta = eta if eta.ndim == 2 else eta[:, None]
    order = np.argsort(time, kind="mergesort")
    ts, es, etas = time[order], event[order], eta[order]
    shift = etas.max(axis=0)
    w = np.exp(etas - shift)
    s0 = np.cumsum(w[::-1], axis=0)[::-1]
    first = np.searchsorted(ts, ts, side="left")  # risk set {time >= t_i} starts at the first tie
    log_r = np.log(s0[first]) + shift
    return ((etas - log_r) * es[:, None]).sum(axis=0)


def coxnet_deviance(X, time, event, beta) -> np.ndarray:
    """glmnet's Cox deviance ``2 (loglik_saturated - loglik)`` (Breslow), per column of beta."""
    d_times = time[event == 1]
    _, counts = np.unique(d_times, return_counts=True)
    lsat = -np.sum(counts * np.log(counts))
    return 2.0 * (lsat - breslow_loglik(X, time, event, beta))


class RadScore(BaseEstimator):
    """LASSO-Cox Rad-score (sklearn-style).

    Parameters
    ----------
    alpha
        Fixed penalty (glmnet's lambda).  ``None`` (default) chooses it by k-fold CV.
    n_folds
        Folds of the cross-validation (default 10, as the reference study).
    lambda_rule
        ``"min"`` (lambda.min) or ``"1se"`` (lambda.1se).
    n_alphas, alpha_min_ratio
        The lambda path (as glmnet's ``nlambda``, ``lambda.min.ratio``).
    standardize
        z-score features with the training mean and sd (ddof 1) before the LASSO
        (default).  ``False`` fits the raw values (means 0, sds 1), as
        ``glmnet(standardize = FALSE)``.
    top_k
        If set, rank features on the training rows by mRMR and RSF importance and keep the
        union of the top ``top_k`` of each before the LASSO (default ``None``: no ranking).
    random_state
        Seed of the fold assignment and of the random survival forest.
    tol, max_iter
        Coordinate-descent convergence settings of scikit-survival's Coxnet.
    alphas
        scikit-survival Coxnet's spelling: one value (``alphas=[value]``) is a fixed penalty
        like ``alpha=value``; several values are the lambda path searched by CV (instead of
        ``n_alphas`` / ``alpha_min_ratio``).

    Attributes
    ----------
    features_ : list of str
        Features with a non-zero coefficient (the Rad-score formula).
    coef_ : ndarray
        Their coefficients (per training-sd unit of each feature when standardised).
    means_, scales_ : ndarray
        Training mean and sd of each feature in ``features_``.
    alpha_ : float
        The penalty used.
    alphas_ : ndarray
        The lambda path (CV only).
    cv_results_ : DataFrame
        ``alpha, cvm, cvsd, n_nonzero`` (CV only).
    alpha_min_, alpha_1se_ : float
        lambda.min and lambda.1se (CV only).
    candidates_ : list of str
        Features entering the LASSO (after ranking / dropping constant features).
    ranking_ : DataFrame or None
        Long ranking table when ``top_k`` is set.
    """

    def __init__(self, alpha: float | None = None, n_folds: int = 10, lambda_rule: str = "min",
                 n_alphas: int = 100, alpha_min_ratio: float | str = "auto", standardize: bool = True,
                 top_k: int | None = None, random_state: int = 0, tol: float = 1e-12,
                 max_iter: int = 100000, alphas=None) -> None:
        self.alpha = alpha
        self.n_folds = n_folds
        self.lambda_rule = lambda_rule
        self.n_alphas = n_alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.standardize = standardize
        self.top_k = top_k
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter
        self.alphas = alphas

    # ------------------------------------------------------------------ fitting
    def _coxnet(self, alphas):
        from sksurv.linear_model import CoxnetSurvivalAnalysis

        kwargs: dict[str, Any] = dict(l1_ratio=1.0, normalize=False, tol=self.tol, max_iter=self.max_iter,
                                      fit_baseline_model=False)
        if alphas is None:
            kwargs.update(n_alphas=self.n_alphas, alpha_min_ratio=self.alpha_min_ratio)
        else:
            kwargs.update(alphas=np.atleast_1d(np.asarray(alphas, dtype=float)))
        return CoxnetSurvivalAnalysis(**kwargs)

    @staticmethod
    def _surv(t, e):
        from sksurv.util import Surv

        return Surv.from_arrays(event=e.astype(bool), time=t)

    def _fixed_alpha(self) -> float | None:
        """The fixed penalty from ``alpha`` or a one-value ``alphas`` (None: choose by CV)."""
        if self.alphas is None:
            return self.alpha
        path = np.atleast_1d(np.asarray(self.alphas, dtype=float))
        if path.size == 0 or not np.all(np.isfinite(path)) or np.any(path < 0):
            raise InputError(f"alphas must be one or more finite non-negative penalties, not {self.alphas!r}")
        if self.alpha is not None and not (path.size == 1 and path[0] == self.alpha):
            raise InputError("give the penalty as alpha=value or alphas=[value], not both")
        return float(path[0]) if path.size == 1 else None

    def _path(self):
        """The CV lambda path given by ``alphas`` (decreasing, as glmnet), or None for the automatic one."""
        if self.alphas is None or np.size(self.alphas) < 2:
            return None
        return np.sort(np.asarray(self.alphas, dtype=float))[::-1]

    def fit(self, X, y) -> "RadScore":
        """Fit on training rows only.

        Parameters
        ----------
        X
            Features, patients x features (DataFrame: column names become feature names).
        y
            Survival outcome: sksurv structured array, ``(time, event)`` tuple or a
            two-column time/event table.
        """
        if self.lambda_rule not in ("min", "1se"):
            raise InputError(f"lambda_rule must be 'min' or '1se', not {self.lambda_rule!r}")
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float),
                                                               columns=[f"x{i}" for i in range(np.shape(X)[1])])
        t, e = _split_y(y)
        if len(X) != t.size:
            raise InputError(f"X has {len(X)} rows but y has {t.size}")
        ok = ~(np.isnan(t) | np.isnan(e))
        if not ok.all():
            warnings.warn(f"{int((~ok).sum())} training row(s) without outcome dropped", DataQualityWarning,
                          stacklevel=2)
            X, t, e = X.loc[ok], t[ok], e[ok]
        n_events = int(e.sum())
        if n_events < 2:
            raise ModelError(f"only {n_events} event(s) among {t.size} training patients: a LASSO-Cox "
                             "model cannot be fitted; use a longer follow-up or another endpoint")
        if n_events < 20:
            warnings.warn(f"only {n_events} events in the training set: the Rad-score is unstable",
                          FewEventsWarning, stacklevel=2)
        X = X.astype(float)
        with_na = X.columns[X.isna().any()]
        if len(with_na):
            warnings.warn(f"{len(with_na)} feature(s) with missing training values dropped "
                          f"(e.g. {list(with_na[:3])})", DataQualityWarning, stacklevel=2)
            X = X.drop(columns=with_na)
        sd = X.std(axis=0, ddof=1)
        const = sd.index[~(sd > 0)]
        if len(const):
            warnings.warn(f"{len(const)} constant feature(s) dropped (e.g. {list(const[:3])})",
                          DataQualityWarning, stacklevel=2)
            X = X.drop(columns=const)
        if X.shape[1] == 0:
            raise ModelError("no usable feature left (all missing or constant on the training rows)")
        self.ranking_ = None
        if self.top_k is not None and X.shape[1] > self.top_k:
            from .ranking import rank_features

            keep, self.ranking_ = rank_features(X, t, e, top_k=self.top_k, random_state=self.random_state)
            X = X[keep]
        self.candidates_ = list(X.columns)
        if self.standardize:
            means = X.mean(axis=0).to_numpy()
            scales = X.std(axis=0, ddof=1).to_numpy()
        else:
            means = np.zeros(X.shape[1])
            scales = np.ones(X.shape[1])
        Z = (X.to_numpy() - means) / scales
        y_s = self._surv(t, e)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # sksurv's "all coefficients zero" chatter
            fixed = self._fixed_alpha()
            if fixed is not None:
                model = self._coxnet([fixed]).fit(Z, y_s)
                beta = model.coef_[:, 0]
                self.alpha_ = fixed
            else:
                beta = self._cross_validate(Z, t, e, y_s)
        nz = np.flatnonzero(beta != 0)
        self.all_coef_ = pd.Series(beta, index=self.candidates_)
        self.features_ = [self.candidates_[i] for i in nz]
        self.coef_ = beta[nz]
        self.means_ = means[nz]
        self.scales_ = scales[nz]
        self.n_train_ = int(t.size)
        self.n_events_ = n_events
        if nz.size == 0:
            warnings.warn(f"the LASSO selected no feature at alpha={self.alpha_:.4g}: the Rad-score is "
                          "constant (0); consider lambda_rule='min' or more events", AllZeroCoefficientsWarning,
                          stacklevel=2)
        log.info("Rad-score: %d feature(s) at alpha=%.4g", nz.size, self.alpha_)
        return self

    def _cross_validate(self, Z, t, e, y_s) -> np.ndarray:
        full = self._coxnet(self._path()).fit(Z, y_s)
        alphas = np.asarray(full.alphas_, dtype=float)
        n = t.size
        k = int(self.n_folds)
        if k < 2 or k > n:
            raise InputError(f"n_folds must be between 2 and the number of patients ({n}), got {k}")
        rng = np.random.default_rng(self.random_state)
        foldid = np.resize(np.arange(1, k + 1), n)[rng.permutation(n)]
        self.foldid_ = foldid
        return self._cv_path(Z, t, e, foldid, alphas, full)

    def _cv_path(self, Z, t, e, foldid, alphas, full) -> np.ndarray:
        folds = np.unique(foldid)
        cvraw = np.full((folds.size, alphas.size), np.nan)
        weights = np.zeros(folds.size)
        for i, f in enumerate(folds):
            train = foldid != f
            if e[train].sum() < 1:
                warnings.warn(f"fold {f} leaves no event for training; skipped", FewEventsWarning, stacklevel=3)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                try:
                    m = self._coxnet(alphas).fit(Z[train], self._surv(t[train], e[train]))
                except (ArithmeticError, ValueError) as exc:
                    warnings.warn(f"fold {f} failed to fit ({exc}); skipped", ConvergenceWarning, stacklevel=3)
                    continue
            coefs = np.zeros((Z.shape[1], alphas.size))
            coefs[:, :m.coef_.shape[1]] = m.coef_
            dev_full = coxnet_deviance(Z, t, e, coefs)
            dev_train = coxnet_deviance(Z[train], t[train], e[train], coefs)
            cvraw[i] = dev_full - dev_train
            weights[i] = e[~train].sum()
        use = weights > 0
        if not use.any():
            raise ModelError("cross-validation failed: no fold has events to validate on")
        cvraw, weights = cvraw[use] / weights[use, None], weights[use]
        cvm = np.average(cvraw, axis=0, weights=weights)
        n_ok = use.sum()
        cvsd = np.sqrt(np.average((cvraw - cvm) ** 2, axis=0, weights=weights) / (n_ok - 1)) if n_ok > 1 \
            else np.zeros_like(cvm)
        i_min = int(np.flatnonzero(cvm == np.nanmin(cvm))[0])  # path is decreasing: first = largest alpha
        i_1se = int(np.flatnonzero(cvm <= cvm[i_min] + cvsd[i_min])[0])
        self.alphas_ = alphas
        self.cv_results_ = pd.DataFrame({"alpha": alphas, "cvm": cvm, "cvsd": cvsd,
                                         "n_nonzero": (full.coef_ != 0).sum(axis=0)})
        self.alpha_min_ = float(alphas[i_min])
        self.alpha_1se_ = float(alphas[i_1se])
        idx = i_min if self.lambda_rule == "min" else i_1se
        self.alpha_ = float(alphas[idx])
        return np.asarray(full.coef_[:, idx], dtype=float)

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ModelError("this RadScore is not fitted yet: call fit() or from_formula() first")

    def missing_features(self, X: pd.DataFrame) -> pd.Series:
        """Per row, the formula features that are absent or missing (empty list = complete)."""
        self._check_fitted()
        absent = [f for f in self.features_ if f not in X.columns]
        present = [f for f in self.features_ if f in X.columns]
        na = X[present].isna() if present else pd.DataFrame(index=X.index)
        return pd.Series([absent + [f for f in present if na.at[i, f]] for i in X.index], index=X.index)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """z-scores of the formula features with the training means and sds."""
        self._check_fitted()
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X, dtype=float), columns=self.candidates_)
        absent = [f for f in self.features_ if f not in X.columns]
        if absent:
            raise ModelError(f"feature(s) {absent} of the Rad-score are not in the data; extract them with "
                             "the same pyradiomics parameters as the training cohort")
        return (X[self.features_].to_numpy(dtype=float) - self.means_) / self.scales_

    def predict(self, X) -> np.ndarray:
        """Rad-score = sum(coef x z-scored feature); NaN for rows with a missing formula feature."""
        if not len(getattr(self, "features_", [])) and hasattr(self, "coef_"):
            return np.zeros(len(X))
        Z = self.transform(X)
        # an explicit sum in formula order: bit-identical whatever the memory layout of X
        score = np.zeros(Z.shape[0])
        for j, c in enumerate(self.coef_):
            score += c * Z[:, j]
        return score

    # ------------------------------------------------------------------ frozen formula
    def to_formula(self) -> dict:
        """The frozen formula: features, coefficients, means, sds and the fitting settings."""
        self._check_fitted()
        formula = {"kind": "radscore", "features": list(self.features_),
                   "coefficients": [float(c) for c in self.coef_], "means": [float(m) for m in self.means_],
                   "sds": [float(s) for s in self.scales_], "alpha": self.alpha_,
                   "lambda_rule": self.lambda_rule if self._fixed_alpha() is None else "fixed",
                   "standardize": bool(self.standardize), "n_train": getattr(self, "n_train_", None),
                   "n_events": getattr(self, "n_events_", None)}
        if hasattr(self, "alpha_min_"):
            formula.update(alpha_min=self.alpha_min_, alpha_1se=self.alpha_1se_, n_folds=self.n_folds,
                           random_state=self.random_state)
        return formula

    @classmethod
    def from_formula(cls, formula: dict) -> "RadScore":
        """A predictor from a frozen formula (no refit: the stored numbers are used unchanged)."""
        try:
            feats = list(formula["features"])
            coef = np.asarray(formula["coefficients"], dtype=float)
            means = np.asarray(formula["means"], dtype=float)
            sds = np.asarray(formula["sds"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a Rad-score formula (needs features, coefficients, means, sds): {exc}") from exc
        if not (len(feats) == coef.size == means.size == sds.size):
            raise InputError("Rad-score formula: features, coefficients, means and sds differ in length")
        if np.any(sds <= 0):
            raise InputError("Rad-score formula: every sd must be > 0")
        est = cls(alpha=formula.get("alpha"), standardize=formula.get("standardize", True))
        est.features_, est.candidates_ = feats, feats
        est.coef_, est.means_, est.scales_ = coef, means, sds
        est.alpha_ = formula.get("alpha")
        return est
