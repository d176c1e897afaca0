"""limma-equivalent linear models with empirical-Bayes moderated t statistics (Smyth 2004).

A numpy/scipy re-implementation of limma's ``lmFit`` -> ``contrasts.fit`` -> ``eBayes``
-> ``topTable`` for one two-group contrast with optional covariates, following the
published method and limma's documented behaviour: genes with missing values are fitted
on their observed samples (their own residual df), the prior (``s0^2``, ``d0``) is estimated
by ``fitFDist``'s method of moments on log variances with ``trigammaInverse``, and the
B statistic uses limma's ``tmixture`` estimate of the prior coefficient variance.
Checked against R limma 3.54 (``tests/data/R/omics``).
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy import special  # the t distribution through special.stdtr: importing scipy.stats is slow

from .._threads import one_blas_thread
from ..exceptions import InputError, StatisticalWarning
from ..multitest import bh_adjust

if TYPE_CHECKING:  # pandas loads lazily: `rg de` calls limma_arrays without it
    import pandas as pd

log = logging.getLogger(__name__)

TOPTABLE_COLUMNS = ["logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"]


def trigamma_inverse(x: np.ndarray | float) -> np.ndarray:
    """Solve ``trigamma(y) = x`` for y by Newton's method (limma's ``trigammaInverse``)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.full_like(x, np.nan)
    ok = np.isfinite(x) & (x >= 0)
    big = ok & (x > 1e7)
    small = ok & (x < 1e-6)
    mid = ok & ~big & ~small
    y[big] = 1.0 / np.sqrt(x[big])
    y[small] = 1.0 / x[small]
    if mid.any():
        xm = x[mid]
        ym = 0.5 + 1.0 / xm
        for _ in range(50):
            tri = special.polygamma(1, ym)
            dif = tri * (1 - tri / xm) / special.polygamma(2, ym)
            ym = ym + dif
            if np.max(-dif / ym) < 1e-8:
                break
        y[mid] = ym
    return y


def fit_f_dist(x: np.ndarray, df1: np.ndarray) -> tuple[float, float]:
    """Moment estimate of the scaled-F prior of the variances (limma ``fitFDist``, no covariate).

    Returns ``(s0^2, d0)``; ``d0`` may be ``inf`` when the variances are no more dispersed
    than expected from their own degrees of freedom.
    """
    x = np.asarray(x, dtype=float)
    df1 = np.broadcast_to(np.asarray(df1, dtype=float), x.shape)
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    if n == 1:
        return float(x[0]), 0.0
    ok = np.isfinite(df1) & (df1 > 1e-15) & np.isfinite(x) & (x > -1e-15)
    nok = int(ok.sum())
    if nok == 0:
        return float("nan"), float("nan")
    if nok == 1:
        return float(x[ok][0]), 0.0
    x, df1 = np.maximum(x[ok], 0), df1[ok]
    m = float(np.median(x))
    if m == 0:
        warnings.warn("more than half of the residual variances are exactly zero: eBayes unreliable",
                      StatisticalWarning, stacklevel=3)
        m = 1.0
    elif np.any(x == 0):
        warnings.warn("zero sample variances detected, offset away from zero", StatisticalWarning, stacklevel=3)
    x = np.maximum(x, 1e-5 * m)
    # genes share a handful of df values: evaluate the (slow) polygammas once per distinct df
    udf, inv = np.unique(df1 / 2, return_inverse=True)
    inv = inv.ravel()
    e = np.log(x) - special.digamma(udf)[inv] + np.log(udf)[inv]
    emean = float(e.mean())
    evar = float(np.sum((e - emean) ** 2) / (nok - 1))
    evar -= float(np.mean(special.polygamma(1, udf)[inv]))
    if evar > 0:
        d0 = 2 * float(trigamma_inverse(evar)[0])
        s20 = float(np.exp(emean + special.digamma(d0 / 2) - np.log(d0 / 2)))
    else:
        d0 = float("inf")
        s20 = float(np.mean(x))
    return s20, d0


def _tmixture(tstat: np.ndarray, stdev_unscaled: np.ndarray, df: np.ndarray, proportion: float,
              v0_lim: tuple[float, float] | None) -> float:
    """limma's ``tmixture.vector``: prior variance of the non-null coefficients."""
    ok = ~np.isnan(tstat)
    tstat, stdev_unscaled, df = np.abs(tstat[ok]), stdev_unscaled[ok], df[ok].astype(float)
    ngenes = tstat.size
    ntarget = int(np.ceil(proportion / 2 * ngenes))
    if ntarget < 1:
        return float("nan")
    p = max(ntarget / ngenes, proportion)
    maxdf = float(np.max(df))
    low = df < maxdf
    if low.any():
        tail = np.log(special.stdtr(df[low], -tstat[low]))
        tstat = tstat.copy()
        tstat[low] = -special.stdtrit(maxdf, np.exp(tail))
    order = np.argsort(-tstat, kind="stable")[:ntarget]
    tstat, v1 = tstat[order], stdev_unscaled[order] ** 2
    r = np.arange(1, ntarget + 1)
    p0 = 2 * special.stdtr(maxdf, -tstat)
    ptarget = ((r - 0.5) / ngenes - (1 - p) * p0) / p
    v0 = np.zeros(ntarget)
    pos = ptarget > p0
    if pos.any():
        qtarget = -special.stdtrit(maxdf, ptarget[pos] / 2)
        v0[pos] = v1[pos] * ((tstat[pos] / qtarget) ** 2 - 1)
    if v0_lim is not None:
        v0 = np.clip(v0, v0_lim[0], v0_lim[1])
    return float(np.mean(v0))


def _estimable_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Columns kept by a pivoting QR in order (like R's lm.fit): later aliased columns drop out."""
    keep: list[int] = []
    for j in range(X.shape[1]):
        trial = keep + [j]
        if np.linalg.matrix_rank(X[:, trial], tol=tol * max(1.0, np.abs(X[:, trial]).max())) == len(trial):
            keep = trial
    return np.asarray(keep, dtype=int)


def _fit_block(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """Least squares of every row of ``y`` (genes x samples, no NaN) on ``X`` in one solve.

    Returns (estimable columns, coefficients genes x estimable, unscaled sd, residual df, sigma).
    """
    est = _estimable_columns(X)
    if est.size == 0:
        return est, np.empty((y.shape[0], 0)), np.empty(0), 0, np.full(y.shape[0], np.nan)
    Xe = X[:, est]
    xtx_inv = np.linalg.inv(Xe.T @ Xe)
    b = y @ (Xe @ xtx_inv)  # genes x coefficients
    resid = y - b @ Xe.T
    df = X.shape[0] - est.size
    sigma = np.sqrt(np.einsum("ij,ij->i", resid, resid) / df) if df > 0 else np.full(y.shape[0], np.nan)
    return est, b, np.sqrt(np.diag(xtx_inv)), df, sigma


def lm_fit(y: np.ndarray, design: np.ndarray) -> dict[str, np.ndarray]:
    """Gene-wise least squares (limma ``lmFit``) on a genes x samples matrix that may hold NaN.

    Genes without missing values share one solve; only genes with missing values are grouped
    by their pattern of observed samples, each pattern fitted on its observed samples.
    Returns coefficients, stdev_unscaled (genes x coefficients, NaN where not estimable),
    sigma, df_residual (per gene) and cov_coefficients of the full design.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(design, dtype=float)
    ngenes, nsamp = y.shape
    p = X.shape[1]
    coef = np.full((ngenes, p), np.nan)
    sdu = np.full((ngenes, p), np.nan)
    sigma = np.full(ngenes, np.nan)
    dfres = np.zeros(ngenes)
    obs = np.isfinite(y)
    complete = obs.all(axis=1)
    blocks: list[tuple[np.ndarray | slice, np.ndarray | slice]] = []
    if complete.all():
        blocks.append((slice(None), slice(None)))
    else:
        if complete.any():
            blocks.append((np.flatnonzero(complete), slice(None)))
        partial = np.flatnonzero(~complete)
        # only genes with missing values pay for grouping by pattern (packed bits keep np.unique cheap)
        packed = np.packbits(obs[partial], axis=1)
        _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        for rows_k in np.split(order, bounds):
            pat = obs[partial[rows_k[0]]]
            if pat.any():
                blocks.append((partial[rows_k], np.flatnonzero(pat)))
    for rows, cols in blocks:
        Y = y[rows] if isinstance(cols, slice) else y[np.ix_(rows, cols)]
        est, b, sd, df, sig = _fit_block(Y, X[cols])
        if est.size == 0:
            continue
        if isinstance(rows, slice) and est.size == p:
            coef[:], sdu[:] = b, sd[None, :]
        else:
            r = np.arange(ngenes)[rows] if isinstance(rows, slice) else rows
            coef[np.ix_(r, est)] = b
            sdu[np.ix_(r, est)] = sd[None, :]
        dfres[rows] = df
        sigma[rows] = sig
    full_est = _estimable_columns(X)
    cov = np.full((p, p), np.nan)
    Xe = X[:, full_est]
    cov[np.ix_(full_est, full_est)] = np.linalg.inv(Xe.T @ Xe)
    return {"coefficients": coef, "stdev_unscaled": sdu, "sigma": sigma, "df_residual": dfres,
            "cov_coefficients": cov}


def contrast_fit(fit: dict[str, np.ndarray], contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One contrast of the coefficients (limma ``contrasts.fit``): estimate and unscaled sd per gene."""
    c = np.asarray(contrast, dtype=float)
    used = c != 0
    cov = fit["cov_coefficients"][np.ix_(used, used)]
    if np.isnan(cov).any():
        raise InputError("the contrast involves a coefficient that the design cannot estimate; "
                         "check that both groups have samples and the covariates are not collinear")
    coef = fit["coefficients"][:, used] @ c[used]
    sdu = fit["stdev_unscaled"][:, used]
    cu = c[used]
    d = np.sqrt(np.diag(cov))
    cor = cov / np.outer(d, d)
    off = cor[np.tril_indices_from(cor, -1)]
    if off.size == 0 or np.all(np.abs(off) < 1e-14):
        sd = np.sqrt((sdu ** 2) @ (cu ** 2))
    else:
        R = np.linalg.cholesky(cor).T  # upper triangular, as R's chol()
        sd = np.sqrt(np.sum((R @ (sdu * cu).T) ** 2, axis=0))
    return coef, sd


def ebayes(coef: np.ndarray, stdev_unscaled: np.ndarray, sigma: np.ndarray, df_residual: np.ndarray,
           proportion: float = 0.01, stdev_coef_lim: tuple[float, float] = (0.1, 4.0)) -> dict[str, np.ndarray]:
    """Empirical-Bayes moderation (limma ``eBayes``, no trend, not robust) for one contrast."""
    df = np.asarray(df_residual, dtype=float)
    if np.nanmax(df) == 0:
        raise InputError("no residual degrees of freedom: every group needs replicate samples")
    s2 = np.asarray(sigma, dtype=float) ** 2
    s2 = np.where(df == 0, 0.0, s2)
    s20, d0 = fit_f_dist(s2, df)
    if np.isnan(d0):
        raise InputError("could not estimate the prior degrees of freedom (no gene has a finite variance)")
    if np.isfinite(d0):
        s2post = (df * s2 + d0 * s20) / (df + d0)
    else:
        s2post = np.full_like(s2, s20)
    t = coef / stdev_unscaled / np.sqrt(s2post)
    df_total = np.minimum(df + d0, np.nansum(df))
    p = 2 * special.stdtr(df_total, -np.abs(t))
    lim = (stdev_coef_lim[0] ** 2 / s20, stdev_coef_lim[1] ** 2 / s20)
    v0 = _tmixture(t, stdev_unscaled, df_total, proportion, lim)
    if np.isnan(v0):
        v0 = 1.0 / s20
        warnings.warn("estimation of var.prior failed - set to default value", StatisticalWarning, stacklevel=2)
    r = (stdev_unscaled ** 2 + v0) / stdev_unscaled ** 2
    t2 = t ** 2
    if d0 > 1e6:
        kernel = t2 * (1 - 1 / r) / 2
    else:
        kernel = (1 + df_total) / 2 * np.log((t2 + df_total) / (t2 / r + df_total))
    lods = np.log(proportion / (1 - proportion)) - np.log(r) / 2 + kernel
    return {"t": t, "p_value": p, "lods": lods, "s2_prior": s20, "df_prior": d0, "df_total": df_total,
            "s2_post": s2post}


def design_matrix(groups: pd.Series, contrast: Sequence[str],
                  covariates: pd.DataFrame | None = None) -> tuple[np.ndarray, list[str]]:
    """Cell-means design (one indicator column per contrast group) plus covariates.

    Numeric covariates enter as they are; text/categorical ones are dummy-coded with the
    first level (sorted) as reference.
    """
    return _design(groups.to_numpy(), list(groups.index), contrast, covariates)


def _design(labels: np.ndarray, samples: Sequence[str], contrast: Sequence[str],
            covariates: pd.DataFrame | None) -> tuple[np.ndarray, list[str]]:
    cols = [(labels == g).astype(float) for g in contrast]
    names = list(contrast)
    if covariates is not None and covariates.shape[1]:
        import pandas as pd

        absent = [s for s in samples if s not in covariates.index]
        if absent:
            raise InputError(f"covariates lack {len(absent)} sample(s) (e.g. {', '.join(map(str, absent[:5]))})")
        cov = covariates.loc[list(samples)]
        for name in cov.columns:
            col = cov[name]
            if col.isna().any():
                raise InputError(f"covariate {name!r} has missing values for "
                                 f"{', '.join(map(str, col.index[col.isna()][:5]))}; fill or drop them")
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                cols.append(col.astype(float).to_numpy())
                names.append(str(name))
            else:
                levels = sorted(col.astype(str).unique())
                for lev in levels[1:]:
                    cols.append((col.astype(str) == lev).astype(float).to_numpy())
                    names.append(f"{name}{lev}")
    return np.column_stack(cols), names


def _check_contrast(contrast: Sequence[str]) -> None:
    if len(contrast) != 2 or contrast[0] == contrast[1]:
        raise InputError(f"contrast must name two different groups, got {tuple(contrast)!r}")


def limma_de(expr: pd.DataFrame, groups: pd.Series | dict, contrast: Sequence[str] = ("high", "low"),
             covariates: pd.DataFrame | None = None, proportion: float = 0.01) -> pd.DataFrame:
    """Differential expression of log-scale data with limma's moderated t (Smyth 2004).

    Parameters
    ----------
    expr : DataFrame
        Genes x samples, log scale (e.g. log2(FPKM+1) or log-CPM); NaN allowed.
    groups : Series or dict
        Sample -> group label.  Samples outside ``contrast`` (e.g. "middle") and samples
        missing from ``expr`` are ignored.
    contrast : (str, str)
        ``(a, b)``: logFC is mean(a) - mean(b).
    covariates : DataFrame, optional
        Samples x covariates added to the design (numeric as is, others dummy-coded).
    proportion : float
        Assumed proportion of DE genes, used for the B statistic (limma default 0.01).

    Returns
    -------
    DataFrame
        Gene-indexed, in the input order, with limma's ``topTable`` columns
        ``logFC, AveExpr, t, P.Value, adj.P.Val, B``.
    """
    import pandas as pd

    _check_contrast(contrast)
    groups = pd.Series(groups).astype(str)
    keep = groups.index.isin(expr.columns) & groups.isin(list(contrast)).to_numpy()
    samples = list(groups.index[keep])
    if not samples:
        raise InputError(f"no sample of groups {tuple(contrast)} is in the expression matrix "
                         f"(groups name {len(groups)} samples, expression has {expr.shape[1]}); "
                         "check that both use the same patient ids")
    cols = expr.columns.get_indexer(samples)
    y = expr.to_numpy(dtype=float)
    if not np.array_equal(cols, np.arange(expr.shape[1])):
        y = y[:, cols]
    table = limma_arrays(y, groups.loc[samples].to_numpy(), contrast, samples=samples, covariates=covariates,
                         genes=expr.index, proportion=proportion)
    out = pd.DataFrame(table, index=expr.index)
    out.index.name = expr.index.name or "gene"
    return out


def limma_arrays(y: np.ndarray, labels: np.ndarray, contrast: Sequence[str] = ("high", "low"), *,
                 samples: Sequence[str] | None = None, covariates: pd.DataFrame | None = None,
                 genes: Sequence[str] | None = None, proportion: float = 0.01) -> dict[str, np.ndarray]:
    """The computation of :func:`limma_de` on arrays: ``topTable`` columns for the rows of ``y``.

    Parameters
    ----------
    y : ndarray
        Genes x samples, log scale, NaN allowed.
    labels : ndarray
        The group of each column of ``y``; every one is one of ``contrast``.
    contrast, covariates, proportion
        As in :func:`limma_de`.
    samples : sequence of str, optional
        Column names (needed with ``covariates``, whose index they match).
    genes : sequence of str, optional
        Row names, only for messages.

    Returns
    -------
    dict
        ``logFC, AveExpr, t, P.Value, adj.P.Val, B`` -> array over the rows of ``y``.
    """
    _check_contrast(contrast)
    labels = np.asarray(labels).astype(str)
    # genes-major whatever the caller's layout (a frame's values come transposed, a column
    # selection in Fortran order): the row means are then summed in one order, to the last bit
    y = np.ascontiguousarray(y, dtype=float)
    samples = [str(s) for s in samples] if samples is not None else [str(i) for i in range(y.shape[1])]
    for lab in contrast:
        n = int((labels == lab).sum())
        if n == 0:
            raise InputError(f"group {lab!r} has no sample with expression data; groups present: "
                             f"{sorted(set(labels.tolist()))}")
        if n == 1:
            warnings.warn(f"group {lab!r} has a single sample: its variance comes from the other group only",
                          StatisticalWarning, stacklevel=2)
    X, names = _design(labels, samples, contrast, covariates)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError(f"the design ({', '.join(names)}) is not of full rank: a covariate is constant or "
                         "confounded with the groups")
    missing = np.isnan(y)
    has_na = bool(missing.any())
    if has_na:
        allna = missing.all(axis=1)
        if allna.any():
            names_na = [str(genes[i]) for i in np.flatnonzero(allna)[:3]] if genes is not None else []
            warnings.warn(f"{int(allna.sum())} gene(s) have no observed value in these samples "
                          f"(e.g. {', '.join(names_na)}); their results are NaN", StatisticalWarning, stacklevel=2)
    c = np.zeros(X.shape[1])
    c[0], c[1] = 1.0, -1.0
    with one_blas_thread():
        fit = lm_fit(y, X)
        coef, sdu = contrast_fit(fit, c)
        if has_na:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN genes: already warned above
                ave = np.nanmean(y, axis=1)
        else:
            ave = y.mean(axis=1)
    eb = ebayes(coef, sdu, fit["sigma"], fit["df_residual"], proportion=proportion)
    log.info("limma: %d genes, %d samples, d0=%.3g s0^2=%.3g", len(coef), y.shape[1], eb["df_prior"], eb["s2_prior"])
    return {"logFC": coef, "AveExpr": ave, "t": eb["t"], "P.Value": eb["p_value"],
            "adj.P.Val": bh_adjust(eb["p_value"]), "B": eb["lods"]}
