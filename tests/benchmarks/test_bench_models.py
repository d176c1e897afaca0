"""Speed of the survival core (Cox Efron, log-rank, C-index, maxstat, LASSO-Cox CV) vs R survival /
maxstat / glmnet (when Rscript is installed) and scikit-survival, measured in the same run.

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/models.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1", reason="benchmarks run only with RG_BENCHMARKS=1")]

REPO = Path(__file__).resolve().parents[2]

R_SCRIPT = """
suppressPackageStartupMessages({library(survival); library(maxstat); library(glmnet)})
d <- read.csv(commandArgs(TRUE)[1]); g <- read.csv(commandArgs(TRUE)[2])
el <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
cox <- el(for (i in 1:5) coxph(Surv(time, event) ~ x1 + x2 + x3 + grp, data = d)) / 5
lr <- el(for (i in 1:5) survdiff(Surv(time, event) ~ grp, data = d)) / 5
ci <- el(for (i in 1:5) concordance(Surv(time, event) ~ x1, data = d, reverse = TRUE)) / 5
ms <- el(maxstat.test(Surv(time, event) ~ x1, data = d, smethod = "LogRank", pmethod = "none", minprop = 0.1, maxprop = 0.9))
x <- as.matrix(g[, -(1:2)]); y <- Surv(g$time, g$event)
cv <- el(cv.glmnet(x, y, family = "cox", nfolds = 10, standardize = FALSE))
cat(cox, lr, ci, ms, cv, "\\n")
"""


def _timeit(fn, reps=5):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def test_bench_models(tmp_path):
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.metrics import concordance_index_censored
    from sksurv.util import Surv

    from radiogenomics.models import RadScore, concordance_index, cox, cutpoint, logrank_test

    rng = np.random.default_rng(0)
    n = 2000
    d = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    d["grp"] = rng.choice(["a", "b", "c"], n)
    t = rng.exponential(1000 * np.exp(-0.5 * d.x1))
    c = rng.uniform(100, 3000, n)
    d["time"] = np.minimum(t, c).round() + 1  # integer days: tied times
    d["event"] = (t <= c).astype(int)
    g = pd.DataFrame(rng.normal(size=(300, 50)), columns=[f"g{i}" for i in range(50)])
    tg = rng.exponential(1000 * np.exp(-0.7 * g.g0))
    cg = rng.uniform(100, 3000, 300)
    g.insert(0, "event", (tg <= cg).astype(int))
    g.insert(0, "time", np.minimum(tg, cg))

    py = {
        "cox_efron_n2000": _timeit(lambda: cox(d, "time", "event", ["x1", "x2", "x3", "grp"])),
        "logrank_3groups_n2000": _timeit(lambda: logrank_test(d.time, d.event, d.grp)),
        "cindex_n2000": _timeit(lambda: concordance_index(d.time, d.event, d.x1)),
        "maxstat_n2000": _timeit(lambda: cutpoint(d.time, d.event, d.x1), reps=1),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        py["lasso_cox_cv10_n300_p50"] = _timeit(
            lambda: RadScore(n_folds=10, standardize=False, tol=1e-9).fit(g.iloc[:, 2:], (g.time, g.event)), reps=1)
    y = Surv.from_arrays(d.event.astype(bool), d.time)
    Xd = pd.get_dummies(d[["x1", "x2", "x3", "grp"]], drop_first=True).astype(float).to_numpy()
    sk = {
        "cox_efron_n2000": _timeit(lambda: CoxPHSurvivalAnalysis(ties="efron").fit(Xd, y)),
        "cindex_n2000": _timeit(lambda: concordance_index_censored(d.event.astype(bool), d.time, d.x1)),
    }
    r = {}
    if shutil.which("Rscript"):
        dcsv, gcsv = tmp_path / "d.csv", tmp_path / "g.csv"
        d.to_csv(dcsv, index=False)
        g.to_csv(gcsv, index=False)
        script = tmp_path / "b.R"
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(dcsv), str(gcsv)], capture_output=True, text=True,
                             check=False)
        if out.returncode == 0:
            vals = [float(v) for v in out.stdout.split()[:5]]
            r = dict(zip(["cox_efron_n2000", "logrank_3groups_n2000", "cindex_n2000", "maxstat_n2000",
                          "lasso_cox_cv10_n300_p50"], vals))
    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor(), "cpu_count": os.cpu_count()},
        "seconds": {"radiogenomics": py, "sksurv": sk, "R": r},
        "ratio_vs_R": {k: (py[k] / r[k] if r.get(k) else None) for k in py},
        "ratio_vs_sksurv": {k: py[k] / sk[k] for k in sk},
    }
    out_dir = REPO / "reports" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "models.json").write_text(json.dumps(result, indent=2))
    assert all(v > 0 for v in py.values())
