"""Derived clinical indices (NLR, PLR, SII, PNI, LNR, LODDS): the one implementation.

Computed only from inputs a cohort has.  Input columns are looked up by their
normalised name (:func:`radiogenomics.clinical.table.column_key`) in the clinical
frame; a raw ``extra`` JSON column (as ``core.clinical`` stores unknown source
columns) is flattened first with :func:`~radiogenomics.clinical.table.flatten_extra`.

==============  ====================================================  ============
input           accepted column names                                  unit
==============  ====================================================  ============
neutrophils     neutrophils, neutrophil_count, anc                     10^9/L
lymphocytes     lymphocytes, lymphocyte_count, alc                     10^9/L
platelets       platelets, platelet_count, plt                         10^9/L
albumin         albumin, serum_albumin                                 g/L
nodes positive  :data:`POSITIVE_NODE_COLUMNS`                          count
nodes examined  :data:`EXAMINED_NODE_COLUMNS` (or positive + negative) count
==============  ====================================================  ============

Formulas (methods.md): NLR = neutrophils / lymphocytes; PLR = platelets / lymphocytes;
SII = platelets x neutrophils / lymphocytes; PNI = albumin (g/L) + 5 x lymphocytes;
LNR = positive / examined nodes; LODDS = ln((positive + 0.5) / (negative + 0.5)) (seed 000,
eq. 2; the 0.5 keeps it finite with no or all nodes positive).  A division by zero or
invalid counts give NaN.  An index whose inputs the cohort lacks is not invented: it is
returned in the ``missing`` list with the inputs it needs.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..exceptions import InputError
from .table import column_key, flatten_extra

log = logging.getLogger(__name__)

__all__ = ["EXAMINED_NODE_COLUMNS", "INDEX_INPUTS", "INPUT_ALIASES", "NEGATIVE_NODE_COLUMNS",
           "POSITIVE_NODE_COLUMNS", "derived_indices", "lnr", "lodds", "nodal_metrics"]

#: column names (clinical table or its ``extra`` JSON) holding pathology node counts
POSITIVE_NODE_COLUMNS = ("positive_nodes", "n_positive_nodes", "nodes_positive", "lymph_nodes_positive",
                         "positive_lymph_nodes", "pn_positive", "metastatic_nodes")
EXAMINED_NODE_COLUMNS = ("examined_nodes", "n_examined_nodes", "nodes_examined", "lymph_nodes_examined",
                         "examined_lymph_nodes", "total_nodes", "resected_nodes")
NEGATIVE_NODE_COLUMNS = ("negative_nodes", "n_negative_nodes", "nodes_negative", "lymph_nodes_negative")

INPUT_ALIASES: dict[str, tuple[str, ...]] = {
    "neutrophils": ("neutrophils", "neutrophil_count", "anc"),
    "lymphocytes": ("lymphocytes", "lymphocyte_count", "alc"),
    "platelets": ("platelets", "platelet_count", "plt"),
    "albumin": ("albumin", "serum_albumin"),
    "nodes_positive": POSITIVE_NODE_COLUMNS,
    "nodes_examined": EXAMINED_NODE_COLUMNS,
    "nodes_negative": NEGATIVE_NODE_COLUMNS,
}

#: index -> inputs it needs (nodes_examined may be replaced by positive + negative)
INDEX_INPUTS: dict[str, tuple[str, ...]] = {
    "nlr": ("neutrophils", "lymphocytes"),
    "plr": ("platelets", "lymphocytes"),
    "sii": ("platelets", "neutrophils", "lymphocytes"),
    "pni": ("albumin", "lymphocytes"),
    "lnr": ("nodes_positive", "nodes_examined"),
    "lodds": ("nodes_positive", "nodes_examined"),
}


# ---------------------------------------------------------------- numeric cores
def lnr(n_positive, n_examined) -> np.ndarray:
    """Lymph-node ratio ``N+ / N_examined`` (NaN where nothing was examined or counts are invalid)."""
    pos = np.asarray(n_positive, dtype=float)
    exa = np.asarray(n_examined, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pos / exa
    bad = (exa <= 0) | (pos < 0) | (pos > exa) | np.isnan(pos) | np.isnan(exa)
    return np.where(bad, np.nan, out)


def lodds(n_positive, n_examined, base: float = np.e) -> np.ndarray:
    """Log odds of positive nodes ``log((N+ + 0.5) / (N- + 0.5))`` with ``N- = N_examined - N+``."""
    pos = np.asarray(n_positive, dtype=float)
    exa = np.asarray(n_examined, dtype=float)
    neg = exa - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log((pos + 0.5) / (neg + 0.5)) / np.log(base)
    bad = (exa < 0) | (pos < 0) | (neg < 0) | np.isnan(pos) | np.isnan(exa)
    return np.where(bad, np.nan, out)


def _ratio(a: pd.Series, b: pd.Series) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = a.to_numpy(float) / b.to_numpy(float)
    r[~np.isfinite(r)] = np.nan
    return r


# ---------------------------------------------------------------- frames
def _find_input(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """A numeric column for input ``name`` with at least one value, or None."""
    by_key = {column_key(c): c for c in frame.columns}
    for alias in INPUT_ALIASES[name]:
        if alias in by_key:
            values = pd.to_numeric(frame[by_key[alias]], errors="coerce")
            if values.notna().any():
                return values.astype(float)
    return None


def _inputs(clinical: pd.DataFrame) -> dict[str, pd.Series | None]:
    flat = flatten_extra(clinical)
    inputs = {name: _find_input(flat, name) for name in INPUT_ALIASES}
    if inputs["nodes_examined"] is None and inputs["nodes_positive"] is not None \
            and inputs["nodes_negative"] is not None:
        inputs["nodes_examined"] = inputs["nodes_positive"] + inputs["nodes_negative"]
    return inputs


def derived_indices(clinical: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Add NLR, PLR, SII, PNI, LNR and LODDS where the cohort has their inputs.

    Parameters
    ----------
    clinical : DataFrame
        One row per patient (e.g. :func:`radiogenomics.store.tables.clinical`); see the
        module docstring for the input column names.

    Returns
    -------
    (DataFrame, list of str)
        A copy of ``clinical`` with lower-case columns ``nlr, plr, sii, pni, lnr, lodds``
        for the indices that could be computed, and one message per index that could
        not, e.g. ``"NLR: cohort lacks neutrophils, lymphocytes"``.
    """
    out = clinical.copy()
    inputs = _inputs(clinical)
    missing: list[str] = []
    for index, needs in INDEX_INPUTS.items():
        lacking = [n for n in needs if inputs[n] is None]
        if lacking:
            missing.append(f"{index.upper()}: cohort lacks {', '.join(lacking)}")
            continue
        v = {n: inputs[n] for n in needs}
        if index == "nlr":
            out[index] = _ratio(v["neutrophils"], v["lymphocytes"])
        elif index == "plr":
            out[index] = _ratio(v["platelets"], v["lymphocytes"])
        elif index == "sii":
            out[index] = _ratio(v["platelets"] * v["neutrophils"], v["lymphocytes"])
        elif index == "pni":
            out[index] = (v["albumin"] + 5.0 * v["lymphocytes"]).to_numpy(float)
        elif index == "lnr":
            out[index] = lnr(v["nodes_positive"].to_numpy(float), v["nodes_examined"].to_numpy(float))
        elif index == "lodds":
            out[index] = lodds(v["nodes_positive"].to_numpy(float), v["nodes_examined"].to_numpy(float))
    if missing:
        log.info("derived indices not computable: %s", "; ".join(missing))
    return out, missing


def nodal_metrics(clinical: pd.DataFrame) -> pd.DataFrame:
    """LNR and LODDS per patient from pathology node counts, when the clinical data has them.

    Returns
    -------
    DataFrame
        ``patient_id, lnr, lodds`` (empty when no counts are present).
    """
    if "patient_id" not in clinical.columns:
        raise InputError("clinical data for nodal metrics needs a patient_id column")
    inputs = _inputs(clinical)
    pos, exa = inputs["nodes_positive"], inputs["nodes_examined"]
    if pos is None or exa is None:
        log.debug("no pathology node counts in the clinical data; LNR/LODDS not computed")
        return pd.DataFrame(columns=["patient_id", "lnr", "lodds"])
    return pd.DataFrame({"patient_id": clinical["patient_id"].to_numpy(), "lnr": lnr(pos, exa),
                         "lodds": lodds(pos, exa)})
