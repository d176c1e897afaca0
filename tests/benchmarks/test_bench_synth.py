"""Speed of the synthetic cohort generator and of the association tests (vs R in the same run).

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/synth.json.
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
              pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1",
                                 reason="benchmarks run only with RG_BENCHMARKS=1")]

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RG_SHARED_DIR", REPO.parent / "shared"))

R_SCRIPT = """
d <- read.csv(commandArgs(TRUE)[1])
x <- d$v[d$g == "high"]; y <- d$v[d$g == "low"]
t0 <- proc.time()[["elapsed"]]
for (i in 1:{reps}) {{ k <- suppressWarnings(ks.test(x, y)); w <- suppressWarnings(wilcox.test(x, y)) }}
cat((proc.time()[["elapsed"]] - t0) / {reps}, k$p.value, w$p.value, "\\n")
"""


def _gene_files() -> dict:
    from radiogenomics.catalog import catalog_dir

    out = {}
    for key, parts in {"hallmark_gmt": ("genesets", "h.all.v7.0.symbols.gmt"),
                       "estimate_gmt": ("signatures", "estimate_SI_geneset.gmt"),
                       "ips_genes": ("signatures", "ips_genes.txt")}.items():
        for base in (catalog_dir(), SHARED / "data"):
            if base.joinpath(*parts).exists():
                out[key] = base.joinpath(*parts)
                break
        else:
            pytest.skip(f"{'/'.join(parts)} not found")
    return out


def test_bench_synth(tmp_path):
    import pandas as pd

    from radiogenomics.associate.compare import ks_test, mann_whitney
    from radiogenomics.synth.cohort import make_cohort

    genes = _gene_files()
    cohort_s = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        make_cohort(tmp_path / f"c{workers}", n_patients=60, seed=0, workers=workers, **genes)
        cohort_s[workers] = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    x = np.round(rng.normal(0.3, 1, 99), 1)  # rounded: ties, the exact conditional KS path
    y = np.round(rng.normal(0.0, 1, 100), 1)
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        k = ks_test(x, y)
        w = mann_whitney(x, y)
    py_s = (time.perf_counter() - t0) / reps
    r_s = r_ks = r_w = None
    if shutil.which("Rscript"):
        csv = tmp_path / "d.csv"
        pd.DataFrame({"g": ["high"] * 99 + ["low"] * 100, "v": np.r_[x, y]}).to_csv(csv, index=False)
        script = tmp_path / "b.R"
        script.write_text(R_SCRIPT.format(reps=reps))
        out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            r_s, r_ks, r_w = (float(v) for v in out.stdout.split()[:3])
    result = {
        "name": "synth",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "make_cohort_60_patients_seconds": {f"workers_{k}": round(v, 3) for k, v in cohort_s.items()},
        "ks_plus_mannwhitney_99x100_ties": {
            "python_seconds": py_s, "r_seconds": r_s, "ratio_python_over_r": (py_s / r_s) if r_s else None,
            "p_ks_python": k.p, "p_ks_r": r_ks, "p_mw_python": w.p, "p_mw_r": r_w,
        },
    }
    dest = REPO / "reports" / "benchmarks" / "synth.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(result, indent=2))
    if r_ks is not None:
        assert k.p == pytest.approx(r_ks, rel=1e-6) and w.p == pytest.approx(r_w, rel=1e-7)
    assert cohort_s[1] < 60
