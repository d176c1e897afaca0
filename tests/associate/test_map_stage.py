"""`rg map` on a small store: what it stores, and clear errors for bad requests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics.associate.map_stage import run_map
from radiogenomics.associate.rgmap import radiogenomic_map
from radiogenomics.cli import main
from radiogenomics.exceptions import InputError
from radiogenomics.store import Store


@pytest.fixture
def map_store(tmp_path):
    rng = np.random.default_rng(5)
    ids = [f"P{i:02d}" for i in range(30)]
    latent = rng.normal(size=30)
    feats = pd.DataFrame({"patient_id": ids, "original_glcm_Contrast": latent + 0.3 * rng.normal(size=30),
                          "original_shape_Sphericity": rng.normal(size=30)})
    long = feats.melt(id_vars="patient_id", var_name="feature", value_name="value")
    long["roi"], long["params_hash"] = "tumor", "h1"
    immune = pd.DataFrame({"dataset_id": "GSE1", "patient_id": ids[:25], "method": "estimate",
                           "score": "ImmuneScore", "value": -latent[:25] + 0.2 * rng.normal(size=25)})
    path = tmp_path / "rg.duckdb"
    with Store.open(path) as store:
        store.upsert("features", long, run_id="seed")
        store.upsert("immune_scores", immune, run_id="seed")
        store.upsert("datasets", pd.DataFrame({"dataset_id": ["GSE1"], "scale": ["fpkm"]}), run_id="seed")
        store.upsert("clinical", pd.DataFrame({"patient_id": ids, "age": rng.normal(65, 8, 30).round()}),
                     run_id="seed")
        store.upsert("radscores", pd.DataFrame({"model_id": "m", "patient_id": ids, "score": latent,
                                                "cohort": "train"}), run_id="seed")
    return path


def test_map_stores_every_pair_with_fdr_and_patients(map_store):
    res = run_map(map_store, "m1", model_id="m", features="all", pathways="none")
    assert res.counts == {"pairs": 3, "significant": 2, "patients": 25, "imaging": 3, "molecular": 1}
    with Store.open(map_store, read_only=True) as store:
        rows = store.query("SELECT * FROM radiogenomic_map WHERE map_id = 'm1'").set_index("imaging")
        patients = store.query("SELECT patient_id FROM radiogenomic_map_patients WHERE map_id = 'm1'")
        values = store.query("SELECT DISTINCT variable FROM radiogenomic_map_values WHERE map_id = 'm1'")
    assert len(patients) == 25 and (rows["n"] == 25).all()
    assert rows.loc["radscore:m", "rho"] < -0.9 and rows.loc["radscore:m", "molecular"] == "estimate:ImmuneScore"
    assert rows.loc["radscore:m", "imaging_source"] == "radscore"
    assert rows.loc["original_glcm_Contrast", "imaging_source"] == "feature:tumor:h1"
    # the stored table is exactly the pure core's result on the same inputs
    with Store.open(map_store, read_only=True) as store:
        imm = store.query("SELECT patient_id, value FROM immune_scores").set_index("patient_id")
        scores = store.query("SELECT patient_id, score FROM radscores").set_index("patient_id")
    core, _ = radiogenomic_map(scores.rename(columns={"score": "radscore:m"}),
                               imm.rename(columns={"value": "estimate:ImmuneScore"}))
    assert rows.loc["radscore:m", "rho"] == pytest.approx(core["rho"].iloc[0], rel=1e-12)
    assert rows.loc["radscore:m", "fdr"] >= rows.loc["radscore:m", "p"]
    # a rerun replaces the map, nothing duplicated
    run_map(map_store, "m1", model_id="m", features="none", pathways="none")
    with Store.open(map_store, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM radiogenomic_map WHERE map_id = 'm1'").n.iloc[0] == 1


def test_partial_map_adjusts_for_a_clinical_column(map_store):
    res = run_map(map_store, "adj", model_id="m", features="none", pathways="none", adjust=["age"])
    with Store.open(map_store, read_only=True) as store:
        row = store.query("SELECT method, covariates, n FROM radiogenomic_map WHERE map_id = 'adj'")
    assert row.method.iloc[0] == "partial spearman" and row.covariates.iloc[0] == "age"
    assert res.counts["patients"] == 25


@pytest.mark.parametrize("kwargs, message", [
    (dict(model_id="nope", features="none"), "model 'nope' has no Rad-scores"),
    (dict(features="none"), "nothing on the imaging side"),
    (dict(features="original_glcm_Nope"), "are not among the 2 features"),
    (dict(model_id="m", features="none", adjust=["bmi"]), "neither columns of `clinical`"),
    (dict(model_id="m", features="none", immune=False), "nothing on the molecular side"),
])
def test_bad_requests_are_clear_and_write_nothing(map_store, kwargs, message):
    with pytest.raises(InputError, match=message):
        run_map(map_store, "bad", pathways="none", **kwargs)
    with Store.open(map_store, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM radiogenomic_map").n.iloc[0] == 0


def test_cli_map(map_store, capsys):
    assert main(["--store", str(map_store), "-q", "map", "--model", "m", "--features", "none",
                 "--pathways", "none"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "map default: 1 imaging x 1 molecular variables over 25 patients" in out
    assert main(["--store", str(map_store), "-q", "map", "--features", "none", "--pathways", "none"]) != 0
    assert "nothing on the imaging side" in capsys.readouterr().err
