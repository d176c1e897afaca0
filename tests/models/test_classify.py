"""Binary classification: planted signal recovered, null not, no leakage of validation rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiogenomics.exceptions import InputError
from radiogenomics.models.classify import (LassoLogisticSignature, ModelSpec, binarize_endpoint, binary_metrics,
                                           classify, net_benefit, reader_comparison, youden_cutoff)

FAST = dict(inner_folds=3, outer_folds=3)


def _planted(n=160, p=30, seed=0, signal=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    lin = (2.0 * X[:, 0] - 1.5 * X[:, 1] + 1.0 * X[:, 2]) if signal else np.zeros(n)
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-lin))).astype(int)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(p)], index=[f"P{i:03d}" for i in range(n)])
    return X, y


def test_planted_signal_is_recovered():
    X, y = _planted()
    res = classify(X.iloc[:100], y[:100], X.iloc[100:], y[100:], models=["lasso", "lr", "lda"], seed=0, **FAST)
    val = res.metrics[res.metrics["cohort"] == "validation"].set_index("model")
    assert (val["auc"] > 0.8).all(), val["auc"]
    assert (val["auc_lower"] > 0.5).all()
    # the lasso keeps the planted features with the right signs
    coef = res.models["lasso"].coefficients
    assert coef["f0"] > 0 and coef["f1"] < 0
    sig = res.models["lasso"].estimator
    assert np.isfinite(sig.cutoff_) and 0 < sig.sensitivity_ <= 1 and 0 < sig.specificity_ <= 1
    assert set(res.comparisons["cohort"]) == {"cv", "validation"}
    assert len(res.comparisons) == 6  # 3 pairs x 2 cohorts
    assert set(res.dca["model"]) == {"lasso", "lr", "lda"}
    assert len(res.predictions) == 3 * 160


def test_null_endpoint_is_not_recovered():
    X, y = _planted(seed=1, signal=False)
    res = classify(X.iloc[:100], y[:100], X.iloc[100:], y[100:], models=["lasso", "lr"], seed=0, **FAST)
    val = res.metrics[res.metrics["cohort"] == "validation"]
    assert ((val["auc_lower"] <= 0.5) & (val["auc_upper"] >= 0.5)).all(), val[["model", "auc", "auc_lower", "auc_upper"]]


class SpyTransformer(TransformerMixin, BaseEstimator):
    """Records the row ids (column 0) of every ``fit`` call into a class-level list."""

    seen: list[set] = []

    def fit(self, X, y=None):
        SpyTransformer.seen.append(set(np.asarray(X)[:, 0].astype(int).tolist()))
        return self

    def transform(self, X):
        return np.asarray(X)[:, 1:]


def test_nested_cv_never_fits_on_validation_rows():
    X, y = _planted(n=120, p=6, seed=5)
    X.insert(0, "row_id", np.arange(len(X)))
    train, valid = np.arange(80), np.arange(80, 120)
    SpyTransformer.seen = []
    spec = ModelSpec("spy_lr", Pipeline([("spy", SpyTransformer()), ("scale", StandardScaler()),
                                         ("clf", LogisticRegression())]), {"clf__C": [0.1, 1.0]})
    res = classify(X.iloc[train], y[train], X.iloc[valid], y[valid], models=[spec], seed=0, **FAST)
    assert SpyTransformer.seen, "the spy was never fitted"
    valid_ids = set(valid.tolist())
    assert all(not (s & valid_ids) for s in SpyTransformer.seen)
    # nested: outer-CV searches (all but the final search) never fit on a full training split
    sizes = sorted(len(s) for s in SpyTransformer.seen)
    assert sizes[-1] == len(train) and sum(sz == len(train) for sz in sizes) == 1
    # final pipeline's scaler learned on the training rows only
    scaler = res.models["spy_lr"].estimator.named_steps["scale"]
    np.testing.assert_allclose(scaler.mean_, X.iloc[train, 1:].mean().to_numpy())
    # validation rows were predicted (not ignored)
    assert res.models["spy_lr"].valid_prob.shape == (40,)


def test_lasso_signature_cutoff_and_radscore():
    X, y = _planted(n=120, p=8, seed=1)
    sig = LassoLogisticSignature(C=1.0).fit(X, y)
    score = sig.decision_function(X)
    cut, sens, spec = youden_cutoff(y, score)
    assert cut == sig.cutoff_ and sens == sig.sensitivity_ and spec == sig.specificity_
    np.testing.assert_array_equal(sig.predict(X), (score >= cut).astype(int))
    np.testing.assert_allclose(sig.predict_proba(X)[:, 1], 1 / (1 + np.exp(-score)))


def test_metrics_and_net_benefit_by_hand():
    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.6, 0.7, 0.2, 0.4, 0.1])
    m = binary_metrics(y, p, cutoff=0.5)
    # predicted positive: 0.9 (tp), 0.6 (tp), 0.7 (fp)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["specificity"] == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx(7 / 9)
    nb = net_benefit(y, p, [0.5]).iloc[0]
    assert nb["net_benefit"] == pytest.approx(2 / 6 - 1 / 6 * 1.0)
    assert nb["treat_all"] == pytest.approx(0.5 - 0.5)


def test_binarize_endpoint_rules():
    egfr = pd.Series(["Mutant", "Wildtype", "Unknown", "Not collected", "wildtype"], name="egfr")
    y, pos = binarize_endpoint(egfr)
    assert pos == ["Mutant"] and y.tolist()[:2] == [1.0, 0.0] and y.isna().tolist() == [False, False, True, True, False]
    n = pd.Series(["N0", "N1", "N2", "Not Collected"], name="n_stage")
    y, pos = binarize_endpoint(n)
    assert pos == ["N1", "N2"] and y.tolist()[:3] == [0.0, 1.0, 1.0]
    t = pd.Series(["T1a", "T2a", "T3"], name="t_stage")
    with pytest.raises(InputError, match="--positive"):
        binarize_endpoint(t)
    y, _ = binarize_endpoint(t, "T2a,T3")
    assert y.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(InputError, match="do not occur"):
        binarize_endpoint(t, "T4")


def test_reader_comparison_with_and_without_training_readers():
    rng = np.random.default_rng(7)
    n = 120
    y = rng.integers(0, 2, n)
    model = 1 / (1 + np.exp(-(1.5 * y + rng.normal(size=n) - 0.75)))
    reader = np.clip(np.round(3 + 0.8 * (y - 0.5) + rng.normal(0, 1.0, n)), 1, 5)
    tab = reader_comparison(y[60:], reader[60:], model[60:], y[:60], reader[:60], model[:60])
    assert list(tab["comparison"]) == ["model_vs_reader", "reader_plus_model_vs_reader"]
    assert tab.loc[1, "method"] == "fitted_on_training"
    assert (tab["auc_a"] > tab["auc_b"]).all()
    assert ((tab["pvalue"] > 0) & (tab["pvalue"] < 1)).all()
    within = reader_comparison(y[60:], reader[60:], model[60:])
    assert within.loc[1, "method"] == "cv_within_validation"
