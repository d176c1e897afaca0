"""Every `rg sql` example in the README runs on a demo store and returns rows.

The README's queries are written for the store `rg demo` makes (grouping 'demo', model
'demo-dfs').  Here they run on a small store with the same names and shapes;
``tests/test_demo.py`` runs them on the real demo store as well.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.store import Store

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_queries() -> list[str]:
    """The SQL of every `rg sql "..."` line and of the demo-queries block of the README."""
    text = README.read_text(encoding="utf-8")
    queries = []
    for line in re.findall(r"^rg sql .*$", text, flags=re.MULTILINE):
        argv = shlex.split(line.split("  #")[0])
        queries.append(argv[2])
    block = re.search(r"<!-- demo-queries -->\s*```sql\n(.*?)```", text, flags=re.DOTALL)
    assert block, "README lost its <!-- demo-queries --> block"
    import duckdb

    for st in duckdb.extract_statements(block.group(1)):
        lines = [ln for ln in st.query.strip().splitlines() if not ln.lstrip().startswith("--")]
        queries.append("\n".join(lines).strip())
    return queries


def after_demo_queries() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- after-demo-queries -->\s*```bash\n(.*?)```", text, flags=re.DOTALL)
    assert block, "README lost its <!-- after-demo-queries --> block"
    return [shlex.split(line)[2] for line in block.group(1).splitlines() if line.startswith("rg sql ")]


def check_queries_return_rows(store: Path, queries: list[str], capsys) -> None:
    """Run each query through `rg sql --format json`; each must succeed with at least one row."""
    for query in queries:
        code = main(["--store", str(store), "sql", query, "--format", "json"])
        captured = capsys.readouterr()
        assert code == 0, (query, captured.err)
        rows = json.loads(captured.out)
        assert rows, f"README query returns no rows on the demo store: {query}"


def _demo_like_store(path: Path) -> None:
    """The tables the README queries read, with the demo's names (grouping 'demo', model 'demo-dfs')."""
    patients = [f"R01-{i:03d}" for i in range(1, 7)]
    with Store.open(path) as store:
        with store.run("rg rois") as run:
            store.add_patients(patients, "NSCLC Radiogenomics Demo", "demo", run_id=run.run_id)
            store.upsert("rois", pd.DataFrame({"patient_id": patients, "roi": "tumor", "reader": "seg",
                                               "status": "ok", "voxels": 500}), run_id=run.run_id)
            store.upsert("features", pd.DataFrame({"patient_id": patients, "roi": "tumor",
                                                   "feature": "original_glcm_Imc2", "params_hash": "h",
                                                   "value": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}), run_id=run.run_id)
        with store.run("rg radscore fit") as run:
            store.upsert("models", pd.DataFrame({
                "model_id": ["demo-dfs"], "kind": ["radscore"], "endpoint": ["dfs"], "cutoff": [-0.25],
                "formula": [json.dumps({"features": ["original_glcm_Imc2"], "coefficients": [1.25]})]}),
                run_id=run.run_id)
        with store.run("rg groups") as run:
            store.upsert("risk_groups", pd.DataFrame({
                "grouping": "demo", "patient_id": patients, "grp": ["high", "high", "middle", "middle", "low", "low"],
                "model_id": "demo-dfs", "score": [1.5, 1.2, 0.1, -0.1, -1.2, -1.6], "method": "ranks"}),
                run_id=run.run_id)
        with store.run("rg survival") as run:
            store.upsert("model_results", pd.DataFrame({
                "analysis": ["logrank:dfs", "hr:dfs", "cindex:dfs"], "subject": "demo", "term": ["", "high", ""],
                "statistic": ["p", "hr", "cindex"], "value": [7e-9, 30.2, 0.8], "cohort": ""}), run_id=run.run_id)
        with store.run("rg associate") as run:
            store.upsert("gsea_results", pd.DataFrame({
                "grouping": "demo", "dataset_id": "GSE900001", "method": "prerank", "library": "hallmark",
                "term": ["HALLMARK_HYPOXIA"], "NES": [3.0], "fdr": [0.0]}), run_id=run.run_id)
            store.upsert("de_results", pd.DataFrame({
                "grouping": "demo", "dataset_id": "GSE900001", "method": "limma", "contrast": "high-low",
                "gene": ["FBP1", "ACTB"], "logFC": [1.27, 0.01], "P.Value": [1e-11, 0.9],
                "direction": ["up", "ns"]}), run_id=run.run_id)
            store.upsert("associations", pd.DataFrame({
                "grouping": "demo", "family": ["clinical"], "variable": ["t_stage"], "test": ["chi2"],
                "p": [1e-4], "fdr": [2e-3]}), run_id=run.run_id)
        with store.run("rg map") as run:
            store.upsert("radiogenomic_map", pd.DataFrame({
                "map_id": "demo", "imaging": ["radscore:demo-dfs", "original_glcm_Imc2"],
                "molecular": "HALLMARK_HYPOXIA", "molecular_source": "ssgsea:hallmark_v7.0", "rho": [0.9, 0.8],
                "p": [1e-8, 1e-6], "fdr": [2e-8, 1e-6], "n": 6, "method": "spearman", "covariates": ""}),
                run_id=run.run_id)


def test_readme_queries_return_rows_on_a_demo_like_store(tmp_path, capsys, monkeypatch):
    db = tmp_path / "rg.duckdb"
    _demo_like_store(db)
    monkeypatch.chdir(tmp_path)  # an example that writes a file (--out) writes it here
    queries = readme_queries()
    assert len(queries) >= 10
    assert not [q for q in queries if "nsclc-radscore" in q], "README examples must run on the demo store"
    check_queries_return_rows(db, queries, capsys)
    assert set(after_demo_queries()) <= set(queries) and len(after_demo_queries()) == 3


def test_readme_parquet_example_writes_the_file(tmp_path, capsys, monkeypatch):
    import pyarrow.parquet as pq

    db = tmp_path / "rg.duckdb"
    _demo_like_store(db)
    monkeypatch.chdir(tmp_path)
    line = next(line for line in README.read_text().splitlines() if line.startswith("rg sql") and "parquet" in line)
    argv = shlex.split(line)[1:]
    assert main(["--store", str(db), *argv]) == 0, capsys.readouterr().err
    out = tmp_path / argv[argv.index("--out") + 1]
    assert pq.read_table(out).num_rows == 6


@pytest.mark.parametrize("query", ["SELECT 1"])
def test_helper_fails_on_an_empty_result(tmp_path, capsys, query):
    """The check itself can fail: a query without rows is reported."""
    db = tmp_path / "rg.duckdb"
    _demo_like_store(db)
    with pytest.raises(AssertionError, match="no rows"):
        check_queries_return_rows(db, ["SELECT * FROM risk_groups WHERE grouping = 'nope'"], capsys)
    check_queries_return_rows(db, [query], capsys)
