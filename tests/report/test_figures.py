"""Each report figure function on small synthetic frames; the numeric helpers against hand values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from radiogenomics.exceptions import InputError
from radiogenomics.report import compute, figures

RNG = np.random.default_rng(1)


def _png_ok(fig: Figure) -> None:
    from radiogenomics.report.html import figure_to_data_uri

    uri = figure_to_data_uri(fig)
    assert uri.startswith("data:image/png;base64,") and len(uri) > 2000


def test_km_matches_hand_computation():
    # 4 patients, one group: events at 1 and 3, censored at 2 and 4 -> S = 3/4, then 3/4 * 1/2
    curves = compute.km_curves([1, 2, 3, 4], [1, 0, 1, 0], ["a"] * 4)
    s = curves.set_index("time")["surv"]
    assert s[0] == 1 and s[1] == pytest.approx(0.75) and s[3] == pytest.approx(0.375)
    risk = compute.numbers_at_risk([1, 2, 3, 4], ["a"] * 4, [0, 2, 5])
    assert risk["n_risk"].tolist() == [4, 3, 0]
    with pytest.raises(InputError):
        compute.km_curves([np.nan], [1], ["a"])


def test_logrank_separates_groups():
    t = np.r_[RNG.exponential(100, 40), RNG.exponential(400, 40)]
    g = ["high"] * 40 + ["low"] * 40
    assert compute.logrank_p(t, np.ones(80), g) < 0.01
    assert np.isnan(compute.logrank_p(t, np.ones(80), ["x"] * 80))


def test_running_enrichment():
    ranking = pd.Series(np.arange(10, 0, -1.0), index=[f"g{i}" for i in range(10)])
    top = compute.running_enrichment(ranking, ["g0", "g1"])
    assert top["running_es"].max() == pytest.approx(1.0) and top["hit"].sum() == 2
    bottom = compute.running_enrichment(ranking, ["g9"])
    assert bottom["running_es"].min() == pytest.approx(-1.0)
    with pytest.raises(InputError, match="none of the gene set"):
        compute.running_enrichment(ranking, ["zz"])


def test_zscore_rows_constant_row():
    z = compute.zscore_rows(pd.DataFrame([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    assert np.allclose(z.iloc[0], [-1, 0, 1]) and np.allclose(z.iloc[1], 0)


def test_every_figure_renders():
    t = RNG.exponential(500, 30)
    grp = np.array(["high", "low", "middle"] * 10)
    curves = compute.km_curves(t, np.ones(30), grp)
    _png_ok(figures.km_figure(curves, compute.numbers_at_risk(t, grp, [0, 500, 1000]), pvalue=0.01))
    _png_ok(figures.cohort_flow_figure(pd.DataFrame({"stage": ["a", "b"], "n": [10, 8], "excluded": [0, 2],
                                                     "reasons": ["", "x (2)"]})))
    _png_ok(figures.radscore_coefficients_figure(pd.DataFrame({"feature": ["f1", "f2"], "coefficient": [0.5, -0.2]})))
    _png_ok(figures.forest_figure(pd.DataFrame({"label": ["x", "y"], "HR": [2.0, 0.5], "lower": [1.1, 0.2],
                                                "upper": [3.0, 1.2], "p": [0.01, 0.2], "model": ["uni", "multi"]})))
    _png_ok(figures.metric_bar_figure(pd.DataFrame({"model": ["a", "b"], "cohort": ["train", "train"],
                                                    "value": [0.7, 0.6]}), "cindex", "C"))
    _png_ok(figures.td_auc_figure(pd.DataFrame({"model": "a", "cohort": "", "time": [1, 3], "auc": [0.7, 0.8]})))
    _png_ok(figures.calibration_figure(pd.DataFrame({"time": [1, 1], "predicted": [0.3, 0.8], "observed": [0.35, 0.7]})))
    _png_ok(figures.dca_figure(pd.DataFrame({"model": ["m", "m", "treat all", "treat all"], "threshold": [0.1, 0.2] * 2,
                                             "net_benefit": [0.2, 0.1, 0.15, 0.0]})))
    _png_ok(figures.nomogram_figure(pd.DataFrame({"variable": ["age", "age", "sex", "sex"], "level": ["40", "80", "F", "M"],
                                                  "points": [0, 100, 0, 20]}),
                                    pd.DataFrame({"total_points": [0, 60, 120], "time": 365.0,
                                                  "survival": [0.95, 0.7, 0.3]})))
    de = pd.DataFrame({"gene": [f"g{i}" for i in range(50)], "log2FoldChange": RNG.normal(size=50),
                       "pvalue": RNG.uniform(size=50) ** 3})
    _png_ok(figures.volcano_figure(de))
    m = pd.DataFrame(RNG.normal(size=(5, 6)), index=[f"g{i}" for i in range(5)], columns=list("abcdef"))
    _png_ok(figures.heatmap_figure(m, pd.Series(["high", "high", "high", "low", "low", "low"], index=list("abcdef"))))
    _png_ok(figures.gsea_bar_figure(pd.DataFrame({"term": ["A", "B"], "NES": [2.0, -1.5], "fdr": [0.01, 0.3]})))
    curve = compute.running_enrichment(pd.Series(np.arange(20.0), index=[f"g{i}" for i in range(20)]), ["g1", "g5"])
    _png_ok(figures.enrichment_curves_figure(curve.assign(term="S"), {"S": "NES 1"}))
    _png_ok(figures.ora_bar_figure(pd.DataFrame({"term": ["t1", "t2"], "direction": ["up", "down"], "padj": [0.01, 0.2]})))
    scores = pd.DataFrame({"score": "ImmuneScore", "grp": grp, "value": RNG.normal(size=30)})
    _png_ok(figures.score_box_figure(scores, {"ImmuneScore": 0.03}))
    _png_ok(figures.clinical_violin_figure(scores.rename(columns={"score": "variable"})))
    _png_ok(figures.clinical_bar_figure(pd.DataFrame({"variable": "T", "grp": grp, "level": ["T1", "T2", "T3"] * 10})))


@pytest.mark.parametrize("fn, frame", [
    (figures.volcano_figure, pd.DataFrame({"gene": ["a"], "pvalue": [0.1]})),
    (figures.gsea_bar_figure, pd.DataFrame()),
    (figures.forest_figure, pd.DataFrame({"label": ["a"], "HR": [np.nan], "lower": [1], "upper": [2]})),
])
def test_bad_inputs_are_input_errors(fn, frame):
    with pytest.raises(InputError):
        fn(frame)


def test_format_small_never_prints_zero():
    assert figures.format_small(0.0) == "< 0.001"
    assert figures.format_small(2.34e-5) == "2.34e-05"
    assert figures.format_small(0.0421) == "0.042"
    assert figures.format_small(float("nan")) == "n/a"


def test_term_labels_readable_and_unique():
    long_a = "GOBP_ANTIGEN_PROCESSING_AND_PRESENTATION_OF_PEPTIDE_ANTIGEN_VIA_MHC_CLASS_I"
    long_b = "GOBP_ANTIGEN_PROCESSING_AND_PRESENTATION_OF_PEPTIDE_ANTIGEN_VIA_MHC_CLASS_IB"
    labels = figures.term_labels([long_a, long_b, "GOBP_CELL_KILLING", "HALLMARK_HYPOXIA"], width=30, max_lines=2)
    assert labels[2] == "CELL KILLING" and labels[3] == "HYPOXIA"
    assert len(set(labels)) == 4  # cut to two lines both would read the same: given in full
    assert labels[0].replace("\n", " ").endswith("MHC CLASS I") and "\u2026" not in labels[0]
    assert figures.term_labels(["GO_X", "GO_X"]) == ["X [1]", "X [2]"]


def _clustered_de(n_cluster: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    genes = [f"GENE{i}" for i in range(300)]
    lfc = rng.normal(0, 0.5, 300)
    p = rng.uniform(size=300) ** 3
    lfc[:n_cluster] = 1.2 + rng.normal(0, 0.03, n_cluster)
    p[:n_cluster] = 10.0 ** -(10 + rng.normal(0, 0.1, n_cluster))
    return pd.DataFrame({"gene": genes, "log2FoldChange": lfc, "pvalue": p})


def test_volcano_labels_do_not_overlap():
    fig = figures.volcano_figure(_clustered_de(), label_top=12)
    ax = fig.axes[0]
    genes = [t for t in ax.texts if t.get_text().startswith("GENE")]
    assert len(genes) >= 8
    assert figures.overlapping_texts(genes) == []
    assert ax.get_xlabel() and ax.get_ylabel()
    data = figures.plotted_data(fig)
    assert set(data.loc[data["labelled"], "gene"]) == {t.get_text() for t in genes}
    # the check itself fires on labels placed the old way (offset by hand from clustered points)
    naive = Figure()
    nax = naive.add_subplot(111)
    de = _clustered_de()
    old = [nax.annotate(g, (x, -np.log10(p)), xytext=(2, 2), textcoords="offset points", fontsize=6.5)
           for g, x, p in de.head(12).itertuples(index=False)]
    nax.set_xlim(-2, 2)
    nax.set_ylim(0, 12)
    assert len(figures.overlapping_texts(old)) >= 3


def test_clinical_bar_p_or_reason_and_tick_labels_apart():
    grp = np.array(["high", "middle", "low"] * 20)
    frame = pd.concat([
        pd.DataFrame({"variable": "histology", "grp": grp,
                      "level": ["Adenocarcinoma", "NSCLC NOS (not otherwise specified)", "Squamous cell carcinoma"] * 20}),
        pd.DataFrame({"variable": "alk", "grp": grp, "level": "Wildtype"}),
        pd.DataFrame({"variable": "egfr", "grp": grp[:2], "level": ["Mutant", "Wildtype"]}),
        pd.DataFrame({"variable": "kras", "grp": grp, "level": ["Mutant", "Wildtype"] * 30}),
    ])
    fig = figures.clinical_bar_figure(frame, {"histology": 0.02}, reasons={"kras": "test failed: reason X"})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "histology\np = 0.020"
    assert "single level" in titles[1]
    assert "no p-value" in titles[2] and "no p-value: test failed: reason X" in titles[3].replace("\n", " ")
    fig.draw_without_rendering()
    for ax in fig.axes:
        labels = figures._tick_labels(ax.xaxis)
        assert len(labels) == 3 and figures.overlapping_texts(labels) == []
    everything = [t for ax in fig.axes for t in [ax.title, *figures._tick_labels(ax.xaxis), *figures._tick_labels(ax.yaxis),
                                                  *(ax.get_legend().get_texts() if ax.get_legend() else [])]]
    assert figures.overlapping_texts(everything) == []


def test_dca_reference_lines_distinct_and_labelled():
    frame = pd.DataFrame({"model": ["model"] * 3 + ["treat all"] * 3 + ["treat none"] * 3,
                          "threshold": [0.1, 0.2, 0.3] * 3,
                          "net_benefit": [0.3, 0.2, 0.1, 0.25, 0.1, -0.05, 0.0, 0.0, 0.0]})
    fig = figures.dca_figure(frame, horizon="365 days")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    styles = {k: (lines[k].get_linestyle(), lines[k].get_color()) for k in ("model", "treat all", "treat none")}
    assert len(set(styles.values())) == 3
    assert {t.get_text() for t in ax.texts} == {"treat all", "treat none"}
    assert "(0-1)" in ax.get_xlabel() and "per patient" in ax.get_ylabel()


def test_td_auc_axis_has_unit():
    fig = figures.td_auc_figure(pd.DataFrame({"model": "a", "cohort": "", "time": [365.25, 1095.75], "auc": [0.7, 0.8]}))
    assert "days" in fig.axes[0].get_xlabel() and "(1 y)" in fig.axes[0].get_xticklabels()[0].get_text()


def test_table_never_prints_a_zero_p_value():
    from radiogenomics.report.html import table_html

    text = table_html(pd.DataFrame({"term": ["A"], "NES": [0.0], "fdr": [0.0], "pvalue": [2e-5], "logrank_p": [0.0]}))
    assert text.count("&lt; 0.001") == 2 and "<td>0</td>" in text and "2e-05" in text
