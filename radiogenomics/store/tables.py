"""The read API of the store: every stage and the report read other stages' tables here.

One policy per fact, documented once:

Feature matrix (:func:`feature_matrix`, :func:`feature_table`)
    *Parameter set*: an explicit ``params_hash`` is used as given (it must have features
    for the ROIs); otherwise, among the parameter sets with features for the requested
    ROIs, the only one, else the default parameter file's hash
    (:func:`radiogenomics.imaging.features.load_params` of ``None``) when present, else an
    :class:`~radiogenomics.exceptions.InputError` listing them (choose with
    ``--params-hash``).  See :func:`resolve_params_hash`.

    *Diagnostics*: rows whose feature name starts with ``diagnostics_`` (pyradiomics
    bookkeeping, e.g. from imported tables) are never features; they are dropped in SQL.

    *Stability*: ``stable_only=None`` keeps, for each ROI that has rows in
    ``feature_stability`` for the parameter set, the features with ``stable = true`` in any
    method (readers or perturbation) and keeps every feature of ROIs without stability
    rows; ``True`` requires stability rows for every ROI; ``False`` keeps all features.

    The rows are selected in SQL (ROI, parameter set, patients, stability) from the
    ``features`` view, which also covers Parquet-backed features (:mod:`.parquet`), and
    pivoted column-wise; the whole table is never loaded.

Clinical (:func:`clinical`)
    The typed ``clinical`` view with the keys of its ``extra`` JSON as columns, flattened
    once by :func:`radiogenomics.clinical.table.flatten_extra`; derived indices (NLR, PLR,
    SII, PNI, LNR, LODDS) by :func:`radiogenomics.clinical.indices.derived_indices`.

Risk groups (:func:`risk_groups`), Rad-scores (:func:`radscores`), models (:func:`model_formula`),
expression (:func:`expression`), endpoints (:func:`endpoint`), immune scores, DE results
    One check and one message each: a missing grouping, model, dataset ... raises
    :class:`~radiogenomics.exceptions.NotInStoreError` naming what the store has and the
    command that creates it.

Every function takes an open :class:`~radiogenomics.store.Store` (read-only is enough).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..exceptions import InputError, NotInStoreError, RGError
from . import results as _results

if TYPE_CHECKING:  # pandas loads lazily: `rg de` reads through here without it (see expression_arrays)
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "DIAGNOSTICS_PREFIX", "ENDPOINTS", "OVERVIEW_QUERIES", "overview", "result_rows", "clinical", "clinical_indices", "dataset_info", "datasets", "de_results",
    "default_params_hash", "endpoint", "expression", "feature_inventory", "feature_matrix", "feature_table",
    "groupings", "immune_scores", "model_formula", "radscores", "resolve_params_hash", "risk_groups",
    "roi_volumes", "stable_features", "usable_rois", "wide_by_patient",
]

#: feature-name prefix of pyradiomics diagnostics (never modelled)
DIAGNOSTICS_PREFIX = "diagnostics_"
#: survival endpoints with ``<name>_days`` and ``<name>_event`` columns in ``clinical``
ENDPOINTS = ("os", "dfs")

_NOT_DIAGNOSTIC = "feature NOT LIKE 'diagnostics\\_%' ESCAPE '\\'"


def _ids(values: Sequence[Any] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


def _in(column: str, values: Sequence[Any], args: list[Any]) -> str:
    """``column IN (values)`` with the values bound as one list parameter appended to ``args``."""
    args.append(_ids(values))
    return f"{column} IN (SELECT unnest(?::VARCHAR[]))"


# ============================================================================ features
def default_params_hash() -> str | None:
    """Hash of the default pyradiomics parameter file (None when it cannot be loaded)."""
    try:
        from ..imaging.features import load_params

        return load_params(None).hash
    except Exception:  # noqa: BLE001 - only a tie-breaker; the caller asks for --params-hash instead
        log.debug("default parameter file not loadable", exc_info=True)
        return None


def feature_inventory(store, rois: Sequence[str] | None = None) -> pd.DataFrame:
    """ROIs and parameter sets that have features: ``roi, params_hash, n_patients``.

    Parameters
    ----------
    rois
        Only these ROIs (default: all).
    """
    sql = "SELECT roi, params_hash, count(DISTINCT patient_id) AS n_patients FROM features"
    args: list[Any] = []
    if rois is not None:
        sql += " WHERE " + _in("roi", rois, args)
    return store.query(sql + " GROUP BY ALL ORDER BY roi, params_hash", args)


def resolve_params_hash(store, rois: str | Sequence[str], params_hash: str | None = None,
                        inventory: pd.DataFrame | None = None) -> str:
    """The parameter set used for ``rois`` (see the module docstring for the policy).

    Raises
    ------
    NotInStoreError
        No features for the ROIs (or none with the given ``params_hash``).
    InputError
        Several parameter sets, none of them the default: choose one.
    """
    rois = [rois] if isinstance(rois, str) else list(rois)
    inv = inventory if inventory is not None else feature_inventory(store, rois)
    inv = inv[inv["roi"].isin(rois)]
    what = f"ROI {rois[0]!r}" if len(rois) == 1 else f"ROIs {', '.join(rois)}"
    if inv.empty:
        present = sorted(feature_inventory(store)["roi"].unique())
        raise NotInStoreError(f"no features for {what} in the store (ROIs with features: "
                              f"{', '.join(present) or 'none'}); run `rg features --roi {rois[0]}` first")
    hashes = sorted(inv["params_hash"].unique())
    if params_hash is not None:
        if params_hash not in hashes:
            raise NotInStoreError(f"no features for {what} with params_hash {params_hash!r} (parameter sets "
                                  f"present: {', '.join(hashes)}); pass one of them with --params-hash or run "
                                  "`rg features --params FILE`")
        return params_hash
    if len(hashes) == 1:
        return hashes[0]
    default = default_params_hash()
    if default in hashes:
        return default
    raise InputError(f"{what} has features from {len(hashes)} parameter sets ({', '.join(hashes)}); "
                     "choose one with --params-hash")


def stable_features(store, roi: str, params_hash: str, stable_only: bool | None = None) -> list[str] | None:
    """Stable features of one ROI and parameter set, or None when no stability filter applies.

    ``stable_only`` as in the module docstring.
    """
    if stable_only is False:
        return None
    stab = store.query("SELECT feature, bool_or(stable) AS stable FROM feature_stability "
                       "WHERE roi = ? AND params_hash = ? GROUP BY feature", [roi, params_hash])
    if stab.empty:
        if stable_only:
            raise InputError(f"no stability results for ROI {roi!r} (params {params_hash}); run `rg stability` "
                             "or pass --all-features")
        return None
    keep = sorted(stab.loc[stab["stable"].fillna(False).astype(bool), "feature"])
    if not keep:
        raise InputError(f"no stable feature for ROI {roi!r} (params {params_hash}) among {len(stab)} tested; "
                         "lower the ICC threshold of `rg stability` or pass --all-features")
    return keep


def feature_table(store, rois: str | Sequence[str] = "tumor", params_hash: str | None = None, *,
                  stable_only: bool | None = None, patients: Sequence[str] | None = None) -> pd.DataFrame:
    """Long feature rows ``patient_id, roi, feature, value, params_hash`` under the one policy.

    Parameters
    ----------
    rois
        One ROI or several (e.g. the node ROIs of a patient).
    params_hash
        Parameter set; None = :func:`resolve_params_hash`.
    stable_only
        Stability filter (module docstring).
    patients
        Only these patients (default: all).

    Returns
    -------
    DataFrame
        Sorted by patient, ROI and feature; ``diagnostics_`` rows excluded.
    """
    rois = [rois] if isinstance(rois, str) else list(rois)
    inv = feature_inventory(store, rois)
    params_hash = resolve_params_hash(store, rois, params_hash, inventory=inv)
    present = sorted(inv.loc[inv["params_hash"] == params_hash, "roi"].unique())
    filtered: list[str] = []
    for roi in present:
        if stable_features(store, roi, params_hash, stable_only) is not None:
            filtered.append(roi)
    sql = (f"SELECT f.patient_id, f.roi, f.feature, f.value, f.params_hash FROM features f "
           f"WHERE f.roi IN (SELECT unnest(?::VARCHAR[])) AND f.params_hash = ? AND f.{_NOT_DIAGNOSTIC}")
    args: list[Any] = [present, params_hash]
    if filtered:
        sql += (" AND (f.roi NOT IN (SELECT unnest(?::VARCHAR[])) OR EXISTS (SELECT 1 FROM feature_stability s "
                "WHERE s.stable AND s.roi = f.roi AND s.feature = f.feature AND s.params_hash = f.params_hash))")
        args.append(filtered)
    if patients is not None:
        sql += " AND " + _in("f.patient_id", patients, args)
    long = store.query(sql + " ORDER BY f.patient_id, f.roi, f.feature", args)
    if long.empty:
        raise NotInStoreError(f"no features for ROI(s) {', '.join(present)} (params {params_hash})"
                              + (" for the given patients" if patients is not None else "")
                              + "; run `rg features` first")
    return long


def wide_by_patient(long: pd.DataFrame, columns: pd.Series) -> pd.DataFrame:
    """Long ``patient_id, value`` rows as patients x ``columns`` (first value wins on a repeated key).

    Placed by integer codes, without per-row Python; index and columns sorted.
    """
    import pandas as pd

    rows, row_labels = pd.factorize(long["patient_id"].astype(str), sort=True)
    cols, col_labels = pd.factorize(columns.astype(str), sort=True)
    out = np.full((len(row_labels), len(col_labels)), np.nan)
    values = long["value"].to_numpy(dtype=float)
    # assign in reverse so the first occurrence of a repeated (patient, column) wins
    out[rows[::-1], cols[::-1]] = values[::-1]
    return pd.DataFrame(out, index=pd.Index(row_labels, name="patient_id"), columns=list(col_labels))


def feature_matrix(store, roi: str = "tumor", params_hash: str | None = None, *, stable_only: bool | None = None,
                   patients: Sequence[str] | None = None, features: Sequence[str] | None = None) -> pd.DataFrame:
    """Wide patients x features matrix of one ROI under the one policy (module docstring).

    Parameters
    ----------
    roi
        ROI name in ``features``.
    params_hash
        Parameter set; None = :func:`resolve_params_hash`.
    stable_only
        Stability filter; None = stable features when stability results exist.
    patients
        Only these patients.
    features
        Exactly these columns, in this order (an error names any the store lacks).

    Returns
    -------
    DataFrame
        Indexed by ``patient_id`` (sorted), columns sorted by name; ``attrs["params_hash"]``
        is the parameter set used.
    """
    long = feature_table(store, roi, params_hash, stable_only=stable_only, patients=patients)
    used = str(long["params_hash"].iloc[0])
    wide = wide_by_patient(long, long["feature"])
    wide.columns.name = None
    if features is not None:
        missing = [f for f in features if f not in wide.columns]
        if missing:
            raise NotInStoreError(f"features {missing[:5]} not in the store for ROI {roi!r} / params {used}"
                                  + (" (or not stable)" if stable_only is not False else ""))
        wide = wide[list(features)]
    wide.attrs["params_hash"] = used
    return wide


def usable_rois(store, rois: Sequence[str] | None = None, patients: Sequence[str] | None = None,
                readers: Sequence[str] | None = ("default",)) -> pd.DataFrame:
    """ROIs with status ok: ``patient_id, roi, reader, image_path, mask_path, image_sha1, mask_sha1, source,
    ct_series_uid``, sorted by patient, ROI and reader (``default`` first).

    Parameters
    ----------
    rois, patients
        Only these (default: all).
    readers
        Only these segmentations (None: every reader).
    """
    sql = ("SELECT patient_id, roi, reader, image_path, mask_path, image_sha1, mask_sha1, source, ct_series_uid "
           "FROM rois WHERE coalesce(status, 'ok') = 'ok'")
    args: list[Any] = []
    for column, values in (("reader", readers), ("roi", rois), ("patient_id", patients)):
        if values:
            sql += " AND " + _in(column, values, args)
    return store.query(sql + " ORDER BY patient_id, roi, (reader = 'default') DESC, reader", args)


def crosswalk(store, source_ids: Sequence[str]) -> pd.DataFrame:
    """``id_crosswalk`` rows ``source, source_id, patient_id`` of these source ids (every source)."""
    args: list[Any] = []
    return store.query("SELECT source, source_id, patient_id FROM core.id_crosswalk WHERE "
                       + _in("source_id", source_ids, args), args)


def complete_series(store, series_uids: Sequence[str]) -> pd.DataFrame:
    """``series`` rows with status 'complete' among these uids (what a rerun of a download or
    import need not repeat): ``series_uid, patient_id, modality, path, image_count, referenced_series_uid``."""
    args: list[Any] = []
    return store.query("SELECT series_uid, patient_id, modality, path, image_count, referenced_series_uid "
                       "FROM core.series WHERE status = 'complete' AND " + _in("series_uid", series_uids, args), args)


def feature_params(store, params_hash: str) -> dict[str, Any]:
    """The stored parameter set ``params_hash``: ``params_yaml, source_path``.

    Raises
    ------
    NotInStoreError
        No such parameter set (the message lists the stored ones).
    """
    row = store.query("SELECT params_yaml, source_path FROM core.feature_params WHERE params_hash = ?", [params_hash])
    if row.empty:
        known = store.query("SELECT params_hash FROM core.feature_params ORDER BY 1").params_hash.tolist()
        raise NotInStoreError(f"no parameter set {params_hash!r} in feature_params (known: {', '.join(known) or 'none'}); "
                              "extract features with `rg features --params FILE` or import them with "
                              "`rg import features FILE --params FILE`")
    return row.iloc[0].to_dict()


def segmentation_series(store, patients: Sequence[str] | None = None) -> pd.DataFrame:
    """Complete SEG / RTSTRUCT series and the CT series each references (``rg rois``' work list).

    Columns ``seg_uid, patient_id, modality, seg_path, ct_uid, ct_path, ct_status, ct_modality,
    segmentation_source, seg_description`` (``ct_*`` NULL when the CT is not stored), sorted by
    patient and series.
    """
    sql = ("SELECT s.series_uid AS seg_uid, s.patient_id, s.modality, s.path AS seg_path, "
           "s.referenced_series_uid AS ct_uid, c.path AS ct_path, c.status AS ct_status, c.modality AS ct_modality, "
           "s.segmentation_source, s.description AS seg_description "
           "FROM core.series s LEFT JOIN core.series c ON c.series_uid = s.referenced_series_uid "
           "WHERE s.modality IN ('SEG', 'RTSTRUCT') AND s.status = 'complete'")
    args: list[Any] = []
    if patients:
        sql += " AND " + _in("s.patient_id", patients, args)
    return store.query(sql + " ORDER BY s.patient_id, s.series_uid", args)


def tumour_rois_not_from_segmentations(store, patients: Sequence[str] | None = None) -> pd.DataFrame:
    """Tumour ROIs (status ok) that no SEG / RTSTRUCT produced (imported ones): ``patient_id, reader,
    image_path, mask_path, image_sha1, ct_series_uid, segmentation_source`` (``rg rois`` rings them too)."""
    sql = ("SELECT patient_id, reader, image_path, mask_path, image_sha1, ct_series_uid, segmentation_source "
           "FROM core.rois WHERE roi = 'tumor' AND status = 'ok' AND source NOT IN ('seg', 'rtstruct')")
    args: list[Any] = []
    if patients:
        sql += " AND " + _in("patient_id", patients, args)
    return store.query(sql, args)


def has_patient(store, patient_id: str) -> bool:
    """Whether ``patient_id`` is registered in ``patients``."""
    return not store.query("SELECT 1 FROM core.patients WHERE patient_id = ?", [str(patient_id)]).empty


#: scanner facts stored per CT series (read from the DICOM headers by the connectors)
SCANNER_COLUMNS = ("manufacturer", "manufacturer_model", "convolution_kernel", "slice_thickness")


def scanner_facts(store, roi: str, column: str) -> pd.Series:
    """One scanner fact (:data:`SCANNER_COLUMNS`) of the CT each patient's ``roi`` (default reader) was
    drawn on: Series indexed by ``patient_id`` (patients without the fact left out)."""
    if column not in SCANNER_COLUMNS:
        raise InputError(f"{column!r} is not a scanner column ({', '.join(SCANNER_COLUMNS)})")
    rows = store.query(f"SELECT r.patient_id, s.{column} AS value FROM rois r JOIN series s "
                       "ON s.series_uid = r.ct_series_uid WHERE r.roi = ? AND r.reader = 'default' "
                       "AND coalesce(r.status, 'ok') = 'ok' ORDER BY r.patient_id", [roi])
    return rows.dropna().drop_duplicates("patient_id").set_index("patient_id")["value"]


def roi_volumes(store, rois: Sequence[str] | None = None) -> pd.DataFrame:
    """``patient_id, roi, volume_mm3`` of the usable ROIs (status ok, default reader)."""
    sql = "SELECT patient_id, roi, volume_mm3 FROM rois WHERE status = 'ok' AND reader = 'default'"
    args: list[Any] = []
    if rois is not None:
        sql += " AND " + _in("roi", rois, args)
    return store.query(sql + " ORDER BY patient_id, roi", args)


# ============================================================================ clinical
def clinical(store, columns: Sequence[str] | None = None, patients: Sequence[str] | None = None,
             *, keep_extra: bool = False) -> pd.DataFrame:
    """The clinical table, typed, with ``extra`` flattened once (one row per patient).

    Parameters
    ----------
    columns
        Only these columns (plus ``patient_id``); typed columns or flattened ``extra`` keys
        (exact or normalised name).  A column the cohort lacks raises InputError.
    patients
        Only these patients.
    keep_extra
        Also keep the raw ``extra`` JSON column.

    Returns
    -------
    DataFrame
        ``patient_id`` column first; empty (with the typed columns) when nothing is loaded.
    """
    from ..clinical.table import flatten_extra, resolve_column

    sql = "SELECT * FROM clinical"
    args: list[Any] = []
    if patients is not None:
        sql += " WHERE " + _in("patient_id", patients, args)
    frame = flatten_extra(store.query(sql + " ORDER BY patient_id", args), keep_extra=keep_extra)
    frame = frame.drop(columns=[c for c in ("run_id",) if c in frame.columns])
    if columns is None:
        return frame
    picked, lacking = ["patient_id"], []
    for name in columns:
        col = resolve_column(frame, name)
        if col is None:
            lacking.append(name)
        elif col not in picked:
            picked.append(col)
    if lacking:
        raise InputError(f"clinical column(s) {lacking} are neither columns of `clinical` nor keys of "
                         f"clinical.extra (available: {', '.join(c for c in frame.columns if c != 'patient_id')})")
    return frame[picked]


def clinical_indices(store, patients: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """:func:`clinical` plus the derived indices (NLR, PLR, SII, PNI, LNR, LODDS) it allows.

    Returns
    -------
    (DataFrame, list of str)
        See :func:`radiogenomics.clinical.indices.derived_indices`.
    """
    from ..clinical.indices import derived_indices

    return derived_indices(clinical(store, patients=patients))


def endpoint(store, name: str, cohort: str | None = None, patients: Sequence[str] | None = None) -> pd.DataFrame:
    """``time, event`` per patient (index ``patient_id``) of a survival endpoint.

    From ``clinical.<name>_days`` and ``<name>_event``; patients lacking either are left
    out.  ``cohort`` keeps only one ``clinical.cohort``.
    """
    if name not in ENDPOINTS:
        raise InputError(f"endpoint must be one of {ENDPOINTS}, not {name!r}")
    sql = f"SELECT patient_id, {name}_days AS time, {name}_event AS event FROM clinical WHERE TRUE"
    args: list[Any] = []
    if cohort:
        sql += " AND cohort = ?"
        args.append(cohort)
    if patients is not None:
        sql += " AND " + _in("patient_id", patients, args)
    d = store.query(sql + " ORDER BY patient_id", args).dropna().set_index("patient_id")
    if d.empty:
        raise NotInStoreError(f"no patient{' of cohort ' + repr(cohort) if cohort else ''} has {name}_days and "
                              f"{name}_event in `clinical`; import the clinical data first (`rg fetch clinical`)")
    d["event"] = d["event"].astype(int)
    return d


# ============================================================================ models, scores, groups
def model_formula(store, model_id: str) -> dict:
    """The stored formula (dict) of a model."""
    row = store.query("SELECT formula FROM models WHERE model_id = ?", [model_id])
    if row.empty:
        known = store.query("SELECT model_id FROM models ORDER BY created_at DESC LIMIT 5").model_id.tolist()
        raise NotInStoreError(f"no model {model_id!r} in the store (recent: {known or 'none'}); "
                              "fit one with `rg radscore fit`")
    f = row.formula.iloc[0]
    return json.loads(f) if isinstance(f, str) else dict(f)


def radscores(store, model_id: str, cohort: str | None = None, patients: Sequence[str] | None = None,
              dataset: str | None = None) -> pd.Series:
    """Rad-scores of one model (Series ``score`` indexed by ``patient_id``; may be empty).

    Parameters
    ----------
    cohort
        Only patients scored in this cohort (train / validation / external).
    patients
        Only these patients.
    dataset
        Only patients with a sample in this expression dataset.
    """
    sql = "SELECT patient_id, score FROM radscores WHERE model_id = ? AND score IS NOT NULL"
    args: list[Any] = [model_id]
    if cohort:
        sql += " AND cohort = ?"
        args.append(cohort)
    if patients is not None:
        sql += " AND " + _in("patient_id", patients, args)
    if dataset:
        sql += " AND patient_id IN (SELECT patient_id FROM samples WHERE dataset = ? AND patient_id IS NOT NULL)"
        args.append(dataset)
    return store.query(sql + " ORDER BY patient_id", args).set_index("patient_id")["score"]


def groupings(store) -> list[str]:
    """Names of the stored risk groupings."""
    return store.query("SELECT DISTINCT grouping FROM risk_groups ORDER BY 1")["grouping"].tolist()


def _require_groups(grouping: str, present: Sequence[str], groups: Sequence[str] | None) -> None:
    """The one check of a grouping's rows: every requested group has patients."""
    if groups is None:
        return
    present = set(present)
    lacking = [g for g in groups if g not in present]
    if lacking:
        raise InputError(f"grouping {grouping!r} has no patients in group(s) {lacking} "
                         f"(groups present: {sorted(present)}); pass --groups accordingly")


def _no_grouping(store, grouping: str) -> NotInStoreError:
    known = groupings(store)
    return NotInStoreError(f"no risk groups named {grouping!r} in the store (known: {', '.join(known) or 'none'}); "
                           f"create grouping {grouping!r} with `rg groups --model MODEL_ID --grouping {grouping}`")


def risk_groups(store, grouping: str, groups: Sequence[str] | None = None) -> pd.DataFrame:
    """One grouping's rows ``patient_id, grp, model_id, score, method`` (one check, one message).

    Parameters
    ----------
    groups
        Groups that must have patients (e.g. ``("high", "low")`` for a comparison).

    Raises
    ------
    NotInStoreError
        The grouping does not exist.
    InputError
        A requested group has no patient.
    """
    rows = store.query("SELECT patient_id, grp, model_id, score, method FROM risk_groups WHERE grouping = ? "
                       "ORDER BY patient_id", [grouping])
    if rows.empty:
        raise _no_grouping(store, grouping)
    rows["grp"] = rows["grp"].astype(str)
    _require_groups(grouping, rows["grp"].tolist(), groups)
    return rows


def group_labels(store, grouping: str, groups: Sequence[str] | None = None) -> dict[str, str]:
    """``patient_id -> group`` of one grouping, sorted by patient, as plain Python (no pandas).

    The same rows and checks as :func:`risk_groups`, for the stages that start fast (``rg de``).
    """
    _, rows = store.fetch("SELECT patient_id, grp FROM risk_groups WHERE grouping = ? ORDER BY patient_id",
                          [grouping])
    if not rows:
        raise _no_grouping(store, grouping)
    labels = {str(p): str(g) for p, g in rows}
    _require_groups(grouping, list(labels.values()), groups)
    return labels


def datasets(store) -> list[str]:
    """Ids of the stored expression datasets."""
    return store.query("SELECT dataset_id FROM datasets ORDER BY 1")["dataset_id"].tolist()


def dataset_info(store, dataset_id: str) -> dict[str, Any]:
    """The ``datasets`` row of one expression dataset (plain Python values, None where NULL)."""
    columns, rows = store.fetch("SELECT * FROM datasets WHERE dataset_id = ?", [dataset_id])
    if not rows:
        known = datasets(store)
        raise NotInStoreError(f"dataset {dataset_id!r} is not in the store (known: {', '.join(known) or 'none'}); "
                              "import it first (`rg fetch geo`)")
    return dict(zip(columns, rows[0]))


def expression_arrays(store, dataset_id: str) -> tuple[np.ndarray, list[str], list[str]]:
    """``(values, genes, patients)``: one dataset as a genes x patients float array (NaN where NA).

    Genes and patients sorted.  The read behind :func:`expression`, without pandas (``rg de``
    starts in half the time without it).
    """
    dataset_info(store, dataset_id)
    values, gene_labels, patient_labels = store.expression_matrix(dataset_id)
    if not gene_labels:
        raise NotInStoreError(f"dataset {dataset_id!r} has no expression values in the store; "
                              "import it again (`rg fetch geo`)")
    return values, list(gene_labels), list(patient_labels)


def expression(store, dataset_id: str, patients: Sequence[str] | None = None,
               genes: Sequence[str] | None = None) -> pd.DataFrame:
    """Genes x patients matrix (float, NaN where NA) of one dataset, optionally only some patients/genes.

    Read by :func:`expression_arrays` (coded in SQL, scattered in numpy: no Python per
    value); genes and patients sorted.
    """
    import pandas as pd

    values, gene_labels, patient_labels = expression_arrays(store, dataset_id)
    wide = pd.DataFrame(values, index=pd.Index(gene_labels, name="gene"), columns=patient_labels)
    if genes is not None:
        wide = wide.loc[wide.index.isin([str(g) for g in genes])]
    if patients is not None:
        wide = wide.loc[:, wide.columns.isin([str(p) for p in patients])]
    return wide


# ============================================================================ other results
def immune_scores(store, dataset_id: str, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """``patient_id, method, score, value`` of one dataset's immune scores (may be empty)."""
    sql = "SELECT patient_id, method, score, value FROM immune_scores WHERE dataset_id = ?"
    args: list[Any] = [dataset_id]
    if methods is not None:
        sql += " AND " + _in("method", methods, args)
    return store.query(sql + " ORDER BY patient_id, method, score", args)


def de_results(store, grouping: str, dataset_id: str, columns: Sequence[str] | None = None,
               method: str | None = None, contrast: str | None = None) -> pd.DataFrame:
    """Rows of ``de_results`` for one grouping and dataset (may be empty)."""
    cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    sql = f"SELECT {cols} FROM de_results WHERE grouping = ? AND dataset_id = ?"
    args: list[Any] = [grouping, dataset_id]
    if method:
        sql += " AND method = ?"
        args.append(method)
    if contrast:
        sql += " AND contrast = ?"
        args.append(contrast)
    return store.query(sql, args)


def result_rows(store, table: str, **where: Any) -> pd.DataFrame:
    """Rows of a declared result table (:mod:`.results`), checked against its declared columns.

    Parameters
    ----------
    table
        A name of :data:`radiogenomics.store.results.RESULT_TABLES`.
    **where
        ``column=value`` filters; a list or tuple value means ``column IN (...)``.

    Raises
    ------
    StoreError
        The stored table lacks a declared column (written by another version).
    """
    decl = _results.result_table(table)
    sql = f'SELECT * FROM "{decl.name}" WHERE TRUE'
    args: list[Any] = []
    for column, value in where.items():
        if column not in decl.columns:
            raise InputError(f"{decl.name} has no column {column!r} (declared: {', '.join(decl.columns)})")
        if isinstance(value, (list, tuple)):
            sql += " AND " + _in(f'"{column}"', value, args)
        else:
            sql += f' AND "{column}" = ?'
            args.append(value)
    return _results.require_columns(store.query(sql, args), decl)


#: what the report shows about the store as a whole (inventory tables, not results)
OVERVIEW_QUERIES: dict[str, str] = {
    "patients": "SELECT * FROM patients",
    "series": "SELECT series_uid, patient_id, modality, status, error FROM series",
    "rois": "SELECT patient_id, roi, reader, status, reason, voxels, volume_mm3, run_id FROM rois",
    "features_n": "SELECT patient_id, roi, params_hash, count(*) AS n_features FROM features GROUP BY ALL",
    "failures": "SELECT * FROM failures",
    "stability": "SELECT * FROM feature_stability",
    "feature_params": "SELECT * FROM feature_params",
    "runs": "SELECT * FROM runs ORDER BY started_at",
    "datasets": "SELECT * FROM datasets",
    "expr_patients": "SELECT dataset AS dataset_id, patient_id, count(value) AS n_values FROM expression GROUP BY ALL",
}


def overview(store, names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Inventory frames (:data:`OVERVIEW_QUERIES`) plus the flattened ``clinical``; empty where unreadable."""
    import pandas as pd

    out: dict[str, pd.DataFrame] = {}
    for name in names or [*OVERVIEW_QUERIES, "clinical"]:
        try:
            out[name] = clinical(store) if name == "clinical" else store.query(OVERVIEW_QUERIES[name])
        except RGError as exc:  # a table of an older store: shown as absent
            log.debug("overview %s not readable: %s", name, exc)
            out[name] = pd.DataFrame()
    return out


# ============================================================================ feature cache
def feature_cache_keys(store, params_hash: str) -> set[tuple[str, str, str, str]]:
    """The ROIs whose features of a parameter set are stored (``rg features``' cache).

    Parameters
    ----------
    params_hash
        The parameter set.

    Returns
    -------
    set of tuple
        ``(patient_id, roi, image_sha1, mask_sha1)`` of every ROI with stored features under
        ``params_hash``; a ROI whose image or mask changed has another key.
    """
    rows = store.query("SELECT patient_id, roi, image_sha1, mask_sha1 FROM features WHERE params_hash = ? "
                       "GROUP BY patient_id, roi, image_sha1, mask_sha1", [params_hash])
    return set(zip(rows.patient_id, rows.roi, rows.image_sha1, rows.mask_sha1))


def feature_count(store, params_hash: str) -> int:
    """Number of distinct features stored under a parameter set.

    Parameters
    ----------
    params_hash
        The parameter set.

    Returns
    -------
    int
        Distinct ``feature`` names in ``features`` with this ``params_hash`` (0 when none).
    """
    got = store.query("SELECT count(DISTINCT feature) AS n FROM features WHERE params_hash = ?", [params_hash])
    return int(got.n.iloc[0])
