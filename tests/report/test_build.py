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


def test_each_figure_written_as_svg_png_csv_and_linked(built_report):
    from PIL import Image

    result = built_report
    text = result.html_path.read_text()
    stems = list(result.figure_files)
    assert len(stems) == result.figures
    # numbered in report order, so "Figure N" of the HTML is figNN_* on disk
    assert [int(s[3:5]) for s in stems] == list(range(1, result.figures + 1))
    for n, stem in enumerate(stems, start=1):
        files = result.figure_files[stem]
        assert set(files) == {"svg", "png", "csv"}, stem
        for ext, path in files.items():
            assert path.parent == result.html_path.parent / "figures" and path.stat().st_size > 0
            assert f'href="figures/{stem}.{ext}"' in text
        assert f"Figure {n}. " in text
        assert "<text" in files["svg"].read_text()  # text kept as text (editable, checkable)
        with Image.open(files["png"]) as png:
            assert round(png.info["dpi"][0]) == 300
        assert len(pd.read_csv(files["csv"])) > 0
    volcano = pd.read_csv(next(f["csv"] for s, f in result.figure_files.items() if s.endswith("_volcano")))
    assert {"gene", "log2FoldChange", "pvalue", "neg_log10_p", "direction", "labelled"} <= set(volcano.columns)
    assert volcano["labelled"].sum() >= 8


def test_deconvolution_figure_shows_cell_types_only(built_report):
    result = built_report
    stem = next(s for s in result.figure_files if s.endswith("_immune_deconvolution"))
    plotted = pd.read_csv(result.figure_files[stem]["csv"])
    assert set(plotted["score"]) == {"Immune_cells", "Tumour_cells"}
    fit = pd.read_csv(result.tables["deconvolution_fit"])
    assert list(dict.fromkeys(fit["diagnostic"])) == ["P-value", "Correlation", "RMSE", "nu"]
    assert list(fit.loc[fit["diagnostic"] == "RMSE", "grp"]) == ["high", "middle", "low"]
    assert (fit["n"] == 13).all()
    medians = pd.read_csv(result.tables["immune_medians"])
    assert not set(medians["score"]) & {"P-value", "Correlation", "RMSE", "nu"}


def test_clinical_panels_give_p_or_reason(built_report):
    result = built_report
    stem = next(s for s in result.figure_files if s.endswith("_clinical_bar"))
    svg = result.figure_files[stem]["svg"].read_text()
    # alk: the stored test's note; kras (4 patients) and the rest: no stored test, said so
    assert "no p-value: fewer than two groups" in svg
    assert "p = 0.500" in svg  # gender's stored p
    violin = result.figure_files[next(s for s in result.figure_files if s.endswith("_clinical_violin"))]["svg"]
    assert "CT to surgery (days)" in violin.read_text() and "no p-value: no test stored" in violin.read_text()
