"""Clinical CSV parser on a small synthetic file with every trap of the real one."""

from __future__ import annotations

import pandas as pd
import pytest

from radiogenomics.config import Settings
from radiogenomics.connectors.clinical import load_clinical, parse_clinical_csv
from radiogenomics.exceptions import ParseError
from radiogenomics.store import Store

HEADER = ("Case ID,Patient affiliation,Age at Histological Diagnosis,Weight (lbs),Gender,Smoking status,Pack Years,"
          "Tumor Location (choice=RUL),Tumor Location (choice=RML),Tumor Location (choice=Unknown),Histology ,"
          "Pathological T stage,Pathological N stage,Pathological M stage,Histopathological Grade,Recurrence,"
          "Date of Recurrence,Date of Last Known Alive,Survival Status,Date of Death,Time to Death (days),CT Date,"
          "Chemotherapy,Favourite Colour")
ROWS = [
    # dead after recurrence
    "R01-001,Stanford,70,180.5,Male,Former,40,Checked,Unchecked,Unchecked,Adenocarcinoma,T2a,N0,M0,"
    "G2 Moderately differentiated,yes,3/1/1995,6/1/1996,Dead,6/1/1996,400,1/1/1995,yes,blue",
    # alive, no recurrence, two lobes checked, missing codes everywhere
    "R01-002,VA,N/A,Not Collected,Female,Nonsmoker,N/A,Checked,Checked,Unchecked,Squamous cell carcinoma,"
    "Not Collected,Not collected,Not Assessed,\"Other, Type II: Moderately to poorly differentiated\",no,N/A,"
    "12/31/1996,Alive,N/A,N/A,1/1/1995,No,Not Recorded In Database",
    # recurrence unknown, alive -> DFS unknown; location unknown
    "AMC-003,Stanford,55,150,Male,Current,Unknown,Unchecked,Unchecked,Checked,Adenocarcinoma,tis,N2,M1b,"
    "G1 Well differentiated,Not collected,N/A,1/11/1995,Alive,N/A,N/A,1/1/1995,Not Collected,",
    # dead without recurrence
    "AMC-004,VA,80,200,Male,Former,20,Checked,Unchecked,Unchecked,Adenocarcinoma,T1b,N1,M0,"
    "\"Other, Type I: Well to moderately differentiated\",no,N/A,2/2/1995,Dead,2/2/1995,30,1/1/1995,No,",
]


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "clinical.csv"
    path.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n")
    return path


def test_parse_types_codes_and_survival(csv_path):
    frame = parse_clinical_csv(csv_path).set_index("patient_id")
    r1, r2, a3, a4 = (frame.loc[k] for k in ("R01-001", "R01-002", "AMC-003", "AMC-004"))
    assert r1["histology"] == "Adenocarcinoma" and r1["age"] == 70.0 and r1["weight_lbs"] == 180.5
    assert r1["t_stage"] == "T2a" and r1["t_stage_group"] == "T2" and r1["grade"] == "G2"
    assert r1["recurrence"] == True and r1["chemotherapy"] == "Yes"  # noqa: E712
    assert r1["os_days"] == 517 and r1["os_event"] == 1          # 1/1/1995 -> 6/1/1996
    assert r1["dfs_days"] == 59 and r1["dfs_event"] == 1         # -> 3/1/1995 recurrence
    assert r1["ct_date"] == pd.Timestamp("1995-01-01").date()
    assert r1["extra"] == {"Favourite Colour": "blue"}
    assert pd.isna(r2["age"]) and pd.isna(r2["weight_lbs"]) and pd.isna(r2["t_stage"]) and pd.isna(r2["m_stage"])
    assert pd.isna(r2["n_stage"]) and r2["grade"] == "G2-G3" and r2["grade_text"].startswith("Other, Type II")
    assert r2["tumor_location"] == "RUL;RML" and r2["recurrence"] == False  # noqa: E712
    assert r2["os_days"] == 730 and r2["os_event"] == 0 and r2["dfs_days"] == 730 and r2["dfs_event"] == 0
    assert r2["extra"] is None
    assert pd.isna(a3["pack_years"]) and pd.isna(a3["tumor_location"]) and pd.isna(a3["recurrence"])
    assert a3["t_stage"] == "Tis" and a3["t_stage_group"] == "Tis" and a3["m_stage"] == "M1b"
    assert pd.isna(a3["dfs_days"]) and pd.isna(a3["dfs_event"]) and a3["os_event"] == 0 and a3["cohort"] == "AMC"
    assert pd.isna(a3["chemotherapy"])
    assert a4["grade"] == "G1-G2" and a4["dfs_days"] == 32 and a4["dfs_event"] == 1 and a4["os_days"] == 32


@pytest.mark.parametrize("bad, match", [
    (lambda t: t.replace("1/1/1995,yes,blue", "31/31/1995,yes,blue"), "ct_date of R01-001 is '31/31/1995'"),
    (lambda t: t.replace("R01-001,Stanford,70", "R01-001,Stanford,seventy"), "age of R01-001 is 'seventy'"),
    (lambda t: t.replace("Case ID", "Patient"), "no 'Case ID' column"),
    (lambda t: t.replace("AMC-004", "AMC-003"), "AMC-003 appears more than once"),
    (lambda t: t.replace("G2 Moderately differentiated,yes", "G2 Moderately differentiated,maybe"), "Recurrence of R01-001"),
])
def test_bad_input_names_field_and_case(csv_path, bad, match):
    csv_path.write_text(bad(csv_path.read_text()))
    with pytest.raises(ParseError, match=match):
        parse_clinical_csv(csv_path)


def test_load_from_url_twice_no_duplicates(csv_path, tmp_path, fast_http):
    from radiogenomics.testing.nbia_server import FaultPlan, LocalNBIAServer

    plan = FaultPlan().add("status", "clinical.csv", status=503, times=2)
    with LocalNBIAServer(files={"/x/clinical.csv": csv_path}, faults=plan) as srv:
        settings = Settings.from_env(clinical_url=srv.file_url("/x/clinical.csv"), data_dir=tmp_path / "d",
                                     store=tmp_path / "rg.duckdb")
        with Store.open(settings.store) as store:
            first = load_clinical(settings, store)
            second = load_clinical(settings, store)
            assert first.rows == second.rows == 4 and first.os_events == 2 and first.dfs_events == 2
            clin = store.query("SELECT * FROM clinical ORDER BY patient_id")
            assert len(clin) == 4 and clin["run_id"].eq(second.run_id).all()
            assert store.query("SELECT count(*) AS n FROM id_crosswalk WHERE source='clinical'")["n"][0] == 4
            assert store.query("SELECT count(*) AS n FROM patients")["n"][0] == 4
            extra = store.query("SELECT extra FROM clinical WHERE patient_id='R01-001'")["extra"][0]
            assert "Favourite Colour" in extra
            runs = store.query("SELECT status, input_checksums FROM runs WHERE command='fetch clinical'")
            assert (runs["status"] == "ok").all() and "clinical.csv" in runs["input_checksums"][0]
