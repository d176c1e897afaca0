"""CIBERSORT-style deconvolution: nu-support-vector regression of a mixture on a signature matrix.

Method (Newman et al., Nat Methods 2015), implemented from the paper's description on
scikit-learn's libsvm (the same solver as R e1071): the signature matrix is standardised
as a whole and each mixture per sample; a linear-kernel nu-SVR is fitted for nu in
{0.25, 0.5, 0.75}; weights are ``coef @ support vectors``, negative weights are set to 0 and
the rest normalised to sum 1; the nu with the smallest RMSE between the reconstructed and
the observed (standardised) mixture wins.  Significance: correlations of the fit on random
mixtures drawn from the mixture's own values give an empirical null; ``P-value`` is the
fraction of null correlations >= the observed one.

No signature matrix with a compatible licence could be shipped: CIBERSORT's LM22 is under
an academic licence (not redistributable) and no openly licensed equivalent was found in
Debian or PyPI packages.  Supply your own file in LM22's layout (see :func:`read_signature`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataQualityWarning, InputError

log = logging.getLogger(__name__)

NUS = (0.25, 0.5, 0.75)


def read_signature(path: str | Path) -> pd.DataFrame:
    """Read a signature matrix in LM22's layout: tab separated, first column gene symbols, one column per cell type.

    Values must be non-negative and on a linear (not log) scale.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"signature matrix {path} not found; CIBERSORT's LM22 is not shipped (licence): "
                         "pass your own genes x cell types file (tab separated)")
    try:
        sig = pd.read_csv(path, sep="\t", index_col=0)
    except Exception as exc:  # pandas raises several parser errors
        raise InputError(f"signature matrix {path}: not a tab-separated table ({exc})") from exc
    if sig.shape[1] < 2:
        raise InputError(f"signature matrix {path}: needs a gene column and at least two cell-type columns, "
                         f"got {sig.shape[1] + 1} column(s); is it tab separated?")
    try:
        sig = sig.astype(float)
    except ValueError as exc:
        raise InputError(f"signature matrix {path}: non-numeric values ({exc})") from exc
    if sig.isna().any().any():
        raise InputError(f"signature matrix {path}: has missing values in "
                         f"{', '.join(map(str, sig.index[sig.isna().any(axis=1)][:5]))}")
    if (sig.to_numpy() < 0).any():
        raise InputError(f"signature matrix {path}: has negative values; give linear-scale expression")
    sig.index = sig.index.astype(str)
    sig = sig[~sig.index.duplicated()]
    return sig


def _svr_core(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Best-of-three nu-SVR fit of standardised y on standardised X: (weights, r, rmse, nu)."""
    from sklearn.svm import NuSVR

    best: tuple[np.ndarray, float, float, float] | None = None
    for nu in NUS:
        model = NuSVR(kernel="linear", nu=nu, C=1.0, tol=1e-3)
        model.fit(X, y)
        w = (model.dual_coef_ @ model.support_vectors_).ravel()
        w[w < 0] = 0.0
        total = w.sum()
        w = w / total if total > 0 else w
        k = X @ w
        rmse = float(np.sqrt(np.mean((k - y) ** 2)))
        r = float(np.corrcoef(k, y)[0, 1]) if np.std(k) > 0 else float("nan")
        if best is None or rmse < best[2]:
            best = (w, r, rmse, nu)
    assert best is not None
    return best


def _standardise(v: np.ndarray) -> np.ndarray:
    sd = np.std(v, ddof=1)
    if not np.isfinite(sd) or sd == 0:
        raise InputError("a mixture (or the signature) is constant over the signature genes; cannot deconvolve")
    return (v - v.mean()) / sd


def _svr_many(X: np.ndarray, Y: np.ndarray) -> list[tuple[np.ndarray, float, float, float]]:
    """:func:`_svr_core` of each column of ``Y`` (standardised mixtures) on ``X``."""
    return [_svr_core(X, Y[:, j]) for j in range(Y.shape[1])]


def _fit_columns(X: np.ndarray, Y: np.ndarray, workers: int) -> list[tuple[np.ndarray, float, float, float]]:
    """Best-of-three nu-SVR fits of every column of ``Y``, over ``workers`` processes.

    libsvm's SMO iterations are the whole cost (tens of thousands per fit; the 500 x 500
    linear kernel is cached after the first pass, so precomputing it does not help), and the
    fits are independent: they are split into contiguous chunks, one per worker, each
    worker on one BLAS thread.  Results are the same as in one process.
    """
    if workers <= 1 or Y.shape[1] < 2:
        return _svr_many(X, Y)
    from concurrent.futures import ProcessPoolExecutor

    from .._threads import limit_blas_threads

    chunks = [c for c in np.array_split(np.arange(Y.shape[1]), min(workers, Y.shape[1])) if c.size]
    with ProcessPoolExecutor(max_workers=len(chunks), initializer=limit_blas_threads) as pool:
        parts = list(pool.map(_svr_many, [X] * len(chunks), [Y[:, c] for c in chunks]))
    return [fit for part in parts for fit in part]


def deconvolve(expr: pd.DataFrame, signature: pd.DataFrame, perm: int = 100, seed: int = 0,
               quantile_normalize: bool = False, min_genes: int = 10, workers: int = 1) -> pd.DataFrame:
    """CIBERSORT-style relative fractions of the signature's cell types in each sample.

    Parameters
    ----------
    expr : DataFrame
        Genes x samples mixture.  Linear scale expected; if its maximum is below 50 it is
        taken as log2 and anti-logged (CIBERSORT's rule).
    signature : DataFrame
        Genes x cell types, linear scale (e.g. from :func:`read_signature`).
    perm : int
        Random mixtures for the empirical null of the correlation (0: no p-values).
    seed : int
        Seed of the permutations.
    quantile_normalize : bool
        Quantile-normalise the mixtures first (CIBERSORT's default for arrays; off for RNA-seq).
    min_genes : int
        Minimum number of signature genes present in ``expr``.
    workers : int
        Processes sharing the nu-SVR fits (samples and permutations); the result does not
        depend on it.

    Returns
    -------
    DataFrame
        Samples x (cell types..., ``P-value``, ``Correlation``, ``RMSE``, ``nu``).
    """
    if expr.shape[1] == 0:
        raise InputError("deconvolution: the expression matrix has no sample")
    mix = expr.astype(float)
    if mix.index.has_duplicates:
        raise InputError("deconvolution: expression has duplicated gene ids; collapse them first")
    if np.nanmax(mix.to_numpy()) < 50:
        mix = 2.0 ** mix
    mix = mix.dropna(axis=0, how="any")
    if quantile_normalize:
        arr = mix.to_numpy()
        ranks = np.argsort(np.argsort(arr, axis=0), axis=0)
        means = np.sort(arr, axis=0).mean(axis=1)
        mix = pd.DataFrame(means[ranks], index=mix.index, columns=mix.columns)
    common = [g for g in signature.index if g in mix.index]
    if len(common) < min_genes:
        raise InputError(f"deconvolution: only {len(common)} of the signature's {len(signature)} genes are in the "
                         f"expression data (need >= {min_genes}); check gene identifiers (symbols in both?)")
    if len(common) < 0.5 * len(signature):
        warnings.warn(f"deconvolution: only {len(common)} of {len(signature)} signature genes present",
                      DataQualityWarning, stacklevel=2)
    Xraw = signature.loc[common].to_numpy(dtype=float)
    X = (Xraw - Xraw.mean()) / np.std(Xraw, ddof=1)
    Y = mix.loc[common].to_numpy(dtype=float)
    # the random mixtures are drawn first (the same stream as drawing one per fit), then every
    # fit -- samples and permutations alike -- goes through one batch
    columns = [_standardise(Y[:, j]) for j in range(Y.shape[1])]
    if perm > 0:
        rng = np.random.default_rng(seed)
        pool = Y.ravel()
        columns += [_standardise(pool[rng.choice(pool.size, size=len(common), replace=False)]) for _ in range(perm)]
    fits = _fit_columns(X, np.column_stack(columns), workers)
    null = np.array([fit[1] for fit in fits[Y.shape[1]:]])
    rows = []
    for w, r, rmse, nu in fits[:Y.shape[1]]:
        pval = float(np.mean(null >= r)) if perm > 0 else float("nan")
        rows.append([*w, pval, r, rmse, nu])
    out = pd.DataFrame(rows, index=mix.columns, columns=[*map(str, signature.columns), "P-value", "Correlation",
                                                        "RMSE", "nu"])
    out.index.name = "sample"
    return out
