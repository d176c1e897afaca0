"""Single-sample GSEA exactly as R GSVA's ``gsva(method="ssgsea")`` (Barbie et al. 2009).

Conventions of GSVA 1.46 that change the numbers and are reproduced here:
genes are ranked within each sample with average ranks for ties, then the ranks are
truncated to integers (GSVA stores them as integer); genes are ordered by decreasing rank
with ties kept in input order; the weight of a gene is ``rank^alpha``; the score is the sum
of the running difference between the weighted in-set and the unweighted out-of-set
cumulative distributions (closed form of the random walk).  ``normalize=True`` divides every
score by the range (max - min) of the whole score matrix, as GSVA's ``ssgsea.norm``.

``convention="estimate"`` is the ssGSEA of the ESTIMATE package's ``estimateScore``
(Yoshihara et al. 2013), a different method on tied values: ranks keep their exact average
(no truncation) and genes are first sorted by id, as the package's ``filterCommonGenes``
merge sorts them by symbol, so tied genes enter the walk in symbol order.  The sort is by
code point; for ESTIMATE's 10,412 common genes (upper-case letters, digits, ``-``) that is
the order R's ``merge`` gives in every locale (checked in C, C.UTF-8 with ICU, and with
``-`` ignored as glibc's en_US does).  Without ties both conventions give the same scores.
"""

from __future__ import annotations

import logging
import warnings
from typing import Iterable, Literal, Mapping

import numpy as np
import pandas as pd

from ..exceptions import DataQualityWarning, InputError
from .genesets import restrict_sets

log = logging.getLogger(__name__)


def ssgsea_matrix(x: np.ndarray, members: list[np.ndarray], alpha: float = 0.25, *,
                  integer_ranks: bool = True) -> np.ndarray:
    """ssGSEA scores on a genes x samples array; ``members`` holds row indices per set.

    Parameters
    ----------
    x : ndarray
        Genes x samples, finite.  Tied genes enter the walk in row order.
    members : list of ndarray
        Row indices of each set's genes.
    alpha : float
        Weight exponent.
    integer_ranks : bool
        Truncate average ranks to integers (GSVA) or keep them exact (ESTIMATE).

    Returns
    -------
    ndarray
        Sets x samples (unnormalised).
    """
    from scipy import stats  # lazily: importing scipy.stats is slow

    n, m = x.shape
    ranks = stats.rankdata(x, axis=0, method="average")
    if integer_ranks:
        ranks = np.trunc(ranks)
    # position of each gene in the decreasing ranking (1-based), ties in input order
    order = np.argsort(-ranks, axis=0, kind="stable")
    pos = np.empty_like(order)
    cols = np.arange(m)[None, :]
    pos[order, cols] = np.arange(1, n + 1)[:, None]
    ra = np.abs(ranks) ** alpha
    rev = (n - pos + 1).astype(float)
    out = np.empty((len(members), m))
    for i, idx in enumerate(members):
        k = idx.size
        w = ra[idx]
        inset = (w * rev[idx]).sum(axis=0) / w.sum(axis=0)
        outset = (n * (n + 1) / 2 - rev[idx].sum(axis=0)) / (n - k)
        out[i] = inset - outset
    return out


def ssgsea(expr: pd.DataFrame, gene_sets: Mapping[str, Iterable[str]], alpha: float = 0.25,
           normalize: bool = False, min_size: int = 1, max_size: int | None = None, *,
           convention: Literal["gsva", "estimate"] = "gsva") -> pd.DataFrame:
    """Per-sample enrichment scores, matching R ``GSVA::gsva(method="ssgsea", tau=alpha, ssgsea.norm=normalize)``.

    Parameters
    ----------
    expr : DataFrame
        Genes x samples.  Genes with any missing value are dropped (with a warning), as
        ranks are undefined for them.
    gene_sets : mapping
        Set name -> genes; genes absent from ``expr`` are ignored, sets left empty are
        skipped with a warning.
    alpha : float
        Weight exponent (GSVA's ``tau``; 0.25 for ssGSEA).
    normalize : bool
        Divide by the range of all scores (GSVA's ``ssgsea.norm``).
    min_size, max_size : int
        Size window of the sets after restriction to ``expr`` (GSVA's min.sz / max.sz).
    convention : {"gsva", "estimate"}
        Handling of tied values: ``"gsva"`` (ranks truncated to integers, ties in input
        order) matches GSVA; ``"estimate"`` (exact average ranks, genes sorted by id first)
        matches the ESTIMATE package's ``estimateScore``.

    Returns
    -------
    DataFrame
        Sets x samples.
    """
    if convention not in ("gsva", "estimate"):
        raise InputError(f"ssGSEA convention must be 'gsva' or 'estimate', got {convention!r}")
    if expr.shape[1] == 0 or expr.shape[0] < 2:
        raise InputError(f"ssGSEA needs at least two genes and one sample; got {expr.shape[0]} x {expr.shape[1]}")
    if expr.index.has_duplicates:
        raise InputError("expression has duplicated gene ids; collapse them first (omics.expression.collapse_duplicates)")
    values = expr.to_numpy(dtype=float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        warnings.warn(f"ssGSEA: {int(bad.sum())} gene(s) with missing values dropped", DataQualityWarning, stacklevel=2)
        expr = expr.loc[~bad]
        values = values[~bad]
    if convention == "estimate":
        # filterCommonGenes merges with the common-genes table, which sorts rows by symbol
        order = np.argsort(expr.index.to_numpy(dtype=str), kind="stable")
        expr = expr.iloc[order]
        values = values[order]
    sets = restrict_sets(gene_sets, expr.index, min_size=max(1, min_size), max_size=max_size)
    index = {g: i for i, g in enumerate(expr.index)}
    members = [np.fromiter((index[g] for g in genes), dtype=int) for genes in sets.values()]
    es = ssgsea_matrix(values, members, alpha=alpha, integer_ranks=convention == "gsva")
    if normalize:
        es = es / (es.max() - es.min())
    return pd.DataFrame(es, index=list(sets), columns=expr.columns)
