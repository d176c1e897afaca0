"""Derived clinical indices (NLR, PLR, SII, PNI, LNR, LODDS), computed only from inputs a cohort has.

Input columns are looked up case-insensitively in the clinical frame and, when the
frame has an ``extra`` column (JSON object per row, as ``core.clinical`` stores unknown
source columns), in its keys too:

==============  ====================================================  ============
input           accepted column names                                  unit
==============  ====================================================  ============
neutrophils     neutrophils, neutrophil_count, anc                     10^9/L
lymphocytes     lymphocytes, lymphocyte_count, alc                     10^9/L
platelets       platelets, platelet_count, plt                         10^9/L
albumin         albumin, serum_albumin                                 g/L
nodes positive  see ``models.nodal.POSITIVE_NODE_COLUMNS``             count
nodes examined  see ``models.nodal.EXAMINED_NODE_COLUMNS``             count
==============  ====================================================  ============

Formulas (methods.md): NLR = neutrophils / lymphocytes; PLR = platelets / lymphocytes;
SII = platelets x neutrophils / lymphocytes; PNI = albumin (g/L) + 5 x lymphocytes;
LNR = positive / examined nodes; LODDS = ln((positive + 0.5) / (negative + 0.5)).
A division by zero gives NaN. An index whose inputs the cohort lacks is not invented:
it is returned in the ``missing`` list with the inputs it needs.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from ..models.nodal import EXAMINED_NODE_COLUMNS, NEGATIVE_NODE_COLUMNS, POSITIVE_NODE_COLUMNS, lnr, lodds

log = logging.getLogger(__name__)

INPUT_ALIASES: dict[str, tuple[str, ...]] = {
    "neutrophils": ("neutrophils", "neutrophil_count", "anc"),
    "lymphocytes": ("lymphocytes", "lymphocyte_count", "alc"),
    "platelets": ("platelets", "platelet_count", "plt"),
    "albumin": ("albumin", "serum_albumin"),
    "nodes_positive": tuple(POSITIVE_NODE_COLUMNS),
    "nodes_examined": tuple(EXAMINED_NODE_COLUMNS),
    "nodes_negative": tuple(NEGATIVE_NODE_COLUMNS),
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


def _extra_frame(clinical: pd.DataFrame) -> pd.DataFrame:
    if "extra" not in clinical.columns:
        return pd.DataFrame(index=clinical.index)

    def parse(v):
        if isinstance(v, dict):
            return v
        if isinstance(v, str) and v.strip():
            try:
                obj = json.loads(v)
            except ValueError:
                return {}
            return obj if isinstance(obj, dict) else {}
        return {}

    return pd.DataFrame([parse(v) for v in clinical["extra"]], index=clinical.index)


def _find_input(clinical: pd.DataFrame, extra: pd.DataFrame, name: str) -> pd.Series | None:
    """A numeric column for input ``name`` with at least one value, or None."""
    for frame in (clinical, extra):
        lower = {str(c).strip().lower(): c for c in frame.columns}
        for alias in INPUT_ALIASES[name]:
            if alias in lower:
                values = pd.to_numeric(frame[lower[alias]], errors="coerce")
                if values.notna().any():
                    return values.astype(float)
    return None


def derived_indices(clinical: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Add NLR, PLR, SII, PNI, LNR and LODDS where the cohort has their inputs.

    Parameters
    ----------
    clinical : DataFrame
        One row per patient (e.g. the ``clinical`` view); see the module docstring for
        the input column names.

    Returns
    -------
    (DataFrame, list of str)
        A copy of ``clinical`` with lower-case columns ``nlr, plr, sii, pni, lnr, lodds``
        for the indices that could be computed, and one message per index that could
        not, e.g. ``"NLR: cohort lacks neutrophils, lymphocytes"``.
    """
    out = clinical.copy()
    extra = _extra_frame(clinical)
    inputs = {name: _find_input(clinical, extra, name) for name in INPUT_ALIASES}
    if inputs["nodes_examined"] is None and inputs["nodes_positive"] is not None \
            and inputs["nodes_negative"] is not None:
        inputs["nodes_examined"] = inputs["nodes_positive"] + inputs["nodes_negative"]

    def ratio(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = a.to_numpy(float) / b.to_numpy(float)
        r[~np.isfinite(r)] = np.nan
        return r

    missing: list[str] = []
    for index, needs in INDEX_INPUTS.items():
        lacking = [n for n in needs if inputs[n] is None]
        if lacking:
            missing.append(f"{index.upper()}: cohort lacks {', '.join(lacking)}")
            continue
        v = {n: inputs[n] for n in needs}
        if index == "nlr":
            out[index] = ratio(v["neutrophils"], v["lymphocytes"])
        elif index == "plr":
            out[index] = ratio(v["platelets"], v["lymphocytes"])
        elif index == "sii":
            out[index] = ratio(v["platelets"] * v["neutrophils"], v["lymphocytes"])
        elif index == "pni":
            out[index] = (v["albumin"] + 5.0 * v["lymphocytes"]).to_numpy(float)
        elif index == "lnr":
            out[index] = lnr(v["nodes_positive"].to_numpy(float), v["nodes_examined"].to_numpy(float))
        elif index == "lodds":
            out[index] = lodds(v["nodes_positive"].to_numpy(float), v["nodes_examined"].to_numpy(float))
    if missing:
        log.info("derived indices not computable: %s", "; ".join(missing))
    return out, missing
