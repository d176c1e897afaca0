"""Derived indices: formulas on known values, missing inputs listed, extra JSON read."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiogenomics.associate.indices import derived_indices


def test_formulas():
    df = pd.DataFrame({"patient_id": ["a", "b", "c"], "Neutrophils": [4.0, 6.0, 3.0],
                       "lymphocytes": [2.0, 1.5, 0.0], "platelets": [250.0, 300.0, 200.0],
                       "albumin": [40.0, 35.0, 38.0], "positive_nodes": [0, 3, 10], "examined_nodes": [12, 10, 10]})
    out, missing = derived_indices(df)
    assert missing == []
    np.testing.assert_allclose(out["nlr"], [2.0, 4.0, np.nan])
    np.testing.assert_allclose(out["plr"], [125.0, 200.0, np.nan])
    np.testing.assert_allclose(out["sii"], [500.0, 1200.0, np.nan])
    np.testing.assert_allclose(out["pni"], [50.0, 42.5, 38.0])
    np.testing.assert_allclose(out["lnr"], [0.0, 0.3, 1.0])
    np.testing.assert_allclose(out["lodds"], np.log([0.5 / 12.5, 3.5 / 7.5, 10.5 / 0.5]))
    assert "Neutrophils" in out.columns  # input kept as given


def test_missing_listed_not_invented():
    df = pd.DataFrame({"patient_id": ["a"], "age": [60.0]})
    out, missing = derived_indices(df)
    assert not {"nlr", "plr", "sii", "pni", "lnr", "lodds"} & set(out.columns)
    assert len(missing) == 6
    assert "NLR: cohort lacks neutrophils, lymphocytes" in missing


def test_inputs_from_extra_json_and_negative_nodes():
    df = pd.DataFrame({"patient_id": ["a", "b"],
                       "extra": [json.dumps({"neutrophils": 5, "lymphocytes": 2}), None],
                       "nodes_positive": [1, 2], "negative_nodes": [9, 2]})
    out, missing = derived_indices(df)
    np.testing.assert_allclose(out["nlr"], [2.5, np.nan])
    np.testing.assert_allclose(out["lnr"], [0.1, 0.5])
    assert any(m.startswith("PLR") for m in missing) and not any(m.startswith("LNR") for m in missing)


def test_real_tcia_cohort_lacks_blood_counts(shared_dir):
    """The TCIA cohort has no blood counts nor node counts: every index is listed as missing."""
    path = shared_dir / "data/tcia/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    clinical = pytest.importorskip("radiogenomics.connectors.clinical")
    out, missing = derived_indices(clinical.parse_clinical_csv(path))
    assert len(out) == 211
    assert [m.split(":")[0] for m in missing] == ["NLR", "PLR", "SII", "PNI", "LNR", "LODDS"]
