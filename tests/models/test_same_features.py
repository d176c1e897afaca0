"""`rg radscore fit` and `rg classify` on one store and ROI model the same feature columns (one read policy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.store import Store, tables


class _Captured(Exception):
    """Stops a command once its input matrix has been seen (the fit itself is tested elsewhere)."""


@pytest.fixture()
def store_path(tmp_path, monkeypatch):
    """Two parameter sets (the default one among them), a diagnostics row, stability results, node ROIs."""
    monkeypatch.setattr(tables, "default_params_hash", lambda: "h_default")
    rng = np.random.default_rng(3)
    n = 40
    ids = [f"P{i:03d}" for i in range(n)]
    rows = []
    for pid in ids:
        for j in range(8):
            rows.append((pid, "tumor", f"original_firstorder_F{j}", rng.normal(), "h_default"))
        rows.append((pid, "tumor", "diagnostics_Mask-original_VoxelNum", float(rng.integers(100, 900)), "h_default"))
        for j in range(3):
            rows.append((pid, "tumor", f"wavelet_F{j}", rng.normal(), "h_other"))
        rows.append((pid, "node_1", "original_firstorder_Mean", rng.normal(), "h_default"))
    stability = pd.DataFrame({
        "roi": "tumor", "params_hash": "h_default",
        "feature": [f"original_firstorder_F{j}" for j in range(7)] + ["original_firstorder_F6"],
        "method": ["readers"] * 7 + ["perturbation"],
        "stable": [True, True, False, True, False, True, False, True]})
    clinical = pd.DataFrame({"patient_id": ids, "dfs_days": rng.uniform(100, 2000, n).round(),
                             "dfs_event": rng.integers(0, 2, n), "os_days": rng.uniform(100, 2000, n).round(),
                             "os_event": rng.integers(0, 2, n),
                             "egfr": np.where(np.arange(n) % 3 == 0, "Mutant", "Wildtype")})
    path = tmp_path / "rg.duckdb"
    with Store.open(path) as store:
        store.upsert("features", pd.DataFrame(rows, columns=["patient_id", "roi", "feature", "value", "params_hash"]))
        store.upsert("feature_stability", stability)
        store.upsert("clinical", clinical)
    return path


def test_radscore_fit_and_classify_use_the_same_feature_columns(store_path, monkeypatch):
    import importlib

    from radiogenomics.models.radscore import RadScore

    seen: dict[str, list[str]] = {}

    def spy_fit(self, X, y):
        seen["radscore"] = list(X.columns)
        raise _Captured

    def spy_compute(data, *args, **kwargs):
        seen["classify"] = list(data.feature_sets["radiomics"].columns)
        seen["classify_hash"] = data.params_hash
        raise _Captured

    # run_classify (what `rg classify` calls) looks compute_classify up in its own module
    clf = importlib.import_module("radiogenomics.models.classify.stage")
    monkeypatch.setattr(RadScore, "fit", spy_fit)
    monkeypatch.setattr(clf, "compute_classify", spy_compute)
    store = ["--store", str(store_path)]
    # the spies stop both commands right after they read their matrix (an internal error exit)
    main(store + ["radscore", "fit", "--endpoint", "dfs", "--roi", "tumor", "--top-k", "0"])
    main(store + ["classify", "--endpoint", "egfr", "--features", "radiomics", "--rois", "tumor",
                  "--models", "lasso", "--split", "0"])
    expected = [f"original_firstorder_F{j}" for j in (0, 1, 3, 5, 6)]  # stable (any method); no diagnostics
    assert seen["radscore"] == expected
    assert [c.split(":", 1)[1] for c in seen["classify"]] == expected
    assert {c.split(":", 1)[0] for c in seen["classify"]} == {"tumor"}
    assert seen["classify_hash"] == "h_default"


def test_the_shared_policy_through_the_library_entry_points(store_path):
    from radiogenomics.models.classify import load_classify_data
    from radiogenomics.models.workflow import load_features

    with Store.open(store_path, read_only=True) as store:
        wide, used = load_features(store, "tumor")
        data = load_classify_data(store, "egfr", features=["radiomics"], rois=["tumor"], split=0)
        assert used == data.params_hash == "h_default"
        assert [f"tumor:{c}" for c in wide.columns] == list(data.feature_sets["radiomics"].columns)
        pd.testing.assert_frame_equal(wide.loc[data.y.index].set_axis(list(data.feature_sets["radiomics"].columns),
                                                                      axis=1),
                                      data.feature_sets["radiomics"], check_names=False)
        # --all-features / stable_only=False: every non-diagnostic feature, in both
        wide_all, _ = load_features(store, "tumor", stable_only=False)
        data_all = load_classify_data(store, "egfr", features=["radiomics"], rois=["tumor"], split=0,
                                      stable_only=False)
        assert list(wide_all.columns) == [f"original_firstorder_F{j}" for j in range(8)]
        assert [f"tumor:{c}" for c in wide_all.columns] == list(data_all.feature_sets["radiomics"].columns)
