"""Store-level run_* functions and the rg de / gsea / ora / immune commands."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import InputError, NotInStoreError
from radiogenomics.omics import run_de, run_gsea, run_immune, run_ora
from radiogenomics.store import Store

PLANTED = "HALLMARK_HYPOXIA"


def _fill(store: Store, fpkm: pd.DataFrame, groups: pd.Series) -> None:
    store.upsert("datasets", pd.DataFrame({"dataset_id": ["D1"], "scale": ["fpkm"], "source": ["demo"]}))
    long = fpkm.rename_axis("gene").reset_index().melt(id_vars="gene", var_name="patient_id", value_name="value")
    long["dataset_id"] = "D1"
    store.upsert("expression", long)
    rg = pd.DataFrame({"grouping": "G", "patient_id": groups.index, "grp": groups.to_numpy()})
    rg = pd.concat([rg, pd.DataFrame({"grouping": ["G"], "patient_id": ["R01-999"], "grp": ["middle"]})])
    store.upsert("risk_groups", rg)


@pytest.fixture
def filled_store(store_path, planted):
    fpkm, groups = planted
    with Store.open(store_path) as store:
        _fill(store, fpkm, groups)
    return store_path


def test_run_functions_write_results(filled_store, tmp_path):
    with Store.open(filled_store) as store:
        de = run_de(store, "G", "D1").summary
        assert set(de["method"]) == {"limma"} and set(de["contrast"]) == {"high-low"}
        n_up = int((de["direction"] == "up").sum())
        stored = store.query("SELECT * FROM de_results WHERE direction = 'up'")
        assert len(stored) == n_up > 0 and stored["run_id"].notna().all()
        assert (stored["lfc"] > 0.1).all() and (stored["p"] < 0.05).all()
        # rerun replaces, never duplicates
        run_de(store, "G", "D1", lfc_threshold=1.0)
        assert store.query("SELECT count(*) AS n FROM de_results")["n"].iloc[0] == len(de)
        gsea = run_gsea(store, "G", "D1", permutations=50, seed=3).summary
        top = store.query("SELECT term, fdr, significant FROM gsea_results ORDER BY fdr, abs(NES) DESC LIMIT 1")
        assert top["term"].iloc[0] == PLANTED and bool(top["significant"].iloc[0])
        assert gsea["library"].iloc[0] == "hallmark_v7.0"
        ora = run_ora(store, "G", "D1", libraries=["hallmark"]).summary
        assert set(ora["direction"]) == {"up", "down"}
        assert store.query("SELECT count(*) AS n FROM ora_results")["n"].iloc[0] == len(ora)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imm = run_immune(store, "D1").summary
        assert set(imm["method"]) == {"estimate", "ips"}
        scores = store.query("SELECT * FROM immune_scores WHERE method = 'estimate' AND score = 'TumorPurity'")
        assert len(scores) == 24 and scores["value"].between(-1, 1).all()
        runs = store.query("SELECT command, status FROM runs ORDER BY started_at")
        assert set(runs["command"]) == {"rg de", "rg gsea", "rg ora", "rg immune"} and (runs["status"] == "ok").all()


def test_run_errors_are_clear(filled_store):
    with Store.open(filled_store) as store:
        with pytest.raises(NotInStoreError, match="grouping 'nope'"):
            run_de(store, "nope", "D1")
        with pytest.raises(NotInStoreError, match="dataset 'D9'"):
            run_de(store, "G", "D9")
        with pytest.raises(NotInStoreError, match="run rg de first"):
            run_ora(store, "G", "D1")
        with pytest.raises(InputError, match="DESeq2 needs raw counts"):
            run_de(store, "G", "D1", method="deseq2")
        with pytest.raises(InputError, match="LM22"):
            run_immune(store, "D1", methods=["deconvolution"])
        store.upsert("risk_groups", pd.DataFrame({"grouping": ["X"] * 2, "patient_id": ["A", "B"], "grp": ["high", "low"]}))
        with pytest.raises(InputError, match="same patient ids"):
            run_de(store, "X", "D1")
        assert store.query("SELECT count(*) AS n FROM de_results")["n"].iloc[0] == 0


def test_cli_commands(filled_store, tmp_path, capsys):
    base = ["--store", str(filled_store), "-q"]
    assert main([*base, "de", "--grouping", "G", "--dataset", "D1", "--lfc", "0.2"]) == 0
    assert "limma high-low on D1" in capsys.readouterr().out
    assert main([*base, "gsea", "-g", "G", "-d", "D1", "--permutations", "30"]) == 0
    assert "GSEA prerank hallmark_v7.0" in capsys.readouterr().out
    assert main([*base, "ora", "-g", "G", "-d", "D1", "--library", "hallmark"]) == 0
    assert "hallmark_v7.0 up" in capsys.readouterr().out
    rng = np.random.default_rng(0)
    with Store.open(filled_store, read_only=True) as store:
        genes = store.query("SELECT DISTINCT gene FROM expression ORDER BY 1 LIMIT 60")["gene"].tolist()
    sig = pd.DataFrame(rng.gamma(1, 100, size=(60, 3)), index=genes, columns=["A", "B", "C"])
    sig.rename_axis("Gene").to_csv(tmp_path / "sig.txt", sep="\t")
    assert main([*base, "immune", "-d", "D1", "--method", "deconvolution", "--signature", str(tmp_path / "sig.txt"),
                 "--perm", "5"]) == 0
    assert "deconvolution: 24 patients x 7 scores" in capsys.readouterr().out
    assert main([*base, "de", "-g", "G", "-d", "D1", "--groups", "high"]) != 0
    assert main([*base, "ora", "-g", "G", "-d", "D1", "--library", "/no/such/kegg.gmt"]) == 3
    assert "KEGG is not shipped" in capsys.readouterr().err


def test_counts_dataset_uses_deseq2(store_path):
    rng = np.random.default_rng(2)
    patients = [f"C{i}" for i in range(8)]
    counts = pd.DataFrame(rng.negative_binomial(10, 0.05, size=(80, 8)), index=[f"g{i}" for i in range(80)],
                          columns=patients)
    counts.iloc[:8, :4] *= 5
    with Store.open(store_path) as store:
        store.upsert("datasets", pd.DataFrame({"dataset_id": ["C"], "scale": ["counts"]}))
        long = counts.rename_axis("gene").reset_index().melt(id_vars="gene", var_name="patient_id")
        long["dataset_id"] = "C"
        store.upsert("expression", long)
        store.upsert("risk_groups", pd.DataFrame({"grouping": "G", "patient_id": patients,
                                                  "grp": ["high"] * 4 + ["low"] * 4}))
        rows = run_de(store, "G", "C", n_cpus=1).summary
        assert set(rows["method"]) == {"deseq2"}
        got = store.query("SELECT gene, \"log2FoldChange\", padj, direction, \"logFC\" FROM de_results "
                          "ORDER BY gene").set_index("gene")
        assert got["logFC"].isna().all()
        assert (got.loc[[f"g{i}" for i in range(8)], "direction"] == "up").all()


def test_stages_on_a_path_hold_no_lock_while_computing(filled_store, monkeypatch):
    """Given the store path, DE / GSEA / immune compute with the store closed: another process can
    open it read-write mid-computation (it could not while a stage held the write lock)."""
    import subprocess
    import sys

    import radiogenomics.omics.de as omics_de
    import radiogenomics.omics.run as omics_run

    probe = ("from radiogenomics.store import Store\n"
             f"with Store.open({str(filled_store)!r}, wait=0) as s:\n"
             "    s.execute('CREATE TABLE IF NOT EXISTS main.probe (x INTEGER)')\n")
    seen: list[int] = []

    def probing(fn):
        def wrapper(*args, **kwargs):
            seen.append(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                       timeout=120).returncode)
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(omics_de, "_de_arrays", probing(omics_de._de_arrays))
    monkeypatch.setattr(omics_run, "compute_immune", probing(omics_run.compute_immune))
    monkeypatch.setattr(omics_run, "gsea_prerank", probing(omics_run.gsea_prerank))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        de = run_de(filled_store, "G", "D1").summary
        gsea = run_gsea(filled_store, "G", "D1", permutations=20, seed=1).summary
        imm = run_immune(filled_store, "D1", methods=["estimate"]).summary
    assert seen == [0, 0, 0]
    with Store.open(filled_store, read_only=True) as store:
        runs = store.query("SELECT run_id, command FROM runs WHERE status = 'ok'").set_index("command")["run_id"]
        assert store.query("SELECT count(*) AS n FROM de_results")["n"].iloc[0] == len(de)
    assert runs["rg de"] == de["run_id"].iloc[0] and runs["rg gsea"] == gsea["run_id"].iloc[0]
    assert runs["rg immune"] == imm["run_id"].iloc[0]


@pytest.mark.parametrize("covariates", [None, ["age", "gender"]])
def test_store_de_equals_the_dataframe_api(filled_store, planted, covariates):
    """``run_de`` (arrays from the store to the written rows) gives exactly what ``compute_de`` /
    ``limma_de`` give on the same matrix as DataFrames, with and without clinical covariates;
    the "middle" patient of the grouping and its missing expression are left out alike."""
    from radiogenomics.omics import compute_de
    from radiogenomics.omics.de import de_direction
    from radiogenomics.store import tables

    fpkm, groups = planted
    rng = np.random.default_rng(3)
    clinical = pd.DataFrame({"patient_id": groups.index, "age": rng.normal(65, 8, len(groups)).round(1),
                             "gender": rng.choice(["Male", "Female"], len(groups))})
    with Store.open(filled_store) as store:
        store.upsert("clinical", clinical)
        result = run_de(store, "G", "D1", covariates=covariates)
        expr = tables.expression(store, "D1")
    cov = clinical.set_index("patient_id")[covariates] if covariates else None
    method, want = compute_de(expr, "fpkm", groups, ("high", "low"), covariates=cov)
    got = result.summary.set_index("gene")
    assert method == "limma" and result.facts["method"] == "limma"
    assert got.index.tolist() == want.index.tolist()
    for column in ("logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"):
        np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy(), err_msg=column)
    assert got["direction"].tolist() == de_direction(want, "limma").tolist()
    assert result.counts["up"] == int((got["direction"] == "up").sum()) > 0
