"""run_classify / rg classify on a store with planted radiomic + clinical signal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import InputError
from radiogenomics.models.classify import load_classify_data, run_classify
from radiogenomics.store import Store


def _fill(store: Store, n: int = 90, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"R01-{i:03d}" for i in range(n)]
    latent = rng.normal(size=n)
    egfr = np.where(latent + 0.4 * rng.normal(size=n) > 0.3, "Mutant", "Wildtype").astype(object)
    egfr[:4] = "Unknown"
    reader = np.clip(np.round(3 + (egfr == "Mutant") + rng.normal(0, 1.2, n)), 1, 5)
    clinical = pd.DataFrame({
        "patient_id": ids, "age": rng.normal(68, 8, n).round(), "pack_years": rng.gamma(2, 15, n).round(),
        "gender": rng.choice(["Male", "Female"], n), "smoking_status": rng.choice(["Former", "Current", "Nonsmoker"], n),
        "pct_gg": rng.choice(["0%", ">0 - 25%", "Not Assessed"], n), "egfr": egfr,
        "extra": [json.dumps({"reader1": float(r)}) for r in reader]})
    store.upsert("clinical", clinical, run_id="test")
    rows = []
    for i, pid in enumerate(ids):
        for j in range(12):
            value = latent[i] * (1.5 if j == 0 else 0.0) + rng.normal()
            rows.append((pid, "tumor", f"original_firstorder_F{j}", value, "h1"))
        for node, vol in (("node_1", 100 + 50 * rng.random()), ("node_2", 300 + 50 * rng.random())):
            rows.append((pid, node, "original_shape_MeshVolume", vol, "h1"))
            rows.append((pid, node, "original_firstorder_Mean", rng.normal(), "h1"))
    store.upsert("features", pd.DataFrame(rows, columns=["patient_id", "roi", "feature", "value", "params_hash"]),
                 run_id="test")


def test_run_classify_writes_models_and_results(store_path):
    with Store.open(store_path) as store:
        _fill(store)
        out = run_classify(store, "egfr", features=["radiomics", "clinical"], models=["lasso", "lr"], split=0.3,
                           seed=0, reader_scores="reader1", inner_folds=3, outer_folds=3).summary
        models = store.query("SELECT * FROM models WHERE kind = 'classifier' ORDER BY model_id")
        results = store.query("SELECT * FROM model_results")
    data = out.data
    assert data.positive == ["Mutant"] and len(data.y) == 86  # 4 unknown dropped
    assert not set(data.train_ids) & set(data.valid_ids)
    # node ROIs aggregated per patient
    assert {"nodes_max:original_firstorder_Mean", "nodes_largest:original_firstorder_Mean",
            "nodes_count:n_nodes"} <= set(data.feature_sets["radiomics"].columns)
    assert len(models) == 3 * 2  # radiomics, clinical, combined x lasso, lr
    assert set(models["endpoint"]) == {"egfr"}
    lasso = json.loads(models.set_index("model_id").loc["classifier:egfr:radiomics:lasso", "formula"])
    assert "tumor:original_firstorder_F0" in lasso["coefficients"]
    assert json.loads(models["training_patients"].iloc[0]) == data.train_ids
    auc = results[(results.analysis == "classify:egfr") & (results.statistic == "auc")
                  & (results.cohort == "validation")].set_index("subject")["value"]
    assert auc["classifier:egfr:radiomics:lasso"] > 0.75
    analyses = set(results["analysis"])
    assert {"classify:egfr", "classify_coef:egfr", "classify_delong:egfr", "classify_dca:egfr",
            "classify_reader:egfr", "classify_prediction:egfr"} <= analyses
    assert results["run_id"].notna().all()
    pred = results[(results.analysis == "classify_prediction:egfr") & (results.cohort == "validation")]
    assert set(pred["term"]) == set(data.valid_ids)


def test_errors_name_the_problem(store_path):
    with Store.open(store_path) as store:
        _fill(store, n=40)
        with pytest.raises(InputError, match="not a clinical column"):
            load_classify_data(store, "no_such_column")
        with pytest.raises(InputError, match="no deep features"):
            load_classify_data(store, "egfr", features=["deep"])
        with pytest.raises(InputError, match="unknown feature set"):
            load_classify_data(store, "egfr", features=["genes"])
        store.upsert("features", pd.DataFrame({"patient_id": ["R01-000"], "roi": ["tumor"], "feature": ["x"],
                                               "value": [1.0], "params_hash": ["h2"]}))
        with pytest.raises(InputError, match="--params-hash"):
            load_classify_data(store, "egfr", features=["radiomics"])
        data = load_classify_data(store, "egfr", features=["radiomics"], params_hash="h1", split=0)
        assert data.valid_ids == [] and data.params_hash == "h1"


def test_cli_classify(store_path, capsys):
    with Store.open(store_path) as store:
        _fill(store, n=70, seed=1)
    code = main(["--store", str(store_path), "-q", "classify", "--endpoint", "egfr", "--features", "radiomics",
                 "--models", "lasso,nb", "--inner-folds", "3", "--outer-folds", "3"])
    assert code == 0
    assert "lasso" in capsys.readouterr().out
    with Store.open(store_path, read_only=True) as store:
        n = store.query("SELECT count(*) AS n FROM models WHERE kind = 'classifier'")["n"].iloc[0]
        status = store.query("SELECT status FROM runs WHERE command = 'classify'")["status"].tolist()
    assert n == 2 and status == ["ok"]
    assert main(["--store", str(store_path), "classify", "--endpoint", "egfr", "--models", "xgboost"]) != 0


def test_cli_classify_help_shows_the_defaults_in_brackets(capsys, monkeypatch):
    """rich markup must not swallow the documented defaults of --clinical-columns and --rois."""
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["classify", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "age,gender,smoking_status,pack_years,pct_gg" in out
    assert "default: all but deep" in out


def test_bad_options_fail_fast_with_a_clear_message(store_path, capsys):
    from radiogenomics.models.classify import classify, compute_classify

    with Store.open(store_path) as store:
        _fill(store, n=40)
        with pytest.raises(InputError, match=r"--split .* \[0, 1\), got 1.5"):
            load_classify_data(store, "egfr", features=["radiomics"], split=1.5)
        with pytest.raises(InputError, match="no feature sets requested"):
            load_classify_data(store, "egfr", features=[])
        with pytest.raises(InputError, match=r"ROI\(s\) peritumoral_3mm .*node_1, node_2, tumor.*rg features"):
            load_classify_data(store, "egfr", features=["radiomics"], rois=["peritumoral_3mm"])
        data = load_classify_data(store, "egfr", features=["radiomics"], params_hash="h1", split=0)
    with pytest.raises(InputError, match="--inner-folds .* at least 2, got 1"):
        compute_classify(data, ["nb"], inner_folds=1)
    with pytest.raises(InputError, match="--outer-folds .* at least 2, got 0"):
        classify(np.zeros((20, 2)), np.r_[np.zeros(10), np.ones(10)], models=["nb"], outer_folds=0)
    with pytest.raises(InputError, match="no models requested"):
        compute_classify(data, [])
    # the CLI prints them as one line, not as an internal error
    assert main(["--store", str(store_path), "classify", "--endpoint", "egfr", "--inner-folds", "1"]) != 0
    err = capsys.readouterr().err
    assert "at least 2" in err and "internal error" not in err


def test_lnr_lodds_are_covariates_except_for_a_nodal_endpoint(store_path):
    """LNR/LODDS count positive nodes: they join the clinical set, but never for a nodal endpoint."""
    with Store.open(store_path) as store:
        _fill(store, n=40)
        clinical = store.query("SELECT patient_id, extra FROM clinical")
        rng = np.random.default_rng(3)
        examined = rng.integers(5, 20, len(clinical))
        positive = rng.integers(0, 5, len(clinical))
        clinical["extra"] = [json.dumps({**json.loads(e), "positive_nodes": int(p), "examined_nodes": int(x)})
                             for e, p, x in zip(clinical["extra"], positive, examined)]
        clinical["n_stage"] = np.where(positive > 0, "N1", "N0")
        store.upsert("clinical", clinical, run_id="test")
        egfr = load_classify_data(store, "egfr", features=["clinical"], split=0)
        nodal = load_classify_data(store, "n_stage", features=["clinical"], split=0)
    assert {"lnr", "lodds"} <= set(egfr.feature_sets["clinical"].columns)
    assert not {"lnr", "lodds"} & set(nodal.feature_sets["clinical"].columns)
