"""RadScore (LASSO-Cox) against R glmnet, cross-validation, frozen formula, ranking, no leakage."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import AllZeroCoefficientsWarning, FewEventsWarning, ModelError
from radiogenomics.models import RadScore, mrmr_scores, rank_features
from radiogenomics.models.workflow import fit_on_split
from tests.conftest import TEST_DATA

REF = TEST_DATA / "R" / "survival"


@pytest.fixture(scope="module")
def gse7390():
    b = pd.read_csv(REF / "gse7390_input.csv")
    genes = [c for c in b.columns if c not in ("time", "event", "foldid")]
    return b, genes


@pytest.mark.parametrize("lam", [0.02, 0.05, 0.1])
@pytest.mark.parametrize("kind", ["raw", "scaled"])
def test_fixed_lambda_matches_glmnet(gse7390, lam, kind):
    b, genes = gse7390
    ref = pd.read_csv(REF / "ref_glmnet_coef.csv")
    ref = ref[(ref["lambda"] == lam) & (ref["input"] == kind)].set_index("feature")["coef"]
    model = RadScore(alpha=lam, standardize=(kind == "scaled")).fit(b[genes], (b.time, b.event))
    ours = model.all_coef_.reindex(ref.index).fillna(0.0)
    # same active set, coefficients within 5e-5 (glmnet thresh 1e-14 vs Coxnet tol 1e-12)
    assert set(model.features_) == set(ref.index[ref != 0])
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), atol=5e-5)
    if kind == "scaled":
        np.testing.assert_allclose(model.means_, b[model.features_].mean().to_numpy())
        np.testing.assert_allclose(model.scales_, b[model.features_].std(ddof=1).to_numpy())


def test_alphas_spelling_matches_glmnet(gse7390):
    """Coxnet's ``alphas=[value]`` spelling is the fixed-lambda fit; several values are the CV path."""
    from radiogenomics.exceptions import InputError

    b, genes = gse7390
    ref = pd.read_csv(REF / "ref_glmnet_coef.csv")
    ref = ref[(ref["lambda"] == 0.05) & (ref["input"] == "raw")].set_index("feature")["coef"]
    model = RadScore(alphas=[0.05], standardize=False).fit(b[genes], (b.time, b.event))
    assert model.alpha_ == 0.05 and model.to_formula()["lambda_rule"] == "fixed"
    np.testing.assert_allclose(model.all_coef_.reindex(ref.index).fillna(0.0).to_numpy(), ref.to_numpy(), atol=5e-5)
    path = [0.2, 0.1, 0.05, 0.02]
    cv = RadScore(alphas=path, n_folds=3).fit(b[genes], (b.time, b.event))
    np.testing.assert_allclose(np.sort(cv.cv_results_["alpha"].to_numpy()), sorted(path))
    assert cv.alpha_ in path
    with pytest.raises(InputError):
        RadScore(alpha=0.1, alphas=[0.05]).fit(b[genes], (b.time, b.event))


def test_cv_deviance_matches_cv_glmnet(gse7390):
    path = REF / "ref_glmnet_cv.csv"
    if not path.exists():
        pytest.skip("ref_glmnet_cv.csv not generated")
    b, genes = gse7390
    # the first 20 lambdas of R's path: past them (lambda < 0.003, p = 76 > events = 51) glmnet's
    # fold fits stop at maxit and R's deviance curve is no longer a converged reference
    ref = pd.read_csv(path).head(20)
    X = b[genes]
    Z = ((X - X.mean()) / X.std(ddof=1)).to_numpy()
    t, e = b.time.to_numpy(float), b.event.to_numpy(float)
    est = RadScore(tol=1e-10)
    lambdas = ref["lambda"].to_numpy()
    full = est._coxnet(lambdas).fit(Z, est._surv(t, e))
    est._cv_path(Z, t, e, b.foldid.to_numpy(), lambdas, full)
    cv = est.cv_results_
    # the same lambdas and folds: grouped deviance and its se within 1e-4 relative, same lambda.min / 1se
    np.testing.assert_allclose(cv.cvm.to_numpy(), ref.cvm.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(cv.cvsd.to_numpy(), ref.cvsd.to_numpy(), rtol=1e-4)
    assert est.alpha_min_ == pytest.approx(ref.lambda_min.iloc[0], rel=1e-12)
    assert est.alpha_1se_ == pytest.approx(ref.lambda_1se.iloc[0], rel=1e-12)


def _synthetic(n=120, p=12, seed=1, n_signal=2):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(10, 3, size=(n, p)), columns=[f"original_f{i}" for i in range(p)],
                     index=[f"P{i:03d}" for i in range(n)])
    lp = 0.5 * ((X.iloc[:, :n_signal] - 10) / 3).sum(axis=1).to_numpy()
    t = rng.exponential(1000 * np.exp(-lp))
    c = rng.uniform(300, 3000, n)
    out = pd.DataFrame({"time": np.minimum(t, c).round(), "event": (t <= c).astype(int)}, index=X.index)
    return X, out


def test_cv_fit_selects_signal_and_formula_round_trip(tmp_path):
    X, y = _synthetic()
    model = RadScore(n_folds=5, random_state=3).fit(X, (y.time, y.event))
    assert {"original_f0", "original_f1"} <= set(model.features_)
    assert model.alpha_1se_ >= model.alpha_min_ == model.alpha_
    assert list(model.cv_results_.columns) == ["alpha", "cvm", "cvsd", "n_nonzero"]
    score = model.predict(X)
    manual = sum(c * (X[f] - m) / s for f, c, m, s in zip(model.features_, model.coef_, model.means_, model.scales_))
    np.testing.assert_allclose(score, manual.to_numpy())
    # JSON round trip: the frozen formula scores identically, columns in any order
    path = tmp_path / "f.json"
    path.write_text(json.dumps(model.to_formula()))
    frozen = RadScore.from_formula(json.loads(path.read_text()))
    np.testing.assert_array_equal(frozen.predict(X[X.columns[::-1]]), score)
    # the 1se rule is sparser or equal
    sparse = RadScore(n_folds=5, random_state=3, lambda_rule="1se").fit(X, (y.time, y.event))
    assert len(sparse.features_) <= len(model.features_)


def test_missing_feature_reported_per_patient():
    X, y = _synthetic()
    model = RadScore(alpha=0.05).fit(X, (y.time, y.event))
    f = model.features_[0]
    Xm = X.copy()
    Xm.loc["P005", f] = np.nan
    missing = model.missing_features(Xm)
    assert missing["P005"] == [f] and missing.drop("P005").map(len).eq(0).all()
    with pytest.raises(ModelError, match=f):
        model.predict(X.drop(columns=[f]))


def test_small_cohort_warnings_not_crashes():
    X, y = _synthetic(n=30)
    y["event"] = 0
    y.iloc[:3, 1] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RadScore(alpha=0.1, n_folds=3).fit(X, (y.time, y.event))
        m = RadScore(alpha=10.0).fit(X, (y.time, y.event))
    kinds = {w.category for w in caught}
    assert {FewEventsWarning, AllZeroCoefficientsWarning} <= kinds
    assert m.features_ == [] and np.all(m.predict(X) == 0)
    y["event"] = 0
    with pytest.raises(ModelError, match="event"):
        RadScore(alpha=0.1).fit(X, (y.time, y.event))


def test_ranking_mrmr_and_rsf_union():
    X, y = _synthetic(n=80, p=10)
    m = mrmr_scores(X, y.time, y.event, k=3)
    assert list(m["rank"]) == [1, 2, 3] and m["feature"].iloc[0] in ("original_f0", "original_f1")
    union, table = rank_features(X, y.time, y.event, top_k=3, rsf_kwargs={"n_estimators": 30, "n_repeats": 2})
    assert 3 <= len(union) <= 6
    assert set(table.method) == {"mrmr", "rsf"}
    assert {"original_f0", "original_f1"} & set(union)


def test_no_leakage_validation_rows_never_used():
    """Everything learned on the training split is identical whether the validation rows are
    real, poisoned or absent: they are never read before the fit is finished."""
    X, y = _synthetic(n=100, seed=7)
    train = list(X.index[:70])
    kwargs = dict(n_folds=5, random_state=0, top_k=None)
    base = fit_on_split(X, y, train, **kwargs)
    poisoned_X = X.copy()
    poisoned_X.loc[X.index[70:]] = 1e6
    poisoned_y = y.copy()
    poisoned_y.loc[X.index[70:], "time"] = 1.0
    poisoned_y.loc[X.index[70:], "event"] = 1
    pois = fit_on_split(poisoned_X, poisoned_y, train, **kwargs)
    only = fit_on_split(X.loc[train], y.loc[train], train, **kwargs)
    for other in (pois, only):
        assert other.estimator.features_ == base.estimator.features_
        np.testing.assert_array_equal(other.estimator.coef_, base.estimator.coef_)
        np.testing.assert_array_equal(other.estimator.means_, base.estimator.means_)
        assert other.cutoff == base.cutoff
        pd.testing.assert_series_equal(other.scores.loc[train], base.scores.loc[train])
    # validation scores use the training means / sds
    val = X.index[70:]
    expected = base.estimator.predict(X.loc[val])
    np.testing.assert_allclose(base.scores.loc[val].to_numpy(), expected)


def test_ranking_inside_the_estimator_uses_training_rows():
    X, y = _synthetic(n=80, p=10)
    model = RadScore(alpha=0.05, top_k=2, random_state=0).fit(X, (y.time, y.event))
    assert 2 <= len(model.candidates_) <= 4
    assert set(model.features_) <= set(model.candidates_)
    assert set(model.ranking_.method) == {"mrmr", "rsf"}
