"""Expression matrices for the omics arm: loading from the store, scale handling, filtering.

Rules (all configurable through :class:`ExpressionOptions`):

* **Duplicated gene symbols** are collapsed before anything else.  ``collapse="max_mean"``
  (default) keeps the row with the highest mean over samples (ties: the first row), the
  usual rule for probes/transcripts of one gene; ``"mean"`` averages the rows value-wise.
* **Missing values**: genes observed in fewer than ``min_present`` (default 0.8) of the
  samples are dropped.  Remaining NaN stay: limma fits each gene on its observed samples;
  ssGSEA-based scores drop genes that still have a NaN.
* **Low expression**: genes whose value is at least ``min_value`` in fewer than
  ``min_fraction`` (default 0.2) of the samples are dropped.  ``min_value`` defaults by
  scale: 1.0 for FPKM-like data (FPKM >= 1), 10 for counts, none for log-scale data.
* **Transform to log scale**: FPKM-like -> ``log2(x + 1)``; counts -> ``log2(CPM + 1)``
  (for limma/ssGSEA; DESeq2 takes the raw counts); log2 and other scales are used as given.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import DataQualityWarning, InputError
from ..store import tables

if TYPE_CHECKING:  # pandas loads lazily: `rg de` runs on arrays (prepare_arrays) without it
    import pandas as pd

log = logging.getLogger(__name__)

SCALES = ("fpkm", "log2", "counts", "other")
_DEFAULT_MIN_VALUE = {"fpkm": 1.0, "counts": 10.0, "log2": None, "other": None}


@dataclass
class ExpressionOptions:
    """Filtering/collapsing settings; ``min_value=None`` means the scale's default."""

    min_present: float = 0.8
    min_value: float | None = None
    min_fraction: float = 0.2
    collapse: str = "max_mean"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collapse_duplicates(expr: pd.DataFrame, rule: str = "max_mean") -> pd.DataFrame:
    """Collapse rows sharing a gene id: ``max_mean`` keeps the row with the highest mean, ``mean`` averages."""
    if not expr.index.has_duplicates:
        return expr
    n_dup = int(expr.index.duplicated().sum())
    if rule == "max_mean":
        means = expr.mean(axis=1, skipna=True).fillna(-np.inf).to_numpy()
        order = np.lexsort((np.arange(len(expr)), -means))  # highest mean first, ties by input order
        picked = expr.iloc[order]
        picked = picked[~picked.index.duplicated(keep="first")]
        out = picked.loc[[g for g in dict.fromkeys(expr.index)]]
    elif rule == "mean":
        out = expr.groupby(level=0, sort=False).mean()
    else:
        raise InputError(f"unknown collapse rule {rule!r}; use 'max_mean' or 'mean'")
    log.info("collapsed %d duplicated gene rows (%s)", n_dup, rule)
    return out


def prepare_expression(expr: pd.DataFrame, scale: str, options: ExpressionOptions | None = None,
                       log_transform: bool = True) -> pd.DataFrame:
    """Collapse duplicates, filter missing/low genes and move to log scale (rules in the module doc).

    Parameters
    ----------
    expr : DataFrame
        Genes x samples on the dataset's own scale.
    scale : {"fpkm", "log2", "counts", "other"}
        The dataset's scale (``core.datasets.scale``).
    options : ExpressionOptions, optional
        Filtering/collapsing settings.
    log_transform : bool
        Return log-scale values (False: the filtered matrix on its own scale, e.g. counts for DESeq2).
    """
    import pandas as pd

    opts = options or ExpressionOptions()
    _check_scale(scale)
    if expr.empty:
        raise InputError("the expression matrix is empty")
    # no copy when already float: the matrix is only read here, results are new arrays
    x = collapse_duplicates(expr.astype(float, copy=False), opts.collapse)
    kept, keep = prepare_arrays(x.to_numpy(), scale, opts, log_transform)
    return pd.DataFrame(kept, index=x.index[keep], columns=x.columns)


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise InputError(f"unknown expression scale {scale!r}; expected one of {', '.join(SCALES)}")


def prepare_arrays(values: np.ndarray, scale: str, options: ExpressionOptions | None = None,
                   log_transform: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The filter and transform of :func:`prepare_expression` on a genes x samples array of distinct genes.

    Returns
    -------
    (kept, keep)
        The kept genes' values (log scale when ``log_transform``) and the boolean mask of the
        kept rows.
    """
    opts = options or ExpressionOptions()
    _check_scale(scale)
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise InputError("the expression matrix is empty")
    if scale in ("fpkm", "counts") and np.nanmin(values) < 0:
        raise InputError(f"expression on scale {scale!r} has negative values; is it already log-transformed? "
                         "set the dataset scale to 'log2'")
    present = np.isfinite(values).mean(axis=1)
    keep = present >= opts.min_present
    n_missing = int((~keep).sum())
    min_value = opts.min_value if opts.min_value is not None else _DEFAULT_MIN_VALUE[scale]
    if min_value is not None:
        with np.errstate(invalid="ignore"):
            # NaN compares False: a missing value is not an expressed one
            expressed = (values >= min_value).mean(axis=1)
        keep &= expressed >= opts.min_fraction
    n_low = int(len(values) - keep.sum() - n_missing)
    if not keep.any():
        raise InputError(f"no gene passes the filters (present in >= {opts.min_present:.0%} of samples, value >= "
                         f"{min_value} in >= {opts.min_fraction:.0%}); relax ExpressionOptions")
    if n_missing or n_low:
        log.info("expression filter: %d genes dropped for missing values, %d for low expression, %d kept",
                 n_missing, n_low, int(keep.sum()))
    # on the array: pandas arithmetic on a 20,000 x 130 frame costs more than the limma fit that follows
    kept = values[keep]
    if log_transform and scale == "fpkm":
        kept = np.log2(kept + 1.0)
    elif log_transform and scale == "counts":
        kept = np.log2(kept / np.nansum(kept, axis=0) * 1e6 + 1.0)
    return kept, keep


def dataset_scale(store, dataset_id: str) -> str:
    """The scale of a stored dataset (``core.datasets.scale``); an unknown one is used as 'other', with a warning."""
    meta = tables.dataset_info(store, dataset_id)
    scale = str(meta.get("scale") or "other").lower()
    if scale not in SCALES:
        warnings.warn(f"dataset {dataset_id!r} has unknown scale {scale!r}; treated as 'other' (used as given)",
                      DataQualityWarning, stacklevel=3)
        scale = "other"
    return scale


def load_expression(store, dataset_id: str) -> tuple[pd.DataFrame, str]:
    """Genes x patients matrix of one dataset from the store, and the dataset's scale.

    Read by :func:`radiogenomics.store.tables.expression`.
    """
    scale = dataset_scale(store, dataset_id)
    return tables.expression(store, dataset_id), scale


def load_expression_arrays(store, dataset_id: str) -> tuple[np.ndarray, list[str], list[str], str]:
    """:func:`load_expression` as ``(values, genes, patients, scale)`` without pandas.

    Read by :func:`radiogenomics.store.tables.expression_arrays`.
    """
    scale = dataset_scale(store, dataset_id)
    values, genes, patients = tables.expression_arrays(store, dataset_id)
    return values, genes, patients, scale


def load_groups(store, grouping: str) -> pd.Series:
    """patient_id -> group label of one grouping (:func:`radiogenomics.store.tables.risk_groups`)."""
    return tables.risk_groups(store, grouping).set_index("patient_id")["grp"]
