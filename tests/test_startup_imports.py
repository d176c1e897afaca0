"""Start-up cost: commands load only the libraries they use (issue 18: quick ``rg``).

Each case runs one ``rg`` command in a fresh interpreter and lists which heavy libraries
ended up in ``sys.modules``.  Timing is left to tests/benchmarks/test_bench_cli.py; this
checks the cause (an eager import of a heavy library in a package ``__init__``, the CLI's
modules or the store layer), which does not depend on the machine's load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.store import Store

REPO = Path(__file__).resolve().parents[1]

#: never needed by help, sql or DE on log/FPKM data
HEAVY = ("scipy.stats", "sklearn", "statsmodels", "matplotlib", "radiomics", "SimpleITK", "pydicom", "highdicom",
         "sksurv", "gseapy", "pydeseq2", "dask", "distributed", "jinja2", "requests", "PIL", "pywt", "torch")
#: not needed either by commands that do no numeric work
NUMERIC = ("numpy", "pandas", "pyarrow", "scipy")
#: typer >= 0.29 validates every option with pydantic (pyproject keeps typer below it)
CLI_EXTRA = ("pydantic",)

_CHILD = """
import json, sys
from radiogenomics.cli import main
code = main(json.loads(sys.argv[1]))
with open(sys.argv[2], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def _loaded(args: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    out = tmp_path / "modules.json"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args), str(out)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert out.exists(), proc.stderr[-2000:]
    data = json.loads(out.read_text())
    return data["code"], set(data["modules"])


def _top(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


@pytest.fixture()
def de_store(tmp_path: Path) -> Path:
    """A small FPKM dataset with a high/low grouping (what ``rg de`` reads)."""
    rng = np.random.default_rng(0)
    genes = [f"G{i:02d}" for i in range(40)]
    patients = [f"P{i:02d}" for i in range(12)]
    values = rng.gamma(2.0, 5.0, size=(len(genes), len(patients))) + 1.0
    long = (pd.DataFrame(values, index=pd.Index(genes, name="gene"), columns=pd.Index(patients, name="patient_id"))
            .stack().rename("value").reset_index().assign(dataset_id="D"))
    db = tmp_path / "rg.duckdb"
    with Store.open(db) as store, store.run("setup", {}) as run:
        store.add_patients(patients, "T", "test", run_id=run.run_id)
        store.upsert("datasets", pd.DataFrame([{"dataset_id": "D", "scale": "fpkm", "is_counts": False}]),
                     run_id=run.run_id)
        store.upsert("expression", long, run_id=run.run_id)
        store.upsert("risk_groups", pd.DataFrame({"grouping": "g", "patient_id": patients, "grp": ["high", "low"] * 6,
                                                  "method": "test"}), run_id=run.run_id)
    return db


@pytest.mark.parametrize("args", [["--help"], ["de", "--help"], ["gsea", "--help"], ["features", "--help"],
                                  ["radscore", "--help"], ["--version"]])
def test_help_loads_no_numeric_library(args, tmp_path):
    code, modules = _loaded(args, tmp_path)
    assert code == 0
    assert _top(modules, HEAVY + NUMERIC + CLI_EXTRA) == [], f"rg {' '.join(args)} imports heavy libraries"


def test_sql_loads_duckdb_only(de_store, tmp_path):
    code, modules = _loaded(["--store", str(de_store), "sql", "select 1"], tmp_path)
    assert code == 0 and "duckdb" in modules
    assert _top(modules, HEAVY + NUMERIC + CLI_EXTRA) == [], "rg sql imports heavy libraries"


def test_de_loads_no_library_it_does_not_use(de_store, tmp_path):
    code, modules = _loaded(["--store", str(de_store), "-q", "de", "-g", "g", "-d", "D"], tmp_path)
    assert code == 0
    with Store.open(de_store, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM de_results WHERE grouping = 'g'")["n"].iloc[0] == 40
    assert _top(modules, HEAVY + CLI_EXTRA) == [], "rg de (limma) imports libraries it does not use"
    # the DE stage runs on arrays and the command prints counts: pandas (and pyarrow, which
    # pandas loads) would be half of the command's time
    assert _top(modules, ("pandas", "pyarrow")) == [], "rg de (limma) imports pandas"


def test_de_summary_table_is_built_when_read(de_store):
    """run_de's summary is the written rows as a DataFrame, the same as read back from the store."""
    from radiogenomics.omics import run_de

    result = run_de(de_store, "g", "D")
    assert result.facts == {"method": "limma", "contrast": "high-low", "dataset_id": "D"}
    assert result.counts["genes"] == 40
    rows = result.summary
    assert isinstance(rows, pd.DataFrame) and rows is result.summary  # built once
    assert list(rows.columns[:5]) == ["grouping", "dataset_id", "method", "contrast", "gene"]
    assert list(rows.columns[-2:]) == ["direction", "run_id"]
    with Store.open(de_store, read_only=True) as store:
        stored = store.query("SELECT * FROM de_results WHERE grouping = 'g' ORDER BY gene")
    assert (rows["run_id"] == result.run_id).all()
    assert rows["gene"].tolist() == stored["gene"].tolist()
    assert result.counts["up"] == int((stored["direction"] == "up").sum())
    for column in ("logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"):
        np.testing.assert_array_equal(rows[column].to_numpy(), stored[column].to_numpy())
    assert stored["log2FoldChange"].isna().all()  # the other method's columns are reset, not left behind
