"""The radiogenomic map: Spearman correlation of every imaging variable with every molecular one.

Pure numeric cores on arrays (:func:`spearman_matrix`, :func:`partial_spearman_matrix`) and a
thin DataFrame wrapper (:func:`radiogenomic_map`) returning the tidy long table stored in
``radiogenomic_map``. The p-value is R's asymptotic one (``cor.test(method = "spearman",
exact = FALSE)``: t = rho sqrt((n - 2) / (1 - rho^2)) on n - 2 degrees of freedom); partial
correlations rank every variable, regress the covariates out of both ranked sides and
correlate the residuals, with n - 2 - k degrees of freedom (k covariate columns), as
``ppcor::pcor.test(method = "spearman")`` does. The FDR is Benjamini-Hochberg over the whole
map.

The cost is one matrix product of the two standardised rank matrices: a 1,000 x 20,000 map
over 130 patients is a few seconds. Pairs with missing values are computed on their own
complete patients (so ``n`` can differ per pair); columns without missing values take the
vectorised path.
"""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pandas as pd
from scipy import special
from scipy.stats import rankdata

from ..exceptions import DataQualityWarning, InputError

log = logging.getLogger(__name__)

MAP_COLUMNS = ["imaging", "molecular", "molecular_source", "rho", "p", "fdr", "n"]
#: fewest complete patients for which a correlation is reported (below it: NaN, never a number)
MIN_PAIRS = 5


def _rank_columns(a: np.ndarray) -> np.ndarray:
    """Average ranks of each column (NaNs stay NaN)."""
    out = np.full(a.shape, np.nan)
    for j in range(a.shape[1]):
        col = a[:, j]
        ok = ~np.isnan(col)
        out[ok, j] = rankdata(col[ok])
    return out


def _rank_complete(a: np.ndarray) -> np.ndarray:
    # all columns complete: rank along axis 0 at once
    return rankdata(a, axis=0)


def _standardise(r: np.ndarray) -> np.ndarray:
    r = r - r.mean(axis=0)
    norm = np.sqrt((r * r).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return r / norm


def _p_from_rho(rho: np.ndarray, df: np.ndarray | int) -> np.ndarray:
    """Two-sided p of the t approximation; NaN where df < 1 or rho is NaN.

    The incomplete beta behind ``stdtr`` costs about a microsecond per value, so a 20-million
    pair map spends most of its time here: the work is split into chunks over threads
    (scipy's ufuncs release the GIL).
    """
    rho = np.asarray(rho, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), rho.shape)
    flat_r, flat_df = rho.ravel(), np.ascontiguousarray(df).ravel()
    p = np.empty_like(flat_r)

    def chunk(sl: slice) -> None:
        r, d = flat_r[sl], flat_df[sl]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = r * np.sqrt(d / np.maximum(1.0 - r * r, 0.0))
            p[sl] = 2.0 * special.stdtr(d, -np.abs(t))

    size = len(flat_r)
    step = 1 << 20
    slices = [slice(i, min(i + step, size)) for i in range(0, size, step)]
    if len(slices) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(slices), os.cpu_count() or 1)) as pool:
            list(pool.map(chunk, slices))
    elif slices:
        chunk(slices[0])
    p = p.reshape(rho.shape)
    p = np.where(np.abs(rho) >= 1.0, 0.0, p)
    return np.where((df >= 1) & ~np.isnan(rho), p, np.nan)


def _residualise(r: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Residuals of each column of ``r`` on ``[1, z]`` (least squares)."""
    design = np.column_stack([np.ones(len(z)), z])
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    return r - design @ coef


def spearman_matrix(x: np.ndarray, y: np.ndarray, z: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spearman (or partial Spearman given ``z``) correlation of every column of ``x`` with every
    column of ``y``.

    Parameters
    ----------
    x : ndarray, shape (n, p)
    y : ndarray, shape (n, q)
        The same n patients in the same order; NaN marks a missing value.
    z : ndarray, shape (n, k), optional
        Covariates to adjust for (numeric; encode categories as dummies first). Patients with a
        missing covariate are left out of every pair.

    Returns
    -------
    rho, p, n : ndarray, shape (p, q)
        Correlation, two-sided p-value and the number of patients of each pair. Pairs with fewer
        than :data:`MIN_PAIRS` complete patients (or a constant side) are NaN.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InputError(f"spearman_matrix: x and y must be (patients x variables) with the same patients, "
                         f"got {x.shape} and {y.shape}")
    k = 0
    if z is not None:
        z = np.asarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        keep = ~np.isnan(z).any(axis=1)
        x, y, z = x[keep], y[keep], _rank_columns(z[keep])
        k = z.shape[1]
    p_, q_ = x.shape[1], y.shape[1]
    rho = np.full((p_, q_), np.nan)
    n = np.zeros((p_, q_), dtype=int)
    x_nan = np.isnan(x).any(axis=0)
    y_nan = np.isnan(y).any(axis=0)
    xc, yc = np.flatnonzero(~x_nan), np.flatnonzero(~y_nan)
    if len(xc) and len(yc) and len(x) >= MIN_PAIRS:
        rx, ry = _rank_complete(x[:, xc]), _rank_complete(y[:, yc])
        if z is not None:
            rx, ry = _residualise(rx, z), _residualise(ry, z)
        with np.errstate(invalid="ignore"):
            block = _standardise(rx).T @ _standardise(ry)
        rho[np.ix_(xc, yc)] = np.clip(block, -1.0, 1.0)
        n[np.ix_(xc, yc)] = len(x)
    # pairs touching a column with missing values: that pair's complete patients only
    for i in range(p_):
        js = range(q_) if x_nan[i] else np.flatnonzero(y_nan)
        for j in js:
            ok = ~(np.isnan(x[:, i]) | np.isnan(y[:, j]))
            m = int(ok.sum())
            n[i, j] = m
            if m < MIN_PAIRS:
                continue
            pair = np.column_stack([rankdata(x[ok, i]), rankdata(y[ok, j])])
            if z is not None:
                pair = _residualise(pair, _rank_columns(z[ok]))
            s = _standardise(pair)
            rho[i, j] = float(np.clip(s[:, 0] @ s[:, 1], -1.0, 1.0))
    rho[n < MIN_PAIRS] = np.nan
    p = _p_from_rho(rho, n - 2 - k)
    return rho, p, n


def radiogenomic_map(imaging: pd.DataFrame, molecular: pd.DataFrame, covariates: pd.DataFrame | None = None,
                     source: pd.Series | dict | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Every imaging variable against every molecular variable, as a tidy long table.

    Parameters
    ----------
    imaging, molecular : DataFrame
        Patients x variables, indexed by ``patient_id``; only patients in both are used.
    covariates : DataFrame, optional
        Patients x clinical covariates for a partial correlation (categorical columns become
        dummies; patients with a missing covariate are left out).
    source : mapping, optional
        ``molecular variable -> source`` (e.g. ``ssgsea:hallmark``, ``immune:estimate``, ``gene``).

    Returns
    -------
    (DataFrame, list of str)
        ``imaging, molecular, molecular_source, rho, p, fdr, n`` (FDR: Benjamini-Hochberg over
        every pair of the map that has a p-value) and the patients used.

    Raises
    ------
    InputError
        Fewer than :data:`MIN_PAIRS` patients in common, or an empty side.
    """
    from .compare import bh_fdr

    if imaging.shape[1] == 0 or molecular.shape[1] == 0:
        raise InputError("the radiogenomic map needs at least one imaging and one molecular variable")
    patients = imaging.index.intersection(molecular.index)
    z = None
    if covariates is not None and covariates.shape[1]:
        dummies = pd.get_dummies(covariates, drop_first=True, dtype=float)
        if dummies.shape[1] == 0:
            raise InputError(f"covariate(s) {list(covariates.columns)} have a single value: nothing to adjust for")
        complete = dummies.index[dummies.notna().all(axis=1)]
        patients = patients.intersection(complete)
    patients = pd.Index(sorted(patients))
    if len(patients) < MIN_PAIRS:
        raise InputError(f"only {len(patients)} patient(s) have both imaging and molecular values"
                         f"{' and every covariate' if covariates is not None else ''}; the map needs at least "
                         f"{MIN_PAIRS}")
    if covariates is not None and covariates.shape[1]:
        z = dummies.loc[patients].to_numpy(dtype=float)
    x = imaging.loc[patients].to_numpy(dtype=float)
    y = molecular.loc[patients].to_numpy(dtype=float)
    rho, p, n = spearman_matrix(x, y, z)
    if np.isnan(rho).all():
        raise InputError("no pair of the map has enough complete, non-constant values to correlate")
    n_const = int(np.isnan(rho).all(axis=1).sum())
    if n_const:
        warnings.warn(f"{n_const} imaging variable(s) are constant or too often missing: their row of the map "
                      "is empty", DataQualityWarning, stacklevel=2)
    fdr = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    fdr[ok] = bh_fdr(p[ok])
    src = pd.Series(source if source is not None else {}, dtype=object)
    out = pd.DataFrame({
        "imaging": np.repeat(np.asarray(imaging.columns, dtype=object), len(molecular.columns)),
        "molecular": np.tile(np.asarray(molecular.columns, dtype=object), len(imaging.columns)),
        "rho": rho.ravel(), "p": p.ravel(), "fdr": fdr.ravel(), "n": n.ravel(),
    })
    out["molecular_source"] = out["molecular"].map(src).fillna("") if len(src) else ""
    return out[MAP_COLUMNS], [str(p_) for p_ in patients]


def top_pairs(table: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The ``k`` pairs of a map table with the smallest p (ties broken by name), for console and report."""
    return table.dropna(subset=["p"]).sort_values(["p", "imaging", "molecular"]).head(k)
