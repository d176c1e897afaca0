"""DESeq2 differential expression of raw counts through pydeseq2 (Muzellec et al. 2023).

By default pydeseq2's per-gene loops (dispersions, IRLS, Wald test) run as array code for
all genes at once (:mod:`.deseq_batched`); ``batched=False`` uses pydeseq2's own loops.
"""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ..exceptions import InputError, StatisticalWarning

log = logging.getLogger(__name__)

DESEQ2_COLUMNS = ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]


def deseq2_de(counts: pd.DataFrame, groups: pd.Series | dict, contrast: Sequence[str] = ("high", "low"),
              covariates: pd.DataFrame | None = None, n_cpus: int = 2, batched: bool = True) -> pd.DataFrame:
    """DESeq2 Wald test of ``contrast[0]`` vs ``contrast[1]`` on raw counts.

    Parameters
    ----------
    counts : DataFrame
        Genes x samples of non-negative integer counts (NaN not allowed: drop such genes first).
    groups : Series or dict
        Sample -> group; samples outside the contrast are ignored.
    contrast : (str, str)
        log2FoldChange is ``contrast[0]`` over ``contrast[1]``.
    covariates : DataFrame, optional
        Samples x covariates added to the design (``~ covariates + group``).
    n_cpus : int
        Worker processes of pydeseq2 (2 suits the project's machines).
    batched : bool
        Fit the per-gene estimators for all genes at once (same estimators, tested against
        pydeseq2's own loops); False runs pydeseq2's per-gene loops.

    Returns
    -------
    DataFrame
        Gene-indexed DESeq2 result columns ``baseMean, log2FoldChange, lfcSE, stat, pvalue, padj``.
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    groups = pd.Series(groups).astype(str)
    samples = [s for s in groups.index if s in counts.columns and groups[s] in contrast]
    g = groups.loc[samples]
    for lab in contrast:
        n = int((g == lab).sum())
        if n == 0:
            raise InputError(f"group {lab!r} has no sample with counts; check the patient ids of groups and counts")
        if n == 1:
            warnings.warn(f"group {lab!r} has a single sample: DESeq2 dispersions rest on the other group",
                          StatisticalWarning, stacklevel=2)
    x = counts.loc[:, samples]
    if x.isna().any().any():
        raise InputError("DESeq2 needs complete counts: drop genes with missing values first")
    arr = x.to_numpy(dtype=float)
    if (arr < 0).any() or not np.allclose(arr, np.round(arr)):
        raise InputError("DESeq2 needs raw non-negative integer counts; this dataset is not counts "
                         "(use limma on log-scale data)")
    x = x.loc[arr.sum(axis=1) > 0]
    meta = pd.DataFrame({"group": pd.Categorical(g.to_numpy(), categories=[contrast[1], contrast[0]])}, index=samples)
    terms = []
    if covariates is not None and covariates.shape[1]:
        cov = covariates.loc[samples]
        for c in cov.columns:
            name = f"cov_{c}"
            meta[name] = cov[c].to_numpy()
            terms.append(name)
    design = "~" + " + ".join(terms + ["group"])
    if batched:
        from .deseq_batched import BatchedInference

        inference = BatchedInference(n_cpus=n_cpus)
    else:
        inference = DefaultInference(n_cpus=n_cpus)
    dds = DeseqDataSet(counts=x.T.astype(int), metadata=meta, design=design, refit_cooks=True,
                       inference=inference, quiet=True)
    dds.deseq2()
    stats = DeseqStats(dds, contrast=["group", contrast[0], contrast[1]], inference=inference, quiet=True)
    stats.summary()
    res = stats.results_df[DESEQ2_COLUMNS].reindex(counts.index)
    res.index.name = counts.index.name or "gene"
    return res
