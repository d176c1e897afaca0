"""The radiogenomic map against R cor.test(method = "spearman") / partial Spearman and p.adjust (BH)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.associate.rgmap import radiogenomic_map, spearman_matrix
from radiogenomics.exceptions import InputError

R = Path(__file__).resolve().parents[1] / "data" / "R"
SAMPLES = pd.read_csv(R / "omics" / "all_samples.csv", dtype=str)


def _sides(expr_file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    expr = pd.read_csv(R / "omics" / expr_file, index_col=0)[SAMPLES["sample"]]
    data = expr.T
    data.index = SAMPLES["sample"].to_numpy()
    return data.iloc[:, :12], data.iloc[:, 12:72]


def _compare(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    merged = ref.merge(ours, on=["imaging", "molecular"], suffixes=("_r", ""), validate="one_to_one")
    assert len(merged) == len(ref) == len(ours)
    for col, rtol in (("rho", 1e-10), ("p", 1e-8), ("fdr", 1e-8)):
        r, o = merged[f"{col}_r"].to_numpy(float), merged[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(o), np.isnan(r), err_msg=f"NaN positions of {col}")
        np.testing.assert_allclose(o[~np.isnan(r)], r[~np.isnan(r)], rtol=rtol, atol=1e-13, err_msg=col)
    np.testing.assert_array_equal(merged["n_r"].to_numpy(), merged["n"].to_numpy())


def test_map_matches_r_spearman_and_bh():
    x, y = _sides("all_expr.csv.gz")
    ours, patients = radiogenomic_map(x, y)
    assert len(patients) == 78
    _compare(ours, pd.read_csv(R / "rgmap" / "ref_map_all.csv"))


def test_partial_map_matches_r_adjusting_for_sex():
    x, y = _sides("all_expr.csv.gz")
    cov = pd.DataFrame({"sex": SAMPLES["sex"].to_numpy()}, index=SAMPLES["sample"].to_numpy())
    ours, _ = radiogenomic_map(x, y, covariates=cov)
    _compare(ours, pd.read_csv(R / "rgmap" / "ref_map_all_partial_sex.csv"))


def test_map_with_missing_values_uses_each_pairs_complete_patients():
    x, y = _sides("all_expr_na.csv.gz")
    with pytest.warns(Warning):
        ours, _ = radiogenomic_map(x, y)
    ref = pd.read_csv(R / "rgmap" / "ref_map_all_na.csv")
    assert ref["n"].nunique() > 1 and ref["rho"].isna().any()  # the file really exercises both paths
    _compare(ours, ref)


def test_vectorised_and_pairwise_paths_agree():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 7))
    y[:, 2] = np.round(y[:, 2])  # ties
    rho, p, n = spearman_matrix(x, y)
    x2 = x.copy()
    x2[0, :] = np.nan  # forces every pair through the pairwise path on 39 patients
    rho2, p2, n2 = spearman_matrix(x2, y)
    rho3, p3, _ = spearman_matrix(x[1:], y[1:])
    np.testing.assert_allclose(rho2, rho3, rtol=1e-12)
    np.testing.assert_allclose(p2, p3, rtol=1e-10)
    assert (n == 40).all() and (n2 == 39).all()


def test_degenerate_maps_are_refused():
    x = pd.DataFrame({"a": [1.0, 2, 3]}, index=["p1", "p2", "p3"])
    with pytest.raises(InputError, match="at least 5"):
        radiogenomic_map(x, x.rename(columns={"a": "g"}))
    idx = [f"p{i}" for i in range(10)]
    flat = pd.DataFrame({"a": np.ones(10)}, index=idx)
    with pytest.raises(InputError, match="no pair of the map"):
        radiogenomic_map(flat, pd.DataFrame({"g": np.arange(10.0)}, index=idx))
    with pytest.raises(InputError, match="single value"):
        radiogenomic_map(pd.DataFrame({"a": np.arange(10.0)}, index=idx), pd.DataFrame({"g": np.arange(10.0)}, index=idx),
                         covariates=pd.DataFrame({"sex": ["M"] * 10}, index=idx))
