"""Store-level stages through the CLI: rg radscore fit/apply/export, rg groups, rg survival."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.store import Store


def _cohort(n, seed, prefix, p=8, params="h1"):
    rng = np.random.default_rng(seed)
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    X = rng.normal(size=(n, p))
    lp = 0.9 * X[:, 0] - 0.7 * X[:, 1]
    t = rng.exponential(1200 * np.exp(-lp))
    c = rng.uniform(300, 2500, n)
    clinical = pd.DataFrame({"patient_id": ids, "os_days": np.minimum(t, c).round() + 1,
                             "os_event": (t <= c).astype(int), "age": rng.normal(65, 8, n).round(),
                             "gender": rng.choice(["Female", "Male"], n)})
    clinical["dfs_days"] = clinical["os_days"]
    clinical["dfs_event"] = clinical["os_event"]
    feats = pd.DataFrame(X * 5 + 20, columns=[f"original_firstorder_F{j}" for j in range(p)])
    feats["patient_id"] = ids
    long = feats.melt(id_vars="patient_id", var_name="feature", value_name="value")
    long["roi"] = "tumor"
    long["params_hash"] = params
    return clinical, long


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "rg.duckdb"
    clin_a, feat_a = _cohort(120, 1, "TR")
    clin_b, feat_b = _cohort(40, 2, "EX")
    clin_a["cohort"], clin_b["cohort"] = "site_a", "external"
    # one external patient lacks a formula feature -> a per-patient failure
    feat_b = feat_b[~((feat_b.patient_id == "EX000") & (feat_b.feature.isin(
        ["original_firstorder_F0", "original_firstorder_F1"])))]
    with Store.open(path) as store:
        store.upsert("clinical", pd.concat([clin_a, clin_b]), run_id="seed")
        store.upsert("features", pd.concat([feat_a, feat_b]), run_id="seed")
        stab = pd.DataFrame({"roi": "tumor", "feature": [f"original_firstorder_F{j}" for j in range(8)],
                             "params_hash": "h1", "method": "perturbation", "stable": [True] * 7 + [False]})
        store.upsert("feature_stability", stab, run_id="seed")
    return path


def _rg(path, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(["--store", str(path), "-q", *args])


def test_fit_apply_groups_survival(store_file, tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("patient_id\n" + "\n".join(f"TR{i:03d}" for i in range(90)) + "\n")
    assert _rg(store_file, "radscore", "fit", "--endpoint", "os", "--train", str(train), "--top-k", "0",
               "--folds", "5", "--model-id", "m1", "--cohort", "site_a") == 0
    with Store.open(store_file, read_only=True) as store:
        model = store.query("SELECT * FROM models WHERE model_id = 'm1'")
        formula = json.loads(model.formula.iloc[0])
        scores = store.query("SELECT * FROM radscores WHERE model_id = 'm1'")
        cv = store.query("SELECT * FROM model_results WHERE subject = 'm1' AND analysis = 'lasso_cv'")
        run_id = model.run_id.iloc[0]
    assert {"original_firstorder_F0", "original_firstorder_F1"} <= set(formula["features"])
    assert "original_firstorder_F7" not in formula["features"]  # unstable feature filtered out
    assert formula["cutoff"] == model.cutoff.iloc[0] and formula["run_id"] == run_id
    assert len(json.loads(model.training_patients.iloc[0])) == 90
    assert scores.cohort.value_counts().to_dict() == {"train": 90, "validation": 30}
    assert (scores.run_id == run_id).all() and len(cv) > 0

    # export -> JSON and apply unchanged to the external cohort
    out = tmp_path / "m1.json"
    assert _rg(store_file, "radscore", "export", "--model", "m1", "--out", str(out)) == 0
    exported = json.loads(out.read_text())
    assert exported["coefficients"] == formula["coefficients"]
    ext = [f"EX{i:03d}" for i in range(40)]
    assert _rg(store_file, "radscore", "apply", "--model", "m1", "--patients", ",".join(ext)) == 0
    with Store.open(store_file, read_only=True) as store:
        ext_scores = store.query("SELECT * FROM radscores WHERE cohort = 'external'").set_index("patient_id")
        fail = store.query("SELECT * FROM failures WHERE stage = 'radscore_apply'")
        status = store.query("SELECT status FROM runs WHERE command = 'rg radscore apply'").status.iloc[0]
        feats = store.query("SELECT patient_id, feature, value FROM features WHERE patient_id = 'EX005'")
    assert len(ext_scores) == 39 and "EX000" not in ext_scores.index
    assert list(fail.patient_id) == ["EX000"] and "original_firstorder_F0" in fail.reason.iloc[0]
    assert status == "partial"
    # the external score is the stored formula applied by hand
    f = feats.set_index("feature").value
    manual = sum(c * (f[name] - m) / s for name, c, m, s in
                 zip(formula["features"], formula["coefficients"], formula["means"], formula["sds"]))
    assert ext_scores.loc["EX005", "score"] == pytest.approx(manual, rel=1e-12)

    # groups: the study's ranks on the external cohort, and the training cut-off
    assert _rg(store_file, "groups", "--model", "m1", "--method", "ranks", "--ranks", "36,32,32",
               "--cohort", "external", "--grouping", "ext3") == 0
    assert _rg(store_file, "groups", "--model", "m1", "--method", "cutoff") == 0
    with Store.open(store_file, read_only=True) as store:
        g3 = store.query("SELECT * FROM risk_groups WHERE grouping = 'ext3'")
        g2 = store.query("SELECT * FROM risk_groups WHERE grouping = 'm1:cutoff'")
    assert g3.grp.value_counts().to_dict() == {"high": 14, "middle": 13, "low": 12}
    assert g3.loc[g3.score.idxmax(), "grp"] == "high"
    assert ((g2.score > formula["cutoff"]) == (g2.grp == "high")).all()

    # groups restricted to a patient list, and to the patients with RNA-seq in a dataset
    listed = tmp_path / "ext.txt"
    listed.write_text("\n".join(ext[1:21]) + "\n")
    assert _rg(store_file, "groups", "--model", "m1", "--method", "ranks", "--patients", f"@{listed}",
               "--grouping", "ext_listed") == 0
    with Store.open(store_file) as store:
        store.upsert("samples", pd.DataFrame({"sample_id": [f"GSM{i}" for i in range(10)], "dataset_id": "GSE1",
                                              "patient_id": ext[1:11]}))
    assert _rg(store_file, "groups", "--model", "m1", "--method", "ranks", "--dataset", "GSE1",
               "--grouping", "ext_rna") == 0
    with Store.open(store_file, read_only=True) as store:
        listed_g = store.query("SELECT * FROM risk_groups WHERE grouping = 'ext_listed'")
        rna_g = store.query("SELECT * FROM risk_groups WHERE grouping = 'ext_rna'")
    assert sorted(listed_g.patient_id) == sorted(ext[1:21])
    assert sorted(rna_g.patient_id) == sorted(ext[1:11])
    assert rna_g.grp.value_counts().to_dict() == {"high": 4, "middle": 3, "low": 3}
    assert _rg(store_file, "groups", "--model", "m1", "--method", "ranks", "--dataset", "GSE_NONE") != 0
    assert "GSE_NONE" in capsys.readouterr().err
    assert _rg(store_file, "groups", "--model", "m1", "--patients", "@/no/such/file.txt") != 0
    assert "not found" in capsys.readouterr().err

    # survival evidence into model_results
    assert _rg(store_file, "survival", "--grouping", "m1:cutoff", "--endpoint", "os",
               "--covariates", "age,gender") == 0
    with Store.open(store_file, read_only=True) as store:
        res = store.query("SELECT * FROM model_results WHERE subject = 'm1:cutoff'")
    analyses = set(res.analysis)
    for a in ("km:os", "logrank:os", "hr:os", "cox_uni:os", "cox_multi:os", "cindex:os", "td_auc:os",
              "compare:os", "calibration:1095.75:os", "dca:1095.75:os", "nomogram_points:os",
              "nomogram_survival:os"):
        assert a in analyses, a
    assert res.run_id.nunique() == 1
    lr = res[(res.analysis == "logrank:os") & (res.statistic == "p")].value.iloc[0]
    assert lr < 0.05  # the simulated score is prognostic


def test_errors_are_clear(store_file, capsys):
    assert _rg(store_file, "groups", "--model", "nope", "--method", "ranks") != 0
    assert "no model 'nope'" in capsys.readouterr().err
    assert _rg(store_file, "radscore", "fit", "--endpoint", "pfs") != 0
    assert "endpoint" in capsys.readouterr().err


def test_exported_formula_applies_unchanged_in_another_store(store_file, tmp_path):
    assert _rg(store_file, "radscore", "fit", "--endpoint", "os", "--split", "0.7", "--seed", "4", "--top-k", "0",
               "--folds", "4", "--model-id", "m2", "--cohort", "site_a", "--lambda", "min") == 0
    out = tmp_path / "m2.json"
    assert _rg(store_file, "radscore", "export", "--model", "m2", "--out", str(out)) == 0
    other = tmp_path / "other.duckdb"
    clin, feats = _cohort(25, 9, "NEW")
    with Store.open(other) as store:
        store.upsert("features", feats, run_id="seed")
        store.upsert("clinical", clin, run_id="seed")
    ids = tmp_path / "ids.txt"
    ids.write_text("NEW001\nNEW002\nNEW003\n")
    assert _rg(other, "radscore", "apply", "--model", str(out), "--patients", f"@{ids}", "--cohort", "ext") == 0
    formula = json.loads(out.read_text())
    with Store.open(other, read_only=True) as store:
        stored = json.loads(store.query("SELECT formula FROM models WHERE model_id = 'm2'").formula.iloc[0])
        scores = store.query("SELECT * FROM radscores").set_index("patient_id")
        wide = store.query("SELECT patient_id, feature, value FROM features").pivot(
            index="patient_id", columns="feature", values="value")
    assert len(formula["features"]) >= 2
    assert stored["coefficients"] == formula["coefficients"] and stored["cutoff"] == formula["cutoff"]
    assert sorted(scores.index) == ["NEW001", "NEW002", "NEW003"] and set(scores.cohort) == {"ext"}
    manual = sum(c * (wide[f] - m) / s for f, c, m, s in
                 zip(formula["features"], formula["coefficients"], formula["means"], formula["sds"]))
    np.testing.assert_allclose(scores.score.sort_index(), manual.loc[sorted(scores.index)], rtol=1e-12)
    # survival evidence for the model alone (scores only, no grouping) on all 25 patients
    assert _rg(other, "radscore", "apply", "--model", "m2", "--cohort", "ext") == 0
    assert _rg(other, "survival", "--model", "m2", "--endpoint", "dfs") == 0
    with Store.open(other, read_only=True) as store:
        res = store.query("SELECT DISTINCT analysis FROM model_results WHERE subject = 'm2'")
    assert {"km:dfs", "cindex:dfs", "cox_uni:dfs"} <= set(res.analysis)


# --------------------------------------------------------------------------- cohorts are facts (issue 13)


def _ids(path, ids):
    path.write_text("\n".join(ids) + "\n")
    return path


def test_apply_never_relabels_train_or_validation(store_file, tmp_path, capsys):
    train = _ids(tmp_path / "train.txt", [f"TR{i:03d}" for i in range(80)])
    valid = _ids(tmp_path / "valid.txt", [f"TR{i:03d}" for i in range(80, 110)])
    assert _rg(store_file, "radscore", "fit", "--endpoint", "os", "--train", str(train), "--validation", str(valid),
               "--top-k", "0", "--folds", "5", "--model-id", "m3") == 0
    assert "80 train / 30 validation / 50 not seen by the model" in " ".join(capsys.readouterr().out.split())
    with Store.open(store_file, read_only=True) as store:
        fitted = store.query("SELECT patient_id, cohort, score FROM radscores WHERE model_id = 'm3'")
    assert fitted.cohort.value_counts().to_dict() == {"train": 80, "validation": 30}

    # exactly as the README shows: every patient with features, cohort external
    assert _rg(store_file, "radscore", "apply", "--model", "m3", "--cohort", "external") == 0
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "skipped 110 patient(s) the model was trained or validated on" in printed
    with Store.open(store_file, read_only=True) as store:
        after = store.query("SELECT patient_id, cohort, score FROM radscores WHERE model_id = 'm3'").set_index(
            "patient_id")
    # train / validation labels and scores untouched; the 50 unseen patients (one lacks features) are external
    assert after.cohort.value_counts().to_dict() == {"train": 80, "validation": 30, "external": 49}
    pd.testing.assert_series_equal(after.loc[fitted.patient_id, "score"],
                                   fitted.set_index("patient_id")["score"], check_names=False)
    assert set(after.index[after.cohort == "external"]) == (
        {f"TR{i:03d}" for i in range(110, 120)} | {f"EX{i:03d}" for i in range(1, 40)})

    # fit cohorts are reserved, and applying only to seen patients is an error that says why
    assert _rg(store_file, "radscore", "apply", "--model", "m3", "--cohort", "validation") != 0
    assert "set by `rg radscore fit` only" in capsys.readouterr().err
    assert _rg(store_file, "radscore", "apply", "--model", "m3", "--patients", "TR000,TR001") != 0
    assert "trained or validated model 'm3'" in capsys.readouterr().err

    # re-labelling a fit patient needs the explicit flag, and warns
    with pytest.warns(Warning, match="re-labelled 'audit'"):
        from radiogenomics.models.workflow import apply_radscore

        res = apply_radscore(store_file, "m3", ["TR000"], cohort="audit", relabel_seen=True)
    assert res["n_scored"] == 1 and res["n_skipped"] == 0
    with Store.open(store_file, read_only=True) as store:
        tr0 = store.query("SELECT cohort FROM radscores WHERE model_id = 'm3' AND patient_id = 'TR000'")
    assert tr0.cohort.tolist() == ["audit"]


def test_validation_list_must_not_overlap_training(store_file, tmp_path, capsys):
    train = _ids(tmp_path / "train.txt", [f"TR{i:03d}" for i in range(80)])
    valid = _ids(tmp_path / "valid.txt", [f"TR{i:03d}" for i in range(70, 100)])
    assert _rg(store_file, "radscore", "fit", "--endpoint", "os", "--train", str(train), "--validation", str(valid),
               "--top-k", "0", "--folds", "5", "--model-id", "bad") != 0
    assert "10 patient(s) are in both the training and the validation list" in capsys.readouterr().err


@pytest.fixture
def noise_store(tmp_path):
    """Features that carry no information on the outcome: the LASSO keeps nothing."""
    path = tmp_path / "noise.duckdb"
    clin, feats = _cohort(60, 3, "NZ", p=4)
    rng = np.random.default_rng(11)
    feats["value"] = rng.normal(size=len(feats))
    with Store.open(path) as store:
        store.upsert("clinical", clin, run_id="seed")
        store.upsert("features", feats, run_id="seed")
    return path


def test_degenerate_radscore_is_refused_and_nothing_is_written(noise_store, capsys):
    assert _rg(noise_store, "radscore", "fit", "--endpoint", "os", "--top-k", "0", "--folds", "5",
               "--lambda", "1se", "--model-id", "empty") != 0
    err = capsys.readouterr().err
    assert "kept no feature" in err and "--lambda min" in err and "--top-k" in err
    with Store.open(noise_store, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM models").n.iloc[0] == 0
        assert store.query("SELECT count(*) AS n FROM radscores").n.iloc[0] == 0


def test_groups_refuse_constant_scores_and_one_sided_cutoffs(store_file, capsys):
    with Store.open(store_file) as store:
        store.upsert("models", pd.DataFrame([{"model_id": "flat", "kind": "radscore", "endpoint": "os",
                                              "formula": {"features": ["f"], "coefficients": [0.0],
                                                          "cutoff": 0.0}, "cutoff": 0.0}]), run_id="seed")
        store.upsert("radscores", pd.DataFrame({"patient_id": [f"TR{i:03d}" for i in range(30)], "score": 0.5,
                                                "model_id": "flat", "cohort": "train"}), run_id="seed")
    assert _rg(store_file, "groups", "--model", "flat", "--method", "ranks") != 0
    assert "same Rad-score" in capsys.readouterr().err
    # a real model, but a cut-off above every score
    assert _rg(store_file, "radscore", "fit", "--endpoint", "os", "--top-k", "0", "--folds", "5",
               "--model-id", "m4", "--cohort", "site_a") == 0
    assert _rg(store_file, "groups", "--model", "m4", "--cutoff", "1e6", "--grouping", "onesided") != 0
    assert "in group 'low'" in capsys.readouterr().err
    with Store.open(store_file, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM risk_groups").n.iloc[0] == 0


def test_pipeline_stops_after_a_degenerate_fit(noise_store, tmp_path):
    pipe = tmp_path / "p.yaml"
    pipe.write_text(
        "name: degenerate\nsteps:\n"
        "  - {name: radscore, stage: radscore fit, params: {endpoint: os, top_k: '0', folds: '5', lambda: 1se,"
        " model_id: empty}}\n"
        "  - {name: groups, stage: groups, params: {model: empty, method: ranks, grouping: g}}\n"
        "  - {name: survival, stage: survival, params: {grouping: g, endpoint: os}}\n")
    assert _rg(noise_store, "run", str(pipe)) != 0
    with Store.open(noise_store, read_only=True) as store:
        commands = store.query("SELECT command FROM runs").command.tolist()
        assert store.query("SELECT count(*) AS n FROM risk_groups").n.iloc[0] == 0
        assert store.query("SELECT count(*) AS n FROM model_results").n.iloc[0] == 0
    assert not any("groups" in c or "survival" in c for c in commands), commands
