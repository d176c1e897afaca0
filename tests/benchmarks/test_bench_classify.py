"""Speed of DeLong (vs R pROC in the same run) and of the nested-CV classifier panel.

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/classify.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1", reason="benchmarks run only with RG_BENCHMARKS=1")]

REPO = Path(__file__).resolve().parents[2]

R_SCRIPT = """
suppressPackageStartupMessages(library(pROC))
d <- read.csv(commandArgs(TRUE)[1])
t0 <- proc.time()[["elapsed"]]
for (i in 1:{reps}) {{
  ra <- roc(d$y, d$a, levels = c(0, 1), direction = "<", quiet = TRUE)
  rb <- roc(d$y, d$b, levels = c(0, 1), direction = "<", quiet = TRUE)
  tt <- roc.test(ra, rb, method = "delong", paired = TRUE)
}}
cat((proc.time()[["elapsed"]] - t0) / {reps}, tt$p.value, "\\n")
"""


def test_bench_classify(tmp_path):
    import pandas as pd

    from radiogenomics.models import delong_test
    from radiogenomics.models.classify import classify

    rng = np.random.default_rng(0)
    n, reps = 20000, 5
    y = rng.integers(0, 2, n)
    a = y + rng.normal(size=n)
    b = np.round(0.5 * y + rng.normal(size=n), 1)
    t0 = time.perf_counter()
    for _ in range(reps):
        res = delong_test(y, a, b)
    py_s = (time.perf_counter() - t0) / reps
    r_s = r_p = None
    if shutil.which("Rscript"):
        csv = tmp_path / "d.csv"
        pd.DataFrame({"y": y, "a": a, "b": b}).to_csv(csv, index=False)
        script = tmp_path / "b.R"
        script.write_text(R_SCRIPT.format(reps=reps))
        out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            r_s, r_p = (float(v) for v in out.stdout.split()[:2])
            assert res.pvalue == pytest.approx(r_p, rel=1e-6, abs=1e-300)
    X = rng.normal(size=(150, 50))
    yy = (X[:, 0] + rng.normal(size=150) > 0).astype(int)
    t0 = time.perf_counter()
    classify(X[:100], yy[:100], X[100:], yy[100:], seed=0)
    panel_s = time.perf_counter() - t0
    report = {
        "name": "classify",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor(), "cpus": os.cpu_count()},
        "delong_n": n,
        "delong_python_seconds": py_s,
        "delong_proc_seconds": r_s,
        "delong_ratio_proc_over_python": (r_s / py_s) if r_s else None,
        "panel_8_models_nested_cv_5x5_seconds": panel_s,
        "panel_shape": [100, 50],
    }
    out_dir = REPO / "reports" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "classify.json").write_text(json.dumps(report, indent=2))
