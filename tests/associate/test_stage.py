"""Association stages on a store: rows, run ids, replacement, middle group ignored, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiogenomics.associate import associate_clinical, associate_scores
from radiogenomics.exceptions import InputError, NotInStoreError
from radiogenomics.store import Store


def _fill(store: Store) -> None:
    rng = np.random.default_rng(0)
    ids = [f"P{k:02d}" for k in range(30)]
    grp = ["high"] * 10 + ["middle"] * 10 + ["low"] * 10
    clinical = pd.DataFrame({
        "patient_id": ids,
        "age": np.r_[rng.normal(75, 3, 10), rng.normal(65, 3, 10), rng.normal(55, 3, 10)],
        "gender": rng.choice(["Male", "Female"], 30),
        "t_stage": ["T3"] * 8 + ["T1a"] * 2 + ["T2a"] * 10 + ["T1a"] * 8 + ["T3"] * 2,
        "t_stage_group": ["T3"] * 8 + ["T1"] * 2 + ["T2"] * 10 + ["T1"] * 8 + ["T3"] * 2,
        "recurrence": [True] * 6 + [False] * 4 + [True, False] * 5 + [False] * 9 + [True],
        "extra": [json.dumps({"neutrophils": float(v), "lymphocytes": 2.0}) for v in rng.uniform(2, 8, 30)],
    })
    store.upsert("clinical", clinical, run_id="seed")
    store.upsert("risk_groups", pd.DataFrame({"grouping": "g1", "patient_id": ids, "grp": grp}), run_id="seed")
    rows = []
    for k, pid in enumerate(ids):
        shift = {"high": -1.0, "middle": 0.0, "low": 1.0}[grp[k]]
        rows.append({"dataset_id": "d1", "patient_id": pid, "method": "estimate", "score": "ImmuneScore",
                     "value": 1000 * shift + rng.normal(0, 200)})
        rows.append({"dataset_id": "d1", "patient_id": pid, "method": "ips", "score": "IPS",
                     "value": 5 + shift + rng.normal(0, 0.5)})
    store.upsert("immune_scores", pd.DataFrame(rows), run_id="seed")


def test_associate_clinical_writes_rows(store_path):
    with Store.open(store_path) as store:
        _fill(store)
        out = associate_clinical(store, "g1")
        db = store.query("SELECT * FROM associations WHERE grouping = 'g1' AND family = 'clinical'")
        runs = store.query("SELECT run_id, command, status FROM runs WHERE command = 'associate clinical'")
    assert len(db) == len(out) and db["run_id"].nunique() == 1
    assert runs["status"].tolist() == ["ok"] and runs["run_id"].iloc[0] == db["run_id"].iloc[0]
    by = db.set_index(["variable", "test"])
    age = by.loc[("age", "mann-whitney")]
    assert json.loads(age["n_per_group"]) == {"high": 10, "low": 10}  # middle ignored
    assert age["p"] < 0.001 and age["effect_size"] > 0.9 and age["groups"] == "high,low"
    assert ("t_stage_group", "chi2") in by.index or ("t_stage_group", "fisher") in by.index
    assert ("recurrence", "chi2") in by.index or ("recurrence", "fisher") in by.index
    # NLR from the extra JSON is tested, the indices without inputs are listed, not invented
    assert ("nlr", "mann-whitney") in by.index
    na = db[db["test"] == "not_available"]
    assert set(na["variable"]) >= {"plr", "sii", "pni", "lnr", "lodds"}
    assert na["p"].isna().all()
    assert na.loc[na["variable"].isin(["plr", "sii", "pni", "lnr", "lodds"]), "note"].str.contains("cohort lacks").all()
    assert na.loc[na["variable"] == "n_stage", "note"].str.contains("no values").all()
    tested = db[db["test"] != "not_available"]
    assert tested["fdr"].notna().all() and (tested["fdr"] >= tested["p"] - 1e-12).all()


def test_rerun_replaces_rows_with_given_run(store_path):
    with Store.open(store_path) as store:
        _fill(store)
        associate_clinical(store, "g1")
        with store.run("associate", {"grouping": "g1"}) as run:
            associate_clinical(store, "g1", variables=["age"], run=run)
        db = store.query("SELECT variable, test, run_id FROM associations WHERE family = 'clinical'")
    assert db[["variable", "test"]].values.tolist() == [["age", "mann-whitney"]]
    assert db["run_id"].iloc[0] == run.run_id


def test_associate_scores(store_path):
    with Store.open(store_path) as store:
        _fill(store)
        out = associate_scores(store, "g1", "d1")
        three = associate_scores(store, "g1", "d1", groups=("high", "middle", "low"), ks=False)
        db = store.query("SELECT * FROM associations WHERE family = 'immune:d1'")
    assert set(zip(out["variable"], out["test"])) == {
        ("estimate:ImmuneScore", "mann-whitney"), ("estimate:ImmuneScore", "ks"),
        ("ips:IPS", "mann-whitney"), ("ips:IPS", "ks")}
    assert (out["p"] < 0.01).all()
    # high has lower immune scores than low: negative Cliff's delta
    assert (out.loc[out["test"] == "mann-whitney", "effect_size"] < -0.8).all()
    pairwise = {f"pairwise mann-whitney: {a} vs {b}" for a, b in
                (("high", "middle"), ("high", "low"), ("middle", "low"))}
    assert set(three["test"]) == {"kruskal"} | pairwise  # omnibus plus the pairwise contrasts
    assert len(db) == 8 and set(db["test"]) == {"kruskal"} | pairwise  # the rerun replaced the family's rows


def test_deconvolution_diagnostics_not_tested(store_path):
    """Cell-type fractions are compared; deconvolve()'s fit diagnostics (P-value, Correlation, RMSE, nu) are not."""
    with Store.open(store_path) as store:
        _fill(store)
        pids = store.query("SELECT patient_id FROM risk_groups WHERE grouping = 'g1'")["patient_id"]
        rng = np.random.default_rng(1)
        rows = [{"dataset_id": "d1", "patient_id": pid, "method": "deconvolution", "score": score,
                 "value": float(rng.uniform())}
                for pid in pids for score in ("T_cells", "P-value", "Correlation", "RMSE", "nu")]
        store.upsert("immune_scores", pd.DataFrame(rows), run_id="seed")
        out = associate_scores(store, "g1", "d1")
        with pytest.raises(NotInStoreError, match="rg immune"):
            associate_scores(store, "g1", "missing-dataset")
    decon = {v for v in out["variable"] if v.startswith("deconvolution:")}
    assert decon == {"deconvolution:T_cells"}


def test_errors(store_path):
    with Store.open(store_path) as store:
        _fill(store)
        with pytest.raises(NotInStoreError, match="no risk groups named 'nope'"):
            associate_clinical(store, "nope")
        with pytest.raises(InputError, match="no patients in group"):
            associate_clinical(store, "g1", groups=("high", "very-low"))
        with pytest.raises(NotInStoreError, match="no immune scores"):
            associate_scores(store, "g1", "missing-dataset")
        with pytest.raises(InputError, match="not columns"):
            associate_clinical(store, "g1", variables=["ki67"])


# ------------------------------------------------------------------ any grouping, 3+ groups
def test_three_groups_omnibus_and_pairwise(store_path):
    from radiogenomics.associate.study import associate

    with Store.open(store_path) as store:
        _fill(store)
        summary = associate(store, "g1", dataset_id="d1", what="de,immune,clinical", groups="all")
        db = store.query("SELECT * FROM associations WHERE grouping = 'g1'")
    assert summary.groups == ("high", "middle", "low")
    assert "de" in summary.skipped and "compares two groups" in summary.skipped["de"]
    assert "clinical" in summary.done
    clin = db[db.family == "clinical"].set_index(["variable", "test"])
    assert clin.loc[("age", "kruskal"), "p"] < 1e-4
    pair = clin.loc[("age", "pairwise mann-whitney: high vs low")]
    assert pair["groups"] == "high,low" and json.loads(pair["n_per_group"]) == {"high": 10, "low": 10}
    pairs = db[(db.family == "clinical") & db.test.str.startswith("pairwise ")]
    tested = pairs["p"].notna()
    from radiogenomics.associate.compare import bh_fdr
    np.testing.assert_allclose(pairs.loc[tested, "fdr"], bh_fdr(pairs.loc[tested, "p"].to_numpy()), rtol=1e-12)
    # categorical: omnibus chi-square / Fisher over 3 groups plus the three 2-group tables
    t = clin.xs("t_stage_group", level="variable")
    assert len([x for x in t.index if x.startswith("pairwise ")]) == 3


def test_default_groups_resolution(store_path):
    from radiogenomics.associate.study import resolve_groups

    assert resolve_groups(["high", "middle", "low"], None, "g") == ("high", "low")  # today's default
    assert resolve_groups(["Mutant", "Wildtype"], None, "g") == ("Mutant", "Wildtype")
    assert resolve_groups(["a", "b", "c"], "all", "g") == ("a", "b", "c")
    assert resolve_groups(["a", "b", "c"], "c,a", "g") == ("c", "a")
    with pytest.raises(InputError, match=r"no patients in group\(s\) \['high', 'low'\].*--groups a,b"):
        resolve_groups(["a", "b"], ["high", "low"], "g")
    with pytest.raises(InputError, match="names a group twice"):
        resolve_groups(["a", "b"], "a,a", "g")
    with pytest.raises(InputError, match="needs two or more"):
        resolve_groups(["a"], None, "g")
