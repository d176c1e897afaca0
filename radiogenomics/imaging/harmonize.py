"""``rg harmonize``: ComBat on a parameter set's features, written as a new parameter set beside it.

The batch is a scanner fact of the CT each ROI was drawn on (``series.manufacturer``,
``manufacturer_model``, ``convolution_kernel``, ``slice_thickness``) or a clinical column.
ComBat is fitted on the training patients only (a list, or the ``train`` cohort of a Rad-score
model) and applied unchanged to every other patient of a seen batch; patients of a batch the
training patients do not have are recorded as failures, never guessed. The originals are not
touched: the harmonised values get ``params_hash = <source>+combat-<digest>`` and a
``feature_params`` row saying how they were made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..exceptions import DataQualityWarning, InputError
from ..result import StageResult, stage_entry
from ..store import RunRecorder, StoreLike, StoreSession, reading
from .combat import ComBat

log = logging.getLogger(__name__)

#: how error messages name the --train file
_TRAIN_LIST = "training list"


def _batch(st, column: str, roi: str) -> pd.Series:
    from ..store import tables

    if column in tables.SCANNER_COLUMNS:
        facts = tables.scanner_facts(st, roi, column)
        if facts.empty:
            raise InputError(f"no series {column} is stored for the CTs of ROI {roi!r}; fetch or import the imaging "
                             "again with this version (it stores the scanner facts), or use a clinical column")
        return facts.astype(str).rename("batch")
    try:
        rows = tables.clinical(st, [column])
    except InputError as exc:
        raise InputError(f"--batch {column!r} is neither a scanner column ({', '.join(tables.SCANNER_COLUMNS)}) "
                         f"nor a clinical column: {exc}") from None
    return rows.set_index("patient_id").iloc[:, 0].dropna().astype(str).rename("batch")


def _train_patients(st, train: Sequence[str] | None, model_id: str | None, available: pd.Index) -> list[str]:
    if train is not None and model_id is not None:
        raise InputError("give the training patients with --train or --model, not both")
    if model_id is not None:
        from ..store import tables

        scored = tables.radscores(st, model_id, cohort="train")
        if scored.empty:
            raise InputError(f"model {model_id!r} has no training patients in radscores; fit it with `rg radscore fit`")
        train = list(scored.index)
    if train is None:
        warnings.warn("no training patients given (--train / --model): ComBat is fitted on every patient, so "
                      "held-out patients inform the harmonisation of the training ones", DataQualityWarning,
                      stacklevel=3)
        return list(available)
    return [p for p in train if p in available]


@stage_entry
def run_harmonize(store: StoreLike, batch: str, *, roi: str = "tumor", params_hash: str | None = None,
                  preserve: Sequence[str] = (), train: Sequence[str] | None = None, model_id: str | None = None,
                  parametric: bool = True, train_file: str | Path | None = None) -> StageResult:
    """``rg harmonize --batch COLUMN``: ComBat-harmonised copy of a parameter set's features.

    Parameters
    ----------
    batch
        A scanner column of ``series`` (:data:`radiogenomics.store.tables.SCANNER_COLUMNS`) or a column of ``clinical``.
    roi, params_hash
        The features to harmonise (the parameter set is required when the ROI has several).
    preserve
        Clinical columns whose effects ComBat keeps (e.g. ``age``, ``histology``).
    train, train_file, model_id
        Training patients: a list, a patient-list file (``--train``), or the ``train`` cohort
        of a Rad-score model.
    parametric
        Parametric (default) or non-parametric empirical Bayes.

    Returns
    -------
    StageResult
        ``summary["params_hash"]`` is the new parameter set; counts ``patients``, ``features``,
        ``train``, ``failed``.
    """
    from ..patient_list import training_patients
    from ..store import tables

    train = training_patients(train, train_file, what=_TRAIN_LIST)
    with reading(store) as st:
        X = tables.feature_matrix(st, roi, params_hash, stable_only=False)
        source_hash = str(X.attrs["params_hash"])
        b = _batch(st, batch, roi)
        cov = with_cov = None
        if preserve:
            cov = tables.clinical(st, list(preserve)).set_index("patient_id")
            with_cov = cov.index[cov.notna().all(axis=1)]  # complete covariates
        complete = X.index[X.notna().all(axis=1)]
        dropped = X.columns[X.loc[complete].nunique() < 2] if len(complete) else X.columns
        X = X.drop(columns=dropped)
        usable = complete.intersection(b.index)
        if with_cov is not None:
            usable = usable.intersection(with_cov)
        train_ids = _train_patients(st, list(train) if train is not None else None, model_id, usable)
    if len(train_ids) < 4:
        raise InputError(f"only {len(train_ids)} training patient(s) have complete features, a batch"
                         f"{' and every --preserve column' if preserve else ''}; ComBat needs more")
    model = ComBat(parametric=parametric).fit(X.loc[train_ids], b, cov.loc[train_ids] if cov is not None else None)
    seen = b.reindex(usable).isin(model.batches_)
    apply_ids = list(usable[seen.to_numpy()])
    harmonised = model.transform(X.loc[apply_ids], b, cov.loc[apply_ids] if cov is not None else None)
    settings = {"source_params_hash": source_hash, "roi": roi, "batch": batch, "preserve": list(preserve),
                "parametric": parametric, "train_patients": sorted(train_ids), "batches": model.batches_}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    new_hash = f"{source_hash}+combat-{digest}"
    rows = harmonised.rename_axis("patient_id").reset_index().melt(id_vars="patient_id", var_name="feature",
                                                                  value_name="value")
    rows["roi"], rows["params_hash"] = roi, new_hash

    def reason(p: str) -> str:
        if p not in complete:
            return "missing feature values"
        if p not in b.index:
            return "no batch"
        if with_cov is not None and p not in with_cov:
            return f"missing --preserve value(s) {list(preserve)}"
        return f"batch {b[p]!r} not among the training patients' batches {model.batches_}"

    failed = {p: reason(p) for p in X.index.difference(pd.Index(apply_ids))}
    session = StoreSession(store)
    params = {**settings, "params_hash": new_hash, "train_patients": len(train_ids), "model_id": model_id,
              "dropped_constant_features": list(map(str, dropped))}
    with RunRecorder(session, "rg harmonize", params) as run:
        for p, reason in sorted(failed.items()):
            run.record_failure("harmonize", p, f"not harmonised: {reason}", item=new_hash)
        with session.open() as st, st.transaction():
            st.upsert("feature_params", pd.DataFrame([{"params_hash": new_hash, "params_yaml": json.dumps(
                {"combat": settings}, indent=1), "source_path": f"rg harmonize (from {source_hash})"}]),
                run_id=run.run_id)
            st.upsert("features", rows, run_id=run.run_id)
        run_id = run.run_id
    log.info("harmonised %d patients x %d features by %s -> %s", len(apply_ids), X.shape[1], batch, new_hash)
    return StageResult("harmonize", run_ids=[run_id],
                       counts={"patients": len(apply_ids), "features": int(X.shape[1]), "train": len(train_ids),
                               "failed": len(failed)},
                       partial=bool(failed),
                       summary={"params_hash": new_hash, "source_params_hash": source_hash, "batches": model.batches_,
                                "run_id": run_id})


def read_train_file(path: str | Path | None) -> list[str] | None:
    """Training patients from a patient-list file (``None`` when not given)."""
    if path is None:
        return None
    from ..patient_list import read_patient_list

    return read_patient_list(path, what=_TRAIN_LIST)
