"""Lymph-node ROI aggregation and LNR / LODDS."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import InputError
from radiogenomics.models.nodal import aggregate_nodes, is_node_roi, lnr, lodds, nodal_metrics


def _features():
    rows = [("P1", "node_1", "original_shape_MeshVolume", 100.0), ("P1", "node_1", "f", 1.0),
            ("P1", "node_2", "original_shape_MeshVolume", 300.0), ("P1", "node_2", "f", 5.0),
            ("P1", "ln_3", "original_shape_MeshVolume", 200.0), ("P1", "ln_3", "f", 3.0),
            ("P1", "tumor", "f", 99.0),
            ("P2", "node_1", "original_shape_MeshVolume", 50.0), ("P2", "node_1", "f", -2.0)]
    frame = pd.DataFrame(rows, columns=["patient_id", "roi", "feature", "value"])
    frame["params_hash"] = "h"
    return frame


def test_is_node_roi():
    assert all(map(is_node_roi, ["node_1", "LN2", "lymph_node_a", "node"]))
    assert not any(map(is_node_roi, ["tumor", "peritumoral_3mm", "deep", "nodes_max"]))


def test_aggregate_nodes_max_mean_largest():
    agg = aggregate_nodes(_features()).set_index(["patient_id", "roi", "feature"])["value"]
    assert agg[("P1", "nodes_max", "f")] == 5.0
    assert agg[("P1", "nodes_mean", "f")] == pytest.approx(3.0)
    assert agg[("P1", "nodes_largest", "f")] == 5.0       # node_2 has the largest volume
    assert agg[("P2", "nodes_largest", "f")] == -2.0
    assert agg[("P1", "nodes_count", "n_nodes")] == 3 and agg[("P2", "nodes_count", "n_nodes")] == 1
    assert ("P1", "nodes_max", "f") in agg and not any(r == "tumor" for _, r, _ in agg.index)


def test_largest_node_from_roi_volumes_and_missing_volume_error():
    vols = pd.DataFrame({"patient_id": ["P1", "P1", "P1", "P2"], "roi": ["node_1", "node_2", "ln_3", "node_1"],
                         "volume_mm3": [900.0, 10.0, 20.0, 5.0]})
    agg = aggregate_nodes(_features(), ["largest"], volumes=vols).set_index(["patient_id", "feature"])["value"]
    assert agg[("P1", "f")] == 1.0
    no_vol = _features()[lambda d: d["feature"] == "f"]
    with pytest.raises(InputError, match="largest"):
        aggregate_nodes(no_vol, ["largest"])
    with pytest.raises(InputError, match="unknown node aggregation"):
        aggregate_nodes(no_vol, ["median"])


def test_lnr_and_lodds_formulas():
    np.testing.assert_allclose(lnr([1, 1, 0], [20, 2, 10]), [0.05, 0.5, 0.0])
    np.testing.assert_allclose(lodds([1, 0, 5], [20, 10, 5]), np.log([1.5 / 19.5, 0.5 / 10.5, 5.5 / 0.5]))
    assert np.isnan(lnr([3], [2])[0]) and np.isnan(lnr([0], [0])[0]) and np.isnan(lodds([3], [2])[0])


def test_nodal_metrics_from_columns_or_extra():
    clinical = pd.DataFrame({"patient_id": ["A", "B"],
                             "extra": [json.dumps({"Positive nodes": 2, "Examined nodes": 10}),
                                       json.dumps({"Positive nodes": 0, "Examined nodes": 4})]})
    out = nodal_metrics(clinical)
    np.testing.assert_allclose(out["lnr"], [0.2, 0.0])
    np.testing.assert_allclose(out["lodds"], np.log([2.5 / 8.5, 0.5 / 4.5]))
    none = nodal_metrics(pd.DataFrame({"patient_id": ["A"], "age": [60]}))
    assert none.empty and list(none.columns) == ["patient_id", "lnr", "lodds"]


def test_largest_node_ignores_nodes_without_features_and_falls_back_per_patient():
    # node_9 of P1 is the biggest ROI but has no features (e.g. a failed mask): node_1 is the largest with
    # features; P2 has no rois volume at all and falls back to its MeshVolume feature
    vols = pd.DataFrame({"patient_id": ["P1", "P1", "P1", "P1"], "roi": ["node_9", "node_1", "node_2", "ln_3"],
                         "volume_mm3": [5000.0, 900.0, 10.0, 20.0]})
    agg = aggregate_nodes(_features(), ["largest"], volumes=vols).set_index(["patient_id", "feature"])["value"]
    assert agg[("P1", "f")] == 1.0
    assert agg[("P2", "f")] == -2.0
