"""Group comparisons against R (tests/data/R/associate/reference.R) and hand-checkable cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.associate.compare import (
    ASSOCIATION_COLUMNS, FISHER_RXC_RESAMPLES, PAIRWISE_PREFIX, bh_fdr, compare_groups, contingency_test, kruskal_wallis, ks_test, mann_whitney,
)
from radiogenomics.exceptions import InputError, StatisticalWarning

R_DIR = Path(__file__).resolve().parents[1] / "data" / "R" / "associate"
CONT = ["age", "weight_lbs", "pack_years", "days_ct_to_surgery", "small_exact"]
CATS = ["gender", "smoking_status", "histology", "t_stage", "n_stage", "pleural_invasion",
        "lymphovascular_invasion", "small_binary"]
# p-values: asymptotic ones agree to floating point; exact ones to the enumeration
P_RTOL, P_ATOL = 1e-7, 1e-12
STAT_RTOL = 1e-9


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(R_DIR / "clinical_input.csv")


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(R_DIR / "r_reference.csv")


def _ours(data):
    kinds = {**{v: "continuous" for v in CONT}, **{v: "categorical" for v in CATS}}
    two = compare_groups(data, "grp", CONT + CATS, kinds, groups=("high", "low"), ks=True)
    three = compare_groups(data, "grp", CONT + CATS, kinds, groups=("high", "middle", "low"))
    two["comparison"], three["comparison"] = "high_low", "three"
    return pd.concat([two, three], ignore_index=True)


def test_matches_r(data, reference):
    ours = _ours(data)
    merged = reference.merge(ours, on=["variable", "comparison", "test"], how="left",
                             suffixes=("_r", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", ["variable", "test"]]
    assert len(ours) == len(reference)
    # r x c Fisher: our p is Monte Carlo (FISHER_RXC_RESAMPLES tables), R's exact
    mc = (merged["test"] == "fisher") & merged["note"].str.contains("Monte Carlo")
    assert mc.sum() == 5  # histology, t_stage (both comparisons), small_binary (3 groups)
    exact = ~mc
    np.testing.assert_allclose(merged.loc[exact, "p"], merged.loc[exact, "p_r"], rtol=P_RTOL, atol=P_ATOL)
    se = np.sqrt(merged.loc[mc, "p_r"] * (1 - merged.loc[mc, "p_r"]) / FISHER_RXC_RESAMPLES)
    assert (np.abs(merged.loc[mc, "p"] - merged.loc[mc, "p_r"]) <= 4 * se + 2e-4).all()
    # FDR: exact where no Monte Carlo p enters the family, else within the propagated error
    mc_fam = merged.groupby(["comparison", merged["test"] == "ks"])["note"].transform(
        lambda n: n.str.contains("Monte Carlo").any())
    np.testing.assert_allclose(merged.loc[~mc_fam, "fdr"], merged.loc[~mc_fam, "fdr_r"], rtol=P_RTOL, atol=P_ATOL)
    np.testing.assert_allclose(merged.loc[mc_fam, "fdr"], merged.loc[mc_fam, "fdr_r"], atol=0.03)
    has_stat = merged["statistic_r"].notna()
    np.testing.assert_allclose(merged.loc[has_stat, "statistic"], merged.loc[has_stat, "statistic_r"],
                               rtol=STAT_RTOL)
    # NaN positions agree: R gives no statistic for Fisher, we give the sample odds ratio
    assert set(merged.loc[~has_stat, "test"]) == {"fisher"}
    assert list(ours.columns[:12]) == ASSOCIATION_COLUMNS


def test_exact_paths_used(data):
    res = compare_groups(data, "grp", ["small_exact", "small_binary"], groups=("high", "low"), ks=True)
    notes = dict(zip(res["test"], res["note"]))
    assert notes["mann-whitney"] == "exact" and notes["ks"] == "exact"
    assert "fisher" in notes
    assert res.set_index("test").loc["mann-whitney", "n_per_group"] == {"high": 8, "low": 7}


def test_effect_sizes_by_hand():
    # all of x above all of y: Cliff's delta 1, U = nx*ny
    r = mann_whitney([5, 6, 7], [1, 2])
    assert r.statistic == 6 and r.effect_size == pytest.approx(1.0)
    assert mann_whitney([1, 2], [5, 6, 7]).effect_size == pytest.approx(-1.0)
    # epsilon^2 = H / (n - 1)
    k = kruskal_wallis([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert k.effect_size == pytest.approx(k.statistic / 8)
    # perfect association in a 2x2 table: Cramer's V = 1
    t = contingency_test([[10, 0], [0, 10]])
    assert t.test == "chi2" and t.effect_size == pytest.approx(1.0)
    assert ks_test([1, 2, 3], [10, 11, 12]).statistic == pytest.approx(1.0)


def test_exact_smirnov_without_ties_matches_scipy():
    from scipy import stats

    from radiogenomics.associate.compare import smirnov_exact_upper

    rng = np.random.default_rng(0)
    for m, n in ((5, 7), (12, 9), (30, 31)):
        x, y = rng.normal(size=m), rng.normal(0.5, 1, size=n)
        ref = stats.ks_2samp(x, y, method="exact")
        assert smirnov_exact_upper(ref.statistic, x, y) == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-14)


def test_degenerate_inputs():
    assert np.isnan(mann_whitney([], [1.0]).p)
    assert np.isnan(kruskal_wallis([[1, 1], [1, 1], [1]]).p)
    single = contingency_test([[3], [4]])
    assert np.isnan(single.p) and "fewer than two" in single.note
    small = contingency_test([[1, 2, 0], [3, 0, 2]])
    # R: fisher.test(matrix(c(1, 2, 0, 3, 0, 2), 2, byrow = TRUE))$p.value = 0.2857143
    assert small.test == "fisher" and "Monte Carlo" in small.note
    assert small.p == pytest.approx(0.2857143, abs=4 * np.sqrt(0.29 * 0.71 / FISHER_RXC_RESAMPLES))


def test_bh_matches_definition():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.5])
    adj = bh_fdr(p)
    assert np.isnan(adj[1])
    # sorted p 0.01, 0.03, 0.04, 0.5 -> raw 0.04, 0.06, 0.0533, 0.5 -> cumulative minimum from the top
    np.testing.assert_allclose(adj[[0, 2, 3, 4]], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def test_middle_group_ignored_and_errors():
    df = pd.DataFrame({"g": ["high"] * 4 + ["middle"] * 3 + ["low"] * 4,
                       "x": [5, 6, 7, 8, 100, 100, 100, 1, 2, 3, 4]})
    res = compare_groups(df, "g", ["x"], groups=("high", "low"))
    assert res.loc[0, "n_per_group"] == {"high": 4, "low": 4} and res.loc[0, "groups"] == "high,low"
    with pytest.raises(InputError, match="not columns"):
        compare_groups(df, "g", ["nope"])
    with pytest.raises(InputError, match="no rows"):
        compare_groups(df, "g", ["x"], groups=("high", "other"))
    with pytest.warns(StatisticalWarning):
        compare_groups(df.iloc[:6], "g", ["x"], groups=("high", "middle"))


def test_kind_inference():
    df = pd.DataFrame({"g": list("aabbab"), "num": [1.0, 2.5, 3.1, 4.2, 0.3, 9.9],
                       "flag": [True, False, True, True, False, False], "txt": list("xyxyyx")})
    res = compare_groups(df, "g", ["num", "flag", "txt"]).set_index("variable")
    assert res.loc["num", "test"] == "mann-whitney"
    assert res.loc["flag", "test"] in ("chi2", "fisher") and res.loc["txt", "test"] in ("chi2", "fisher")


# ------------------------------------------------------------------ 3+ groups: pairwise contrasts
def test_pairwise_matches_r(data):
    """Pairwise contrasts of a 3-group comparison against tests/data/R/associate/pairwise.R."""
    ref = pd.read_csv(R_DIR / "r_pairwise.csv")
    kinds = {**{v: "continuous" for v in CONT}, **{v: "categorical" for v in CATS}}
    res = compare_groups(data, "grp", CONT + CATS, kinds, groups=("high", "middle", "low"), pairwise=True)
    omnibus = res[~res["test"].str.startswith(PAIRWISE_PREFIX)]
    plain = compare_groups(data, "grp", CONT + CATS, kinds, groups=("high", "middle", "low"))
    # the omnibus rows (and their FDR) are those of the 3-group comparison without pairwise contrasts
    pd.testing.assert_frame_equal(omnibus.reset_index(drop=True), plain.reset_index(drop=True))
    pairs = res[res["test"].str.startswith(PAIRWISE_PREFIX)].copy()
    assert len(pairs) == len(ref) == 3 * len(CONT + CATS)
    parsed = pairs["test"].str.extract(r"^pairwise (?P<kind>[\w-]+): (?P<a>\w+) vs (?P<b>\w+)$")
    pairs = pd.concat([pairs.reset_index(drop=True), parsed.reset_index(drop=True)], axis=1)
    assert (pairs["groups"] == pairs["a"] + "," + pairs["b"]).all()
    merged = ref.merge(pairs, on=["variable", "a", "b"], suffixes=("_r", ""), validate="one_to_one")
    assert (merged["kind"] == merged["test_r"]).all()
    mc = merged["note"].str.contains("Monte Carlo")
    np.testing.assert_allclose(merged.loc[~mc, "p"], merged.loc[~mc, "p_r"], rtol=P_RTOL, atol=P_ATOL)
    se = np.sqrt(merged.loc[mc, "p_r"] * (1 - merged.loc[mc, "p_r"]) / FISHER_RXC_RESAMPLES)
    assert (np.abs(merged.loc[mc, "p"] - merged.loc[mc, "p_r"]) <= 4 * se + 2e-4).all()
    np.testing.assert_allclose(merged["fdr"], merged["fdr_r"], atol=0.03 if mc.any() else 1e-12, rtol=P_RTOL)
    has_stat = merged["statistic_r"].notna()
    np.testing.assert_allclose(merged.loc[has_stat, "statistic"], merged.loc[has_stat, "statistic_r"],
                               rtol=STAT_RTOL)
    # one variable: BH over its three pairs = R's pairwise.wilcox.test(p.adjust.method = "BH")
    for var in CONT:
        one = compare_groups(data, "grp", [var], "continuous", groups=("high", "middle", "low"), pairwise=True)
        one = one[one["test"].str.startswith(PAIRWISE_PREFIX)].set_index("groups")["fdr"]
        want = ref[ref.variable == var].assign(groups=lambda r: r.a + "," + r.b).set_index("groups")["pw_p_bh"]
        np.testing.assert_allclose(one.loc[want.index], want, rtol=P_RTOL, atol=P_ATOL)


def test_pairwise_only_for_three_or_more_groups(data):
    two = compare_groups(data, "grp", ["age"], "continuous", groups=("high", "low"), pairwise=True)
    assert list(two["test"]) == ["mann-whitney"]
