"""`rg demo` end to end on a small cohort: real connectors, the whole pipeline, planted effects recovered."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.store import Store

pytestmark = pytest.mark.slow


def test_demo_recovers_planted_effects(tmp_path, _isolated_home, capsys):
    out = tmp_path / "report"
    t0 = time.perf_counter()
    code = main(["-q", "demo", "--patients", "36", "--out", str(out)])
    seconds = time.perf_counter() - t0
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert seconds < 150, f"demo took {seconds:.0f}s"
    html = (out / "report.html").read_text()
    checks = pd.read_csv(out / "tables" / "planted_effects.csv")
    required = checks[checks["required"]]
    assert len(required) >= 8
    assert required["recovered"].all(), required.to_string()
    # the planted Hallmark sets are in the report's GSEA table with positive NES
    gsea = pd.read_csv(out / "tables" / "gsea.csv")
    truth = json.loads((_isolated_home / "data" / "demo" / "source" / "truth.json").read_text())
    for term in truth["expression"]["up_sets"]:
        assert gsea.loc[gsea.term == term, "NES"].iloc[0] > 0
    assert "Planted effects: recovered?" in html and html.count("data:image/png;base64,") >= 15
    # ESTIMATE, IPS and (with the demo's synthetic signature) deconvolution box plots
    for method in ("estimate", "ips", "deconvolution"):
        assert f"{method}: scores by risk group" in html
    assert checks.loc[checks.effect.str.startswith("Immune_cells fraction"), "recovered"].all()
    # the data went through the real connectors and every pipeline step is a run
    with Store.open(_isolated_home / "rg.duckdb", read_only=True) as store:
        runs = store.query("SELECT command, status FROM runs")
        series = store.query("SELECT modality, count(*) AS n FROM series WHERE status = 'complete' GROUP BY modality")
    assert {"rg run demo:imaging", "rg run demo:associate"} <= set(runs.command)
    assert (runs.loc[runs.command.str.startswith("rg run demo:"), "status"] == "ok").all()
    assert set(series.modality) >= {"CT", "SEG"}
