"""Store-level omics analyses: read risk groups + expression, compute, write results with a run_id.

Each ``run_*`` function takes an open store or a store path.  It reads what it needs
(a path is opened read-only for that), computes without holding the write lock, then
replaces its previous results for the same key (grouping, dataset, ...) inside one
transaction of a recorded run (a path is opened read-write only for that), and returns
a :class:`~radiogenomics.result.StageResult` whose ``summary`` is the rows it wrote.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any, Sequence

import pandas as pd

from ..exceptions import InputError, NotInStoreError
from ..result import StageResult, stage_entry
from ..store import tables
from ..store.session import StoreLike, StoreSession, reading
from .de import DE_METHODS, _contrast_label, _group_overlap, compute_de, de_direction, run_de
from .deconvolution import deconvolve, read_signature
from .enrichment import gsea_phenotype, gsea_prerank, ora
from .expression import ExpressionOptions, load_expression, load_groups, prepare_expression
from .genesets import load_library
from .immune import estimate, ips

log = logging.getLogger(__name__)

#: the DE stage lives in .de (it runs without pandas); its names stay importable from here
__all__ = ["DE_METHODS", "compute_de", "compute_immune", "de_direction", "run_de", "run_gsea", "run_immune",
           "run_ora"]


def _stored_ranking(store, grouping: str, dataset_id: str, label: str) -> pd.Series | None:
    df = tables.de_results(store, grouping, dataset_id, ["method", "gene", "t", "stat"], contrast=label)
    if df.empty:
        return None
    method = "limma" if (df["method"] == "limma").any() else df["method"].iloc[0]
    sub = df[df["method"] == method]
    col = "t" if method == "limma" else "stat"
    return sub.set_index("gene")[col].astype(float)


@stage_entry
def run_gsea(store: StoreLike, grouping: str, dataset_id: str, *, groups: Sequence[str] = ("high", "low"),
             method: str = "prerank", library: str = "hallmark", permutations: int = 1000, seed: int = 0,
             fdr_threshold: float = 0.25, min_size: int = 15, max_size: int = 500,
             options: ExpressionOptions | None = None, threads: int = 1) -> StageResult:
    """GSEA of a grouping's contrast; writes ``gsea_results``.

    ``method="prerank"`` ranks genes by the stored DE statistic (limma t, or DESeq2 stat)
    of ``rg de`` for the same grouping/dataset/contrast, computing limma/DESeq2 on the fly
    when none is stored; ``method="phenotype"`` permutes sample labels on the log-scale
    expression (signal-to-noise).  ``library`` is a shipped name or a GMT path.
    """
    contrast = tuple(groups)
    label = _contrast_label(contrast)
    if method not in ("prerank", "phenotype"):
        raise InputError(f"unknown GSEA method {method!r}; use prerank or phenotype")
    lib_label, sets = load_library(library)
    with reading(store) as st:
        grp = load_groups(st, grouping)
        ranking = _stored_ranking(st, grouping, dataset_id, label) if method == "prerank" else None
        if ranking is None:
            expr, scale = load_expression(st, dataset_id)
    if method == "prerank":
        if ranking is None:
            g = _group_overlap(grp, expr, contrast, grouping, dataset_id)
            de_method, table = compute_de(expr, scale, g, contrast, "auto", None, options)
            ranking = table["t"] if de_method == "limma" else table["stat"]
        res = gsea_prerank(ranking, sets, permutations=permutations, seed=seed, min_size=min_size,
                           max_size=max_size, fdr_threshold=fdr_threshold, threads=threads)
    else:
        g = _group_overlap(grp, expr, contrast, grouping, dataset_id)
        logx = prepare_expression(expr, scale, options, log_transform=True)
        res = gsea_phenotype(logx, g, sets, contrast, permutations=permutations, seed=seed, min_size=min_size,
                             max_size=max_size, fdr_threshold=fdr_threshold, threads=threads)
    rows = res.copy()
    rows.insert(0, "grouping", grouping)
    rows.insert(1, "dataset_id", dataset_id)
    rows.insert(2, "method", method)
    rows.insert(3, "library", lib_label)
    params = {"grouping": grouping, "dataset_id": dataset_id, "groups": list(contrast), "method": method,
              "library": lib_label, "permutations": permutations, "seed": seed, "fdr_threshold": fdr_threshold,
              "min_size": min_size, "max_size": max_size}
    with StoreSession(store).open() as st, st.run("rg gsea", params) as run:
        st.replace("gsea_results", rows, "grouping = ? AND dataset_id = ? AND method = ? AND library = ?",
                      [grouping, dataset_id, method, lib_label], run_id=run.run_id)
        rows["run_id"] = run.run_id
    return StageResult("gsea", run_ids=[run.run_id],
                       counts={"sets": len(rows), "significant": int(rows["significant"].fillna(False).sum())},
                       summary=rows)


@stage_entry
def run_ora(store: StoreLike, grouping: str, dataset_id: str, *, groups: Sequence[str] = ("high", "low"),
            libraries: Sequence[str] = ("go_bp", "go_mf", "go_cc"), de_method: str | None = None,
            min_size: int = 10, max_size: int = 500) -> StageResult:
    """Over-representation of the up and the down DE genes (from ``de_results``) per library; writes ``ora_results``.

    ``libraries`` are shipped names or GMT paths (e.g. a KEGG GMT you are licensed to use).
    The universe is every gene tested in the DE analysis.
    """
    label = _contrast_label(tuple(groups))
    with reading(store) as st:
        de = tables.de_results(st, grouping, dataset_id, ["method", "gene", "direction"], contrast=label)
    if de.empty:
        raise NotInStoreError(f"no DE results for grouping {grouping!r}, dataset {dataset_id!r}, contrast {label}; "
                              f"run rg de first (`rg de --grouping {grouping} --dataset {dataset_id}`)")
    method = de_method or ("limma" if (de["method"] == "limma").any() else de["method"].iloc[0])
    de = de[de["method"] == method]
    if de.empty:
        raise NotInStoreError(f"no {method} DE results for grouping {grouping!r}, dataset {dataset_id!r}; "
                              f"run `rg de --grouping {grouping} --dataset {dataset_id} --method {method}`")
    universe = de["gene"].tolist()
    frames = []
    for lib in libraries:
        lib_label, sets = load_library(lib)
        for direction in ("up", "down"):
            res = ora(de.loc[de["direction"] == direction, "gene"], universe, sets, min_size=min_size,
                      max_size=max_size)
            res.insert(0, "direction", direction)
            res.insert(1, "library", lib_label)
            frames.append(res)
    rows = pd.concat(frames, ignore_index=True)
    rows.insert(0, "grouping", grouping)
    rows.insert(1, "dataset_id", dataset_id)
    labels = sorted(set(rows["library"]))
    params = {"grouping": grouping, "dataset_id": dataset_id, "groups": list(groups), "de_method": method,
              "libraries": [str(x) for x in libraries], "min_size": min_size, "max_size": max_size}
    with StoreSession(store).open() as st, st.run("rg ora", params) as run:
        st.replace("ora_results", rows, "grouping = ? AND dataset_id = ? AND library IN (SELECT unnest(?))",
                      [grouping, dataset_id, labels], run_id=run.run_id)
        rows["run_id"] = run.run_id
    return StageResult("ora", run_ids=[run.run_id], counts={"terms": len(rows)}, summary=rows)


def compute_immune(expr: pd.DataFrame, scale: str, signature: pd.DataFrame | None = None,
                   methods: Sequence[str] | None = None, perm: int = 100, seed: int = 0,
                   options: ExpressionOptions | None = None, workers: int = 1) -> pd.DataFrame:
    """Immune scores of a raw dataset matrix in long form: sample, method, score, value.

    ``workers`` processes share the deconvolution's nu-SVR fits (same result for any number).

    ESTIMATE gets the matrix without the low-expression filter of ``options`` (duplicates
    collapsed, genes missing in too many samples dropped), so that it equals the authors'
    package run on the dataset; its TumorPurity is NaN (stored NULL) where ESTIMATEScore is
    outside the purity formula's range.  IPS and deconvolution use the filtered matrix.
    """
    methods = list(methods) if methods else ["estimate", "ips"] + (["deconvolution"] if signature is not None else [])
    unknown = set(methods) - {"estimate", "ips", "deconvolution"}
    if unknown:
        raise InputError(f"unknown immune method(s) {', '.join(sorted(unknown))}; use estimate, ips, deconvolution")
    if "deconvolution" in methods and signature is None:
        raise InputError("deconvolution needs a signature matrix (genes x cell types, tab separated, LM22 layout); "
                         "none is shipped because CIBERSORT's LM22 is not redistributable: pass --signature FILE")
    logx = prepare_expression(expr, scale, options, log_transform=True)
    frames = []
    if "estimate" in methods:
        # ESTIMATE ranks all its common genes, lowly expressed ones (FPKM zeros) included, as the
        # authors' package does; the low-expression filter would change every score
        unfiltered = replace(options or ExpressionOptions(), min_fraction=0.0)
        frames.append(("estimate", estimate(prepare_expression(expr, scale, unfiltered, log_transform=True))))
    if "ips" in methods:
        frames.append(("ips", ips(logx)))
    if "deconvolution" in methods:
        if scale in ("fpkm", "counts"):
            mix = prepare_expression(expr, scale, options, log_transform=False)
            if scale == "counts":
                mix = mix / mix.sum(axis=0) * 1e6
        else:
            mix = logx  # log scale: deconvolve() anti-logs (max < 50)
        frames.append(("deconvolution", deconvolve(mix, signature, perm=perm, seed=seed, workers=workers)))
    out = []
    for name, wide in frames:
        long = wide.rename_axis("patient_id").reset_index().melt(id_vars="patient_id", var_name="score",
                                                                   value_name="value")
        long.insert(1, "method", name)
        out.append(long)
    return pd.concat(out, ignore_index=True)


@stage_entry
def run_immune(store: StoreLike, dataset_id: str, *, signature: str | os.PathLike[str] | pd.DataFrame | None = None,
               methods: Sequence[str] | None = None, perm: int = 100, seed: int = 0,
               options: ExpressionOptions | None = None, workers: int = 1) -> StageResult:
    """ESTIMATE, IPS and (with a signature matrix) deconvolution for every patient of a dataset; writes ``immune_scores``.

    ``signature`` is a path to an LM22-layout file or a DataFrame (genes x cell types).
    Group comparisons of these scores are done by the association step (``rg associate``).
    """
    sig = read_signature(signature) if isinstance(signature, (str, os.PathLike)) else signature
    with reading(store) as st:
        expr, scale = load_expression(st, dataset_id)
    long = compute_immune(expr, scale, sig, methods, perm, seed, options, workers=workers)
    long.insert(0, "dataset_id", dataset_id)
    params: dict[str, Any] = {"dataset_id": dataset_id, "methods": sorted(set(long["method"])), "perm": perm,
                              "seed": seed, "signature": str(signature) if isinstance(signature, (str, os.PathLike)) else
                              (None if sig is None else f"matrix {sig.shape[0]}x{sig.shape[1]}"),
                              "expression": (options or ExpressionOptions()).as_dict()}
    with StoreSession(store).open() as st, st.run("rg immune", params) as run:
        st.replace("immune_scores", long, "dataset_id = ? AND method IN (SELECT unnest(?))",
                      [dataset_id, sorted(set(long["method"]))], run_id=run.run_id)
        long["run_id"] = run.run_id
    return StageResult("immune", run_ids=[run.run_id],
                       counts={"patients": int(long["patient_id"].nunique()), "scores": int(long["score"].nunique())},
                       summary=long)
