"""The read layer (store/tables.py): one feature-matrix policy, clinical flattened once, one check per lookup."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import InputError, NotInStoreError
from radiogenomics.store import Store, tables
from radiogenomics.store.parquet import enable_features_parquet


def _features(patients, roi="tumor", params_hash="h1", names=("f1", "f2", "f3"), offset=0.0):
    rows = []
    for i, p in enumerate(patients):
        for j, f in enumerate(names):
            rows.append({"patient_id": p, "roi": roi, "feature": f, "params_hash": params_hash,
                         "value": offset + 10 * i + j})
    return pd.DataFrame(rows)


@pytest.fixture()
def store(tmp_path):
    with Store.open(tmp_path / "rg.duckdb") as st:
        pats = [f"P{i}" for i in range(4)]
        st.upsert("features", _features(pats, names=("f1", "f2", "f3", "diagnostics_Versions_PyRadiomics")))
        st.upsert("features", _features(pats, roi="node_1", names=("f1", "f4")))
        yield st


def test_feature_matrix_values_and_diagnostics_dropped(store):
    wide = tables.feature_matrix(store, "tumor")
    assert list(wide.columns) == ["f1", "f2", "f3"]
    assert list(wide.index) == ["P0", "P1", "P2", "P3"] and wide.index.name == "patient_id"
    assert wide.loc["P2", "f3"] == 22.0 and wide.attrs["params_hash"] == "h1"
    sub = tables.feature_matrix(store, "tumor", patients=["P3", "P1"])
    assert list(sub.index) == ["P1", "P3"]
    with pytest.raises(NotInStoreError, match="features"):
        tables.feature_matrix(store, "tumor", features=["f9"])


def test_stability_policy(store):
    stab = pd.DataFrame({"roi": "tumor", "feature": ["f1", "f2", "f3", "f1"], "params_hash": "h1",
                         "method": ["readers"] * 3 + ["perturbation"], "stable": [False, True, False, True]})
    store.upsert("feature_stability", stab)
    # None: stable ones where stability rows exist (f1 stable in one method counts), others untouched
    assert list(tables.feature_matrix(store, "tumor").columns) == ["f1", "f2"]
    assert list(tables.feature_matrix(store, "tumor", stable_only=False).columns) == ["f1", "f2", "f3"]
    assert list(tables.feature_matrix(store, "node_1").columns) == ["f1", "f4"]
    with pytest.raises(InputError, match="no stability results for ROI 'node_1'"):
        tables.feature_matrix(store, "node_1", stable_only=True)
    long = tables.feature_table(store, ["tumor", "node_1"])
    assert sorted(set(zip(long.roi, long.feature))) == [("node_1", "f1"), ("node_1", "f4"), ("tumor", "f1"),
                                                        ("tumor", "f2")]


def test_parameter_set_policy(store, monkeypatch):
    store.upsert("features", _features(["P0", "P1"], params_hash="h2", offset=100))
    with pytest.raises(InputError, match="2 parameter sets .*--params-hash"):
        tables.feature_matrix(store, "tumor")
    monkeypatch.setattr(tables, "default_params_hash", lambda: "h2")
    wide = tables.feature_matrix(store, "tumor")
    assert wide.attrs["params_hash"] == "h2" and wide.loc["P1", "f1"] == 110.0
    assert tables.feature_matrix(store, "tumor", "h1").attrs["params_hash"] == "h1"
    # node_1 has one parameter set only: that one, whatever the default
    assert tables.resolve_params_hash(store, "node_1") == "h1"
    with pytest.raises(NotInStoreError, match="params_hash 'h9'"):
        tables.feature_matrix(store, "tumor", "h9")
    with pytest.raises(NotInStoreError, match="no features for ROI 'liver'.*rg features"):
        tables.feature_matrix(store, "liver")


def test_parquet_backed_features_read_the_same(store, tmp_path):
    store.upsert("feature_stability", pd.DataFrame({"roi": "tumor", "feature": ["f1", "f2", "f3"], "params_hash": "h1",
                                                    "method": "readers", "stable": [True, False, True]}))
    before = tables.feature_matrix(store, "tumor")
    before_long = tables.feature_table(store, ["tumor", "node_1"], patients=["P1", "P3"])
    enable_features_parquet(store, tmp_path / "fp")
    after = tables.feature_matrix(store, "tumor")
    assert list(after.columns) == ["f1", "f3"]
    pd.testing.assert_frame_equal(before, after)
    pd.testing.assert_frame_equal(before_long, tables.feature_table(store, ["tumor", "node_1"], patients=["P1", "P3"]))
    assert store.query("SELECT count(*) AS n FROM core.features").n.iloc[0] == 0


def test_clinical_extra_flattened_once(store):
    store.upsert("clinical", pd.DataFrame({
        "patient_id": ["P0", "P1", "P2"], "age": [60.0, 70.0, None],
        "extra": [json.dumps({"Positive nodes": "2", "Examined nodes": 10, "Reader 1": "a"}),
                  json.dumps({"Positive nodes": 0, "Examined nodes": 5, "age": 1}), None]}))
    clin = tables.clinical(store)
    assert "extra" not in clin and clin["positive_nodes"].dtype == float
    assert clin.set_index("patient_id").loc["P0", "positive_nodes"] == 2.0
    assert clin["age"].tolist()[:2] == [60.0, 70.0]  # the typed column wins over an extra key
    assert clin.set_index("patient_id")["reader_1"].tolist()[:1] == ["a"]
    picked = tables.clinical(store, ["Positive nodes", "age"])
    assert list(picked.columns) == ["patient_id", "positive_nodes", "age"]
    with pytest.raises(InputError, match="nope"):
        tables.clinical(store, ["nope"])
    frame, missing = tables.clinical_indices(store)
    np.testing.assert_allclose(frame["lnr"].to_numpy()[:2], [0.2, 0.0])
    np.testing.assert_allclose(frame["lodds"].to_numpy()[:2], [np.log(2.5 / 8.5), np.log(0.5 / 5.5)])
    assert any(m.startswith("NLR") for m in missing)


def test_risk_groups_one_check(store):
    with pytest.raises(NotInStoreError, match=r"no risk groups named 'g'.*known: none.*rg groups --model"):
        tables.risk_groups(store, "g")
    store.upsert("risk_groups", pd.DataFrame({"grouping": "g", "patient_id": ["P0", "P1"], "grp": ["high", "low"]}))
    assert tables.risk_groups(store, "g", ("high", "low"))["grp"].tolist() == ["high", "low"]
    with pytest.raises(InputError, match="no patients in group"):
        tables.risk_groups(store, "g", ("high", "middle"))


def test_expression_matrix(store):
    with pytest.raises(NotInStoreError, match="dataset 'D1' is not in the store"):
        tables.expression(store, "D1")
    store.upsert("datasets", pd.DataFrame({"dataset_id": ["D1"], "scale": ["log2"]}))
    rng = np.random.default_rng(0)
    genes, pats = [f"G{i}" for i in range(7)], [f"P{i}" for i in range(5)]
    full = pd.DataFrame(rng.normal(size=(7, 5)), index=genes, columns=pats)
    long = full.stack().rename("value").rename_axis(["gene", "patient_id"]).reset_index().sample(frac=1, random_state=1)
    dropped, long = long.iloc[0], long.iloc[1:]  # one missing cell -> NaN
    store.upsert("expression", long.assign(dataset_id="D1"))
    got = tables.expression(store, "D1")
    expected = full.copy()
    expected.loc[dropped["gene"], dropped["patient_id"]] = np.nan
    expected = expected.sort_index()[sorted(pats)]
    assert got.shape == (7, 5) and got.isna().sum().sum() == 1
    pd.testing.assert_frame_equal(got, expected, check_names=False, check_exact=True)
    assert list(got.index) == sorted(genes) and list(got.columns) == sorted(pats)
    # a value stored as NULL reads as NaN; another dataset's values do not leak in
    store.upsert("datasets", pd.DataFrame({"dataset_id": ["D2"], "scale": ["log2"]}))
    store.upsert("expression", pd.DataFrame({"dataset_id": "D2", "gene": ["G0", "G0", "Z9"], "patient_id": ["P0", "P9", "P0"],
                                             "value": [1.5, None, 2.5]}))
    other = tables.expression(store, "D2")
    assert list(other.index) == ["G0", "Z9"] and list(other.columns) == ["P0", "P9"]
    assert other.loc["G0", "P0"] == 1.5 and np.isnan(other.loc["G0", "P9"]) and np.isnan(other.loc["Z9", "P9"])
    pd.testing.assert_frame_equal(tables.expression(store, "D1"), got)


def test_endpoint(store):
    with pytest.raises(InputError, match="endpoint must be one of"):
        tables.endpoint(store, "pfs")
    with pytest.raises(NotInStoreError, match="rg fetch clinical"):
        tables.endpoint(store, "os")
    store.upsert("clinical", pd.DataFrame({"patient_id": ["P0", "P1"], "os_days": [100.0, None],
                                           "os_event": [1, 0], "cohort": ["A", "B"]}))
    ep = tables.endpoint(store, "os")
    assert ep.index.tolist() == ["P0"] and ep["event"].dtype.kind == "i"
