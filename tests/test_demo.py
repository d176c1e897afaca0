"""`rg demo` end to end on a small cohort: real connectors, the whole pipeline, planted effects recovered."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.demo import pipeline_file
from radiogenomics.store import Store

pytestmark = pytest.mark.slow


DEMO_N = 80  # 34 train / 22 validation / 24 external: the smallest size whose held-out checks pass reliably


def test_demo_recovers_planted_effects(tmp_path, _isolated_home, capsys):
    out = tmp_path / "report"
    # how long the demo takes is measured by tests/benchmarks/test_bench_study.py, not here: a timed
    # unit test fails whenever the machine is busy
    code = main(["-q", "demo", "--patients", str(DEMO_N), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    html = (out / "report.html").read_text()
    checks = pd.read_csv(out / "tables" / "planted_effects.csv")
    required = checks[checks["required"]]
    assert len(required) >= 12
    assert required["recovered"].all(), required.to_string()
    # held-out evidence is required, in the internal validation set and in the external site
    for cohort in ("validation", "external"):
        mine = required[required["cohort"] == cohort]
        assert {"Rad-score tracks the planted risk", "High-risk group has shorter DFS than low-risk"} <= set(
            mine["effect"]), cohort
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
        counts = store.query("SELECT cohort, count(*) AS n FROM radscores WHERE model_id = 'demo-dfs' "
                             "GROUP BY cohort").set_index("cohort")["n"].to_dict()
        km = store.query("SELECT cohort, value FROM model_results WHERE subject = 'demo' AND analysis = 'km:dfs' "
                         "AND term = 'all' AND statistic = 'n'").set_index("cohort")["value"].to_dict()
    assert {"rg run demo:imaging", "rg run demo:associate", "rg run demo:report"} <= set(runs.command)
    assert (runs.loc[runs.command.str.startswith("rg run demo:"), "status"] == "ok").all()
    # every step's stage entry returned the runs it wrote (a StageResult's run_ids), all of them in `runs`;
    # only the report (it reads the store) writes none
    with Store.open(_isolated_home / "rg.duckdb", read_only=True) as store:
        steps = store.query("SELECT command, parameters FROM runs WHERE command LIKE 'rg run demo:%'")
        all_runs = set(store.query("SELECT run_id FROM runs")["run_id"])
    linked = {c.split(":", 1)[1]: json.loads(p)["stage_runs"] for c, p in zip(steps.command, steps.parameters)}
    assert len(linked) == 16, sorted(linked)
    assert all(set(r) <= all_runs for r in linked.values()), linked
    assert [s for s, r in linked.items() if not r] == ["report"], linked
    assert set(series.modality) >= {"CT", "SEG"}
    # the demo names its store, and every README example query returns rows on it
    assert f"store:  {(_isolated_home / 'rg.duckdb').resolve()}" in printed
    from test_readme_queries import check_queries_return_rows, readme_queries

    check_queries_return_rows(_isolated_home / "rg.duckdb", readme_queries(), capsys)

    # console, store and report agree on every count; the external site is the AMC patients, never
    # development patients relabelled
    assert counts == {"train": 34, "validation": 22, "external": 24}
    line = f"{counts['train']} train / {counts['validation']} validation / {counts['external']} external"
    assert f"Rad-score cohorts: {line}" in printed
    assert f"Rad-score cohorts: {line}" in html
    assert {c: int(km[c]) for c in counts} == counts and int(km[""]) == sum(counts.values())
    km_table = pd.read_csv(out / "tables" / "km_logrank.csv")
    shown = km_table[km_table["cohort"].isin(list(counts))].groupby("cohort")["n"].max().to_dict()
    assert shown == counts, shown
    with Store.open(_isolated_home / "rg.duckdb", read_only=True) as store:
        ext = store.query("SELECT patient_id FROM radscores WHERE model_id = 'demo-dfs' AND cohort = 'external'")
    assert ext.patient_id.str.startswith("AMC-").all()

    # issue 17: a rerun skips the finished steps (the local server's port is reused, so the
    # fetch steps' inputs are unchanged)
    with Store.open(_isolated_home / "rg.duckdb", read_only=True) as store:
        before = store.query("SELECT count(*) AS n FROM runs WHERE command LIKE 'rg run demo:%'").n.iloc[0]
    code = main(["-q", "demo", "--patients", str(DEMO_N), "--out", str(out)])
    assert code == 0, capsys.readouterr().out
    with Store.open(_isolated_home / "rg.duckdb", read_only=True) as store:
        after = store.query("SELECT count(*) AS n FROM runs WHERE command LIKE 'rg run demo:%'").n.iloc[0]
    assert after == before, "a rerun of the demo ran steps again"

    # a rerun through `rg run` keeps the planted-effects section and leaves no stale table
    (out / "tables" / "stale_from_an_old_report.csv").write_text("x\n1\n")
    source = _isolated_home / "data" / "demo" / "source"
    code = main(["-q", "run", str(pipeline_file()), "--from", "report", "--force",
                 "--set", f"out={out}", "--set", f"cohort={source}"])
    assert code == 0
    assert "Planted effects: recovered?" in (out / "report.html").read_text()
    assert not (out / "tables" / "stale_from_an_old_report.csv").exists()


def test_demo_refuses_a_cohort_too_small_for_its_design(_isolated_home, capsys):
    assert main(["-q", "demo", "-n", "20"]) != 0
    err = capsys.readouterr().err
    assert "at least 57 patients" in err and "-n 20 gives" in err
    assert not (_isolated_home / "data" / "demo" / "source").exists()
