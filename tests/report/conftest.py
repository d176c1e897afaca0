"""A small store filled with synthetic rows of every table the report reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiogenomics.store import Store


def _fill(store: Store, n: int = 40, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    pids = [f"P{i:03d}" for i in range(n)]
    with store.run("synthetic", {}) as run:
        rid = run.run_id
        run.add_inputs({"clinical.csv": "ab" * 32})
        store.add_patients(pids, "SYNTH", "test", rid)
        score = rng.normal(size=n)
        hazard = np.exp(1.2 * score)
        time = rng.exponential(1500 / hazard)
        event = (time < 2000).astype(int)
        time = np.minimum(time, 2000)
        # long level names, a single-level variable (alk) and one with few values (kras): the
        # clinical panels must still lay out cleanly and say why a panel has no p-value
        kras = np.full(n, None, dtype=object)
        kras[:4] = ["Mutant", "Wildtype", "Wildtype", "Mutant"]
        store.upsert("clinical", pd.DataFrame({
            "patient_id": pids, "age": rng.normal(68, 8, n), "pack_years": rng.gamma(3, 10, n),
            "gender": rng.choice(["Male", "Female"], n),
            "histology": rng.choice(["Adenocarcinoma", "Squamous cell carcinoma",
                                     "NSCLC NOS (not otherwise specified)"], n),
            "t_stage_group": rng.choice(["T1", "T2", "T3", "T4", "Tis"], n), "n_stage": rng.choice(["N0", "N1"], n),
            "smoking_status": rng.choice(["Current", "Former", "Nonsmoker"], n),
            "grade": rng.choice(["G1", "G1-G2", "G2", "G2-G3", "G3"], n), "alk": "Wildtype", "kras": kras,
            "days_ct_to_surgery": rng.integers(1, 60, n).astype(float),
            "dfs_days": time, "dfs_event": event, "os_days": time * 1.2, "os_event": event}), run_id=rid)
        store.upsert("rois", pd.DataFrame({
            "patient_id": pids, "roi": "tumor", "reader": "default",
            "status": ["failed" if i == 0 else "ok" for i in range(n)],
            "reason": ["mask is empty" if i == 0 else None for i in range(n)]}), run_id=rid)
        feats = [f"original_glcm_F{k}" for k in range(3)]
        store.upsert("features", pd.DataFrame([{"patient_id": p, "roi": "tumor", "feature": f, "params_hash": "h1",
                                                "value": float(rng.normal())} for p in pids[1:] for f in feats]),
                     run_id=rid)
        store.upsert("feature_params", pd.DataFrame([{"params_hash": "h1", "params_yaml": "setting:\n  binWidth: 25\n"}]),
                     run_id=rid)
        formula = {"features": feats, "coefficients": [0.8, -0.3, 0.1], "means": [0, 0, 0], "sds": [1, 1, 1],
                   "cutoff": 0.0, "endpoint": "dfs", "roi": "tumor", "params_hash": "h1", "cutoff_method": "maxstat"}
        store.upsert("models", pd.DataFrame([{"model_id": "m1", "kind": "radscore", "endpoint": "dfs",
                                              "formula": formula, "cutoff": 0.0}]), run_id=rid)
        cohort = np.where(np.arange(n) < 28, "train", "validation")
        store.upsert("radscores", pd.DataFrame({"model_id": "m1", "patient_id": pids[1:], "score": score[1:],
                                                "cohort": cohort[1:]}), run_id=rid)
        order = np.argsort(-score[1:])
        grp = np.empty(n - 1, dtype=object)
        grp[order[:13]] = "high"
        grp[order[13:26]] = "middle"
        grp[order[26:]] = "low"
        store.upsert("risk_groups", pd.DataFrame({"grouping": "g", "patient_id": pids[1:], "grp": grp, "model_id": "m1",
                                                  "score": score[1:], "method": "ranks"}), run_id=rid)
        mr = []
        for analysis, term in (("hr:dfs", "high"), ("cox_uni:dfs", "radscore"), ("cox_uni:dfs", "age"),
                               ("cox_multi:dfs", "radscore"), ("cox_multi:dfs", "age")):
            mr += [(analysis, term, "HR", 2.0), (analysis, term, "HR_lower", 1.2), (analysis, term, "HR_upper", 3.3),
                   (analysis, term, "p", 0.01)]
        mr += [("logrank:dfs", "", "p", 0.003), ("cindex:dfs", "radscore", "C", 0.71),
               ("compare:dfs", "clinical", "cindex", 0.6), ("compare:dfs", "combined", "cindex", 0.74)]
        for t in (365.25, 1095.75):
            mr += [("td_auc:dfs", f"radscore@{t:g}", "auc", 0.7 + t / 1e5)]
            for g, pred in (("1", 0.9), ("2", 0.7), ("3", 0.5)):
                mr += [(f"calibration:{t:g}:dfs", g, "predicted", pred), (f"calibration:{t:g}:dfs", g, "observed", pred - 0.05),
                       (f"calibration:{t:g}:dfs", g, "lower", pred - 0.2), (f"calibration:{t:g}:dfs", g, "upper", pred + 0.1)]
            for th in (0.1, 0.2, 0.3):
                mr += [(f"dca:{t:g}:dfs", f"{th:g}", "net_benefit", 0.3 - th / 2), (f"dca:{t:g}:dfs", f"{th:g}", "treat_all", 0.25 - th)]
        mr += [("nomogram_points:dfs", "radscore=-2", "points", 0.0), ("nomogram_points:dfs", "radscore=2", "points", 100.0),
               ("nomogram_points:dfs", "age=50", "points", 0.0), ("nomogram_points:dfs", "age=90", "points", 30.0)]
        for tp in (0, 40, 80, 130):
            for t in (365.25, 1095.75):
                mr += [("nomogram_survival:dfs", f"{tp:.1f}", f"S({t:g})", float(np.exp(-tp / 100 - t / 3000)))]
        store.upsert("model_results", pd.DataFrame(mr, columns=["analysis", "term", "statistic", "value"]).assign(
            subject="g", cohort=""), run_id=rid)
        # a tight cluster of very significant genes (as in the demo): their labels must not collide
        cluster = ["FBP1", "LGALS1", "STC2", "NR3C1", "SLC2A5", "VEGFA", "KCNJ8", "HIF1A", "CA9", "NDRG1"]
        genes = [f"G{k}" for k in range(200)] + ["CD8A", "GZMB"] + cluster
        store.upsert("datasets", pd.DataFrame([{"dataset_id": "D1", "scale": "fpkm", "is_counts": False}]), run_id=rid)
        expr = pd.DataFrame([{"dataset_id": "D1", "patient_id": p, "gene": g, "value": float(rng.gamma(2, 5))}
                             for p in pids[1:] for g in genes])
        store.upsert("expression", expr, run_id=rid)
        lfc = rng.normal(0, 0.5, len(genes))
        pval = rng.uniform(size=len(genes)) ** 3
        lfc[-len(cluster):] = 1.25 + rng.normal(0, 0.04, len(cluster))
        pval[-len(cluster):] = 10.0 ** -(10.5 + rng.normal(0, 0.2, len(cluster)))
        direction = np.where(pval < 0.05, np.where(lfc > 0, "up", "down"), "ns")
        store.upsert("de_results", pd.DataFrame({"grouping": "g", "dataset_id": "D1", "method": "limma",
                                                 "contrast": "high-low", "gene": genes, "logFC": lfc, "t": lfc * 5,
                                                 "P.Value": pval, "adj.P.Val": np.minimum(pval * 10, 1),
                                                 "direction": direction}), run_id=rid)
        store.upsert("gsea_results", pd.DataFrame({
            "grouping": "g", "dataset_id": "D1", "method": "prerank", "library": "hallmark_v7.0",
            "term": ["HALLMARK_HYPOXIA", "HALLMARK_P53_PATHWAY", "HALLMARK_APOPTOSIS"], "NES": [2.1, -1.7, 0.4],
            "fdr": [0.01, 0.1, 0.8], "pvalue": [0.001, 0.01, 0.5]}), run_id=rid)
        store.upsert("ora_results", pd.DataFrame({
            "grouping": "g", "dataset_id": "D1", "direction": ["up", "up", "down"], "library": "go_bp",
            "term": ["GO_A", "GO_B", "GO_C"], "overlap": [5, 3, 4], "padj": [0.001, 0.04, 0.02]}), run_id=rid)
        store.upsert("immune_scores", pd.DataFrame([{"dataset_id": "D1", "patient_id": p, "method": m, "score": s,
                                                     "value": float(rng.normal())}
                                                    for p in pids[1:] for m, s in (("estimate", "ImmuneScore"),
                                                                                    ("estimate", "StromalScore"),
                                                                                    ("ips", "IPS"),
                                                                                    ("deconvolution", "Immune_cells"),
                                                                                    ("deconvolution", "Tumour_cells"),
                                                                                    ("deconvolution", "P-value"),
                                                                                    ("deconvolution", "Correlation"),
                                                                                    ("deconvolution", "RMSE"),
                                                                                    ("deconvolution", "nu"))]),
                     run_id=rid)
        store.upsert("associations", pd.DataFrame({
            "grouping": "g", "family": ["clinical", "clinical", "clinical", "immune"],
            "variable": ["age", "gender", "alk", "ImmuneScore"],
            "test": ["mann-whitney", "chi2", "chi2", "mann-whitney"], "p": [0.3, 0.5, np.nan, 0.01],
            "fdr": [0.5, 0.5, np.nan, 0.02],
            "note": [None, None, "fewer than two groups or levels with observations", None],
            "n_per_group": [json.dumps({"high": 13, "low": 13})] * 4}), run_id=rid)
        run.record_failure("features", "P000", "mask is empty")


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory):
    """Read-only use only: shared by the report tests."""
    path = tmp_path_factory.mktemp("filled") / "rg.duckdb"
    with Store.open(path) as store:
        _fill(store)
    return path


@pytest.fixture(scope="session")
def built_report(filled_store, tmp_path_factory):
    """The report of grouping ``g`` of :func:`filled_store`, built once for the session."""
    from radiogenomics.report import build_report

    with Store.open(filled_store, read_only=True) as store:
        return build_report(store, "g", tmp_path_factory.mktemp("built") / "out")
