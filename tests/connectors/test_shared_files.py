"""Parsers on the real files in ../shared (skipped cleanly when shared/ is absent)."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_file

from radiogenomics.connectors.clinical import parse_clinical_csv
from radiogenomics.connectors.geo import parse_series_matrix, parse_series_matrix_table
from radiogenomics.connectors.manifest import parse_manifest
from radiogenomics.connectors.nbia_import import parse_nbia_metadata

CLINICAL = ("data", "tcia", "NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv")
MATRIX = ("data", "geo", "GSE103584_series_matrix.txt")


def test_clinical_all_211_rows_typed():
    frame = parse_clinical_csv(shared_file(*CLINICAL))
    assert len(frame) == 211 and frame["patient_id"].is_unique
    assert frame["cohort"].value_counts().to_dict() == {"R01": 162, "AMC": 49}
    # missing codes are NULL, never strings
    codes = {"Not Collected", "Not collected", "N/A", "Unknown", "Not Assessed", "Not Recorded In Database"}
    for col in frame.columns:
        if frame[col].dtype == object and col != "extra":
            assert not frame[col].isin(codes).any(), col
    assert frame["histology"].notna().all()  # the trailing-space column was found
    assert frame["weight_lbs"].isna().sum() == 59 and frame["ethnicity"].isna().sum() == 49
    assert frame["egfr"].isna().sum() == 39
    assert set(frame["t_stage"].dropna()) == {"T1a", "T1b", "T2a", "T2b", "T3", "T4", "Tis"}
    assert set(frame["grade"].dropna()) == {"G1", "G2", "G3", "G1-G2", "G2-G3"}
    assert frame["tumor_location"].notna().all()
    assert frame["recurrence"].sum() == 54 and frame["recurrence"].isna().sum() == 1
    assert frame["os_event"].sum() == 63 and frame["os_days"].notna().all()
    assert (frame["os_days"] >= 0).all() and (frame["dfs_days"].dropna() >= 0).all()
    amc1 = frame.set_index("patient_id").loc["AMC-001"]
    # CT 8/10/1994 -> death 1/7/1997; recurrence 10/7/1994 comes first for DFS
    assert amc1["os_days"] == 881 and amc1["os_event"] == 1
    assert amc1["dfs_days"] == 58 and amc1["dfs_event"] == 1
    assert amc1["tumor_location"] == "RLL" and pd.isna(amc1["t_stage"])
    # the source's time to death mostly counts from surgery, so it is not our os_days
    dead = frame[frame["os_event"] == 1]
    assert ((dead["os_days"] - dead["time_to_death_days"]) == dead["days_ct_to_surgery"]).mean() > 0.7


def test_series_matrix_130_samples_are_case_ids():
    meta, samples = parse_series_matrix(shared_file(*MATRIX))
    assert meta["geo_accession"] == ["GSE103584"]
    assert len(samples) == 130 and samples["sample_id"].is_unique
    assert samples["sample_id"].min() == "GSM2774822" and samples["sample_id"].max() == "GSM2774951"
    assert samples["title"].str.match(r"^R01-\d{3}$").all()
    assert set(samples["platform"]) == {"GPL16791"}
    keys = set().union(*samples["characteristics"].map(set))
    assert keys == {"disease state", "histology", "histopathological grade", "gender"}
    assert "Cufflinks" in samples["data_processing"][0]
    assert parse_series_matrix_table(shared_file(*MATRIX)) is None  # the table is empty
    clinical = parse_clinical_csv(shared_file(*CLINICAL))
    assert set(samples["title"]) <= set(clinical["patient_id"])


def test_manifest_1351_series():
    manifest = parse_manifest(shared_file("data", "tcia", "NSCLC_Radiogenomics-6-1-21-Version-4.tcia"))
    assert len(manifest.series_uids) == 1351
    assert manifest.header["manifestVersion"] == "3.0"
    assert all(u.startswith("1.3.6.1.4.1.14519.") for u in manifest.series_uids)


def test_nbia_metadata_csv():
    meta = parse_nbia_metadata(shared_file("data", "tcia", "nbia_data_retriever_metadata.csv"))
    assert len(meta) == 1351
    assert meta["modality"].value_counts().to_dict() == {"CT": 727, "PT": 480, "SEG": 144}
    assert meta["patient_id"].nunique() == 211
    assert meta.loc[0, "file_size"] == 3_910_000 and meta.loc[0, "image_count"] == 1
    seg = meta[meta["modality"] == "SEG"]
    assert (seg["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.66.4").all()
    assert seg["patient_id"].str.startswith("R01").all()
    assert meta["study_date"].notna().all()
    manifest = parse_manifest(shared_file("data", "tcia", "NSCLC_Radiogenomics-6-1-21-Version-4.tcia"))
    assert set(manifest.series_uids) == set(meta["series_uid"])


def test_geo_fetch_maps_all_130_samples_to_clinical_case_ids(tmp_path, fast_http):
    """The real series matrix + a small expression table served locally; the clinical CSV loaded first."""
    from radiogenomics.config import Settings
    from radiogenomics.connectors.clinical import load_clinical
    from radiogenomics.connectors.geo import fetch_geo
    from radiogenomics.testing.nbia_server import LocalNBIAServer, geo_stub
    from radiogenomics.store import Store

    _, samples = parse_series_matrix(shared_file(*MATRIX))
    folder = tmp_path / "geo" / "series" / geo_stub("GSE103584") / "GSE103584"
    (folder / "matrix").mkdir(parents=True)
    (folder / "suppl").mkdir()
    with open(shared_file(*MATRIX), "rb") as src, gzip.open(folder / "matrix" / "GSE103584_series_matrix.txt.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    titles = list(samples["title"])[::-1]  # another order than the matrix, like the real file
    rng = np.random.default_rng(3)
    expr = pd.DataFrame(rng.gamma(1.0, 30.0, size=(40, 130)).round(3), index=[f"GENE{i}" for i in range(40)], columns=titles)
    expr.iloc[2, 5] = np.nan
    name = "GSE103584_R01_NSCLC_RNAseq.txt.gz"
    expr.to_csv(folder / "suppl" / name, sep="\t", na_rep="NA", index_label="")
    (folder / "suppl" / "filelist.txt").write_text(
        f"#Archive/File\tName\tTime\tSize\tType\nFile\t{name}\t01/01/2018\t{(folder / 'suppl' / name).stat().st_size}\tTXT\n")
    with LocalNBIAServer(geo_root=tmp_path / "geo", files={"/clinical.csv": shared_file(*CLINICAL)}) as srv:
        settings = Settings.from_env(geo_url=srv.url_geo, data_dir=tmp_path / "data", store=tmp_path / "rg.duckdb")
        with Store.open(settings.store) as store:
            clin = load_clinical(settings, store, srv.file_url("/clinical.csv"))
            assert clin.rows == 211
            summary = fetch_geo(settings, store, "GSE103584")
            assert summary.samples == 130 and summary.mapped == 130 and summary.unmapped_columns == []
            assert summary.scales == {"GSE103584": "fpkm"}
            joined = store.query("SELECT s.sample_id, s.patient_id, c.case_id FROM samples s "
                                 "JOIN clinical c USING (patient_id)")
            assert len(joined) == 130
            xw = store.query("SELECT source, count(*) AS n FROM id_crosswalk GROUP BY 1 ORDER BY 1")
            assert dict(zip(xw["source"], xw["n"])) == {"clinical": 211, "geo_gsm": 130, "geo_title": 130}
            assert store.query("SELECT count(*) AS n FROM patients")["n"][0] == 211
            ex = store.query("SELECT count(*) AS n, count(value) AS v FROM expression")
            assert ex["n"][0] == 40 * 130 and ex["v"][0] == 40 * 130 - 1
            row = store.query("SELECT * FROM datasets").iloc[0]
            assert row["is_counts"] == False and row["n_samples"] == 130 and row["n_genes"] == 40  # noqa: E712
            # a given value lands on the right patient
            got = store.query("SELECT value FROM expression WHERE patient_id = ? AND gene = 'GENE7'", [titles[11]])
            assert got["value"][0] == pytest.approx(expr.loc["GENE7", titles[11]])
