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
