"""Side by side with R survival at n = 2000 (tied integer times): Cox (Efron and Breslow),
log-rank (3 groups), Harrell's C; plus maxstat and LASSO-Cox CV against R maxstat / glmnet.

Rules in :mod:`_harness` (same input file, R warm in one persistent process, cold starts,
alternating order, minimum of >= 5 runs, agreement checked in the same run, load average
and BLAS recorded).  Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/models.json.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from _harness import (RSession, alternate, cold_python, cold_r, machine, python_blas, requires_benchmarks,
                      requires_r, write_report)

pytestmark = [pytest.mark.benchmark, requires_benchmarks, requires_r]

N = 2000
RUNS = max(5, int(os.environ.get("RG_BENCH_RUNS", "7")))


def _data(tmp):
    rng = np.random.default_rng(0)
    d = pd.DataFrame(rng.normal(size=(N, 3)), columns=["x1", "x2", "x3"])
    d["grp"] = rng.choice(["a", "b", "c"], N)
    t = rng.exponential(1000 * np.exp(-0.5 * d.x1))
    c = rng.uniform(100, 3000, N)
    d["time"] = np.minimum(t, c).round() + 1  # integer days: tied times
    d["event"] = (t <= c).astype(int)
    g = pd.DataFrame(rng.normal(size=(300, 50)), columns=[f"g{i}" for i in range(50)])
    tg = rng.exponential(1000 * np.exp(-0.7 * g.g0))
    cg = rng.uniform(100, 3000, 300)
    g.insert(0, "event", (tg <= cg).astype(int))
    g.insert(0, "time", np.minimum(tg, cg))
    d.to_csv(tmp / "d.csv", index=False)
    g.to_csv(tmp / "g.csv", index=False)
    return d, g


def test_bench_models_vs_r(tmp_path):
    from radiogenomics.models import RadScore, concordance_index, cox, cutpoint, logrank_test

    d, g = _data(tmp_path)
    preamble = ("suppressPackageStartupMessages({library(survival); library(maxstat); library(glmnet)})\n"
                f"d <- read.csv('{tmp_path / 'd.csv'}'); g <- read.csv('{tmp_path / 'g.csv'}')\n"
                "gx <- as.matrix(g[, -(1:2)]); gy <- Surv(g$time, g$event)")
    covs = ["x1", "x2", "x3", "grp"]
    report: dict = {"benchmark": "models", "machine": machine(), "blas": {"python": python_blas()},
                    "input": {"n": N, "events": int(d.event.sum()), "distinct_event_times": int(d.time[d.event == 1].nunique()),
                              "covariates": covs, "lasso": "n = 300, p = 50, 10 folds"},
                    "comparisons": {}}
    comp = report["comparisons"]
    warnings.simplefilter("ignore")
    with RSession(preamble) as r:
        report["blas"]["R"] = r.blas()
        report["r_packages"] = r.package_versions(["survival", "maxstat", "glmnet"])
        for ties in ("efron", "breslow"):
            holder: dict = {}
            res = alternate(lambda: holder.__setitem__("py", cox(d, "time", "event", covs, ties=ties)),
                            f"fit <- coxph(Surv(time, event) ~ x1 + x2 + x3 + grp, data = d, ties = '{ties}')", r, RUNS)
            r_coef = np.array([float(v) for v in r.value("coef(fit)").split()])
            r_c = float(r.value("fit$concordance[['concordance']]"))
            py = holder["py"]
            res["agreement"] = {"max_abs_coef_difference": float(np.abs(py.coef - r_coef).max()),
                                "max_abs_se_difference": float(np.abs(py.table["se"].to_numpy()
                                                                      - np.array([float(v) for v in r.value("sqrt(diag(vcov(fit)))").split()])).max()),
                                "concordance_difference": abs(py.concordance - r_c)}
            comp[f"cox_{ties}_n{N}"] = res
        holder = {}
        res = alternate(lambda: holder.__setitem__("py", logrank_test(d.time, d.event, d.grp)),
                        "lr <- survdiff(Surv(time, event) ~ grp, data = d)", r, RUNS)
        res["agreement"] = {"chisq_relative_difference": abs(holder["py"].statistic / float(r.value("lr$chisq")) - 1)}
        comp[f"logrank_3groups_n{N}"] = res
        holder = {}
        res = alternate(lambda: holder.__setitem__("py", concordance_index(d.time, d.event, d.x1)),
                        "cc <- concordance(Surv(time, event) ~ x1, data = d, reverse = TRUE)", r, RUNS)
        res["agreement"] = {"c_index_difference": abs(holder["py"] - float(r.value("cc$concordance")))}
        comp[f"cindex_n{N}"] = res
        holder = {}
        res = alternate(lambda: holder.__setitem__("py", cutpoint(d.time, d.event, d.x1)),
                        "ms <- maxstat.test(Surv(time, event) ~ x1, data = d, smethod = 'LogRank', pmethod = 'none', "
                        "minprop = 0.1, maxprop = 0.9)", r, RUNS)
        res["agreement"] = {"python_cutpoint": float(holder["py"].cutpoint) if hasattr(holder["py"], "cutpoint") else str(holder["py"]),
                            "r_cutpoint": float(r.value("ms$estimate"))}
        comp[f"maxstat_n{N}"] = res
        res = alternate(lambda: RadScore(n_folds=10, standardize=False, tol=1e-9).fit(g.iloc[:, 2:], (g.time, g.event)),
                        "cv <- cv.glmnet(gx, gy, family = 'cox', nfolds = 10, standardize = FALSE)", r, RUNS)
        res["agreement"] = "different random fold assignments in the two tools: times only"
        comp["lasso_cox_cv10_n300_p50"] = res
    report["cold_start"] = {"cox_efron": {
        "python_s": round(cold_python("import pandas as pd; from radiogenomics.models.survival import cox; "
                                      f"d = pd.read_csv('{tmp_path / 'd.csv'}'); cox(d, 'time', 'event', {covs!r})"), 3),
        "r_s": round(cold_r("suppressPackageStartupMessages(library(survival))\n"
                            f"d <- read.csv('{tmp_path / 'd.csv'}')\n"
                            "fit <- coxph(Surv(time, event) ~ x1 + x2 + x3 + grp, data = d)\n"), 3),
        "what": "fresh process: load the library, read the CSV, one Cox fit"}}
    write_report("models", report)
    for key in (f"cox_efron_n{N}", f"cox_breslow_n{N}"):
        assert comp[key]["agreement"]["max_abs_coef_difference"] < 1e-6
    assert comp[f"logrank_3groups_n{N}"]["agreement"]["chisq_relative_difference"] < 1e-8
    assert comp[f"cindex_n{N}"]["agreement"]["c_index_difference"] < 1e-12
