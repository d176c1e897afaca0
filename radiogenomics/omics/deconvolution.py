"""CIBERSORT-style deconvolution: nu-support-vector regression of a mixture on a signature matrix.

Method (Newman et al., Nat Methods 2015), implemented from the paper's description: the
signature matrix is standardised as a whole and each mixture per sample; a linear-kernel
nu-SVR (C = 1, libsvm's scaling) is fitted for nu in {0.25, 0.5, 0.75}; negative weights are
set to 0 and the rest normalised to sum 1; the nu with the smallest RMSE between the
reconstructed and the observed (standardised) mixture wins.  Significance: correlations of
the fit on random mixtures drawn from the mixture's own values give an empirical null;
``P-value`` is the fraction of null correlations >= the observed one.

The nu-SVR is solved exactly in the primal (:func:`~radiogenomics.omics.nusvr.linear_nu_svr`):
the same optimisation problem as libsvm's (R e1071, scikit-learn), whose SMO stops at a
tolerance of 1e-3 with the kernel in single precision, so weights differ from e1071's default
run by up to ~3e-3 and from e1071 at ``tolerance = 1e-9`` by up to ~1e-4 (and the objective
here is never above e1071's).

No signature matrix with a compatible licence could be shipped: CIBERSORT's LM22 is under
an academic licence (not redistributable) and no openly licensed equivalent was found in
Debian or PyPI packages.  Supply your own file in LM22's layout (see :func:`read_signature`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..exceptions import DataQualityWarning, InputError, OmicsError
from . import nusvr
from .nusvr import linear_nu_svr

log = logging.getLogger(__name__)

NUS = (0.25, 0.5, 0.75)
#: mixtures fitted together (x 3 values of nu); fixed, so results do not depend on ``workers``
BLOCK = 64


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


class _Fit(NamedTuple):
    """The best-of-three nu-SVR fit of one mixture; ``error`` says why a fit failed (then all else is NaN)."""

    w: np.ndarray
    r: float
    rmse: float
    nu: float
    error: str = ""


def _best_of_nus(X: np.ndarray, y: np.ndarray, coefs: np.ndarray, converged: np.ndarray) -> _Fit:
    """CIBERSORT's choice among the fits of one standardised mixture ``y`` for each of :data:`NUS`."""
    if not converged.all():
        nu = NUS[int(np.flatnonzero(~converged)[0])]
        return _Fit(np.full(X.shape[1], np.nan), float("nan"), float("nan"), float("nan"),
                    f"the nu-SVR (nu={nu}) did not converge in {nusvr.MAX_ITER} interior-point iterations")
    best: _Fit | None = None
    for nu, w in zip(NUS, coefs):
        w = w.copy()
        w[w < 0] = 0.0
        total = w.sum()
        w = w / total if total > 0 else w
        k = X @ w
        rmse = float(np.sqrt(np.mean((k - y) ** 2)))
        r = float(np.corrcoef(k, y)[0, 1]) if np.std(k) > 0 else float("nan")
        if best is None or rmse < best.rmse:
            best = _Fit(w, r, rmse, nu)
    assert best is not None  # NUS is not empty
    return best


def _standardise(v: np.ndarray) -> np.ndarray:
    sd = np.std(v, ddof=1)
    if not np.isfinite(sd) or sd == 0:
        raise InputError("a mixture (or the signature) is constant over the signature genes; cannot deconvolve")
    return (v - v.mean()) / sd


def _svr_many(X: np.ndarray, Y: np.ndarray) -> list[_Fit]:
    """Best-of-three nu-SVR fits of each column of ``Y`` (standardised mixtures) on ``X``.

    Columns go through :func:`~radiogenomics.omics.nusvr.linear_nu_svr` in fixed blocks of
    :data:`BLOCK` (all three nu of a column in the same block), on one BLAS thread, so a
    column's result is the same whichever worker gets its block.
    """
    from .._threads import one_blas_thread

    out: list[_Fit] = []
    with one_blas_thread():
        for start in range(0, Y.shape[1], BLOCK):
            block = Y[:, start:start + BLOCK]
            fits = linear_nu_svr(X, np.repeat(block, len(NUS), axis=1), np.tile(NUS, block.shape[1]))
            coefs = fits.coef.reshape(block.shape[1], len(NUS), -1)
            conv = fits.converged.reshape(block.shape[1], len(NUS))
            out += [_best_of_nus(X, block[:, j], coefs[j], conv[j]) for j in range(block.shape[1])]
    return out


def _random_mixtures(values: np.ndarray, n_genes: int, perm: int, seed: int) -> np.ndarray:
    """The random mixtures of :func:`deconvolve`'s empirical null, as drawn (not yet standardised).

    Parameters
    ----------
    values : ndarray
        Genes x samples mixture values (over the signature genes); the pool drawn from.
    n_genes : int
        Values per random mixture (the number of signature genes).
    perm : int
        Number of random mixtures.
    seed : int
        Seed of ``np.random.default_rng``; mixture ``i`` is the ``i``-th draw without replacement.

    Returns
    -------
    ndarray
        ``perm`` x ``n_genes``: one random mixture per row.
    """
    pool = values.ravel()
    rng = np.random.default_rng(seed)
    out = np.empty((perm, n_genes))
    for i in range(perm):
        out[i] = pool[rng.choice(pool.size, size=n_genes, replace=False)]
    return out


def _fit_columns(X: np.ndarray, Y: np.ndarray, workers: int) -> list[_Fit]:
    """Best-of-three nu-SVR fits of every column of ``Y``, over ``workers`` processes.

    The fits are exact primal solves that iterate together (see :mod:`.nusvr`); with
    ``workers > 1`` whole blocks of :data:`BLOCK` columns go to each worker, so the result
    is bit for bit the same for any number of workers.
    """
    n_blocks = -(-Y.shape[1] // BLOCK)
    if workers <= 1 or n_blocks < 2:
        return _svr_many(X, Y)
    from concurrent.futures import ProcessPoolExecutor

    from .._threads import limit_blas_threads

    groups = [g for g in np.array_split(np.arange(n_blocks), min(workers, n_blocks)) if g.size]
    parts_in = [Y[:, g[0] * BLOCK:(g[-1] + 1) * BLOCK] for g in groups]
    with ProcessPoolExecutor(max_workers=len(groups), initializer=limit_blas_threads) as pool:
        parts = list(pool.map(_svr_many, [X] * len(groups), parts_in))
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
        depend on it (one process is usually enough: a fit takes a few milliseconds).

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
        columns += [_standardise(m) for m in _random_mixtures(Y, len(common), perm, seed)]
    fits = _fit_columns(X, np.column_stack(columns), workers)
    samples, nulls = fits[:Y.shape[1]], fits[Y.shape[1]:]
    failed = [str(s) for s, fit in zip(mix.columns, samples) if fit.error]
    if len(failed) == len(samples):
        raise OmicsError(f"deconvolution: the nu-SVR failed for every sample ({samples[0].error})")
    if failed:
        warnings.warn(f"deconvolution: the nu-SVR failed for {len(failed)} sample(s) ({', '.join(failed[:5])}): "
                      f"{next(f.error for f in samples if f.error)}; their rows are NaN", DataQualityWarning,
                      stacklevel=2)
    null = np.array([fit.r for fit in nulls if not fit.error])
    if perm > 0 and null.size < perm:
        warnings.warn(f"deconvolution: {perm - null.size} of {perm} random mixtures failed to fit; P-values use "
                      f"the other {null.size}", DataQualityWarning, stacklevel=2)
    rows = []
    for fit in samples:
        # no correlation (every weight clipped to 0) has no P-value, rather than P = 0
        pval = float(np.mean(null >= fit.r)) if null.size and np.isfinite(fit.r) else float("nan")
        rows.append([*fit.w, pval, fit.r, fit.rmse, fit.nu])
    out = pd.DataFrame(rows, index=mix.columns, columns=[*map(str, signature.columns), "P-value", "Correlation",
                                                        "RMSE", "nu"])
    out.index.name = "sample"
    return out
