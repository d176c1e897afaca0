"""Store-level stages of the modelling arm: fit / apply the Rad-score, risk groups, survival evidence.

Each public function reads what it needs from the store, computes without holding a write
transaction, then writes its rows (all carrying the run's ``run_id``) in one transaction:
``models`` + ``radscores`` (+ ``model_results`` for the CV path and feature ranking),
``risk_groups``, ``model_results``.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..clinical.table import resolve_column
from ..exceptions import DataQualityWarning, InputError, ModelError, NotInStoreError, RGError
from ..patient_list import read_patient_list
from ..result import StageResult, stage_entry
from ..store import tables
from ..store.results import Analysis, Stat, hr_statistics, km_statistics, km_term
from .cutpoint import cutpoint
from .dca import decision_curve_survival
from .evaluation import YEARS_1_3_5, calibration, compare_models, nomogram
from .groups import STUDY_RANKS, groups_by_cutoff, groups_by_quantiles, groups_by_ranks
from .radscore import RadScore
from .survival import concordance_index, cox, hazard_ratio, kaplan_meier, km_at, logrank_test, median_survival
from .timeroc import time_dependent_auc

log = logging.getLogger(__name__)

ENDPOINTS = tables.ENDPOINTS
#: columns of cox() / hazard_ratio() tables, in the order of results.hr_statistics()
_HR_COLUMNS = ("coef", "HR", "HR_lower", "HR_upper", "p")


def _open(store, read_only: bool):
    """``store`` is an open Store (used as is) or a store path (opened for this block only,
    so a read-write lock is held only while writing)."""
    from ..store.session import StoreSession, reading

    return reading(store) if read_only else StoreSession(store).open()


# --------------------------------------------------------------------------- reading


def load_features(store, roi: str = "tumor", params_hash: str | None = None,
                  stable_only: bool | None = None) -> tuple[pd.DataFrame, str]:
    """Wide feature matrix (patients x features) of one ROI and parameter set.

    Read by :func:`radiogenomics.store.tables.feature_matrix`, whose docstring states the
    one policy (parameter set, ``diagnostics_`` columns, stable features) that
    ``rg radscore fit`` and ``rg classify`` share.

    Parameters
    ----------
    roi
        ROI name in ``features``.
    params_hash
        Parameter set; required only when the ROI has several and none is the default.
    stable_only
        Keep features with ``feature_stability.stable``; ``None`` = when stability rows exist.

    Returns
    -------
    (DataFrame, str)
        The matrix indexed by ``patient_id`` and the parameter hash used.
    """
    wide = tables.feature_matrix(store, roi, params_hash, stable_only=stable_only)
    log.info("%d features of ROI %s (params %s)", wide.shape[1], roi, wide.attrs["params_hash"])
    return wide, wide.attrs["params_hash"]


def load_endpoint(store, endpoint: str, cohort: str | None = None) -> pd.DataFrame:
    """``time, event`` per patient from ``clinical`` (``<endpoint>_days``, ``<endpoint>_event``),
    optionally only the patients of one ``clinical.cohort`` (:func:`radiogenomics.store.tables.endpoint`)."""
    return tables.endpoint(store, endpoint, cohort)


def split_patients(outcome: pd.DataFrame, fraction: float = 0.7, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded random split stratified by event status; returns (train, validation) patient ids."""
    if not 0 < fraction < 1:
        raise InputError(f"--split must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    train: list[str] = []
    for _, part in outcome.groupby("event"):
        ids = np.array(sorted(part.index.astype(str)))
        rng.shuffle(ids)
        train += list(ids[: int(round(fraction * len(ids)))])
    train_set = set(train)
    return sorted(train_set), sorted(set(outcome.index.astype(str)) - train_set)


# --------------------------------------------------------------------------- pure core


@dataclass
class FittedRadScore:
    """What :func:`fit_on_split` learns from the training rows."""

    estimator: RadScore
    cutoff: float
    cutoff_method: str
    cutoff_statistic: float
    scores: pd.Series  # train + validation (complete cases)


def fit_on_split(features: pd.DataFrame, outcome: pd.DataFrame, train_ids: Sequence[str], *,
                 cutoff_method: str = "maxstat", minprop: float = 0.1, horizon: float | None = None,
                 **radscore_params: Any) -> FittedRadScore:
    """Fit a Rad-score and its cut-off on ``train_ids`` only; score every patient.

    Validation rows are not read before the training is finished: only the training
    slice of ``features`` and ``outcome`` is passed to the estimator and the cut-off.
    """
    train_ids = [p for p in train_ids if p in features.index and p in outcome.index]
    if len(train_ids) < 10:
        raise ModelError(f"only {len(train_ids)} training patients with both features and outcome")
    Xtr = features.loc[train_ids]
    ytr = outcome.loc[train_ids]
    est = RadScore(**radscore_params).fit(Xtr, (ytr["time"].to_numpy(), ytr["event"].to_numpy()))
    train_scores = pd.Series(est.predict(Xtr), index=Xtr.index)
    _refuse_degenerate(est, train_scores, len(train_ids), int(ytr["event"].sum()), features.shape[1])
    res = cutpoint(ytr["time"], ytr["event"], train_scores, minprop=minprop, method=cutoff_method,
                   horizon=horizon)
    cut, stat = res.cutpoint, res.statistic
    others = features.index.difference(Xtr.index)
    rest = features.loc[others]
    complete = est.missing_features(rest).map(len) == 0
    scores = pd.concat([train_scores, pd.Series(est.predict(rest[complete]), index=rest.index[complete])])
    return FittedRadScore(est, float(cut), cutoff_method, float(stat), scores)


def _refuse_degenerate(est: RadScore, train_scores: pd.Series, n_train: int, n_events: int,
                       n_candidates: int) -> None:
    """A Rad-score without a feature, or constant on its own training patients, ranks nobody:
    every later step (cut-off, groups, survival, omics) would be an artefact of ties."""
    advice = (f"(fitted on {n_train} training patients with {n_events} events and {n_candidates} candidate "
              "features). Try a smaller penalty (`--lambda min` rather than 1se), more patients or events "
              "(a larger `--split` or training list), or more candidate features (a larger `--top-k`, "
              "`--all-features` instead of stable ones only)")
    if len(est.features_) == 0:
        raise ModelError(f"the LASSO-Cox kept no feature: the Rad-score would be the same for every patient {advice}")
    if np.unique(np.round(train_scores.to_numpy(dtype=float), 12)).size < 2:
        raise ModelError(f"the Rad-score is constant on the training patients ({len(est.features_)} feature(s) "
                         f"kept, all with the same value) {advice}")


# --------------------------------------------------------------------------- stages


def fit_radscore(store, endpoint: str = "dfs", *, train_file: Path | None = None,
                 validation_file: Path | None = None, split: float = 0.7,
                 seed: int = 0, roi: str = "tumor", params_hash: str | None = None,
                 stable_only: bool | None = None, top_k: int | None = 20, n_folds: int = 10,
                 lambda_rule: str = "min", cutoff_method: str = "maxstat", minprop: float = 0.1,
                 horizon: float | None = None, model_id: str | None = None, cohort: str | None = None) -> dict:
    """``rg radscore fit``: features + endpoint -> stored Rad-score model, scores and CV evidence.

    Cohort membership is fixed here: the training patients are stored with cohort ``train``
    and the internal validation patients with ``validation``. Without ``validation_file`` every
    other patient with features and follow-up validates; with it, only the listed ones do, and
    the rest stay unseen by the model (for ``rg radscore apply`` as an external cohort).

    Raises
    ------
    ModelError
        Fewer than 10 patients, or a degenerate model (no feature kept, constant score).

    Returns
    -------
    dict
        ``model_id, run_id, features, coefficients, alpha, cutoff, n_train, n_validation``.
    """
    with _open(store, True) as st:
        features, params_hash = load_features(st, roi=roi, params_hash=params_hash, stable_only=stable_only)
        outcome = load_endpoint(st, endpoint, cohort)
    common = features.index.intersection(outcome.index)
    if len(common) < 10:
        raise ModelError(f"only {len(common)} patients have both {roi} features and {endpoint} follow-up")
    outcome = outcome.loc[common]
    if train_file is not None:
        requested = read_patient_list(train_file, what="training list")
        unknown = [p for p in requested if p not in common]
        if unknown:
            warnings.warn(f"{len(unknown)} training patient(s) lack features or follow-up and are skipped "
                          f"(e.g. {unknown[:3]})", DataQualityWarning, stacklevel=2)
        train = [p for p in requested if p in common]
        validation = sorted(set(common) - set(train))
    else:
        train, validation = split_patients(outcome, split, seed)
    if validation_file is not None:
        requested = read_patient_list(validation_file, what="validation list")
        overlap = sorted(set(requested) & set(train))
        if overlap:
            raise InputError(f"{len(overlap)} patient(s) are in both the training and the validation list "
                             f"(e.g. {overlap[:3]}); a patient validates a model only if it did not train it")
        unknown = [p for p in requested if p not in common]
        if unknown:
            warnings.warn(f"{len(unknown)} validation patient(s) lack features or follow-up and are skipped "
                          f"(e.g. {unknown[:3]})", DataQualityWarning, stacklevel=2)
        validation = sorted(p for p in requested if p in common)
    seen = sorted(set(train) | set(validation))
    params = dict(endpoint=endpoint, train_file=str(train_file) if train_file else None,
                  validation_file=str(validation_file) if validation_file else None, split=split, seed=seed,
                  roi=roi, params_hash=params_hash, top_k=top_k, n_folds=n_folds, lambda_rule=lambda_rule,
                  cutoff_method=cutoff_method, minprop=minprop, horizon=horizon, cohort=cohort)
    fitted = fit_on_split(features.loc[seen], outcome.loc[seen], train, cutoff_method=cutoff_method, minprop=minprop,
                          horizon=horizon, top_k=top_k, n_folds=n_folds, lambda_rule=lambda_rule,
                          random_state=seed)
    est = fitted.estimator
    with _open(store, False) as st, st.run("rg radscore fit", params) as run:
        model_id = model_id or f"radscore-{endpoint}-{run.run_id}"
        formula = {**est.to_formula(), "cutoff": fitted.cutoff, "cutoff_method": cutoff_method,
                   "cutoff_statistic": fitted.cutoff_statistic, "endpoint": endpoint, "roi": roi,
                   "params_hash": params_hash, "training_cohort": cohort or "all", "n_train_patients": len(train),
                   "n_validation_patients": len(validation),
                   "run_id": run.run_id, "model_id": model_id}
        scores = fitted.scores.rename("score").to_frame()
        scores["cohort"] = np.where(scores.index.isin(train), "train", "validation")
        scores = scores.rename_axis("patient_id").reset_index()
        scores["model_id"] = model_id
        evidence = _fit_evidence(est, model_id)
        with st.transaction():
            st.upsert("models", pd.DataFrame([{
                "model_id": model_id, "kind": "radscore", "endpoint": endpoint, "formula": formula,
                "cutoff": fitted.cutoff, "training_patients": sorted(train), "params_hash": params_hash,
                "created_at": _now()}]), run_id=run.run_id)
            # a refit is a new formula: every score of the old one (applied cohorts too) is stale
            st.replace("radscores", scores, "model_id = ?", [model_id], run_id=run.run_id)
            if len(evidence):
                st.upsert("model_results", evidence, run_id=run.run_id)
        run_id = run.run_id
    counts = scores["cohort"].value_counts()
    return {"model_id": model_id, "run_id": run_id, "features": est.features_,
            "coefficients": [float(c) for c in est.coef_], "alpha": est.alpha_, "cutoff": fitted.cutoff,
            "n_train": int(counts.get("train", 0)), "n_validation": int(counts.get("validation", 0)),
            "n_unseen": len(set(common) - set(seen))}


def _fit_evidence(est: RadScore, model_id: str) -> pd.DataFrame:
    rows = []
    for f, c in zip(est.features_, est.coef_):
        rows.append(("radscore_coef", f, "coef", c))
    if hasattr(est, "cv_results_"):
        for r in est.cv_results_.itertuples():
            term = f"{r.alpha:.6g}"
            rows += [("lasso_cv", term, "cvm", r.cvm), ("lasso_cv", term, "cvsd", r.cvsd),
                     ("lasso_cv", term, "n_nonzero", r.n_nonzero)]
        rows += [("lasso_cv", "", "alpha_min", est.alpha_min_), ("lasso_cv", "", "alpha_1se", est.alpha_1se_),
                 ("lasso_cv", "", "alpha", est.alpha_)]
    if est.ranking_ is not None:
        for r in est.ranking_.itertuples():
            rows += [(f"ranking:{r.method}", r.feature, "value", r.value), (f"ranking:{r.method}", r.feature, "rank", r.rank)]
    out = pd.DataFrame(rows, columns=["analysis", "term", "statistic", "value"])
    out["subject"] = model_id
    out["cohort"] = "train"
    return out


def _now():
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def get_model(store, model_id: str) -> dict:
    """The stored formula of a model (dict), or NotInStoreError."""
    with _open(store, True) as st:
        return _get_model(st, model_id)


def _get_model(store, model_id: str) -> dict:
    return tables.model_formula(store, model_id)


def export_model(store, model_id: str, path: Path | None = None) -> dict:
    """The frozen formula as JSON-ready dict, written to ``path`` when given."""
    formula = get_model(store, model_id)
    if path is not None:
        from ..atomic import write_text

        write_text(Path(path), json.dumps(formula, indent=2, sort_keys=True))
    return formula


def import_model(store, path: Path) -> str:
    """Register a formula exported by :func:`export_model` (e.g. from another study's store)."""
    try:
        formula = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read model JSON {path}: {exc}") from exc
    RadScore.from_formula(formula)  # validates
    model_id = formula.get("model_id") or Path(path).stem
    with _open(store, False) as st, st.run("rg radscore import", {"path": str(path)}) as run:
        st.upsert("models", pd.DataFrame([{
            "model_id": model_id, "kind": "radscore", "endpoint": formula.get("endpoint"), "formula": formula,
            "cutoff": formula.get("cutoff"), "params_hash": formula.get("params_hash"),
            "created_at": _now()}]), run_id=run.run_id)
    return model_id


def model_id_or_import(store, model: str) -> str:
    """``rg radscore apply --model``: a model id in the store, or a JSON file from
    :func:`export_model` (registered first with :func:`import_model`)."""
    if model.endswith(".json") and Path(model).is_file():
        return import_model(store, Path(model))
    return model


FIT_COHORTS = ("train", "validation")


def apply_radscore(store, model_id: str, patients: Sequence[str] | None = None, cohort: str = "external",
                   roi: str | None = None, params_hash: str | None = None, *, relabel_seen: bool = False) -> dict:
    """``rg radscore apply``: the frozen formula, unchanged, on patients the model has not seen.

    Cohort membership is a fact per (model, patient): ``train`` and ``validation`` are fixed by
    ``rg radscore fit``. Patients the model was trained or validated on keep that label and are
    reported as skipped (their score under the frozen formula is already stored); only with
    ``relabel_seen`` are they re-labelled ``cohort``, which removes them from their fit cohort.
    Patients lacking a formula feature get a failure row (stage ``radscore_apply``) naming the
    missing features; the others are scored.

    Parameters
    ----------
    cohort
        Label of the newly scored patients (e.g. ``external``); ``train`` and ``validation``
        are reserved for the fit.
    relabel_seen
        Also re-label training / validation patients with ``cohort``.

    Returns
    -------
    dict
        ``run_id, n_scored, n_failed, n_skipped, skipped`` (the seen patients left as they were)
        and ``relabelled`` (patients whose earlier non-fit cohort label changed).
    """
    if cohort in FIT_COHORTS:
        raise InputError(f"cohort {cohort!r} is set by `rg radscore fit` only; label applied scores with another "
                         "name, e.g. --cohort external")
    with _open(store, True) as st:
        formula = _get_model(st, model_id)
        roi = roi or formula.get("roi", "tumor")
        params_hash = params_hash or formula.get("params_hash")
        try:
            # the frozen formula names its features: no stability filter, the model's parameter set
            wide = tables.feature_matrix(st, roi, params_hash, stable_only=False,
                                         patients=list(patients) if patients else None)
        except NotInStoreError:
            wide = pd.DataFrame()
        labels = tables.result_rows(st, "radscores", model_id=model_id)
    labels = labels.set_index("patient_id")["cohort"]
    seen = set(labels.index[labels.isin(FIT_COHORTS)]) | set(formula.get("training_patients") or [])
    est = RadScore.from_formula(formula)
    wanted = list(patients) if patients else sorted(wide.index)
    if not wanted:
        raise InputError(f"no patient has features for ROI {roi!r} (params {params_hash}); run `rg features`")
    skipped = [] if relabel_seen else sorted(p for p in wanted if p in seen)
    if skipped:
        log.info("%d patient(s) trained or validated model %s and keep their label", len(skipped), model_id)
        wanted = [p for p in wanted if p not in seen]
    if relabel_seen and any(p in seen for p in wanted):
        warnings.warn(f"{sum(p in seen for p in wanted)} training/validation patient(s) of {model_id} are "
                      f"re-labelled {cohort!r} (--relabel-seen): they no longer count as train/validation",
                      DataQualityWarning, stacklevel=2)
    if not wanted:
        raise InputError(f"all {len(skipped)} requested patient(s) trained or validated model {model_id!r}, so there "
                         "is nothing to apply it to; give the patients of another cohort with --patients "
                         "(or --relabel-seen to re-label fit patients on purpose)")
    relabelled = sorted(p for p in wanted if p in labels.index and labels[p] != cohort and p not in seen)
    if relabelled:
        warnings.warn(f"{len(relabelled)} patient(s) previously scored as cohort "
                      f"{sorted(set(labels[relabelled]))} are now labelled {cohort!r}", DataQualityWarning, stacklevel=2)
    frame = wide.reindex(wanted)
    for f in est.features_:
        if f not in frame.columns:
            frame[f] = np.nan
    missing = est.missing_features(frame)
    ok = missing.map(len) == 0
    scores = pd.DataFrame({"patient_id": frame.index[ok], "score": est.predict(frame[ok])})
    scores["model_id"] = model_id
    scores["cohort"] = cohort
    params = dict(model_id=model_id, patients=list(patients) if patients else None, cohort=cohort, roi=roi,
                  relabel_seen=relabel_seen)
    with _open(store, False) as st, st.run("rg radscore apply", params) as run:
        for pid, miss in missing[~ok].items():
            run.record_failure("radscore_apply", pid,
                               f"missing {len(miss)} Rad-score feature(s) {miss[:5]} for ROI {roi!r}; "
                               "extract features with the model's parameters", item=model_id)
        with st.transaction():
            st.upsert("radscores", scores, run_id=run.run_id)
        run_id = run.run_id
    return {"run_id": run_id, "n_scored": int(ok.sum()), "n_failed": int((~ok).sum()), "n_skipped": len(skipped),
            "skipped": skipped, "relabelled": relabelled}


def make_groups(store, model_id: str, method: str = "cutoff", *, ranks: Sequence[int] | None = None,
                quantiles: Sequence[float] | None = None, grouping: str | None = None,
                cohort: str | None = None, cutoff: float | None = None,
                patients: Sequence[str] | None = None, dataset: str | None = None) -> dict:
    """``rg groups``: risk groups from stored Rad-scores.

    Parameters
    ----------
    method
        ``cutoff`` (the model's training cut-off, or ``cutoff``: high = score > cut),
        ``ranks`` (group sizes from the top, default the study's 36/32/32 -> proportions),
        ``quantiles`` (score quantiles).
    cohort
        Only patients scored in this cohort (train / validation / external).
    grouping
        Name of the grouping (default ``<model_id>:<method>``).
    patients
        Only these patients (e.g. the external cohort's list).
    dataset
        Only patients with a sample in this expression dataset: the reference study
        ranked the 96 external patients that had RNA-seq, not every scored patient.
    """
    with _open(store, True) as st:
        formula = _get_model(st, model_id)
        s = tables.radscores(st, model_id, cohort=cohort, patients=patients, dataset=dataset)
    if s.empty:
        where = (f" in cohort {cohort}" if cohort else "") + (" among the given patients" if patients is not None else "") \
            + (f" with a sample in dataset {dataset}" if dataset else "")
        raise InputError(f"model {model_id!r} has no scores{where}; run `rg radscore apply` first"
                         + (" or check the dataset id (`rg sql \"SELECT * FROM datasets\"`)" if dataset else ""))
    if s.nunique() < 2:
        raise ModelError(f"model {model_id!r} gives all {len(s)} patients the same Rad-score ({s.iloc[0]:.6g}): "
                         "groups would be assigned by patient order, not by risk. Refit the model "
                         "(`rg radscore fit`) with more candidate features or patients")
    if method == "cutoff":
        cut = cutoff if cutoff is not None else formula.get("cutoff")
        if cut is None:
            raise ModelError(f"model {model_id!r} has no stored cut-off; pass --cutoff")
        g = groups_by_cutoff(s, float(cut))
    elif method == "ranks":
        ranks = list(ranks or STUDY_RANKS)  # recorded in the run's parameters as used
        g = groups_by_ranks(s, ranks)
    elif method == "quantiles":
        if not quantiles:
            raise InputError("--method quantiles needs --quantiles (e.g. 0.333,0.667)")
        g = groups_by_quantiles(s, quantiles)
    else:
        raise InputError(f"unknown grouping method {method!r}; use cutoff, ranks or quantiles")
    _refuse_one_sided(g, s, method, model_id)
    grouping = grouping or f"{model_id}:{method}"
    rows = pd.DataFrame({"grouping": grouping, "patient_id": g.index, "grp": g.to_numpy(),
                         "model_id": model_id, "score": s.loc[g.index].to_numpy(), "method": method})
    params = dict(model_id=model_id, method=method, ranks=list(ranks) if ranks else None,
                  quantiles=list(quantiles) if quantiles else None, grouping=grouping, cohort=cohort,
                  patients=list(patients) if patients is not None else None, dataset=dataset)
    with _open(store, False) as st, st.run("rg groups", params) as run:
        st.replace("risk_groups", rows, "grouping = ?", [grouping], run_id=run.run_id)
        run_id = run.run_id
    return {"run_id": run_id, "grouping": grouping, "counts": g.value_counts().to_dict()}


def _refuse_one_sided(groups: pd.Series, scores: pd.Series, method: str, model_id: str) -> None:
    """Every patient in one group (a cut-off outside the scores), or groups that differ only by how
    tied scores were broken, compare nothing."""
    if groups.nunique() < 2:
        raise ModelError(f"{method} puts all {len(groups)} patients of model {model_id!r} in group "
                         f"{groups.iloc[0]!r} (scores {scores.min():.4g} to {scores.max():.4g}); choose a cut-off "
                         "inside that range (--cutoff), or --method ranks / quantiles")
    ranges = scores.groupby(groups).agg(["min", "max"])
    if len(ranges) > 1 and ranges["min"].nunique() == 1 and ranges["max"].nunique() == 1:
        raise ModelError(f"the {method} groups of model {model_id!r} have identical score ranges: they are split "
                         "inside tied scores, not by risk. Refit the model with more features or patients")


# --------------------------------------------------------------------------- survival evidence


def survival_tables(data: pd.DataFrame, subject: str, *, group_col: str | None = "grp", score_col: str | None = "score",
                    covariates: Sequence[str] = (), times: Sequence[float] = YEARS_1_3_5,
                    reference_group: str = "low", cohort: str = "") -> pd.DataFrame:
    """All survival evidence for one cohort as a long ``model_results`` table (pure; no store).

    ``data`` has ``time, event``, optionally ``grp`` (risk group), ``score`` (Rad-score) and
    clinical ``covariates``.  Produced analyses: ``km`` (survival and CI at ``times`` and the
    median per group), ``logrank``, ``hr`` (group vs ``reference_group``), ``cox_uni``
    (each covariate and the score), ``cox_multi``, ``cindex``, ``td_auc``, ``compare``
    (clinical vs combined), ``calibration:<t>``, ``dca:<t>``, ``nomogram_points``,
    ``nomogram_survival``.  Failing pieces (too few events) are skipped with a warning.
    """
    rows: list[tuple] = []

    def add(analysis, term, statistic, value):
        rows.append((analysis, str(term), statistic, float(value) if value is not None else np.nan))

    def guarded(name, fn):
        try:
            fn()
        except (RGError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
            warnings.warn(f"{name} skipped for {subject}: {exc}", DataQualityWarning, stacklevel=3)

    t, e = data["time"], data["event"]
    has_group = group_col is not None and group_col in data and data[group_col].notna().any()
    has_score = score_col is not None and score_col in data and data[score_col].notna().any()

    def km():
        groups = [("all", np.ones(len(data), bool))]
        if has_group:
            groups += [(g, (data[group_col] == g).to_numpy()) for g in sorted(data[group_col].dropna().unique())]
        for g, m in groups:
            curve = kaplan_meier(t[m], e[m])
            add(Analysis.KM, g, Stat.N, int(m.sum()))
            add(Analysis.KM, g, Stat.EVENTS, float(e[m].sum()))
            add(Analysis.KM, g, Stat.MEDIAN, median_survival(curve))
            for r in km_at(curve, times).itertuples():
                for stat, value in zip(km_statistics(), (r.survival, r.lower, r.upper)):
                    add(Analysis.KM, km_term(g, r.time), stat, value)
    guarded("Kaplan-Meier", km)

    if has_group:
        def lr():
            res = logrank_test(t, e, data[group_col])
            add(Analysis.LOGRANK, "", Stat.CHISQ, res.statistic)
            add(Analysis.LOGRANK, "", Stat.DF, res.df)
            add(Analysis.LOGRANK, "", Stat.P, res.pvalue)
            for g, o, x in zip(res.groups, res.observed, res.expected):
                add(Analysis.LOGRANK, g, Stat.OBSERVED, o)
                add(Analysis.LOGRANK, g, Stat.EXPECTED, x)
        guarded("log-rank", lr)

        def hr():
            ref = reference_group if reference_group in set(data[group_col]) else None
            for r in hazard_ratio(t, e, data[group_col], reference=ref).itertuples():
                for stat, value in zip(hr_statistics(), (r.coef, r.HR, r.HR_lower, r.HR_upper, r.p)):
                    add(Analysis.HR, r.term, stat, value)
        guarded("hazard ratio", hr)

    frame = data.rename(columns={score_col: "radscore"}) if has_score else data
    candidates = list(covariates) + (["radscore"] if has_score else [])
    for cov in candidates:
        def uni(cov=cov):
            res = cox(frame, "time", "event", [cov])
            for term, r in res.table.iterrows():
                for stat, col in zip(hr_statistics(), _HR_COLUMNS):
                    add(Analysis.COX_UNI, term, stat, r[col])
        guarded(f"univariable Cox {cov}", uni)
    if len(candidates) > 1:
        def multi():
            res = cox(frame, "time", "event", candidates)
            for term, r in res.table.iterrows():
                for stat, col in zip(hr_statistics(), _HR_COLUMNS):
                    add(Analysis.COX_MULTI, term, stat, r[col])
            add("cox_multi", "", "cindex", res.concordance)
            add("cox_multi", "", "lr_chisq", res.lr_statistic)
            add("cox_multi", "", "lr_p", res.lr_pvalue)
        guarded("multivariable Cox", multi)

    if has_score:
        def disc():
            sub = frame.dropna(subset=["radscore"])
            add("cindex", "radscore", "C", concordance_index(sub["time"], sub["event"], sub["radscore"]))
            for r in time_dependent_auc(sub["time"], sub["event"], sub["radscore"], times).itertuples():
                add("td_auc", f"radscore@{r.time:g}", "auc", r.auc)
        guarded("discrimination", disc)
        if covariates:
            def comp():
                for r in compare_models(frame, "time", "event", list(covariates), "radscore", times).itertuples():
                    add("compare", f"{r.model}@{r.term}" if r.term else r.model, r.metric, r.value)
            guarded("clinical vs combined", comp)

        def calib_dca_nomo():
            covs = list(covariates) + ["radscore"]
            sub = frame[["time", "event", *covs]].dropna()
            model = cox(sub, "time", "event", covs)
            pred = model.predict_survival(sub, times)
            for j, h in enumerate(times):
                for r in calibration(sub["time"], sub["event"], pred[:, j], h).itertuples():
                    for stat in ("n", "predicted", "observed", "lower", "upper"):
                        add(f"calibration:{h:g}", r.group, stat, getattr(r, stat))
                dca = decision_curve_survival(sub["time"], sub["event"], 1 - pred[:, j], h,
                                              thresholds=np.round(np.arange(0.05, 0.96, 0.05), 2))
                for r in dca.itertuples():
                    add(f"dca:{h:g}", f"{r.threshold:g}", "net_benefit", r.net_benefit)
                    add(f"dca:{h:g}", f"{r.threshold:g}", "treat_all", r.treat_all)
            points, surv = nomogram(model, sub, times)
            for r in points.itertuples():
                add("nomogram_points", f"{r.covariate}={r.value:g}" if isinstance(r.value, float)
                    else f"{r.covariate}={r.value}", "points", r.points)
            for r in surv.itertuples(index=False):
                for col, h in zip(surv.columns[1:], times):
                    add("nomogram_survival", f"{r[0]:.1f}", f"S({h:g})", r[surv.columns.get_loc(col)])
        guarded("calibration / DCA / nomogram", calib_dca_nomo)

    out = pd.DataFrame(rows, columns=["analysis", "term", "statistic", "value"])
    out["subject"] = subject
    out["cohort"] = cohort
    return out.drop_duplicates(subset=["analysis", "term", "statistic"], keep="last")


def survival_evidence(store, *, model_id: str | None = None, grouping: str | None = None, endpoint: str = "os",
                      covariates: Sequence[str] = (), times: Sequence[float] = YEARS_1_3_5,
                      cohort: str | None = None) -> dict:
    """``rg survival``: KM, log-rank, HR, Cox, C-index, td-AUC, model comparison, calibration, DCA,
    nomogram for a Rad-score model and/or a risk grouping, written to ``model_results``.

    Analyses are named ``<analysis>:<endpoint>`` (e.g. ``logrank:os``); ``subject`` is the
    grouping (or model) and ``cohort`` the radscores cohort (``''`` = all).
    """
    if not model_id and not grouping:
        raise InputError("give --model and/or --grouping")
    with _open(store, True) as st:
        outcome = load_endpoint(st, endpoint)
        data = outcome.copy()
        if grouping:
            g = tables.risk_groups(st, grouping)
            model_id = model_id or (g.model_id.dropna().iloc[0] if g.model_id.notna().any() else None)
            data = data.join(g.set_index("patient_id")["grp"], how="inner")
        if model_id:
            s = tables.radscores(st, model_id, cohort=cohort)
            if s.empty:
                raise NotInStoreError(f"model {model_id!r} has no Rad-scores{' in ' + cohort if cohort else ''}; "
                                      "score patients with `rg radscore apply --model MODEL_ID`")
            data = data.join(s, how="inner")
        if covariates:
            clin = tables.clinical(st).set_index("patient_id")
            lacking = [c for c in covariates if resolve_column(clin, c) is None]
            if lacking:
                raise InputError(f"covariate(s) {lacking} are not all columns of `clinical` (nor keys of its "
                                 f"extra JSON); available: {', '.join(clin.columns)}")
            covs = pd.DataFrame({c: clin[resolve_column(clin, c)] for c in covariates}, index=clin.index)
            data = data.join(covs, how="left")
    if len(data) < 5:
        raise ModelError(f"only {len(data)} patients with {endpoint} follow-up and scores/groups")
    subject = grouping or model_id
    table = survival_tables(data.reset_index(drop=True), subject, covariates=covariates, times=times,
                            cohort=cohort or "")
    table["analysis"] = table["analysis"] + f":{endpoint}"
    params = dict(model_id=model_id, grouping=grouping, endpoint=endpoint, covariates=list(covariates),
                  times=list(times), cohort=cohort)
    with _open(store, False) as st, st.run("rg survival", params) as run:
        st.replace("model_results", table, "subject = ? AND cohort = ? AND analysis LIKE ?",
                   [subject, cohort or "", f"%:{endpoint}"], run_id=run.run_id)
        run_id = run.run_id
    summary = {"run_id": run_id, "subject": subject, "n": len(data), "events": int(data["event"].sum()),
               "rows": len(table)}
    lr = table[(table.analysis == f"logrank:{endpoint}") & (table.statistic == "p")]
    if len(lr):
        summary["logrank_p"] = float(lr.value.iloc[0])
    return summary


# --------------------------------------------------------------------------- stage entries
# One shape for `rg radscore fit|apply|export` and `rg survival`: the store (or its path) first,
# keyword options, a StageResult.  The command line and the pipeline registry both call these.


@stage_entry
def run_radscore_fit(store, *, endpoint: str = "dfs", train_file: Path | None = None,
                     validation_file: Path | None = None, split: float = 0.7, seed: int = 0, roi: str = "tumor",
                     params_hash: str | None = None, stable_only: bool | None = None, top_k: int | None = 20,
                     n_folds: int = 10, lambda_rule: str = "min", cutoff_method: str = "maxstat",
                     minprop: float = 0.1, horizon: float | None = None, model_id: str | None = None,
                     cohort: str | None = None) -> StageResult:
    """``rg radscore fit``: :func:`fit_radscore` as a stage; its dict is the ``summary``."""
    res = fit_radscore(store, endpoint, train_file=train_file, validation_file=validation_file, split=split,
                       seed=seed, roi=roi, params_hash=params_hash, stable_only=stable_only, top_k=top_k or None,
                       n_folds=n_folds, lambda_rule=lambda_rule, cutoff_method=cutoff_method, minprop=minprop,
                       horizon=horizon, model_id=model_id, cohort=cohort)
    return StageResult("radscore fit", run_ids=[res["run_id"]],
                       counts={"features": len(res["features"]), "train": res["n_train"],
                               "validation": res["n_validation"], "unseen": res["n_unseen"]}, summary=res)


@stage_entry
def run_radscore_apply(store, *, model: str, patients: Sequence[str] | None = None, cohort: str = "external",
                       roi: str | None = None, params_hash: str | None = None,
                       relabel_seen: bool = False) -> StageResult:
    """``rg radscore apply``: ``model`` is a model id or an exported JSON formula (imported first,
    a run of its own); then :func:`apply_radscore`.  ``summary`` is its dict plus ``model_id``."""
    from ..store import collect_runs

    with collect_runs() as runs:  # importing a JSON formula is a run of its own
        model_id = model_id_or_import(store, model)
    res = apply_radscore(store, model_id, patients, cohort=cohort, roi=roi, params_hash=params_hash,
                         relabel_seen=relabel_seen)
    return StageResult("radscore apply", run_ids=[*runs, res["run_id"]],
                       counts={"scored": res["n_scored"], "failed": res["n_failed"], "skipped": res["n_skipped"]},
                       summary={**res, "model_id": model_id, "cohort": cohort})


@stage_entry
def run_radscore_export(store, *, model: str, out: Path | None = None) -> StageResult:
    """``rg radscore export``: the frozen formula (``summary``), written to ``out`` when given."""
    formula = export_model(store, model, out)
    return StageResult("radscore export", counts={"features": len(formula.get("features", []))}, summary=formula)


@stage_entry
def run_survival(store, *, model_id: str | None = None, grouping: str | None = None, endpoint: str = "os",
                 covariates: Sequence[str] = (), times: Sequence[float] = YEARS_1_3_5,
                 cohort: str | None = None) -> StageResult:
    """``rg survival``: :func:`survival_evidence` as a stage; its dict is the ``summary``."""
    res = survival_evidence(store, model_id=model_id, grouping=grouping, endpoint=endpoint,
                            covariates=list(covariates), times=list(times), cohort=cohort)
    return StageResult("survival", run_ids=[res["run_id"]],
                       counts={"patients": res["n"], "events": res["events"], "rows": res["rows"]}, summary=res)
