"""Lymph-node ROIs and nodal metrics.

Each lymph node is its own named ROI (``node_1``, ``node_2``, ... or ``ln_*``) with its
own radiomic features.  For patient-level models the nodes are aggregated per
feature across a patient's nodes: ``max``, ``mean`` and the values of the
``largest`` node (by volume).  Pathology-based nodal metrics (LNR, LODDS) live with the
other derived clinical indices in :mod:`radiogenomics.clinical.indices` and are
re-exported here.
"""

from __future__ import annotations

import logging
import re
from typing import Sequence

import pandas as pd

from ..clinical.indices import (EXAMINED_NODE_COLUMNS, NEGATIVE_NODE_COLUMNS,  # noqa: F401 - re-exported
                               POSITIVE_NODE_COLUMNS, lnr, lodds, nodal_metrics)
from ..exceptions import InputError

log = logging.getLogger(__name__)

__all__ = ["NODE_ROI_PATTERN", "aggregate_nodes", "is_node_roi", "lnr", "lodds", "nodal_metrics"]

#: ROI names treated as lymph nodes
NODE_ROI_PATTERN = re.compile(r"^(node|ln|lymph[_ ]?node)([_\-]?\d+|[_\-][a-z0-9]+)?$", re.IGNORECASE)

#: features used, in order, to pick a patient's largest node
VOLUME_FEATURES = ("original_shape_MeshVolume", "original_shape_VoxelVolume")

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
