"""Lymph-node ROIs and nodal metrics.

Each lymph node is its own named ROI (``node_1``, ``node_2``, ... or ``ln_*``) with its
own radiomic features.  For patient-level models the nodes are aggregated per
feature across a patient's nodes: ``max``, ``mean`` and the values of the
``largest`` node (by volume).  Pathology-based nodal metrics (seed 000):
``LNR = N+ / N_examined`` and ``LODDS = log((N+ + 0.5) / (N- + 0.5))``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..exceptions import InputError

log = logging.getLogger(__name__)

__all__ = ["NODE_ROI_PATTERN", "aggregate_nodes", "is_node_roi", "lnr", "lodds", "nodal_metrics"]

#: ROI names treated as lymph nodes
NODE_ROI_PATTERN = re.compile(r"^(node|ln|lymph[_ ]?node)([_\-]?\d+|[_\-][a-z0-9]+)?$", re.IGNORECASE)

#: features used, in order, to pick a patient's largest node
VOLUME_FEATURES = ("original_shape_MeshVolume", "original_shape_VoxelVolume")

#: column names (clinical table or its ``extra`` JSON) holding pathology node counts
POSITIVE_NODE_COLUMNS = ("positive_nodes", "n_positive_nodes", "nodes_positive", "lymph_nodes_positive",
                         "positive_lymph_nodes", "pn_positive", "metastatic_nodes")
EXAMINED_NODE_COLUMNS = ("examined_nodes", "n_examined_nodes", "nodes_examined", "lymph_nodes_examined",
                         "examined_lymph_nodes", "total_nodes", "resected_nodes")
NEGATIVE_NODE_COLUMNS = ("negative_nodes", "n_negative_nodes", "nodes_negative", "lymph_nodes_negative")


def is_node_roi(roi: str) -> bool:
    """True when an ROI name denotes a lymph node (``node_1``, ``ln2``, ``lymph_node_a``)."""
    return bool(NODE_ROI_PATTERN.match(str(roi)))


def aggregate_nodes(features: pd.DataFrame, methods: Sequence[str] = ("max", "mean", "largest"),
                    volumes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Aggregate per-node features to one value per patient and feature.

    Parameters
    ----------
    features
        Long table with columns ``patient_id, roi, feature, value`` (and optionally
        ``params_hash``); only node ROIs (see :func:`is_node_roi`) are used.
    methods
        Any of ``max``, ``mean``, ``largest``.
    volumes
        Optional ``patient_id, roi, volume_mm3`` (e.g. the ``rois`` view) used to pick the
        largest node; otherwise the node's ``original_shape_MeshVolume`` (or VoxelVolume)
        feature is used.

    Returns
    -------
    DataFrame
        Long table ``patient_id, roi, feature, value[, params_hash]`` with roi
        ``nodes_<method>``, plus the feature ``n_nodes`` (count of node ROIs) under
        roi ``nodes_count``.
    """
    unknown = set(methods) - {"max", "mean", "largest"}
    if unknown:
        raise InputError(f"unknown node aggregation {sorted(unknown)}; use max, mean or largest")
    required = {"patient_id", "roi", "feature", "value"}
    if not required <= set(features.columns):
        raise InputError(f"node features need columns {sorted(required)}, got {list(features.columns)}")
    keys = ["patient_id", "feature"] + (["params_hash"] if "params_hash" in features.columns else [])
    nodes = features[features["roi"].map(is_node_roi)].copy()
    out_cols = ["patient_id", "roi", "feature", "value"] + keys[2:]
    if nodes.empty:
        return pd.DataFrame(columns=out_cols)
    parts = []
    for method in methods:
        if method in ("max", "mean"):
            agg = nodes.groupby(keys, as_index=False)["value"].agg(method)
        else:
            largest = _largest_node(nodes, volumes)
            agg = nodes.merge(largest, on=["patient_id", "roi"])[keys + ["value"]]
        agg["roi"] = f"nodes_{method}"
        parts.append(agg)
    count = nodes.groupby(keys[:1] + keys[2:], as_index=False)["roi"].nunique().rename(columns={"roi": "value"})
    count["feature"] = "n_nodes"
    count["roi"] = "nodes_count"
    count["value"] = count["value"].astype(float)
    parts.append(count)
    return pd.concat(parts, ignore_index=True)[out_cols]


def _largest_node(nodes: pd.DataFrame, volumes: pd.DataFrame | None) -> pd.DataFrame:
    """patient_id, roi of each patient's largest node (among the nodes that have features).

    ROI volumes are preferred; a patient without any (e.g. a node imported without a
    ``rois`` row) falls back to the node's volume feature.
    """
    present = nodes[["patient_id", "roi"]].drop_duplicates()
    if volumes is not None and not volumes.empty and {"patient_id", "roi", "volume_mm3"} <= set(volumes.columns):
        vol = volumes[volumes["roi"].map(is_node_roi)][["patient_id", "roi", "volume_mm3"]].dropna()
        vol = vol.rename(columns={"volume_mm3": "volume"})
        # a node without features (failed mask, other parameter set) cannot be the one reported
        vol = vol.merge(present, on=["patient_id", "roi"])
    else:
        vol = pd.DataFrame(columns=["patient_id", "roi", "volume"])
    missing = present[~present["patient_id"].isin(vol["patient_id"])]
    if not missing.empty:
        rest = nodes.merge(missing, on=["patient_id", "roi"])
        for name in VOLUME_FEATURES:
            sel = rest[rest["feature"] == name]
            if not sel.empty:
                found = sel.groupby(["patient_id", "roi"], as_index=False)["value"].first().rename(
                    columns={"value": "volume"})
                vol = pd.concat([vol, found], ignore_index=True) if not vol.empty else found
                break
    if vol.empty:
        raise InputError("cannot find the largest lymph node: no node volumes (rois.volume_mm3) and no "
                         f"{' / '.join(VOLUME_FEATURES)} feature; extract shape features or drop 'largest'")
    lost = sorted(set(present["patient_id"]) - set(vol["patient_id"]))
    if lost:
        log.warning("no node volume for patient(s) %s: their largest-node features are missing", ", ".join(lost[:5]))
    vol = vol.astype({"volume": float}).sort_values(["patient_id", "volume", "roi"], ascending=[True, False, True])
    return vol.drop_duplicates("patient_id")[["patient_id", "roi"]]


def lnr(n_positive, n_examined) -> np.ndarray:
    """Lymph-node ratio ``N+ / N_examined`` (NaN where nothing was examined or counts are invalid)."""
    pos = np.asarray(n_positive, dtype=float)
    exa = np.asarray(n_examined, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pos / exa
    bad = (exa <= 0) | (pos < 0) | (pos > exa) | np.isnan(pos) | np.isnan(exa)
    return np.where(bad, np.nan, out)


def lodds(n_positive, n_examined, base: float = np.e) -> np.ndarray:
    """Log odds of positive nodes ``log((N+ + 0.5) / (N- + 0.5))`` with ``N- = N_examined - N+``.

    The 0.5 keeps the metric finite with no or all nodes positive (seed 000, eq. 2).
    """
    pos = np.asarray(n_positive, dtype=float)
    exa = np.asarray(n_examined, dtype=float)
    neg = exa - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log((pos + 0.5) / (neg + 0.5)) / np.log(base)
    bad = (exa < 0) | (pos < 0) | (neg < 0) | np.isnan(pos) | np.isnan(exa)
    return np.where(bad, np.nan, out)


def _first_column(frame: pd.DataFrame, names: Iterable[str]) -> pd.Series | None:
    lower = {c.lower(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return pd.to_numeric(frame[lower[name]], errors="coerce")
    return None


def nodal_metrics(clinical: pd.DataFrame) -> pd.DataFrame:
    """LNR and LODDS per patient from pathology node counts, when the clinical data has them.

    Looks for node-count columns (e.g. ``positive_nodes`` and ``examined_nodes`` or
    ``negative_nodes``) in the table and in its ``extra`` JSON column.

    Returns
    -------
    DataFrame
        ``patient_id, lnr, lodds`` (empty when no counts are present).
    """
    if "patient_id" not in clinical.columns:
        raise InputError("clinical data for nodal metrics needs a patient_id column")
    frame = clinical.copy()
    if "extra" in frame.columns:
        extra = frame["extra"].map(lambda v: json.loads(v) if isinstance(v, str) and v else
                                   (v if isinstance(v, dict) else {}))
        extra_frame = pd.DataFrame(list(extra), index=frame.index)
        extra_frame.columns = [str(c).lower().replace(" ", "_") for c in extra_frame.columns]
        extra_frame = extra_frame[[c for c in extra_frame.columns if c not in frame.columns]]
        frame = pd.concat([frame, extra_frame], axis=1)
    pos = _first_column(frame, POSITIVE_NODE_COLUMNS)
    exa = _first_column(frame, EXAMINED_NODE_COLUMNS)
    if exa is None:
        neg = _first_column(frame, NEGATIVE_NODE_COLUMNS)
        exa = pos + neg if (pos is not None and neg is not None) else None
    if pos is None or exa is None:
        log.debug("no pathology node counts in the clinical data; LNR/LODDS not computed")
        return pd.DataFrame(columns=["patient_id", "lnr", "lodds"])
    return pd.DataFrame({"patient_id": frame["patient_id"].to_numpy(), "lnr": lnr(pos, exa),
                         "lodds": lodds(pos, exa)})
