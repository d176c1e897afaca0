"""Gene-set enrichment: GSEA through gseapy (prerank and phenotype permutation) and
over-representation analysis (hypergeometric test, Benjamini-Hochberg).

Result columns (both GSEA flavours): ``term, ES, NES, pvalue, fdr, fwer, set_size,
lead_genes, significant`` where ``significant`` is ``fdr < fdr_threshold`` (0.25, the
GSEA convention used by the reference study).  Positive NES = enriched in ``contrast[0]``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..exceptions import InputError, StatisticalWarning
from .genesets import restrict_sets
from ..multitest import bh_adjust

log = logging.getLogger(__name__)

GSEA_COLUMNS = ["term", "ES", "NES", "pvalue", "fdr", "fwer", "set_size", "lead_genes", "significant"]
ORA_COLUMNS = ["term", "overlap", "set_size", "n_query", "n_universe", "pvalue", "padj", "genes"]


def _tidy_gseapy(res2d: pd.DataFrame, sizes: Mapping[str, int], fdr_threshold: float) -> pd.DataFrame:
    df = pd.DataFrame({
        "term": res2d["Term"].astype(str),
        "ES": pd.to_numeric(res2d["ES"], errors="coerce"),
        "NES": pd.to_numeric(res2d["NES"], errors="coerce"),
        "pvalue": pd.to_numeric(res2d["NOM p-val"], errors="coerce"),
        "fdr": pd.to_numeric(res2d["FDR q-val"], errors="coerce"),
        "fwer": pd.to_numeric(res2d["FWER p-val"], errors="coerce"),
        "lead_genes": res2d["Lead_genes"].astype(str).str.replace(";", ",", regex=False),
    })
    df["set_size"] = df["term"].map(sizes).astype("Int64")
    df["significant"] = df["fdr"] < fdr_threshold
    df["_abs"] = -df["NES"].abs()
    return df.sort_values(["fdr", "_abs", "term"]).reset_index(drop=True)[GSEA_COLUMNS]


def gsea_prerank(ranking: pd.Series, gene_sets: Mapping[str, Iterable[str]], permutations: int = 1000,
                 seed: int = 0, min_size: int = 15, max_size: int = 500, weight: float = 1.0,
                 fdr_threshold: float = 0.25, threads: int = 1) -> pd.DataFrame:
    """Preranked GSEA (gene-set permutation) of a gene -> statistic ranking (e.g. limma's t).

    Returns a DataFrame with the columns of the module doc, one row per tested set.
    """
    import gseapy

    rnk = pd.Series(ranking, dtype=float).dropna()
    rnk = rnk[~rnk.index.duplicated()]
    if rnk.empty:
        raise InputError("GSEA prerank: the ranking has no finite value")
    sets = restrict_sets(gene_sets, rnk.index, min_size=min_size, max_size=max_size, what="ranked genes")
    res = gseapy.prerank(rnk=rnk.sort_values(ascending=False), gene_sets=sets, permutation_num=permutations,
                         seed=seed, min_size=min_size, max_size=max_size, weight=weight, threads=threads,
                         outdir=None, no_plot=True, verbose=False)
    return _tidy_gseapy(res.res2d, {k: len(v) for k, v in sets.items()}, fdr_threshold)


def gsea_phenotype(expr: pd.DataFrame, groups: pd.Series | dict, gene_sets: Mapping[str, Iterable[str]],
                   contrast: Sequence[str] = ("high", "low"), permutations: int = 1000, seed: int = 0,
                   min_size: int = 15, max_size: int = 500, method: str = "signal_to_noise",
                   fdr_threshold: float = 0.25, threads: int = 1) -> pd.DataFrame:
    """Classic GSEA with phenotype (sample-label) permutation on a genes x samples matrix."""
    import gseapy

    groups = pd.Series(groups).astype(str)
    first = [s for s in groups.index if s in expr.columns and groups[s] == contrast[0]]
    second = [s for s in groups.index if s in expr.columns and groups[s] == contrast[1]]
    if len(first) < 2 or len(second) < 2:
        raise InputError(f"phenotype GSEA needs >= 2 samples per group; got {len(first)} {contrast[0]!r} and "
                         f"{len(second)} {contrast[1]!r} with expression")
    if min(len(first), len(second)) < 7:
        warnings.warn("phenotype permutation with fewer than 7 samples per group has few distinct permutations; "
                      "prefer prerank", StatisticalWarning, stacklevel=2)
    data = expr.loc[:, first + second].dropna(axis=0, how="any")
    data = data[data.std(axis=1) > 0]
    sets = restrict_sets(gene_sets, data.index, min_size=min_size, max_size=max_size)
    cls = [contrast[0]] * len(first) + [contrast[1]] * len(second)
    res = gseapy.gsea(data=data, gene_sets=sets, cls=cls, permutation_type="phenotype",
                      permutation_num=permutations, method=method, seed=seed, min_size=min_size,
                      max_size=max_size, threads=threads, outdir=None, no_plot=True, verbose=False)
    return _tidy_gseapy(res.res2d, {k: len(v) for k, v in sets.items()}, fdr_threshold)


def ora(query: Iterable[str], universe: Iterable[str], gene_sets: Mapping[str, Iterable[str]],
        min_size: int = 10, max_size: int = 500) -> pd.DataFrame:
    """Over-representation of ``query`` genes in each set: one-sided hypergeometric test, BH over tested sets.

    The universe is restricted to genes annotated in at least one set of the library (the
    usual convention, e.g. clusterProfiler); set sizes are counted within that universe and
    sets outside [min_size, max_size] are not tested.  Rows are returned for every tested
    set (overlap may be 0), sorted by p-value.
    """
    from scipy import stats  # imported here: importing scipy.stats is slow and rg de does not need it

    annotated = set().union(*[set(v) for v in gene_sets.values()]) if gene_sets else set()
    uni = set(universe) & annotated
    q = set(query) & uni
    cols = ORA_COLUMNS
    if not uni:
        raise InputError("ORA: no gene of the universe is annotated in the gene-set library; do the identifiers "
                         "match (HGNC symbols)?")
    rows = []
    N, n = len(uni), len(q)
    for term, genes in gene_sets.items():
        members = set(genes) & uni
        K = len(members)
        if K < min_size or K > max_size:
            continue
        hits = sorted(members & q)
        p = float(stats.hypergeom.sf(len(hits) - 1, N, K, n)) if n else 1.0
        rows.append([term, len(hits), K, n, N, p, np.nan, ",".join(hits)])
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        warnings.warn(f"ORA: no gene set of size {min_size}..{max_size} within the universe", StatisticalWarning,
                      stacklevel=2)
        return out
    out["padj"] = bh_adjust(out["pvalue"].to_numpy())
    return out.sort_values(["pvalue", "term"]).reset_index(drop=True)
