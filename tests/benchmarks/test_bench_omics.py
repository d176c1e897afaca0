"""Speed of the omics arm on 130 samples x 20,000 genes, with R (limma, GSVA ssgsea, e1071,
DESeq2) timed in the same run when Rscript is available.

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/omics.json.  DESeq2 (Python and
R) runs on the first 5,000 genes of the counts to keep the benchmark within minutes.
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
N_SAMPLES, N_GENES, N_DESEQ_GENES = 130, 20000, 5000


def _timed(results: dict, name: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    results[name] = round(time.perf_counter() - t0, 3)
    return out


def test_bench_omics(tmp_path):
    from radiogenomics.catalog import catalog_file
    from radiogenomics.omics import (ExpressionOptions, deconvolve, deseq2_de, estimate, gsea_phenotype,
                                     gsea_prerank, ips, limma_de, load_library, ora, prepare_expression, ssgsea)

    rng = np.random.default_rng(0)
    _, hallmark = load_library("hallmark")
    _, go_bp = load_library("go_bp")
    pool = sorted(set(g for v in hallmark.values() for g in v) | set(g for v in go_bp.values() for g in v))
    genes = pool[:N_GENES] if len(pool) >= N_GENES else pool + [f"GENE{i}" for i in range(N_GENES - len(pool))]
    patients = [f"P{i:03d}" for i in range(N_SAMPLES)]
    groups = pd.Series(np.where(np.arange(N_SAMPLES) < 65, "high", "low"), index=patients)
    base = rng.gamma(1.5, 8.0, size=(N_GENES, 1))
    fpkm = pd.DataFrame(base * rng.lognormal(0, 0.5, size=(N_GENES, N_SAMPLES)), index=genes, columns=patients)
    fpkm.loc[fpkm.index.isin(hallmark["HALLMARK_HYPOXIA"]), patients[:65]] *= 1.5
    fpkm.iloc[rng.choice(N_GENES, 500, replace=False), rng.integers(0, N_SAMPLES, 500)] = np.nan
    counts = pd.DataFrame(rng.negative_binomial(5, 5 / (5 + base[:N_DESEQ_GENES] * 20),
                                                size=(N_DESEQ_GENES, N_SAMPLES)), index=genes[:N_DESEQ_GENES],
                          columns=patients)
    sig_genes = genes[:500]
    signature = pd.DataFrame(rng.gamma(1.0, 200.0, size=(500, 22)), index=sig_genes,
                             columns=[f"cell{i}" for i in range(22)])
    py: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logx = _timed(py, "prepare_expression", prepare_expression, fpkm, "fpkm", ExpressionOptions(min_value=0.0))
        de = _timed(py, "limma", limma_de, logx, groups)
        _timed(py, "ssgsea_hallmark", ssgsea, logx.dropna(), hallmark)
        _timed(py, "estimate", estimate, logx)
        _timed(py, "ips", ips, logx)
        mix = fpkm.loc[sig_genes].fillna(1.0)
        _timed(py, "deconvolution_perm0", deconvolve, mix, signature, perm=0)
        _timed(py, "deconvolution_perm100", deconvolve, mix, signature, perm=100, seed=0)
        _timed(py, "gsea_prerank_1000", gsea_prerank, de["t"], hallmark, permutations=1000, seed=0)
        _timed(py, "gsea_phenotype_100", gsea_phenotype, logx, groups, hallmark, permutations=100, seed=0)
        up = de.index[(de["P.Value"] < 0.05) & (de["logFC"] > 0.1)]
        _timed(py, "ora_go_bp", ora, up, de.index, go_bp)
        _timed(py, "deseq2_5000_genes", deseq2_de, counts, groups, n_cpus=2)

    r: dict[str, float] | None = None
    r_note = "Rscript not found"
    if shutil.which("Rscript"):
        logx.dropna().to_csv(tmp_path / "logexpr.csv")
        groups.rename("grp").to_frame().to_csv(tmp_path / "groups.csv", index=False)
        signature.rename_axis("Gene").to_csv(tmp_path / "signature.txt", sep="\t")
        mix.to_csv(tmp_path / "mixture.csv")
        counts.to_csv(tmp_path / "counts.csv")
        script = REPO / "tests" / "data" / "R" / "omics" / "bench_omics.R"
        out = subprocess.run(["Rscript", str(script), str(tmp_path), str(catalog_file("genesets", "h.all.v7.0.symbols.gmt"))],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0:
            r = {p[1]: float(p[2]) for p in (line.split() for line in out.stdout.splitlines()) if p[:1] == ["RGTIME"]}
            r_note = "R timed inside Rscript (data loading excluded)"
        else:
            r_note = "Rscript failed: " + out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "Rscript failed"
    pairs = {"limma": "limma", "ssgsea": "ssgsea_hallmark", "deconvolution": "deconvolution_perm0",
             "deseq2": "deseq2_5000_genes"}
    ratios = {k: round(py[v] / r[k], 3) for k, v in pairs.items() if r and r.get(k)}
    report = {
        "benchmark": "omics",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average": list(os.getloadavg())},
        "data": {"samples": N_SAMPLES, "genes": N_GENES, "deseq2_genes": N_DESEQ_GENES, "signature": [500, 22],
                 "hallmark_sets": len(hallmark), "go_bp_sets": len(go_bp)},
        "python_seconds": py,
        "r_seconds": r,
        "r_note": r_note,
        "python_over_r": ratios,
    }
    out_path = REPO / "reports" / "benchmarks" / "omics.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    assert py["limma"] < 60 and py["ssgsea_hallmark"] < 60
