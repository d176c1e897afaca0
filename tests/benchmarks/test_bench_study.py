"""Wall time of `rg demo` with its default 120 patients (36 of them an external site) against the 3-minute budget (2 cores).

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/study.json with the seconds of
every pipeline step (and of the cohort generation + report outside the pipeline).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1", reason="benchmarks run only with RG_BENCHMARKS=1")]

REPO = Path(__file__).resolve().parents[2]
BUDGET_S = 180.0


def test_bench_demo(tmp_path):
    from radiogenomics.config import Settings
    from radiogenomics.demo import run_demo

    settings = Settings.from_env(home=tmp_path / "home", store=tmp_path / "home" / "rg.duckdb",
                                 data_dir=tmp_path / "home" / "data")
    settings.ensure_dirs()
    t0 = time.perf_counter()
    from radiogenomics.demo import DEFAULT_PATIENTS

    result = run_demo(settings.store, n_patients=DEFAULT_PATIENTS, out_dir=tmp_path / "report", workers=2,
                      settings=settings).summary
    seconds = time.perf_counter() - t0
    steps = {s.name: round(s.seconds, 2) for s in result.steps}
    payload = {
        "name": "study_demo",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_1m": os.getloadavg()[0]},
        "patients": DEFAULT_PATIENTS,
        "cohorts": result.counts,
        "seconds_total": round(seconds, 2),
        "budget_seconds": BUDGET_S,
        "ratio_to_budget": round(seconds / BUDGET_S, 3),
        "seconds_pipeline_steps": steps,
        "seconds_outside_pipeline": round(seconds - sum(steps.values()), 2),
        "planted_effects_recovered": f"{int(result.checks['recovered'].sum())}/{len(result.checks)}",
        "planted_effects": result.checks.to_dict(orient="records"),
    }
    out = REPO / "reports" / "benchmarks" / "study.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2))
    assert result.ok, result.text()
