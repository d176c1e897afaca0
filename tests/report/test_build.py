"""The report assembled from a store holding synthetic rows of every table."""

from __future__ import annotations

import pandas as pd
import pytest

from radiogenomics.exceptions import NotInStoreError
from radiogenomics.report import build_report
from radiogenomics.store import Store


def test_report_has_every_section_and_tables(built_report):
    result = built_report
    text = result.html_path.read_text()
    for key in ("cohort", "radscore", "survival", "calibration", "de", "gsea", "immune", "clinical", "methods"):
        assert f'id="{key}"' in text
    # every figure embedded, nothing external
    assert text.count("data:image/png;base64,") == result.figures
    assert result.figures >= 15, result.notes
    assert "src=\"http" not in text
    flow = pd.read_csv(result.tables["cohort_flow"])
    # P000 has a failed ROI: excluded at the ROI stage with its reason
    excl = pd.read_csv(result.tables["exclusions"])
    assert "mask is empty" in excl.loc[excl.patient_id == "P000", "reason"].iloc[0]
    assert flow["n"].iloc[0] == 40 and flow["n"].iloc[1] == 39
    # middle group excluded from the omics comparison
    assert "middle group" in flow["reasons"].iloc[-1]
    assert set(pd.read_csv(result.tables["radscore_formula"]).feature) == {f"original_glcm_F{k}" for k in range(3)}
    assert "runs" in result.tables and "input_checksums" in result.tables


def test_absent_inputs_become_notes(tmp_path):
    path = tmp_path / "rg.duckdb"
    with Store.open(path) as store:
        store.upsert("risk_groups", pd.DataFrame({"grouping": "g", "patient_id": ["A", "B"], "grp": ["high", "low"]}))
        result = build_report(store, "g", tmp_path / "out")
    text = result.html_path.read_text()
    assert "No differential-expression results" in text
    assert "No GSEA results" in text
    assert "No immune scores" in text or "No immune" in text
    assert "No Rad-score model" in text
    assert result.figures >= 1  # the cohort flow is always drawn


def test_unknown_grouping(filled_store, tmp_path):
    with Store.open(filled_store, read_only=True) as store, pytest.raises(NotInStoreError, match="known: g"):
        build_report(store, "nope", tmp_path)


def test_rg_report_command(filled_store, tmp_path, monkeypatch, capsys):
    from radiogenomics.cli import main

    monkeypatch.setenv("RG_STORE", str(filled_store))
    assert main(["report", "--grouping", "g", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").exists() and (tmp_path / "r" / "tables" / "gsea.csv").exists()
    assert "report:" in capsys.readouterr().out


def test_associate_reports_what_cannot_run(tmp_path):
    from radiogenomics.exceptions import InputError, NotInStoreError
    from radiogenomics.associate.study import associate, parse_what

    assert parse_what("clinical,de") == ["de", "clinical"]
    with pytest.raises(InputError, match="unknown analyses"):
        parse_what("de,foo")
    with Store.open(tmp_path / "rg.duckdb") as store:
        with pytest.raises(NotInStoreError):
            associate(store, "none")
        store.upsert("risk_groups", pd.DataFrame({"grouping": "g", "patient_id": ["A", "B"], "grp": ["high", "low"]}))
        summary = associate(store, "g", what="de,clinical")
    assert "no expression dataset" in summary.skipped["de"]
    assert "clinical" in summary.failed  # no clinical table loaded: reported, not raised
