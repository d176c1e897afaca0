"""The primal nu-SVR (radiogenomics.omics.nusvr) against R e1071, scikit-learn's libsvm and Clarabel.

libsvm (e1071 and scikit-learn alike) keeps the kernel in single precision, so even at
``tolerance = 1e-9`` its weights stop ~1e-5 from the optimum: weights are compared at 1e-4
and, more strictly, our objective must never be above libsvm's.  Clarabel, an independent
interior-point solver run at 1e-12, pins the weights to 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import OmicsError
from radiogenomics.omics import read_signature
from radiogenomics.omics import nusvr
from radiogenomics.omics.nusvr import linear_nu_svr

REF = Path(__file__).resolve().parent.parent / "data" / "R" / "omics"


def primal_objective(X: np.ndarray, w: np.ndarray, b: float, y: np.ndarray, nu: float, C: float = 1.0) -> float:
    """0.5||w||^2 + C (nu n eps + sum max(0, |r| - eps)) at the best eps for (w, b): a breakpoint or 0."""
    r = np.abs(y - X @ w - b)
    cand = np.concatenate([[0.0], np.sort(r)])
    lin = nu * len(y) * cand + np.maximum(r[None, :] - cand[:, None], 0.0).sum(axis=1)
    return float(0.5 * w @ w + C * lin.min())


def standardise(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=0)) / a.std(axis=0, ddof=1)


@pytest.fixture(scope="module")
def all_data():
    sig = read_signature(REF / "deconv_signature.txt")
    mix = pd.read_csv(REF / "deconv_mixture.csv", index_col=0)
    mix.columns = mix.columns.astype(str)
    X = sig.to_numpy(float)
    X = (X - X.mean()) / X.std(ddof=1)
    return sig, mix, X


@pytest.fixture(scope="module")
def cibersort_like():
    """500 genes x 22 cell types and 6 mixtures, as in the benchmark."""
    rng = np.random.default_rng(11)
    S = rng.gamma(1.0, 200.0, size=(500, 22))
    M = S @ rng.dirichlet(np.ones(22) * 0.5, size=6).T * rng.lognormal(0, 0.3, (500, 6))
    return (S - S.mean()) / S.std(ddof=1), standardise(M)


def test_matches_e1071_at_tight_tolerance(all_data):
    sig, mix, X = all_data
    raw = pd.read_csv(REF / "ref_nusvr_tight.csv", dtype={"sample": str})
    Y = standardise(np.column_stack([mix.loc[sig.index, s].to_numpy(float) for s in raw["sample"]]))
    fits = linear_nu_svr(X, Y, raw["nu"].to_numpy())
    assert fits.converged.all() and fits.polished.all()
    ref_w = raw[list(sig.columns)].to_numpy(float)
    np.testing.assert_allclose(fits.coef, ref_w, rtol=0, atol=1e-4)
    for i in range(len(raw)):
        ours = primal_objective(X, fits.coef[i], fits.intercept[i], Y[:, i], raw["nu"][i])
        r = primal_objective(X, ref_w[i], raw["intercept"][i], Y[:, i], raw["nu"][i])
        assert ours <= r + 1e-10 * r, (raw["sample"][i], raw["nu"][i], ours, r)
        # the objective the solver reports is the objective of what it returns
        assert fits.objective[i] == pytest.approx(ours, rel=1e-12)


def test_matches_scikit_learn_and_clarabel(cibersort_like):
    import clarabel
    import scipy.sparse as sp
    from sklearn.svm import NuSVR

    X, Y = cibersort_like
    n, p = X.shape
    nus = np.tile([0.25, 0.5, 0.75], Y.shape[1])
    Yb = np.repeat(Y, 3, axis=1)
    fits = linear_nu_svr(X, Yb, nus)
    assert fits.converged.all()
    # the same problem for Clarabel, written out independently (z = w, b, eps, xi, xi*)
    eye = sp.identity(n, format="csc")
    zeros = sp.csc_matrix((n, n))
    ones = sp.csc_matrix(np.ones((n, 1)))
    Xs = sp.csc_matrix(X)
    A = sp.vstack([sp.hstack([-Xs, -ones, -ones, -eye, zeros]), sp.hstack([Xs, ones, -ones, zeros, -eye]),
                   sp.hstack([sp.csc_matrix((2 * n + 1, p + 1)),
                              -sp.identity(2 * n + 1, format="csc")])]).tocsc()
    P = sp.diags(np.r_[np.ones(p), np.zeros(2 * n + 2)]).tocsc()
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-12
    for j in range(Yb.shape[1]):
        y, nu = Yb[:, j], nus[j]
        q = np.r_[np.zeros(p + 1), nu * n, np.ones(2 * n)]
        h = np.r_[-y, y, np.zeros(2 * n + 1)]
        sol = clarabel.DefaultSolver(P, q, A, h, [clarabel.NonnegativeConeT(4 * n + 1)], settings).solve()
        assert str(sol.status) == "Solved"
        z = np.asarray(sol.x)
        np.testing.assert_allclose(fits.coef[j], z[:p], rtol=0, atol=1e-6)
        ours = primal_objective(X, fits.coef[j], fits.intercept[j], y, nu)
        assert ours <= primal_objective(X, z[:p], z[p], y, nu) * (1 + 1e-12)
        svr = NuSVR(kernel="linear", nu=nu, C=1.0, tol=1e-9).fit(X, y)
        w = (svr.dual_coef_ @ svr.support_vectors_).ravel()
        np.testing.assert_allclose(fits.coef[j], w, rtol=0, atol=1e-4)
        lib = primal_objective(X, w, svr.intercept_[0], y, nu)
        assert ours <= lib * (1 + 1e-12)


def test_one_fit_equals_the_batch(cibersort_like):
    X, Y = cibersort_like
    batch = linear_nu_svr(X, Y, 0.5)
    one = linear_nu_svr(X, Y[:, 2], 0.5)
    np.testing.assert_allclose(one.coef[0], batch.coef[2], rtol=0, atol=1e-12)


def test_bad_input_and_non_convergence(cibersort_like, monkeypatch):
    X, Y = cibersort_like
    with pytest.raises(OmicsError, match="nu must be in"):
        linear_nu_svr(X, Y, 1.5)
    with pytest.raises(OmicsError, match="rows like the design matrix"):
        linear_nu_svr(X, Y[:-1], 0.5)
    bad = Y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(OmicsError, match="non-finite"):
        linear_nu_svr(X, bad, 0.5)
    monkeypatch.setattr(nusvr, "MAX_ITER", 2)
    fits = linear_nu_svr(X, Y, 0.5)
    assert not fits.converged.any() and not fits.polished.any()


def test_deconvolve_reports_fits_that_did_not_converge(all_data, monkeypatch):
    import dataclasses
    import warnings

    from radiogenomics.exceptions import DataQualityWarning
    from radiogenomics.omics import deconvolution
    from radiogenomics.omics import deconvolve

    sig, mix, _ = all_data
    real = deconvolution.linear_nu_svr

    def first_mixture_fails(X, Y, nu):
        fits = real(X, Y, nu)
        conv = fits.converged.copy()
        conv[1] = False  # the first column's nu = 0.5
        return dataclasses.replace(fits, converged=conv)

    monkeypatch.setattr(deconvolution, "linear_nu_svr", first_mixture_fails)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deconvolve(mix, sig, perm=0)
    first = str(mix.columns[0])
    assert out.loc[first].isna().all() and out.drop(index=first).notna().drop(columns="P-value").all().all()
    assert any(issubclass(w.category, DataQualityWarning) and first in str(w.message) and "nu=0.5" in str(w.message)
               for w in caught)
    monkeypatch.setattr(nusvr, "MAX_ITER", 2)
    monkeypatch.setattr(deconvolution, "linear_nu_svr", real)
    with pytest.raises(OmicsError, match="failed for every sample"):
        deconvolve(mix, sig, perm=0)


def test_deconvolve_gives_no_pvalue_without_a_fit(all_data):
    """A mixture anti-correlated with every cell type: all weights clip to 0, so no correlation and no
    P-value (not P = 0)."""
    from radiogenomics.omics import deconvolve

    sig, mix, _ = all_data
    anti = (sig.to_numpy().max() * 2 - sig.to_numpy() @ np.full(sig.shape[1], 1.0 / sig.shape[1]))
    frame = mix.loc[sig.index].copy()
    frame["anti"] = anti
    out = deconvolve(frame, sig, perm=20, seed=1)
    assert (out.loc["anti", list(sig.columns)] == 0).all()
    assert np.isnan(out.loc["anti", "Correlation"]) and np.isnan(out.loc["anti", "P-value"])
    assert out.drop(index="anti")["P-value"].notna().all()
