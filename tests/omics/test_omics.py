"""Behaviour of the omics arm: planted signals, bad input, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from radiogenomics.exceptions import DataQualityWarning, InputError, StatisticalWarning
from radiogenomics.omics import (ExpressionOptions, collapse_duplicates, deconvolve, deseq2_de, estimate,
                                 gsea_phenotype, gsea_prerank, ips, limma_de, load_library, ora,
                                 prepare_expression, read_gmt, read_signature, ssgsea)
from radiogenomics.omics.limma import bh_adjust, fit_f_dist, trigamma_inverse

PLANTED = "HALLMARK_HYPOXIA"  # the set shifted by the planted fixture (conftest.py)


def test_trigamma_inverse_roundtrip():
    x = np.array([1e-7, 0.01, 0.5, 3.0, 100.0, 2e7])
    y = trigamma_inverse(x)
    np.testing.assert_allclose(special.polygamma(1, y[1:5]), x[1:5], rtol=1e-7)
    assert y[0] == pytest.approx(1 / x[0]) and y[-1] == pytest.approx(1 / np.sqrt(x[-1]))


def test_fit_f_dist_recovers_prior():
    rng = np.random.default_rng(0)
    d0, s0, df = 6.0, 0.5, 4.0
    true_var = s0 * d0 / rng.chisquare(d0, 20000)
    s2 = true_var * rng.chisquare(df, 20000) / df
    s20, d0_hat = fit_f_dist(s2, np.full(20000, df))
    assert s20 == pytest.approx(s0, rel=0.05) and d0_hat == pytest.approx(d0, rel=0.15)


def test_bh_matches_definition():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2])
    out = bh_adjust(p)
    assert np.isnan(out[2])
    np.testing.assert_allclose(out[[0, 1, 3, 4]], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])


def test_planted_set_tops_prerank_and_phenotype_gsea(planted, hallmark):
    fpkm, groups = planted
    logx = prepare_expression(fpkm, "fpkm", ExpressionOptions(min_value=0.0))
    de = limma_de(logx, groups)
    pre = gsea_prerank(de["t"], hallmark, permutations=100, seed=1)
    assert pre.loc[0, "term"] == PLANTED and pre.loc[0, "NES"] > 0 and pre.loc[0, "fdr"] < 0.05
    assert pre.loc[0, "significant"]
    again = gsea_prerank(de["t"], hallmark, permutations=100, seed=1)
    pd.testing.assert_frame_equal(pre, again)  # seeded
    phe = gsea_phenotype(logx, groups, hallmark, permutations=100, seed=1)
    top = phe.sort_values("NES", ascending=False).iloc[0]
    assert top["term"] == PLANTED and top["fdr"] < 0.05
    es = ssgsea(logx, {PLANTED: hallmark[PLANTED]}).loc[PLANTED]
    assert stats.mannwhitneyu(es[groups == "high"], es[groups == "low"]).pvalue < 1e-4


def test_limma_finds_planted_genes(planted, hallmark):
    fpkm, groups = planted
    de = limma_de(np.log2(fpkm + 1), groups)
    hyp = de.index.isin(hallmark[PLANTED])
    assert de.loc[hyp, "logFC"].median() > 0.5
    assert (de.loc[hyp, "P.Value"] < 0.05).mean() > 0.5      # seen: 0.68
    assert (de.loc[~hyp, "P.Value"] < 0.05).mean() < 0.08     # nominal rate under the null: 0.05


def test_limma_bad_inputs(planted):
    fpkm, groups = planted
    x = np.log2(fpkm.iloc[:300] + 1).copy()
    x.iloc[0] = np.nan
    with pytest.warns(StatisticalWarning, match="no observed value"):
        out = limma_de(x, groups)
    assert out.iloc[0].drop("AveExpr").isna().all() and out.iloc[1:]["t"].notna().all()
    one = groups.copy()
    one.iloc[1:12] = "middle"
    with pytest.warns(StatisticalWarning, match="single sample"):
        limma_de(x.iloc[1:], one)
    with pytest.raises(InputError, match="same patient ids"):
        limma_de(x, pd.Series(["high", "low"], index=["nobody1", "nobody2"]))
    with pytest.raises(InputError, match="group 'low' has no sample"):
        limma_de(x, groups.replace("low", "middle"))
    with pytest.raises(InputError, match="contrast"):
        limma_de(x, groups, ("high", "high"))
    with pytest.raises(InputError, match="missing values"):
        limma_de(x, groups, covariates=pd.DataFrame({"age": [np.nan] + [60.0] * 23}, index=groups.index))
    with pytest.raises(InputError, match="covariates lack 1 sample"):
        limma_de(x, groups, covariates=pd.DataFrame({"age": [60.0] * 23}, index=groups.index[1:]))
    with pytest.raises(InputError, match="not of full rank"):
        limma_de(x, groups, covariates=pd.DataFrame({"age": [60.0] * 24}, index=groups.index))


def test_gene_sets_without_genes(planted, hallmark):
    fpkm, groups = planted
    sets = {"PRESENT": hallmark[PLANTED], "ABSENT": ["NOT_A_GENE1", "NOT_A_GENE2"]}
    with pytest.warns(DataQualityWarning, match="ABSENT"):
        out = ssgsea(np.log2(fpkm + 1), sets)
    assert list(out.index) == ["PRESENT"]
    with pytest.raises(InputError, match="no gene set has genes"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ssgsea(np.log2(fpkm + 1), {"ABSENT": ["NOT_A_GENE"]})


def test_expression_collapse_and_filters():
    x = pd.DataFrame([[1, 2, 3], [10, 20, 30], [5, 5, 5], [np.nan, np.nan, 1], [0, 0, 0.5]],
                     index=["A", "A", "B", "C", "D"], columns=["p1", "p2", "p3"], dtype=float)
    top = collapse_duplicates(x, "max_mean")
    assert list(top.index) == ["A", "B", "C", "D"] and top.loc["A", "p1"] == 10
    assert collapse_duplicates(x, "mean").loc["A", "p2"] == 11
    out = prepare_expression(x, "fpkm")
    assert list(out.index) == ["A", "B"]  # C: 1/3 present; D: FPKM >= 1 in 0 samples
    assert out.loc["B", "p1"] == pytest.approx(np.log2(6))
    kept = prepare_expression(x, "fpkm", ExpressionOptions(min_present=0.3, min_value=0.5, min_fraction=0.3))
    assert list(kept.index) == ["A", "B", "C", "D"]
    assert prepare_expression(x.iloc[:3], "log2").loc["B", "p1"] == 5
    with pytest.raises(InputError, match="negative"):
        prepare_expression(x - 100, "fpkm")
    with pytest.raises(InputError, match="scale"):
        prepare_expression(x, "tpm")


def test_ora_hypergeometric_and_bh():
    universe = [f"G{i}" for i in range(100)]
    sets = {"S1": [f"G{i}" for i in range(20)], "S2": [f"G{i}" for i in range(50, 80)], "OUT": ["X1", "X2"]}
    query = [f"G{i}" for i in range(10)] + ["G60"]
    res = ora(query, universe, sets, min_size=2).set_index("term")
    assert "OUT" not in res.index
    assert res.loc["S1", "overlap"] == 10 and res.loc["S1", "n_universe"] == 50  # annotated universe
    p = stats.hypergeom.sf(9, 50, 20, 11)
    assert res.loc["S1", "pvalue"] == pytest.approx(p)
    np.testing.assert_allclose(res["padj"].sort_index(), bh_adjust(res["pvalue"].sort_index().to_numpy()))


def test_libraries_and_gmt_errors(tmp_path):
    label, go = load_library("go_bp")
    assert label == "go_bp" and len(go) > 1000 and all(10 <= len(v) <= 500 for v in go.values())
    bad = tmp_path / "kegg.gmt"
    bad.write_text("ONLY_NAME\n")
    with pytest.raises(InputError, match="kegg.gmt:1"):
        read_gmt(bad)
    with pytest.raises(InputError, match="KEGG is not shipped"):
        load_library("kegg")
    good = tmp_path / "my_kegg.gmt"
    good.write_text("K1\tdesc\tA\tB\tA\n")
    assert load_library(good) == ("my_kegg", {"K1": ["A", "B"]})


def test_estimate_and_ips_respond_to_immune_genes(planted):
    fpkm, groups = planted
    x = fpkm.copy()
    from radiogenomics.omics.immune import estimate_signatures
    immune = estimate_signatures()["ImmuneSignature"]
    x.loc[x.index.isin(immune), groups.index[:12]] *= 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        est = estimate(np.log2(x + 1))
        score = ips(np.log2(x + 1))
    assert (est.loc[groups.index[:12], "ImmuneScore"].min() > est.loc[groups.index[12:], "ImmuneScore"].max())
    np.testing.assert_allclose(est["ESTIMATEScore"], est["StromalScore"] + est["ImmuneScore"])
    np.testing.assert_allclose(est["TumorPurity"], np.cos(0.6049872018 + 0.0001467884 * est["ESTIMATEScore"]))
    assert list(score.columns) == ["MHC", "CP", "EC", "SC", "AZ", "IPS"]
    assert score["IPS"].between(0, 10).all()


def test_deconvolution_recovers_fractions_and_pvalue(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    genes = [f"G{i}" for i in range(120)]
    sig = pd.DataFrame(rng.gamma(1.0, 200.0, size=(120, 4)), index=genes, columns=["T", "B", "NK", "Mono"])
    truth = rng.dirichlet(np.ones(4), size=6)
    mix = pd.DataFrame(sig.to_numpy() @ truth.T * rng.lognormal(0, 0.05, size=(120, 6)), index=genes,
                       columns=[f"P{i}" for i in range(6)])
    noise = pd.DataFrame(rng.gamma(1.0, 200.0, size=(120, 2)), index=genes, columns=["N1", "N2"])
    out = deconvolve(pd.concat([mix, noise], axis=1), sig, perm=30, seed=5)
    np.testing.assert_allclose(out.loc[mix.columns, sig.columns].to_numpy(), truth, atol=0.05)
    assert (out.loc[mix.columns, "P-value"] == 0).all()
    assert out.loc[["N1", "N2"], "Correlation"].max() < out.loc[mix.columns, "Correlation"].min()
    again = deconvolve(pd.concat([mix, noise], axis=1), sig, perm=30, seed=5)
    pd.testing.assert_frame_equal(out, again)
    # two worker processes share the fits: the very same frame, bit for bit
    pd.testing.assert_frame_equal(deconvolve(pd.concat([mix, noise], axis=1), sig, perm=30, seed=5, workers=2), out,
                                  check_exact=True)
    # ... and with blocks small enough (38 columns in blocks of 8) that the worker pool really runs
    import concurrent.futures

    from radiogenomics.omics import deconvolution

    entered = []

    class SpyPool(concurrent.futures.ProcessPoolExecutor):
        def __enter__(self):
            entered.append(self)
            return super().__enter__()

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", SpyPool)
    monkeypatch.setattr(deconvolution, "BLOCK", 8)
    small_one = deconvolve(pd.concat([mix, noise], axis=1), sig, perm=30, seed=5, workers=1)
    assert not entered
    small_two = deconvolve(pd.concat([mix, noise], axis=1), sig, perm=30, seed=5, workers=2)
    assert len(entered) == 1
    pd.testing.assert_frame_equal(small_two, small_one, check_exact=True)
    monkeypatch.undo()
    # log2 input is anti-logged (max < 50): the same answer (the fits are exact, so 2**log2(x) != x in
    # the last bit moves nothing visible)
    np.testing.assert_allclose(deconvolve(np.log2(mix), sig, perm=0)[sig.columns], out.loc[mix.columns, sig.columns],
                               atol=1e-9)
    with pytest.raises(InputError, match="only 0 of the signature"):
        deconvolve(mix.rename(index=lambda g: "X" + g), sig, perm=0)
    path = tmp_path / "sig.txt"
    sig.to_csv(path, sep="\t")
    pd.testing.assert_frame_equal(read_signature(path), sig.rename_axis(sig.index.name))
    (tmp_path / "bad.txt").write_text("gene,a,b\nX,1,2\n")
    with pytest.raises(InputError, match="tab separated"):
        read_signature(tmp_path / "bad.txt")
    with pytest.raises(InputError, match="LM22 is not shipped"):
        read_signature(tmp_path / "missing.txt")


def test_deseq2_on_counts():
    rng = np.random.default_rng(11)
    counts = pd.DataFrame(rng.negative_binomial(10, 0.05, size=(150, 8)), index=[f"g{i}" for i in range(150)],
                          columns=[f"P{i}" for i in range(8)])
    counts.iloc[:15, :4] *= 4
    groups = pd.Series(["high"] * 4 + ["low"] * 4, index=counts.columns)
    res = deseq2_de(counts, groups, n_cpus=1)
    assert list(res.columns) == ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]
    assert (res["log2FoldChange"].iloc[:15] > 1).all() and (res["padj"].iloc[:15] < 0.05).mean() > 0.8
    with pytest.raises(InputError, match="raw non-negative integer counts"):
        deseq2_de(counts + 0.5, groups)


def test_lm_fit_complete_block_and_missing_patterns_match_per_gene_least_squares():
    from radiogenomics.omics.limma import lm_fit
    rng = np.random.default_rng(8)
    y = rng.normal(5, 1, size=(60, 14))
    y[3, [0, 5]] = np.nan
    y[7, [0, 5]] = np.nan  # same pattern as gene 3: fitted together
    y[9, :7] = np.nan      # only group b observed: the group-a coefficient is not estimable
    y[11, :] = np.nan
    X = np.column_stack([np.r_[np.ones(7), np.zeros(7)], np.r_[np.zeros(7), np.ones(7)], rng.normal(size=14)])
    fit = lm_fit(y, X)
    for i in range(y.shape[0]):
        ok = ~np.isnan(y[i])
        if not ok.any():
            assert np.isnan(fit["coefficients"][i]).all() and fit["df_residual"][i] == 0
            continue
        cols = [j for j in range(3) if X[ok][:, j].any()]
        b, rss, *_ = np.linalg.lstsq(X[ok][:, cols], y[i, ok], rcond=None)
        np.testing.assert_allclose(fit["coefficients"][i, cols], b, rtol=1e-10)
        assert np.isnan(np.delete(fit["coefficients"][i], cols)).all()
        df = ok.sum() - len(cols)
        assert fit["df_residual"][i] == df
        np.testing.assert_allclose(fit["sigma"][i], np.sqrt(rss[0] / df), rtol=1e-10)


def test_deseq2_batched_matches_pydeseq2_loops():
    """The batched estimators (dispersions, IRLS, Wald) against pydeseq2's per-gene loops, with a
    covariate, a Cook's outlier (refit path) and a gene with no counts in one group (IRLS fallback)."""
    rng = np.random.default_rng(5)
    n = 16
    counts = pd.DataFrame(rng.negative_binomial(5, 5 / (5 + rng.gamma(1.5, 20.0, size=(120, 1))), size=(120, n)),
                          index=[f"g{i}" for i in range(120)], columns=[f"P{i}" for i in range(n)])
    counts.iloc[:12, :8] *= 3
    counts.iloc[20, :8] = 0
    counts.iloc[30, 3] = 4000
    groups = pd.Series(["high"] * 8 + ["low"] * 8, index=counts.columns)
    cov = pd.DataFrame({"age": rng.normal(60, 8, n)}, index=counts.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = deseq2_de(counts, groups, covariates=cov, n_cpus=1)
        slow = deseq2_de(counts, groups, covariates=cov, n_cpus=1, batched=False)
    assert fast["stat"].isna().equals(slow["stat"].isna()) and fast["padj"].isna().equals(slow["padj"].isna())
    ok = slow["stat"].notna()
    np.testing.assert_allclose(fast.loc[ok, "stat"], slow.loc[ok, "stat"], rtol=1e-4)
    np.testing.assert_allclose(fast.loc[ok, "log2FoldChange"], slow.loc[ok, "log2FoldChange"], rtol=1e-4, atol=1e-6)
    assert set(fast.index[fast["padj"] < 0.05]) == set(slow.index[slow["padj"] < 0.05])
    assert (fast["padj"] < 0.05).sum() >= 6
