"""Whole commands: ``rg de`` on a store (130 samples x 20,000 genes, FPKM) against an R script
that does the same DE from a TSV with data.table::fread (same filter, log2(x + 1), limma).

Both sides are fresh processes every time (start-up, library loads, input read, DE, output
written), alternating with the order flipped each repeat, minimum of >= 5 quoted as the
ratio; the outputs of the run are compared (same genes, logFC / t / P / adj.P to 1e-8).
Warm limma against R limma in one persistent process is in omics.json.  Also recorded:
where ``rg de``'s time goes (stages timed inside one fresh process, minimum over repeats),
the start-up of ``rg --help``, ``rg sql "select 1"``, ``rg de --help``, ``rg gsea --help``
(wall time and python -X importtime) and the load average before and after.

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/cli.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _harness import REPO, RSession, alternate_commands, machine, python_blas, requires_benchmarks, requires_r, write_report

pytestmark = [pytest.mark.benchmark, requires_benchmarks, requires_r]

N_SAMPLES, N_GENES = 130, 20000
RUNS = max(5, int(os.environ.get("RG_BENCH_RUNS", "5")))

R_DE = """
suppressPackageStartupMessages({library(data.table); library(limma)})
args <- commandArgs(TRUE)
x <- fread(args[1], sep = "\\t", na.strings = "NA")
m <- as.matrix(x[, -1]); rownames(m) <- x[[1]]
g <- fread(args[2])
s <- g$patient_id[g$grp %in% c("high", "low")]
m <- m[, s]; grp <- factor(g$grp[match(s, g$patient_id)], levels = c("high", "low"))
# rg's defaults for FPKM: observed in >= 80 % of samples, FPKM >= 1 in >= 20 %, then log2(x + 1)
keep <- rowMeans(!is.na(m)) >= 0.8 & rowMeans(!is.na(m) & m >= 1) >= 0.2
y <- log2(m[keep, ] + 1)
d <- model.matrix(~ 0 + grp); colnames(d) <- levels(grp)
fit <- eBayes(contrasts.fit(lmFit(y, d), makeContrasts(high - low, levels = d)))
tt <- topTable(fit, number = Inf, sort.by = "none")
fwrite(data.table(gene = rownames(tt), tt), args[3], sep = "\\t")
"""


def _store(tmp: Path) -> tuple[Path, Path, Path, pd.Series]:
    from radiogenomics.store import Store

    rng = np.random.default_rng(0)
    genes = [f"GENE{i:05d}" for i in range(N_GENES)]
    patients = [f"P{i:03d}" for i in range(N_SAMPLES)]
    base = rng.gamma(1.5, 8.0, size=(N_GENES, 1))
    fpkm = base * rng.lognormal(0, 0.5, size=(N_GENES, N_SAMPLES))
    fpkm[:300, :65] *= 1.5
    wide = pd.DataFrame(fpkm, index=pd.Index(genes, name="gene"), columns=patients)
    tsv = tmp / "fpkm.tsv"
    wide.to_csv(tsv, sep="\t")
    groups = pd.DataFrame({"patient_id": patients, "grp": np.where(np.arange(N_SAMPLES) < 65, "high", "low")})
    groups_tsv = tmp / "groups.tsv"
    groups.to_csv(groups_tsv, sep="\t", index=False)
    db = tmp / "rg.duckdb"
    long = wide.stack().rename("value").reset_index().rename(columns={"level_1": "patient_id"})
    long.insert(0, "dataset_id", "bench")
    with Store.open(db) as store, store.run("benchmark setup", {}) as run:
        store.add_patients(patients, "bench", "benchmark", run_id=run.run_id)
        store.upsert("datasets", pd.DataFrame([{"dataset_id": "bench", "source": "file", "scale": "fpkm",
                                                "is_counts": False, "n_samples": N_SAMPLES, "n_genes": N_GENES}]),
                     run_id=run.run_id)
        store.upsert("expression", long, run_id=run.run_id)
        store.upsert("risk_groups", groups.assign(grouping="bench", method="benchmark"), run_id=run.run_id)
    return db, tsv, groups_tsv, groups.set_index("patient_id")["grp"]


def _import_seconds(args: list[str], env: dict) -> float:
    """Seconds spent importing modules (python -X importtime, top-level entries summed) for one rg command.

    Counts everything the interpreter imports for the command, its own start-up modules
    (site, encodings: about 0.02 s) included.
    """
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "radiogenomics", *args], capture_output=True,
                         text=True, env=env, check=False)
    total = 0
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m and not m.group(2).startswith(" "):  # top-level imports only
            total += int(m.group(1))
    return total / 1e6


#: run in a fresh interpreter: ``rg de`` through the CLI's own main with its stages timed
_PHASES = """
import json, os, sys, time
t0 = time.perf_counter()
import radiogenomics.cli as cli
t_cli = time.perf_counter()
from radiogenomics.omics import de as de_stage
from radiogenomics.omics import limma
from radiogenomics.store import tables
from radiogenomics.store.db import Store
t_omics = time.perf_counter()
spent = {}
def timed(name, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
    return wrapper
tables.expression_arrays = timed("read expression (store -> genes x patients)", tables.expression_arrays)
de_stage._de_arrays = timed("filter + log2 + limma", de_stage._de_arrays)
Store.replace = timed("write de_results", Store.replace)
t_main = time.perf_counter()
code = cli.main(json.loads(sys.argv[1]))
t_end = time.perf_counter()
assert code == 0
out = {"import radiogenomics.cli (typer, rich)": t_cli - t0,
       "import numpy, scipy.special, duckdb, the DE stage": t_omics - t_cli, **spent}
out["rest of the command (option parsing, store open/close, run record)"] = (t_end - t_main) - sum(spent.values())
out["total in-process"] = t_end - t0
out["pandas imported"] = "pandas" in sys.modules
print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))
sys.stdout.flush()
os._exit(0)  # as the rg entry point ends (radiogenomics.cli.run)
"""


def test_bench_rg_de_vs_fread_limma(tmp_path):
    db, tsv, groups_tsv, groups = _store(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               RG_HOME=str(tmp_path / "home"))
    rg = [sys.executable, "-m", "radiogenomics", "--store", str(db), "-q"]
    de_args = ["de", "-g", "bench", "-d", "bench"]
    script = tmp_path / "de.R"
    script.write_text(R_DE)
    r_out = tmp_path / "r_tt.tsv"
    report: dict = {"benchmark": "cli", "machine": machine(),
                    "input": {"samples": N_SAMPLES, "genes": N_GENES, "scale": "fpkm",
                              "python": "rg de on a DuckDB store holding the values (long table core.expression)",
                              "R": "Rscript: fread the same values from a TSV, same filter, log2(x+1), limma, fwrite"},
                    "comparisons": {}}
    # both sides are whole fresh processes (cold by nature: start-up, library loads, input read,
    # DE, output written); warm limma against warm R limma is in omics.json
    load_before = [round(v, 2) for v in os.getloadavg()]
    res = alternate_commands([*rg, *de_args],
                             ["Rscript", "--vanilla", str(script), str(tsv), str(groups_tsv), str(r_out)], RUNS, env)
    res["load_average_before_after"] = [load_before, [round(v, 2) for v in os.getloadavg()]]
    from radiogenomics.store import Store

    # agreement of the outputs of this run (the last rg de and the last R script)
    with Store.open(db, read_only=True) as store:
        ours = store.query("SELECT gene, \"logFC\", t, \"P.Value\", \"adj.P.Val\" FROM core.de_results "
                           "WHERE grouping = 'bench'").set_index("gene")
    ref = pd.read_csv(r_out, sep="\t", index_col=0)
    same_genes = len(ours) == len(ref) and set(ours.index) == set(ref.index)
    ours = ours.reindex(ref.index)
    res["agreement"] = {"same_genes": bool(same_genes), "genes": int(len(ref)),
                        **{f"max_relative_{c}_difference": float((np.abs(ours[c] - ref[c]) / np.abs(ref[c])).max())
                           for c in ("logFC", "t", "P.Value", "adj.P.Val")}}
    report["comparisons"]["rg_de_vs_fread_limma"] = res
    # both sides' BLAS (R's read in a session of its own, after the timed runs)
    r = RSession()
    try:
        report["blas"] = {"python": python_blas(), "R": r.blas()}
        report["r_packages"] = r.package_versions(["data.table", "limma"])
    finally:
        r.close()

    # where the rg de time goes (one fresh process per repeat, minimum per stage)
    phases: dict[str, list[float]] = {}
    pandas_loaded = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", _PHASES, json.dumps(["--store", str(db), "-q", *de_args])],
                             capture_output=True, text=True, env=env, check=True)
        stages = json.loads(out.stdout.strip().splitlines()[-1])
        pandas_loaded.append(stages.pop("pandas imported"))
        for name, value in stages.items():
            phases.setdefault(name, []).append(value)
    report["rg_de_stages_min_s"] = {name: round(min(v), 4) for name, v in phases.items()}
    report["rg_de_imports_pandas"] = any(pandas_loaded)

    startup = {}
    commands = {"rg --help": ["--help"], "rg sql select 1": ["--store", str(db), "sql", "select 1"],
                "rg de --help": ["de", "--help"], "rg gsea --help": ["gsea", "--help"],
                "rg de (whole command)": ["--store", str(db), "-q", *de_args]}
    for name, args in commands.items():
        times, imports = [], []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "radiogenomics", *args], capture_output=True, env=env, check=True)
            times.append(time.perf_counter() - t0)
            imports.append(_import_seconds(args, env))
        startup[name] = {"wall_min_s": round(min(times), 4),
                         "imports_min_s (python -X importtime, top-level entries summed)": round(min(imports), 4),
                         "runs": RUNS}
    baseline = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - t0)
    startup["python -c pass (interpreter alone)"] = {"wall_min_s": round(min(baseline), 4), "runs": RUNS}
    report["startup"] = startup
    write_report("cli", report)
    assert res["agreement"]["same_genes"] and res["agreement"]["max_relative_t_difference"] < 1e-8
