"""``rg classify`` as a stage: fit and compare the panel per feature set (pure), write models and evidence.

``core.models`` gets kind ``classifier`` rows and ``core.model_results`` the
``classify*:<endpoint>`` analyses (see :func:`write_classify`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ...exceptions import InputError, StatisticalWarning
from ...result import StageResult, stage_entry
from ..delong import delong_test
from .cv import ClassificationResult, _check_folds, classify
from .data import ClassifyData, load_classify_data
from .estimators import DEFAULT_MODELS, MODEL_NAMES, LassoLogisticSignature
from .metrics import reader_comparison

__all__ = ["ClassifyOutcome", "compute_classify", "run_classify", "write_classify"]

@dataclass
class ClassifyOutcome:
    """Results of :func:`compute_classify`: one ClassificationResult per feature set."""

    data: ClassifyData
    results: dict[str, ClassificationResult]
    readers: pd.DataFrame
    cross_set: pd.DataFrame
    parameters: dict[str, Any]
    #: set by :func:`run_classify` once written: the run and the rows written per table
    run_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """feature_set, model, cohort, auc, auc_lower, auc_upper, accuracy, precision, recall, f1."""
        parts = []
        for name, res in self.results.items():
            m = res.metrics.copy()
            m.insert(0, "feature_set", name)
            parts.append(m)
        return pd.concat(parts, ignore_index=True)


def compute_classify(data: ClassifyData, models: Sequence[str] = DEFAULT_MODELS, seed: int = 0,
                     inner_folds: int = 5, outer_folds: int = 5,
                     progress: Callable[[str], None] | None = None) -> ClassifyOutcome:
    """Fit the panel on each feature set and on their combination (if more than one).

    Reader comparison (when ``data.reader`` is set) uses, per feature set, the model
    with the best out-of-fold training AUC.
    """
    bad = [m for m in models if m not in MODEL_NAMES]
    if bad:
        raise InputError(f"unknown model(s) {bad}; choose from {', '.join(MODEL_NAMES)}")
    if not models:
        raise InputError(f"no models requested; choose from {', '.join(MODEL_NAMES)}")
    _check_folds(inner_folds, outer_folds)
    sets = dict(data.feature_sets)
    if len(sets) > 1:
        sets["combined"] = pd.concat(list(data.feature_sets.values()), axis=1)
    results = {}
    ytr = data.y.loc[data.train_ids]
    yva = data.y.loc[data.valid_ids] if data.valid_ids else None
    for name, frame in sets.items():
        Xtr = frame.loc[data.train_ids]
        Xva = frame.loc[data.valid_ids] if data.valid_ids else None
        results[name] = classify(Xtr, ytr, Xva, yva, models=models, seed=seed, inner_folds=inner_folds,
                                 outer_folds=outer_folds,
                                 progress=(lambda m, n=name: progress(f"{n}:{m}")) if progress else None)
    # DeLong between the best model of every feature set (validation, else cv)
    cross_rows = []
    cohort = "validation" if data.valid_ids else "cv"
    best = {n: r.best_model("cv") for n, r in results.items()}
    y_eval = (yva if data.valid_ids else ytr).to_numpy()
    pairs = itertools.combinations(results, 2) if 0 < y_eval.sum() < len(y_eval) else []
    for a, b in pairs:
        fa, fb = results[a].models[best[a]], results[b].models[best[b]]
        pa = fa.valid_prob if data.valid_ids else fa.oof_prob
        pb = fb.valid_prob if data.valid_ids else fb.oof_prob
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            t = delong_test(y_eval, pa, pb)
        cross_rows.append(dict(model_a=f"{a}:{best[a]}", model_b=f"{b}:{best[b]}", cohort=cohort,
                               auc_a=t.auc_a, auc_b=t.auc_b, z=t.z, pvalue=t.pvalue))
    readers = []
    if data.reader is not None:
        if not data.valid_ids:
            raise InputError("the reader comparison needs a validation cohort (use --split or --train)")
        for name, res in results.items():
            fm = res.models[best[name]]
            tab = reader_comparison(yva.to_numpy(), data.reader.loc[data.valid_ids].to_numpy(), fm.valid_prob,
                                    ytr.to_numpy(), data.reader.loc[data.train_ids].to_numpy(), fm.oof_prob,
                                    seed=seed)
            tab.insert(0, "model", f"{name}:{best[name]}")
            readers.append(tab)
    params = dict(endpoint=data.endpoint, positive=data.positive, feature_sets=list(data.feature_sets),
                  models=list(models), seed=seed, inner_folds=inner_folds, outer_folds=outer_folds,
                  n_train=len(data.train_ids), n_validation=len(data.valid_ids), params_hash=data.params_hash)
    return ClassifyOutcome(data=data, results=results,
                           readers=pd.concat(readers, ignore_index=True) if readers else pd.DataFrame(),
                           cross_set=pd.DataFrame(cross_rows), parameters=params)


def _model_id(endpoint: str, feature_set: str, model: str) -> str:
    return f"classifier:{endpoint}:{feature_set}:{model}"


def write_classify(store, outcome: ClassifyOutcome, run_id: str) -> dict[str, int]:
    """Write models and their evidence; replaces earlier results for the same endpoint.

    ``core.models``: one row per feature set x model (kind ``classifier``).
    ``core.model_results`` analyses (``<endpoint>`` = the endpoint column):
    ``classify:<endpoint>`` (metrics per cohort train|cv|validation),
    ``classify_coef:<endpoint>`` (lasso coefficients), ``classify_delong:<endpoint>``
    (pairs of models; term = the other model), ``classify_dca:<endpoint>`` (term =
    threshold; subjects include ``treat_all``), ``classify_reader:<endpoint>`` and
    ``classify_prediction:<endpoint>`` (term = patient_id, statistic probability).
    """
    data = outcome.data
    ep = data.endpoint
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    model_rows, res_rows = [], []

    def add(analysis, subject, term, statistic, value, cohort):
        res_rows.append(dict(analysis=f"{analysis}:{ep}", subject=subject, term=str(term), statistic=statistic,
                             value=None if value is None or (isinstance(value, float) and np.isnan(value))
                             else float(value), cohort=cohort))

    metric_cols = ["n", "n_positive", "auc", "auc_se", "auc_lower", "auc_upper", "accuracy", "precision", "recall",
                   "f1", "sensitivity", "specificity", "cutoff", "cv_auc_mean", "cv_auc_sd"]
    for fs, res in outcome.results.items():
        for name, fm in res.models.items():
            mid = _model_id(ep, fs, name)
            formula: dict[str, Any] = dict(model=name, feature_set=fs, best_params=fm.best_params,
                                           features=fm.feature_names, positive=data.positive,
                                           cv_aucs=[float(a) for a in fm.cv_aucs], seed=res.seed)
            if isinstance(fm.estimator, LassoLogisticSignature):
                est = fm.estimator
                formula.update(coefficients=fm.coefficients.to_dict(), intercept=est.intercept_,
                               means=dict(zip(fm.feature_names, est.mean_.tolist())),
                               sds=dict(zip(fm.feature_names, est.scale_.tolist())),
                               radscore_cutoff=est.cutoff_, train_sensitivity=est.sensitivity_,
                               train_specificity=est.specificity_)
                for feat, coef in fm.coefficients.items():
                    add("classify_coef", mid, feat, "coef", coef, "train")
                add("classify_coef", mid, "(Intercept)", "coef", est.intercept_, "train")
            model_rows.append(dict(model_id=mid, kind="classifier", endpoint=ep, formula=formula, cutoff=fm.cutoff,
                                   training_patients=list(data.train_ids), params_hash=data.params_hash,
                                   created_at=now))
        for _, row in res.metrics.iterrows():
            mid = _model_id(ep, fs, row["model"])
            for col in metric_cols:
                if col in row and pd.notna(row[col]):
                    add("classify", mid, "", col, row[col], row["cohort"])
        for _, row in res.comparisons.iterrows():
            a, b = _model_id(ep, fs, row["model_a"]), _model_id(ep, fs, row["model_b"])
            for stat in ("z", "pvalue"):
                add("classify_delong", a, b, stat, row[stat], row["cohort"])
            add("classify_delong", a, b, "auc_difference", row["auc_a"] - row["auc_b"], row["cohort"])
        for (model, cohort), grp in res.dca.groupby(["model", "cohort"]) if not res.dca.empty else []:
            mid = _model_id(ep, fs, model)
            for _, r in grp.iterrows():
                add("classify_dca", mid, f"{r['threshold']:.2f}", "net_benefit", r["net_benefit"], cohort)
                add("classify_dca", "treat_all", f"{r['threshold']:.2f}", "net_benefit", r["treat_all"], cohort)
        pred = res.predictions
        for _, r in pred.iterrows():
            mid = _model_id(ep, fs, r["model"])
            add("classify_prediction", mid, r["sample"], "probability", r["probability"], r["cohort"])
            if r["cohort"] == "train":
                add("classify_prediction", mid, r["sample"], "oof_probability", r["oof_probability"], "cv")
    for _, row in outcome.cross_set.iterrows():
        a, b = (f"classifier:{ep}:{row[k]}" for k in ("model_a", "model_b"))
        for stat in ("z", "pvalue"):
            add("classify_delong", a, b, stat, row[stat], row["cohort"])
        add("classify_delong", a, b, "auc_difference", row["auc_a"] - row["auc_b"], row["cohort"])
    for _, row in outcome.readers.iterrows():
        mid = f"classifier:{ep}:{row['model']}"
        for stat in ("auc_a", "auc_b", "ci_a_lower", "ci_a_upper", "ci_b_lower", "ci_b_upper", "z", "pvalue", "n"):
            add("classify_reader", mid, row["comparison"], stat, row[stat], "validation")
    results = pd.DataFrame(res_rows)
    models = pd.DataFrame(model_rows)
    with store.transaction():
        store.delete("model_results", "analysis IN (?, ?, ?, ?, ?, ?)",
                     [f"{a}:{ep}" for a in ("classify", "classify_coef", "classify_delong", "classify_dca",
                                            "classify_reader", "classify_prediction")])
        store.delete("models", "kind = 'classifier' AND endpoint = ?", [ep])
        n_models = store.upsert("models", models, run_id=run_id)
        n_results = store.upsert("model_results", results, run_id=run_id)
    return {"models": n_models, "model_results": n_results}


@stage_entry
def run_classify(store, endpoint: str, *, positive: str | Sequence[str] | None = None,
                 features: Sequence[str] = ("radiomics", "clinical"), models: Sequence[str] = DEFAULT_MODELS,
                 split: float = 0.3, seed: int = 0, train: Sequence[str] | None = None,
                 reader_scores: str | None = None, params_hash: str | None = None,
                 inner_folds: int = 5, outer_folds: int = 5, clinical_columns: Sequence[str] | None = None,
                 rois: Sequence[str] | None = None,
                 progress: Callable[[str], None] | None = None, stable_only: bool | None = None,
                 train_file: str | Path | None = None) -> StageResult:
    """Read, fit, compare and write one binary endpoint in one call (see :func:`load_classify_data`,
    :func:`compute_classify`, :func:`write_classify`); the run is recorded in ``runs``.

    ``store`` is an open store or a store path; a path is opened read-only to read and
    read-write only to write, so the lock is not held while the models are tuned.  The
    result's ``summary`` is the :class:`ClassifyOutcome` (with its ``run_id`` and the rows
    written per table, ``counts``).  ``train_file`` (``--train``) lists the training patients
    instead of ``train`` (format: :mod:`radiogenomics.patient_list`).
    """
    from ...patient_list import training_patients
    from ...store.session import StoreSession, reading

    train = training_patients(train, train_file, what="training-patient file")

    with reading(store) as st:
        data = load_classify_data(st, endpoint, positive, features, split, seed, train, reader_scores, params_hash,
                                  rois=rois, clinical_columns=clinical_columns, stable_only=stable_only)
    outcome = compute_classify(data, models, seed, inner_folds, outer_folds, progress)
    with StoreSession(store).open() as st, st.run("classify", outcome.parameters) as run:
        outcome.counts = write_classify(st, outcome, run.run_id)
        outcome.run_id = run.run_id
    return StageResult("classify", run_ids=[outcome.run_id], counts=dict(outcome.counts), summary=outcome)
