"""DeLong AUC CI and paired test against R pROC 1.18 (tests/data/R/proc/delong_reference.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from radiogenomics.exceptions import InputError, StatisticalWarning
from radiogenomics.models import auc_ci, delong_test
from radiogenomics.models.delong import midrank

PROC = Path(__file__).resolve().parents[1] / "data" / "R" / "proc"
REFERENCE = pd.read_csv(PROC / "delong_reference.csv")
INPUTS = {"recurrence": "nsclc_clinical_inputs.csv", "nodal_positive": "nsclc_clinical_inputs.csv",
          "y": "synthetic_ties_inputs.csv"}


@pytest.mark.parametrize("case", REFERENCE["case"].tolist())
def test_delong_matches_proc(case):
    ref = REFERENCE.set_index("case").loc[case]
    data = pd.read_csv(PROC / INPUTS[ref["y"]])
    data = data.dropna(subset=[ref["y"], ref["score_a"], ref["score_b"]])
    assert len(data) == ref["n"]
    y = data[ref["y"]].to_numpy(int)
    res = delong_test(y, data[ref["score_a"]], data[ref["score_b"]], direction=ref["direction"])
    tol = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([res.auc_a, res.auc_b], [ref["auc_a"], ref["auc_b"]], **tol)
    np.testing.assert_allclose(res.ci_a, [ref["ci_a_lower"], ref["ci_a_upper"]], **tol)
    np.testing.assert_allclose(res.ci_b, [ref["ci_b_lower"], ref["ci_b_upper"]], **tol)
    np.testing.assert_allclose(res.z, ref["z"], rtol=1e-8)
    np.testing.assert_allclose(res.pvalue, ref["pvalue"], rtol=1e-8)
    single = auc_ci(y, data[ref["score_a"]], direction=ref["direction"])
    np.testing.assert_allclose(single.ci, [ref["ci_a_lower"], ref["ci_a_upper"]], **tol)
    assert res.n_positive == ref["n_positive"]


def test_auc_equals_sklearn_and_midrank_handles_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    s = np.round(rng.normal(size=80) + y, 0)
    assert auc_ci(y, s).auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    np.testing.assert_allclose(midrank(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4.0, 1.0, 4.0, 2.0, 4.0])


def test_identical_scores_give_nan_with_warning():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.9, 0.3, 0.8, 0.4, 0.2])
    with pytest.warns(StatisticalWarning):
        res = delong_test(y, s, 2 * s)
    assert np.isnan(res.z) and np.isnan(res.pvalue)
    assert res.auc_a == res.auc_b


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(InputError, match="both classes"):
        auc_ci([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="binary"):
        auc_ci([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="missing"):
        delong_test([0, 1, 0], [0.1, np.nan, 0.3], [0.1, 0.2, 0.3])
