"""Store I/O of ``rg classify``: the endpoint, feature sets and split, read through the store's read layer.

Radiomic features come from :func:`radiogenomics.store.tables.feature_table`, i.e. the
same parameter-set, ``diagnostics_`` and stable-feature policy as ``rg radscore fit``;
clinical covariates from :func:`radiogenomics.store.tables.clinical` (``extra`` keys
flattened once) with LNR/LODDS from :mod:`radiogenomics.clinical.indices`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ...clinical.indices import nodal_metrics
from ...clinical.table import resolve_column
from ...exceptions import InputError
from ...patient_list import read_patient_list  # noqa: F401 - re-exported (was defined in models/classify.py)
from ...store import tables
from ..nodal import aggregate_nodes, is_node_roi

log = logging.getLogger(__name__)

__all__ = ["ClassifyData", "DEFAULT_CLINICAL", "FEATURE_SETS", "MISSING_TOKENS", "POSITIVE_TOKENS",
           "binarize_endpoint", "load_classify_data", "read_patient_list"]

#: feature sets accepted by ``--features``
FEATURE_SETS = ("radiomics", "clinical", "deep")

#: values meaning "not known" in the clinical table (dropped from the endpoint)
MISSING_TOKENS = {"", "na", "n/a", "nan", "none", "unknown", "not collected", "not assessed",
                  "not recorded in database", "not available", "missing"}
#: values taken as the positive class when --positive is not given
POSITIVE_TOKENS = {"mutant", "mutated", "present", "yes", "true", "1", "positive", "translocated",
                   "rearranged", "dead", "deceased"}
#: clinical covariates used by the "clinical" feature set unless told otherwise (pre-operative)
DEFAULT_CLINICAL = ("age", "gender", "smoking_status", "pack_years", "pct_gg")


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip().lower() in MISSING_TOKENS


def binarize_endpoint(values: pd.Series, positive: str | Sequence[str] | None = None) -> tuple[pd.Series, list[str]]:
    """Map a clinical column to 1 (positive), 0 (negative) or NaN (unknown).

    Parameters
    ----------
    values
        The endpoint column (strings, booleans or numbers).
    positive
        Value(s) of the positive class (comma-separated string or list, case-insensitive).
        Default: ``True``/1, a recognised token (Mutant, Present, Yes, ...), or for nodal
        stages (N0/N1/N2...) every stage but N0.

    Returns
    -------
    y : Series of float
    positive_values : list of str
    """
    name = values.name or "endpoint"
    known = values[~values.map(_is_missing)]
    if known.empty:
        raise InputError(f"endpoint {name!r} has no known values")
    text = known.map(lambda v: str(v).strip())
    if positive is None:
        levels = sorted(set(text))
        lower = {lv.lower() for lv in levels}
        if all(re.fullmatch(r"N\d\w*", lv, re.IGNORECASE) for lv in levels) and any(
                lv.upper().startswith("N0") for lv in levels):
            pos = [lv for lv in levels if not lv.upper().startswith("N0")]
        elif lower & POSITIVE_TOKENS and len(lower) == 2:
            pos = [lv for lv in levels if lv.lower() in POSITIVE_TOKENS]
        else:
            raise InputError(f"cannot tell the positive class of endpoint {name!r} (values: {', '.join(levels)}); "
                             "give it with --positive VALUE[,VALUE...]")
    else:
        pos = [p.strip() for p in positive.split(",")] if isinstance(positive, str) else [str(p) for p in positive]
        unknown = {p.lower() for p in pos} - {t.lower() for t in text}
        if unknown:
            raise InputError(f"--positive value(s) {sorted(unknown)} do not occur in endpoint {name!r} "
                             f"(values: {', '.join(sorted(set(text)))})")
    pos_lower = {p.lower() for p in pos}
    y = pd.Series(np.nan, index=values.index, name=name)
    y[known.index] = text.map(lambda v: 1.0 if v.lower() in pos_lower else 0.0).astype(float)
    if y.dropna().nunique() < 2:
        raise InputError(f"endpoint {name!r} has only one class after mapping (positive = {pos})")
    return y, pos


@dataclass
class ClassifyData:
    """Inputs of one classification run, read from the store."""

    endpoint: str
    positive: list[str]
    y: pd.Series                         # index patient_id, 0/1
    feature_sets: dict[str, pd.DataFrame]  # set name -> wide frame (index patient_id)
    train_ids: list[str]
    valid_ids: list[str]
    reader: pd.Series | None = None
    params_hash: str | None = None


def _clinical_matrix(clinical: pd.DataFrame, columns: Sequence[str], endpoint: str) -> pd.DataFrame:
    """Numeric clinical covariates: numbers as is, categories one-hot (unknown -> NaN)."""
    out = {}
    for col in columns:
        if col == endpoint or col not in clinical.columns:
            if col != endpoint:
                log.warning("clinical column %r is not in the clinical table; skipped", col)
            continue
        s = clinical[col]
        num = pd.to_numeric(s, errors="coerce")
        if s.dtype != object or num.notna().sum() >= 0.8 * s.map(lambda v: not _is_missing(v)).sum():
            out[col] = num.astype(float)
            continue
        cat = s.map(lambda v: np.nan if _is_missing(v) else str(v).strip())
        for level in sorted(cat.dropna().unique()):
            dummy = (cat == level).astype(float)
            dummy[cat.isna()] = np.nan
            out[f"{col}={level}"] = dummy
    frame = pd.DataFrame(out, index=clinical.index)
    metrics = nodal_metrics(clinical.reset_index()) if "patient_id" in clinical.reset_index().columns else None
    if metrics is not None and not metrics.empty:
        if _is_nodal_endpoint(endpoint):
            # LNR/LODDS count the pathologically positive nodes: they would restate a nodal endpoint
            log.info("LNR/LODDS not used as covariates of the nodal endpoint %r", endpoint)
        else:
            frame = frame.join(metrics.set_index("patient_id")[["lnr", "lodds"]])
    return frame


_NODAL_ENDPOINT = re.compile(r"(^n_?stage|node|nodal|^lnm|^pn\b|^pn_|^lnr$|^lodds$)", re.IGNORECASE)


def _is_nodal_endpoint(endpoint: str) -> bool:
    """True for endpoints about lymph-node involvement (n_stage, lymph_node_metastasis, lnr, ...)."""
    return bool(_NODAL_ENDPOINT.search(str(endpoint)))


def _wide_features(long: pd.DataFrame) -> pd.DataFrame:
    """patients x ``<roi>:<feature>`` columns."""
    wide = tables.wide_by_patient(long, long["roi"].astype(str) + ":" + long["feature"].astype(str))
    wide.columns.name = None
    return wide


def _radiomic_rois(inventory: pd.DataFrame, rois: Sequence[str] | None) -> list[str]:
    """Radiomic ROIs with features (all but ``deep``), restricted to ``rois``; a node ROI name selects all nodes."""
    present = sorted(r for r in inventory["roi"].unique() if r != "deep")
    if rois:
        nodes = any(map(is_node_roi, rois))
        return [r for r in present if r in rois or (nodes and is_node_roi(r))]
    return present


def load_classify_data(store, endpoint: str, positive: str | Sequence[str] | None = None,
                       features: Sequence[str] = ("radiomics", "clinical"), split: float = 0.3, seed: int = 0,
                       train: Sequence[str] | None = None, reader_scores: str | None = None,
                       params_hash: str | None = None, rois: Sequence[str] | None = None,
                       clinical_columns: Sequence[str] | None = None,
                       node_aggregation: Sequence[str] = ("max", "mean", "largest"),
                       stable_only: bool | None = None) -> ClassifyData:
    """Read the endpoint, feature sets, reader scores and the train/validation split from the store.

    Radiomic features come from the read layer (ROIs other than ``deep``; node ROIs
    aggregated per patient, see :func:`radiogenomics.models.nodal.aggregate_nodes`), deep
    features from ROI ``deep``, clinical covariates from the flattened clinical table.
    The split is stratified by the endpoint unless ``train`` lists the training patients.
    ``rois`` restricts the radiomic ROIs (default: all but ``deep``); any node ROI name in
    it (e.g. ``node``) selects all lymph-node ROIs, aggregated per patient.

    The parameter set, ``diagnostics_`` columns and stable features follow the read
    layer's one policy (:mod:`radiogenomics.store.tables`), shared with ``rg radscore
    fit``: on one store and ROI both model the same features.  ``stable_only`` as there
    (None = stable features of each ROI that has stability results).
    """
    if split is not None and not 0 <= split < 1:
        raise InputError(f"--split is the validation fraction and must be in [0, 1), got {split}")
    unknown = set(features) - set(FEATURE_SETS)
    if not features:
        raise InputError(f"no feature sets requested; choose from {', '.join(FEATURE_SETS)}")
    if unknown:
        raise InputError(f"unknown feature set(s) {sorted(unknown)}; choose from {', '.join(FEATURE_SETS)}")
    clinical = tables.clinical(store).set_index("patient_id")
    if clinical.empty:
        raise InputError("the clinical table is empty; load the clinical CSV first (rg fetch clinical)")
    column = resolve_column(clinical, endpoint)
    if column is None:
        cols = [c for c in clinical.columns if c not in ("extra", "run_id")]
        raise InputError(f"endpoint {endpoint!r} is not a clinical column; choose one of {', '.join(cols)}")
    clinical[endpoint] = clinical[column]
    y, pos = binarize_endpoint(clinical[endpoint].rename(endpoint), positive)
    y = y.dropna()
    sets: dict[str, pd.DataFrame] = {}
    used_hash = params_hash
    if {"radiomics", "deep"} & set(features):
        inventory = tables.feature_inventory(store)
        if "radiomics" in features:
            rad_rois = _radiomic_rois(inventory, rois)
            if not rad_rois:
                present = _radiomic_rois(inventory, None)
                if rois and present:
                    raise InputError(f"no radiomic features for ROI(s) {', '.join(rois)} (the store has "
                                     f"{', '.join(present)}); choose --rois among those or run `rg features "
                                     "--roi NAME` first")
                raise InputError("no radiomic features in the store; run `rg features` first or drop 'radiomics' "
                                 "from --features")
            used_hash = tables.resolve_params_hash(store, rad_rois, params_hash, inventory=inventory)
            rad = tables.feature_table(store, rad_rois, used_hash, stable_only=stable_only)
            nodes = rad["roi"].map(is_node_roi)
            if nodes.any():
                vols = tables.roi_volumes(store)
                agg = aggregate_nodes(rad[nodes], node_aggregation, volumes=vols)
                rad = pd.concat([rad[~nodes], agg], ignore_index=True)
            sets["radiomics"] = _wide_features(rad)
        if "deep" in features:
            if "deep" not in set(inventory["roi"]):
                raise InputError("no deep features in the store; run rg deep-features first or drop 'deep'")
            # deep features carry their own parameter set (the network's), not the radiomics one
            sets["deep"] = _wide_features(tables.feature_table(store, "deep", stable_only=False))
    if "clinical" in features:
        cols = list(clinical_columns) if clinical_columns else list(DEFAULT_CLINICAL)
        sets["clinical"] = _clinical_matrix(clinical, cols, endpoint)
        if sets["clinical"].shape[1] == 0:
            raise InputError(f"none of the clinical columns {cols} is usable")
    # patients with the endpoint and every requested set
    ids = set(y.index)
    for frame in sets.values():
        ids &= set(frame.index)
    ids = sorted(ids)
    if len(ids) < 10:
        raise InputError(f"only {len(ids)} patients have endpoint {endpoint!r} and all of {list(sets)}; need >= 10")
    y = y.loc[ids].astype(int)
    sets = {k: v.loc[ids] for k, v in sets.items()}
    if train is not None:
        train_set = {str(t) for t in train}
        train_ids = [i for i in ids if i in train_set]
        valid_ids = [i for i in ids if i not in train_set]
        if not train_ids:
            raise InputError("none of the --train patients has the endpoint and the requested features")
    elif split and split > 0:
        try:
            train_ids, valid_ids = train_test_split(ids, test_size=split, random_state=seed, stratify=y.loc[ids])
        except ValueError as exc:
            raise InputError(f"cannot split {len(ids)} patients stratified by {endpoint}: {exc}") from exc
        train_ids, valid_ids = sorted(train_ids), sorted(valid_ids)
    else:
        train_ids, valid_ids = ids, []
    reader = None
    if reader_scores:
        column = resolve_column(clinical, reader_scores)
        if column is None:
            raise InputError(f"reader-score column {reader_scores!r} is neither a clinical column nor a key "
                             "of clinical.extra")
        clinical[reader_scores] = clinical[column]
        reader = pd.to_numeric(clinical.loc[ids, reader_scores], errors="coerce")
    return ClassifyData(endpoint=endpoint, positive=pos, y=y, feature_sets=sets, train_ids=list(train_ids),
                        valid_ids=list(valid_ids), reader=reader, params_hash=used_hash)
