"""Risk groups, cut-offs, time-dependent AUC, DCA, calibration, nomogram and small-cohort warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import ConvergenceWarning, FewEventsWarning, InputError
from radiogenomics.models import (calibration, compare_models, concordance_index, cox, cutpoint, decision_curve,
                                  decision_curve_survival, groups_by_cutoff, groups_by_quantiles, groups_by_ranks,
                                  logrank_scores, logrank_test, nomogram, time_dependent_auc, time_roc)


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    t = rng.exponential(1500 * np.exp(-0.8 * score))
    c = rng.uniform(200, 3000, n)
    age = rng.normal(65, 8, n).round()
    stage = rng.choice(["I", "II", "III"], n)
    return pd.DataFrame({"time": np.minimum(t, c).round() + 1, "event": (t <= c).astype(int), "score": score,
                         "age": age, "stage": stage})


def test_study_ranks_on_100_and_proportions_on_other_sizes():
    s = pd.Series(np.arange(100, dtype=float)[::-1], index=[f"P{i:03d}" for i in range(100)])
    g = groups_by_ranks(s, (36, 32, 32))
    assert g.value_counts().to_dict() == {"high": 36, "middle": 32, "low": 32}
    assert set(g[s >= 64]) == {"high"} and set(g[s < 32]) == {"low"}
    g96 = groups_by_ranks(s.iloc[:96], (36, 32, 32))
    # 36/32/32 as proportions of 96: 34.56, 30.72, 30.72 -> floors 34, 30, 30; the two patients
    # left go to the largest remainders (0.72, 0.72) -> 34 / 31 / 31
    assert g96.value_counts().to_dict() == {"high": 34, "middle": 31, "low": 31}
    assert g96.value_counts().sum() == 96
    assert set(g96[s.iloc[:34].index]) == {"high"} and set(g96[s.iloc[65:96].index]) == {"low"}
    # top scores are high, whatever the size
    assert g96[s.iloc[:96].idxmax()] == "high" and g96[s.iloc[:96].idxmin()] == "low"
    with pytest.raises(InputError):
        groups_by_ranks(s, (10,))


def test_cutoff_and_quantile_groups():
    s = pd.Series([0.1, 0.5, 0.9, 0.5], index=list("abcd"))
    assert groups_by_cutoff(s, 0.5).to_dict() == {"a": "low", "b": "low", "c": "high", "d": "low"}
    q = groups_by_quantiles(pd.Series(np.arange(9.0)), [1 / 3, 2 / 3])
    assert list(q) == ["low"] * 3 + ["middle"] * 3 + ["high"] * 3


def test_logrank_scores_match_exactranktests():
    # values printed by R: exactRankTests::cscores(Surv(c(3,1,2,2,2,5), c(1,0,1,0,1,1)))
    np.testing.assert_allclose(logrank_scores([3, 1, 2, 2, 2, 5], [1, 0, 1, 0, 1, 1]),
                               [-1 / 6, 0, 1 / 3, -2 / 3, 1 / 3, -7 / 6])


def test_youden_cutpoint_is_an_observed_value():
    d = _data()
    res = cutpoint(d.time, d.event, d.score, method="youden", horizon=1095.75)
    assert res.cutpoint in set(d.score)
    roc = time_roc(d.time, d.event, d.score, 1095.75)
    assert res.statistic == pytest.approx((roc.sensitivity + roc.specificity - 1).max())
    assert res.n_high == (d.score > res.cutpoint).sum()
    with pytest.raises(InputError, match="horizon"):
        cutpoint(d.time, d.event, d.score, method="youden")


def test_time_dependent_auc_matches_sksurv():
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    d = _data(seed=3)
    times = [365.25, 1095.75, 1826.25]
    ours = time_dependent_auc(d.time, d.event, d.score, times)
    y = Surv.from_arrays(d.event.astype(bool), d.time)
    ref, _ = cumulative_dynamic_auc(y, y, d.score.to_numpy(), times)
    np.testing.assert_allclose(ours.auc.to_numpy(), ref, rtol=1e-10)


def test_decision_curve_binary_by_hand():
    y = np.array([1, 1, 0, 0, 0])
    risk = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    dca = decision_curve(y, risk, thresholds=[0.5])
    # pt 0.5: treated = {0.9 (TP), 0.6 (FP)} -> 1/5 - 1/5 * 1 = 0; treat all: 0.4 - 0.6 = -0.2
    assert dca.net_benefit.iloc[0] == pytest.approx(0.0)
    assert dca.treat_all.iloc[0] == pytest.approx(-0.2)
    # without censoring the survival DCA equals the binary one at the horizon
    t = np.array([1.0, 2, 10, 10, 10])
    e = np.array([1, 1, 0, 0, 0])
    surv = decision_curve_survival(t, e, risk, horizon=5, thresholds=[0.3, 0.5])
    binary = decision_curve(y, risk, thresholds=[0.3, 0.5])
    np.testing.assert_allclose(surv.net_benefit, binary.net_benefit)
    np.testing.assert_allclose(surv.treat_all, binary.treat_all)


def test_model_comparison_calibration_nomogram():
    d = _data(n=200, seed=5)
    comp = compare_models(d, "time", "event", ["age", "stage"], "score")
    c = comp.set_index(["model", "metric", "term"]).value
    assert c[("combined", "cindex", "")] > c[("clinical", "cindex", "")]
    assert c[("combined_vs_clinical", "lr_p", "")] < 0.001
    assert {"365.25", "1095.75", "1826.25"} <= set(comp[comp.metric == "td_auc"].term)
    model = cox(d, "time", "event", ["age", "stage", "score"])
    pred = model.predict_survival(d, [1095.75])[:, 0]
    cal = calibration(d.time, d.event, pred, 1095.75, n_groups=3)
    # tertiles of 200 distinct predictions by ceil(rank / 200 * 3): ranks 1-66, 67-133, 134-200
    assert list(cal.group) == [1, 2, 3] and list(cal.n) == [66, 67, 67]
    assert np.all(np.abs(cal.predicted - cal.observed) < 0.2)
    points, surv = nomogram(model, d)
    widest = points.groupby("covariate").points.max()
    assert widest.max() == pytest.approx(100.0) and points.points.min() == pytest.approx(0.0)
    assert set(points.covariate) == {"age", "stage", "score"}
    # survival decreases with total points and with time
    assert np.all(np.diff(surv["S(365.25)"]) < 0)
    assert np.all(surv["S(365.25)"] >= surv["S(1826.25)"])
    # points -> linear predictor -> survival agrees with the model for a patient
    row = d.iloc[[0]]
    pts = 0.0
    for cov in ("age", "stage", "score"):
        tab = points[points.covariate == cov]
        if cov == "stage":
            pts += tab.set_index("value").points[row.stage.iloc[0]]
        else:
            x = tab.value.astype(float).to_numpy()
            pts += np.interp(row[cov].iloc[0], x, tab.points.to_numpy())
    s_nomo = np.interp(pts, surv.total_points, surv["S(1095.75)"])
    assert s_nomo == pytest.approx(model.predict_survival(row, [1095.75])[0, 0], abs=0.03)


def test_small_cohort_warns_instead_of_crashing():
    t = np.array([5.0, 8, 12, 20, 25, 30])
    e = np.array([1, 1, 1, 0, 0, 0])
    grp = np.array(["high", "high", "high", "low", "low", "low"])
    with pytest.warns(FewEventsWarning, match="no events in group"):
        res = logrank_test(t, e, grp)
    assert np.isfinite(res.statistic)
    frame = pd.DataFrame({"time": t, "event": e, "grp": grp})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = cox(frame, "time", "event", ["grp"])
    kinds = {w.category for w in caught}
    assert ConvergenceWarning in kinds and FewEventsWarning in kinds
    assert abs(fit.coef[0]) > 5  # separation: the coefficient runs away, no exception
    with pytest.warns(FewEventsWarning):
        assert np.isnan(logrank_test(t, np.zeros(6), grp).statistic)
    with pytest.warns(FewEventsWarning):
        assert np.isnan(concordance_index(t, np.zeros(6), t))
    with pytest.warns(FewEventsWarning):
        assert np.isnan(cox(frame.assign(event=0), "time", "event", ["grp"]).table.coef.iloc[0])
