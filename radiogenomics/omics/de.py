"""The differential-expression stage (``rg de``): risk groups + expression -> ``de_results``.

The stage runs on arrays: the store's expression read (:func:`radiogenomics.store.tables.expression_arrays`),
the filter (:func:`~radiogenomics.omics.expression.prepare_arrays`), limma
(:func:`~radiogenomics.omics.limma.limma_arrays`) and a write of numpy columns.  pandas is
imported only for DESeq2, covariates, or when the returned summary table is read: the
command line prints counts, so ``rg de`` starts without it (half of its time otherwise).
:func:`compute_de` and :func:`de_direction` are the same computations on DataFrames.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..exceptions import InputError
from ..result import Deferred, StageResult, stage_entry
from ..store import tables
from ..store.session import StoreLike, StoreSession, reading
from .expression import ExpressionOptions, load_expression_arrays, prepare_arrays, prepare_expression

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DE_METHODS = ("auto", "limma", "deseq2")

#: the columns of each method's table that :func:`de_direction` reads: (log2 fold change, P, adjusted P)
_DIRECTION_COLUMNS = {"limma": ("logFC", "P.Value", "adj.P.Val"), "deseq2": ("log2FoldChange", "pvalue", "padj")}


def _contrast_label(groups: Sequence[str]) -> str:
    if len(groups) != 2 or groups[0] == groups[1]:
        raise InputError(f"groups must name two different groups, e.g. high,low; got {tuple(groups)!r}")
    return f"{groups[0]}-{groups[1]}"


def _covariates(store, names: Sequence[str] | None, patients: Sequence[str]) -> pd.DataFrame | None:
    """Clinical covariates (columns of core.clinical) for the given patients."""
    if not names:
        return None
    df = tables.clinical(store, [n for n in names if n not in ("patient_id", "extra", "run_id")],
                         patients=list(patients)).set_index("patient_id")
    bad = [n for n in names if n in ("patient_id", "extra", "run_id")]
    if bad:
        raise InputError(f"unknown clinical covariate(s) {', '.join(bad)}; choose from the columns of the clinical view")
    df = df.reindex(list(patients))
    missing = df.index[df.isna().any(axis=1)].tolist()
    if missing:
        raise InputError(f"covariate(s) {', '.join(names)} missing for {len(missing)} patient(s) "
                         f"(e.g. {', '.join(missing[:5])}); drop the covariate or fill the clinical data")
    return df


def _resolve_method(method: str, scale: str) -> str:
    if method not in DE_METHODS:
        raise InputError(f"unknown DE method {method!r}; use one of {', '.join(DE_METHODS)}")
    if method == "auto":
        return "deseq2" if scale == "counts" else "limma"
    if method == "deseq2" and scale != "counts":
        raise InputError(f"DESeq2 needs raw counts but this dataset's scale is {scale!r}; use --method limma")
    return method


def _overlap_samples(labels: Mapping[str, str], patients: Sequence[str], contrast: Sequence[str], grouping: str,
                     dataset_id: str) -> list[str]:
    """The grouping's patients in the contrast groups that have expression, in the grouping's order."""
    present = set(patients)
    samples = [p for p, g in labels.items() if g in contrast and p in present]
    if not samples:
        raise InputError(f"no patient of grouping {grouping!r} (groups {', '.join(contrast)}) has expression in "
                         f"dataset {dataset_id!r}; check that both use the same patient ids")
    return samples


def _group_overlap(groups: pd.Series, expr: pd.DataFrame, contrast: Sequence[str], grouping: str,
                   dataset_id: str) -> pd.Series:
    """:func:`_overlap_samples` for a group Series and an expression DataFrame."""
    samples = _overlap_samples(groups.astype(str).to_dict(), list(expr.columns), contrast, grouping, dataset_id)
    return groups.loc[samples]


def _de_arrays(values: np.ndarray, genes: Sequence[str], patients: Sequence[str], scale: str,
               labels: Mapping[str, str], contrast: Sequence[str], method: str,
               covariates: pd.DataFrame | None, options: ExpressionOptions | None,
               n_cpus: int) -> tuple[str, list[str], dict[str, np.ndarray]]:
    """DE on a genes x patients array of distinct genes; ``labels``: sample -> group of the compared samples.

    Returns ``(method, genes tested, {column: array})`` with the tool's own columns.
    """
    method = _resolve_method(method, scale)
    samples = list(labels)
    if method == "deseq2":  # pydeseq2 works on DataFrames: the DataFrame path, as is
        import pandas as pd

        expr = pd.DataFrame(values, index=pd.Index(list(genes), name="gene"), columns=list(patients))
        _, table = compute_de(expr, scale, pd.Series(labels), contrast, method, covariates, options, n_cpus)
        return method, [str(g) for g in table.index], {c: table[c].to_numpy() for c in table.columns}
    from .limma import limma_arrays

    kept, keep = prepare_arrays(values, scale, options, log_transform=True)
    position = {p: i for i, p in enumerate(patients)}
    y = kept[:, [position[s] for s in samples]]
    tested = [genes[i] for i in np.flatnonzero(keep)]
    table = limma_arrays(y, np.array([labels[s] for s in samples], dtype=object), contrast, samples=samples,
                         covariates=covariates, genes=tested)
    return method, tested, table


def compute_de(expr: pd.DataFrame, scale: str, groups: pd.Series, contrast: Sequence[str] = ("high", "low"),
               method: str = "auto", covariates: pd.DataFrame | None = None,
               options: ExpressionOptions | None = None, n_cpus: int = 2) -> tuple[str, pd.DataFrame]:
    """DE on a raw dataset matrix: filter/transform by scale, then limma (log scale) or DESeq2 (counts).

    The DataFrame wrappers of the computation ``rg de`` runs on arrays (:func:`_de_arrays`).
    Returns ``(method, table)`` with the tool's own columns, indexed by gene.
    """
    method = _resolve_method(method, scale)
    if method == "deseq2":
        from .deseq import deseq2_de

        counts = prepare_expression(expr, scale, options, log_transform=False).dropna(axis=0, how="any")
        return method, deseq2_de(counts, groups, contrast, covariates=covariates, n_cpus=n_cpus)
    from .limma import limma_de

    logx = prepare_expression(expr, scale, options, log_transform=True)
    return method, limma_de(logx, groups, contrast, covariates=covariates)


def _direction(lfc: np.ndarray, p: np.ndarray, lfc_threshold: float, p_threshold: float) -> np.ndarray:
    lfc = np.asarray(lfc, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):  # NaN statistics are never significant
        sig = (np.abs(lfc) > lfc_threshold) & (p < p_threshold)
        out = np.full(lfc.shape, "ns", dtype=object)
        out[sig & (lfc > 0)] = "up"
        out[sig & (lfc < 0)] = "down"
    return out


def de_direction(table: pd.DataFrame, method: str, lfc_threshold: float = 0.1, p_threshold: float = 0.05,
                 adjusted: bool = False) -> pd.Series:
    """up / down / ns by |log2FC| > lfc_threshold and P < p_threshold (adjusted P if ``adjusted``)."""
    import pandas as pd

    lfc_col, p_col, padj_col = _DIRECTION_COLUMNS["limma" if method == "limma" else "deseq2"]
    return pd.Series(_direction(table[lfc_col].to_numpy(), table[padj_col if adjusted else p_col].to_numpy(),
                                lfc_threshold, p_threshold), index=table.index)


def _rows_frame(rows: Mapping[str, Any], run_id: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(dict(rows))
    frame["run_id"] = run_id
    return frame


@stage_entry
def run_de(store: StoreLike, grouping: str, dataset_id: str, *, groups: Sequence[str] = ("high", "low"),
           method: str = "auto", covariates: Sequence[str] | None = None, lfc_threshold: float = 0.1,
           p_threshold: float = 0.05, adjusted: bool = False, options: ExpressionOptions | None = None,
           n_cpus: int = 2) -> StageResult:
    """``rg de``: differential expression of ``groups[0]`` vs ``groups[1]`` of a grouping; writes ``de_results``.

    The result's ``summary`` is the rows written (de_results columns, with run_id), built
    when first read; ``facts`` holds the method used and the contrast label.
    """
    contrast = tuple(groups)
    label = _contrast_label(contrast)
    with reading(store) as st:
        labels = tables.group_labels(st, grouping)
        values, genes, patients, scale = load_expression_arrays(st, dataset_id)
        samples = _overlap_samples(labels, patients, contrast, grouping, dataset_id)
        cov = _covariates(st, covariates, samples)
    compared = {s: labels[s] for s in samples}
    method, tested, table = _de_arrays(values, genes, patients, scale, compared, contrast, method, cov, options,
                                       n_cpus)
    lfc_col, p_col, padj_col = _DIRECTION_COLUMNS[method]
    direction = _direction(table[lfc_col], table[padj_col if adjusted else p_col], lfc_threshold, p_threshold)
    rows: dict[str, Any] = {"grouping": grouping, "dataset_id": dataset_id, "method": method, "contrast": label,
                            "gene": np.array(tested, dtype=object), **table, "direction": direction}
    params = {"grouping": grouping, "dataset_id": dataset_id, "groups": list(contrast), "method": method,
              "covariates": list(covariates or []), "lfc_threshold": lfc_threshold, "p_threshold": p_threshold,
              "adjusted": adjusted, "expression": (options or ExpressionOptions()).as_dict(),
              "n_samples": {k: sum(1 for s in samples if labels[s] == k) for k in contrast}}
    with StoreSession(store).open() as st, st.run("rg de", params) as run:
        st.replace("de_results", rows, "grouping = ? AND dataset_id = ? AND method = ? AND contrast = ?",
                   [grouping, dataset_id, method, label], run_id=run.run_id)
    run_id = run.run_id
    n_up, n_down = int((direction == "up").sum()), int((direction == "down").sum())
    log.info("DE %s %s on %s: %d up, %d down of %d genes", method, label, dataset_id, n_up, n_down, len(tested))
    return StageResult("de", run_ids=[run_id], counts={"genes": len(tested), "up": n_up, "down": n_down},
                       summary=Deferred(lambda: _rows_frame(rows, run_id)),
                       facts={"method": method, "contrast": label, "dataset_id": dataset_id})
