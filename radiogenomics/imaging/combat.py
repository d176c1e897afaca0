"""ComBat harmonisation (Johnson, Li and Rabinovic, Biostatistics 2007) as a fit / transform estimator.

The statistics are those of R ``sva::ComBat`` (checked against it on real data in
``tests/data/R/combat/``): a location/scale model per feature with batch effects shrunk by
parametric or non-parametric empirical Bayes, covariates preserved. Unlike ``sva::ComBat``,
which harmonises one matrix in one go, :class:`ComBat` learns its estimates on the training
patients (``fit``) and applies them unchanged to other patients of the same batches
(``transform``), so held-out patients never inform the correction. ``transform`` of the
training patients gives exactly ``sva::ComBat``'s output on them.

Why not a PyPI package: neuroCombat's apply-to-new-data path (``neuroCombatFromTraining``) is
marked "under development" and replaces each new patient's covariate effect by the training
average; inmoose's ``pycombat_norm`` has no fit/apply split. Both would leak or lose covariates
in a train / held-out design.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from ..exceptions import DataQualityWarning, InputError

log = logging.getLogger(__name__)

#: convergence of the parametric EB iteration (sva's ``conv``)
CONV = 1e-4


def _aprior(d: np.ndarray) -> float:
    m, s2 = d.mean(), d.var(ddof=1)
    return (2 * s2 + m * m) / s2


def _bprior(d: np.ndarray) -> float:
    m, s2 = d.mean(), d.var(ddof=1)
    return (m * s2 + m ** 3) / s2


def _parametric(sdat: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: float, t2: float, a: float,
                b: float, max_iter: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Posterior batch mean / variance per feature (sva's ``it.sol``); sdat: features x batch samples."""
    n = np.sum(~np.isnan(sdat), axis=1)
    g_old, d_old = g_hat.copy(), d_hat.copy()
    for _ in range(max_iter):
        g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
        sum2 = np.nansum((sdat - g_new[:, None]) ** 2, axis=1)
        d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        # as sva: relative change divided by the signed previous value (its stopping rule, kept exactly)
        change = max(np.max(np.abs(g_new - g_old) / g_old), np.max(np.abs(d_new - d_old) / d_old))
        g_old, d_old = g_new, d_new
        if change < CONV:
            return g_new, d_new
    warnings.warn("ComBat's empirical Bayes iteration did not converge", DataQualityWarning, stacklevel=3)
    return g_old, d_old


def _nonparametric(sdat: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sva's ``int.eprior``: each feature's batch effect as the likelihood-weighted average of the
    other features' estimates (weights normalised in log space, so no underflow)."""
    g_star = np.empty_like(g_hat)
    d_star = np.empty_like(d_hat)
    for i in range(sdat.shape[0]):
        x = sdat[i][~np.isnan(sdat[i])]
        n = len(x)
        others = np.arange(len(g_hat)) != i
        g, d = g_hat[others], d_hat[others]
        sum2 = (x * x).sum() - 2 * g * x.sum() + n * g * g
        log_lh = -0.5 * n * np.log(2 * np.pi * d) - sum2 / (2 * d)
        w = np.exp(log_lh - log_lh.max())
        g_star[i] = (g * w).sum() / w.sum()
        d_star[i] = (d * w).sum() / w.sum()
    return g_star, d_star


class ComBat:
    """ComBat harmonisation learned on training samples and applied to any samples of known batches.

    Parameters
    ----------
    parametric : bool
        Parametric (normal / inverse-gamma priors) or non-parametric empirical Bayes.
    eb : bool
        Shrink the batch estimates (False: the plain per-batch location / scale estimates).

    Attributes
    ----------
    batches_ : list of str
        Batch levels seen in ``fit``.
    features_ : list of str
        Feature names (columns of the training matrix).
    adjusted_features_ : list of str
        Features that are harmonised; the others (constant within a training batch) pass unchanged,
        as in ``sva::ComBat``.
    covariate_columns_ : list of str
        Design columns of the preserved covariates (categorical ones dummy-coded).
    grand_mean_, var_pooled_ : ndarray
        Per adjusted feature: the batch-weighted mean and pooled residual variance.
    beta_covariates_ : ndarray, shape (n_covariate_columns, n_adjusted)
        Covariate effects, added back per sample.
    gamma_star_, delta_star_ : ndarray, shape (n_batches, n_adjusted)
        Empirical-Bayes batch location and scale.
    """

    def __init__(self, parametric: bool = True, eb: bool = True) -> None:
        self.parametric = parametric
        self.eb = eb

    # ------------------------------------------------------------------ design
    def _covariates(self, covariates: pd.DataFrame | None, index: pd.Index, fitting: bool) -> np.ndarray:
        if covariates is None or covariates.shape[1] == 0:
            if fitting:
                self.covariate_columns_ = []
                self._categories = {}
            elif self.covariate_columns_:
                raise InputError(f"this ComBat was fitted with covariates {self.covariate_columns_}; give them")
            return np.zeros((len(index), 0))
        cov = covariates.reindex(index)
        if cov.isna().any().any():
            missing = list(cov.index[cov.isna().any(axis=1)][:5])
            raise InputError(f"covariate value(s) missing for {cov.isna().any(axis=1).sum()} patient(s) (e.g. "
                             f"{missing}); ComBat needs every covariate of every patient, or leave the covariate out")
        if fitting:
            self._categories = {c: sorted(cov[c].astype(str).unique()) for c in cov.columns
                                if not pd.api.types.is_numeric_dtype(cov[c])}
        parts = []
        for c in cov.columns:
            if c in self._categories:
                levels = self._categories[c]
                unknown = sorted(set(cov[c].astype(str)) - set(levels))
                if unknown:
                    raise InputError(f"covariate {c!r} has level(s) {unknown} not seen in the training patients")
                parts.append(pd.DataFrame({f"{c}={lv}": (cov[c].astype(str) == lv).astype(float)
                                           for lv in levels[1:]}, index=index))
            else:
                parts.append(cov[[c]].astype(float))
        design = pd.concat(parts, axis=1)
        if fitting:
            self.covariate_columns_ = list(design.columns)
        return design.to_numpy(dtype=float)

    def _batch_index(self, batch: pd.Series, index: pd.Index) -> np.ndarray:
        b = pd.Series(batch).reindex(index)
        if b.isna().any():
            raise InputError(f"no batch for {int(b.isna().sum())} patient(s) (e.g. {list(b.index[b.isna()][:5])})")
        b = b.astype(str)
        unknown = sorted(set(b) - set(self.batches_))
        if unknown:
            who = list(b.index[b.isin(unknown)][:5])
            raise InputError(f"batch(es) {unknown} were not among the training patients' batches {self.batches_} "
                             f"(patients {who}); ComBat cannot harmonise a batch it has not seen")
        return np.array([self.batches_.index(v) for v in b])

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, batch: pd.Series, covariates: pd.DataFrame | None = None) -> "ComBat":
        """Learn the ComBat estimates from training samples.

        Parameters
        ----------
        X : DataFrame
            Samples x features (patients x imaging features), no missing values.
        batch : Series
            Batch label per sample (index = X's index).
        covariates : DataFrame, optional
            Variables whose effects are preserved (numeric, or categorical: dummy-coded).
        """
        if X.isna().any().any():
            bad = list(X.columns[X.isna().any()][:5])
            raise InputError(f"ComBat needs complete features; {int(X.isna().any().sum())} feature(s) have missing "
                             f"values (e.g. {bad}): drop them or impute first")
        self.features_ = [str(c) for c in X.columns]
        b = pd.Series(batch).reindex(X.index)
        if b.isna().any():
            raise InputError(f"no batch for {int(b.isna().sum())} training patient(s) (e.g. {list(b.index[b.isna()][:5])})")
        self.batches_ = sorted(b.astype(str).unique())
        counts = b.astype(str).value_counts()
        if len(self.batches_) < 2:
            raise InputError(f"all {len(X)} training patients are in batch {self.batches_[0]!r}: there is no batch "
                             "effect to estimate; choose another --batch column")
        if counts.min() < 2:
            raise InputError(f"batch(es) {list(counts.index[counts < 2])} have a single training patient; ComBat "
                             "needs at least 2 per batch (merge small batches or choose another --batch)")
        bidx = self._batch_index(b, X.index)
        cov = self._covariates(covariates, X.index, fitting=True)
        Y = X.to_numpy(dtype=float).T  # features x samples, as sva
        n_b = len(self.batches_)
        batch_design = np.eye(n_b)[bidx]
        design = np.column_stack([batch_design, cov])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise InputError("the covariates are confounded with the batch (some covariate is constant within "
                             "batches or determined by them): ComBat would remove the covariate's effect too; "
                             "leave that covariate out")
        # features constant within a batch cannot be scaled: passed through, as sva does
        within_sd = np.stack([Y[:, bidx == k].std(axis=1) for k in range(n_b)])
        keep = (within_sd > 0).all(axis=0)
        if not keep.all():
            warnings.warn(f"{int((~keep).sum())} feature(s) are constant within a batch and are not harmonised",
                          DataQualityWarning, stacklevel=2)
        self.adjusted_features_ = [f for f, k in zip(self.features_, keep) if k]
        self._keep = keep
        Y = Y[keep]
        n = Y.shape[1]
        beta = np.linalg.solve(design.T @ design, design.T @ Y.T)  # (batches + covariates) x features
        n_batch = np.bincount(bidx, minlength=n_b)
        self.grand_mean_ = (n_batch / n) @ beta[:n_b]
        resid = Y - (design @ beta).T
        self.var_pooled_ = (resid ** 2).mean(axis=1)
        self.beta_covariates_ = beta[n_b:]
        stand_mean = self.grand_mean_[:, None] + (cov @ self.beta_covariates_).T
        sdat = (Y - stand_mean) / np.sqrt(self.var_pooled_)[:, None]
        gamma_hat = np.linalg.solve(batch_design.T @ batch_design, batch_design.T @ sdat.T)  # batches x features
        delta_hat = np.stack([sdat[:, bidx == k].var(axis=1, ddof=1) for k in range(n_b)])
        if not self.eb:
            self.gamma_star_, self.delta_star_ = gamma_hat, delta_hat
            return self
        g_star, d_star = np.empty_like(gamma_hat), np.empty_like(delta_hat)
        for k in range(n_b):
            cols = sdat[:, bidx == k]
            if self.parametric:
                g_bar, t2 = gamma_hat[k].mean(), gamma_hat[k].var(ddof=1)
                g_star[k], d_star[k] = _parametric(cols, gamma_hat[k], delta_hat[k], g_bar, t2,
                                                   _aprior(delta_hat[k]), _bprior(delta_hat[k]))
            else:
                g_star[k], d_star[k] = _nonparametric(cols, gamma_hat[k], delta_hat[k])
        self.gamma_star_, self.delta_star_ = g_star, d_star
        log.info("ComBat fitted on %d samples in %d batches, %d features", n, n_b, int(keep.sum()))
        return self

    # ------------------------------------------------------------------ transform
    def transform(self, X: pd.DataFrame, batch: pd.Series, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Harmonise samples of the training batches with the fitted estimates (nothing is re-estimated)."""
        if not hasattr(self, "gamma_star_"):
            raise InputError("this ComBat is not fitted yet: call fit() on the training patients first")
        missing = [f for f in self.features_ if f not in X.columns]
        if missing:
            raise InputError(f"{len(missing)} feature(s) of the fitted ComBat are missing (e.g. {missing[:5]})")
        X = X[self.features_]
        if X.isna().any().any():
            raise InputError("ComBat needs complete features for every patient to harmonise")
        bidx = self._batch_index(batch, X.index)
        cov = self._covariates(covariates, X.index, fitting=False)
        Y = X.to_numpy(dtype=float).T
        out = Y.copy()
        Yk = Y[self._keep]
        stand_mean = self.grand_mean_[:, None] + (cov @ self.beta_covariates_).T
        sd = np.sqrt(self.var_pooled_)[:, None]
        sdat = (Yk - stand_mean) / sd
        adj = (sdat - self.gamma_star_[bidx].T) / np.sqrt(self.delta_star_[bidx].T)
        out[self._keep] = adj * sd + stand_mean
        return pd.DataFrame(out.T, index=X.index, columns=X.columns)

    def fit_transform(self, X: pd.DataFrame, batch: pd.Series, covariates: pd.DataFrame | None = None
                      ) -> pd.DataFrame:
        """``fit`` then ``transform`` on the same samples (``sva::ComBat``'s output)."""
        return self.fit(X, batch, covariates).transform(X, batch, covariates)
