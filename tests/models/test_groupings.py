"""Groupings from a clinical column, a SQL predicate and a file (rg groups --clinical/--where, rg groups import)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import InputError
from radiogenomics.models.groupings import groups_from_clinical, groups_from_predicate, import_groups
from radiogenomics.models.groups import groups_by_levels, groups_by_thresholds, require_levels
from radiogenomics.store import Store


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "rg.duckdb"
    ids = [f"P{i:02d}" for i in range(12)]
    clinical = pd.DataFrame({
        "patient_id": ids,
        "age": [50, 55, 60, 61, 62, 65, 66, 70, 71, 75, 80, np.nan],
        "egfr": ["Mutant", "Wildtype", "Wildtype", "Mutant", "Unknown", "Wildtype", "Wildtype", "Mutant",
                 "Wildtype", "Wildtype", None, "Wildtype"],
        "histology": ["Adenocarcinoma"] * 6 + ["Squamous cell carcinoma"] * 6,
        "extra": [json.dumps({"ki67": str(v)}) for v in range(12)],
    })
    with Store.open(path) as store:
        store.upsert("clinical", clinical, run_id="seed")
        store.add_patients(ids, "TEST", "test", run_id="seed")
        store.add_crosswalk("tcia", {"R01-000": "P00", "R01-001": "P01"}, run_id="seed")
        store.upsert("radscores", pd.DataFrame({"model_id": "m", "patient_id": ids[:6], "score": np.arange(6.0)}),
                     run_id="seed")
    return path


def _groups(path, grouping):
    with Store.open(path, read_only=True) as st:
        return st.query("SELECT * FROM risk_groups WHERE grouping = ? ORDER BY patient_id", [grouping])


def _rg(path, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(["--store", str(path), "-q", *args])


# ------------------------------------------------------------------ pure cores
def test_thresholds_levels_and_guard():
    s = pd.Series([1.0, 2.0, 3.0, np.nan], index=list("abcd"))
    assert groups_by_thresholds(s, [2]).to_dict() == {"a": "low", "b": "low", "c": "high"}
    assert groups_by_thresholds(s, [1.5, 2.5]).to_dict() == {"a": "low", "b": "middle", "c": "high"}
    with pytest.raises(InputError, match="differ"):
        groups_by_thresholds(s, [2, 2])
    lv = groups_by_levels(pd.Series(["x", " y", "", None], index=list("abcd")))
    assert lv.to_dict() == {"a": "x", "b": "y"}
    with pytest.raises(InputError, match=r"level\(s\) \['z'\] do not occur"):
        groups_by_levels(pd.Series(["x", "y"]), ["x", "z"])
    with pytest.raises(InputError, match="fewer than 2 non-empty groups.*x \\(2\\)"):
        require_levels(pd.Series(["x", "x", None]), "test")


# ------------------------------------------------------------------ clinical
def test_clinical_levels_threshold_quantiles_extra(store_file):
    res = groups_from_clinical(store_file, "egfr", levels=["Mutant", "Wildtype"])
    assert res["counts"] == {"Mutant": 3, "Wildtype": 7}
    rows = _groups(store_file, "clinical:egfr")
    assert set(rows["method"]) == {"clinical:levels"} and rows["model_id"].isna().all()
    assert "P04" not in set(rows.patient_id) and "P10" not in set(rows.patient_id)  # Unknown level, missing value

    res = groups_from_clinical(store_file, "age", "threshold", thresholds=[65], grouping="age65")
    rows = _groups(store_file, "age65").set_index("patient_id")
    assert res["counts"] == {"high": 5, "low": 6}  # 65 itself is low (not above), P11 has no age
    assert rows.loc["P05", "grp"] == "low" and rows.loc["P06", "grp"] == "high" and rows.loc["P06", "score"] == 66

    groups_from_clinical(store_file, "age", "quantiles", quantiles=[0.5], grouping="age_median",
                         labels=["older", "younger"])
    rows = _groups(store_file, "age_median")
    med = np.median([50, 55, 60, 61, 62, 65, 66, 70, 71, 75, 80])
    assert (rows.loc[rows.grp == "older", "score"] > med).all() and (rows.loc[rows.grp == "younger", "score"] <= med).all()

    # a key of clinical.extra
    res = groups_from_clinical(store_file, "ki67", "threshold", thresholds=[5.5])
    assert res["counts"] == {"high": 6, "low": 6}
    with Store.open(store_file, read_only=True) as st:
        run = st.query("SELECT parameters FROM runs WHERE run_id = ?", [res["run_id"]])
    params = json.loads(run.parameters.iloc[0])
    assert params["source"] == "clinical" and params["column"] == "ki67" and params["thresholds"] == [5.5]


def test_clinical_bad_input(store_file):
    with pytest.raises(InputError, match=r"clinical column\(s\) \[.no_such_column.\] are neither columns of `clinical` nor keys.*ki67"):
        groups_from_clinical(store_file, "no_such_column")
    with pytest.raises(InputError, match="not numeric for 12 patient"):
        groups_from_clinical(store_file, "histology", "threshold", thresholds=[1])
    with pytest.raises(InputError, match="fewer than 2 non-empty groups"):
        groups_from_clinical(store_file, "age", "threshold", thresholds=[100])  # one-sided split refused
    with pytest.raises(InputError, match="needs --thresholds"):
        groups_from_clinical(store_file, "age", "threshold")
    with pytest.raises(InputError, match="unknown --method"):
        groups_from_clinical(store_file, "age", "cutoff")
    assert _groups(store_file, "clinical:age").empty  # nothing written by the failures


# ------------------------------------------------------------------ SQL predicate
def test_predicate(store_file):
    res = groups_from_predicate(store_file, "egfr = 'Mutant' OR age < 60", labels=["mutant_or_young", "other"],
                                grouping="ym")
    rows = _groups(store_file, "ym").set_index("patient_id")
    assert set(rows.index[rows.grp == "mutant_or_young"]) == {"P00", "P01", "P03", "P07"}
    # NULL predicate (P10: no egfr and age 80; P11: Wildtype and no age) is left out
    assert "P10" not in rows.index and "P11" not in rows.index
    assert res["counts"] == {"mutant_or_young": 4, "other": 6}
    # other views through a subquery
    res = groups_from_predicate(store_file, "patient_id IN (SELECT patient_id FROM radscores WHERE score >= 3)",
                                grouping="sub")
    assert res["counts"] == {"no": 9, "yes": 3}
    assert set(_groups(store_file, "sub").method) == {"sql"}


def test_predicate_bad_input(store_file):
    with pytest.raises(InputError, match="not a valid predicate.*no_col"):
        groups_from_predicate(store_file, "no_col = 1")
    with pytest.raises(InputError, match="without ';'"):
        groups_from_predicate(store_file, "true; DROP TABLE core.clinical")
    with pytest.raises(InputError, match="fewer than 2 non-empty groups"):
        groups_from_predicate(store_file, "age > 0 OR age IS NULL")
    with pytest.raises(InputError, match="two different names"):
        groups_from_predicate(store_file, "age > 60", labels=["a", "a"])
    with Store.open(store_file, read_only=True) as st:
        assert st.query("SELECT count(*) AS n FROM clinical").n.iloc[0] == 12


# ------------------------------------------------------------------ file
def test_import_groups_csv_tsv_crosswalk_unknown(store_file, tmp_path):
    f = tmp_path / "collab.tsv"
    f.write_text("patient_id\tgroup\nR01-000\tA\nP02\tB\nP03\tA\nNOPE\tB\nP05\tC\n")
    res = import_groups(store_file, f, "collab")
    assert res["counts"] == {"A": 2, "B": 1, "C": 1} and res["n_failed"] == 1
    rows = _groups(store_file, "collab").set_index("patient_id")
    assert rows.loc["P00", "grp"] == "A" and set(rows.method) == {"file"}  # R01-000 through the crosswalk
    with Store.open(store_file, read_only=True) as st:
        fail = st.query("SELECT * FROM failures WHERE run_id = ?", [res["run_id"]])
        run = st.query("SELECT status, input_checksums, parameters FROM runs WHERE run_id = ?", [res["run_id"]])
    assert list(fail.patient_id) == ["NOPE"] and "line 5" in fail.reason.iloc[0] and "not in the store" in fail.reason.iloc[0]
    assert run.status.iloc[0] == "partial" and "collab.tsv" in json.loads(run.input_checksums.iloc[0])
    assert json.loads(run.parameters.iloc[0])["source"] == "file"

    csv = tmp_path / "g.csv"
    csv.write_text("patient_id,grp\nP01,x\nP02,y\n")
    assert _rg(store_file, "groups", "import", str(csv), "--grouping", "g2") == 0
    assert list(_groups(store_file, "g2").grp) == ["x", "y"]


@pytest.mark.parametrize("text, message", [
    ("id,group\nP01,A\n", "no `patient_id` column"),
    ("patient_id,label\nP01,A\n", "no group column"),
    ("patient_id,group\nP01,A\nP02,B\nP01,B\n", "listed more than once.*P01.*\\[2, 4\\]"),
    ("patient_id,group\nP01,A\nP02,\n", "P02.*empty group"),
    ("patient_id,group\nP01,A\nP02,A\n", "fewer than 2 non-empty groups"),
    ("patient_id,group\nX1,A\nX2,B\n", "none of the 2 patient"),
    ("patient_id,group\nR01-001,A\nP01,B\n", "same store patient"),
    ("", "is empty"),
])
def test_import_groups_bad_files(store_file, tmp_path, text, message):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=message):
        import_groups(store_file, f, "bad")
    assert _groups(store_file, "bad").empty


def test_cli_sources(store_file, tmp_path, capsys):
    assert _rg(store_file, "groups", "--clinical", "histology") == 0
    assert "grouping clinical:histology: Adenocarcinoma 6, Squamous cell carcinoma 6" in capsys.readouterr().out
    assert _rg(store_file, "groups", "--where", "age >= 65", "--labels", "old,young") == 0
    assert set(_groups(store_file, "sql").grp) == {"old", "young"}
    # exactly one source; options of another source refused
    assert _rg(store_file, "groups") != 0
    assert _rg(store_file, "groups", "--clinical", "age", "--where", "true") != 0
    assert _rg(store_file, "groups", "--clinical", "age", "--cutoff", "3") != 0
    assert _rg(store_file, "groups", "--where", "true", "--thresholds", "3") != 0
    assert "exactly one source" in capsys.readouterr().err
    assert _rg(store_file, "groups", "import", str(tmp_path / "missing.csv"), "--grouping", "x") != 0
    assert "does not exist" in capsys.readouterr().err
