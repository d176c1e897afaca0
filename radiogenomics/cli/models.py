"""``rg radscore fit|apply|export``, ``rg groups`` and ``rg survival``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from . import _state
from ._groups import radscore_app


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _patient_list(text: str | None) -> list[str] | None:
    """``a,b,c`` or ``@FILE`` (format: :mod:`radiogenomics.patient_list`) -> ids; None when not given."""
    from ..patient_list import parse_patient_ids

    return parse_patient_ids(text)


def _numbers(text: str | None, kind, option: str) -> list:
    from ..exceptions import InputError

    try:
        return [kind(v) for v in _split(text)]
    except ValueError as exc:
        raise InputError(f"{option} must be comma-separated numbers, got {text!r}") from exc


@radscore_app.command("fit")
def fit_cmd(
    endpoint: str = typer.Option("dfs", "--endpoint", help="dfs or os (clinical <endpoint>_days / <endpoint>_event)."),
    train: Optional[Path] = typer.Option(None, "--train", help="File of training patient ids (one per line, or a CSV/TSV with a patient_id column; # comments); the rest validate."),
    validation: Optional[Path] = typer.Option(None, "--validation", help="File of internal validation patient ids; patients in neither list stay unseen (for `rg radscore apply`) (default: every non-training patient validates)."),
    split: float = typer.Option(0.7, "--split", help="Training fraction of a seeded split stratified by event (ignored with --train)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the CV folds and the random survival forest."),
    roi: str = typer.Option("tumor", "--roi", help="ROI whose features are used."),
    params_hash: Optional[str] = typer.Option(None, "--params-hash", help="Feature parameter set when several were extracted."),
    stable: Optional[bool] = typer.Option(None, "--stable/--all-features", help="Only features marked stable in feature_stability (default: when stability results exist)."),
    top_k: int = typer.Option(20, "--top-k", help="Keep the union of the top k by mRMR and by RSF importance before the LASSO (0 = no ranking)."),
    folds: int = typer.Option(10, "--folds", help="Cross-validation folds for lambda."),
    lambda_rule: str = typer.Option("min", "--lambda", help="min (lambda.min) or 1se (lambda.1se)."),
    cutoff: str = typer.Option("maxstat", "--cutoff", help="Cut-off on the training scores: maxstat (surv_cutpoint) or youden (time-dependent ROC)."),
    minprop: float = typer.Option(0.1, "--minprop", help="maxstat: smallest group proportion."),
    horizon: Optional[float] = typer.Option(None, "--horizon", help="youden: time point of the ROC in days (e.g. 1095.75 = 3 years)."),
    model_id: Optional[str] = typer.Option(None, "--model-id", help="Name of the model (default: radscore-<endpoint>-<run_id>)."),
    cohort: Optional[str] = typer.Option(None, "--cohort", help="Only patients of this clinical.cohort (train + validation come from it)."),
) -> None:
    """Fit the LASSO-Cox Rad-score and its cut-off on the training patients; score all."""
    from ..models.workflow import run_radscore_fit

    with _state.progress() as bar:
        bar.add_task(f"Rad-score ({endpoint})", total=None)
        res = run_radscore_fit(_state.settings().store, endpoint=endpoint, train_file=train,
                               validation_file=validation, split=split, seed=seed, roi=roi, params_hash=params_hash,
                               stable_only=stable, top_k=top_k, n_folds=folds, lambda_rule=lambda_rule,
                               cutoff_method=cutoff, minprop=minprop, horizon=horizon, model_id=model_id,
                               cohort=cohort).summary
    console = _state.out_console()
    console.print(f"model {res['model_id']} (run {res['run_id']}): {len(res['features'])} feature(s), "
                  f"alpha {res['alpha']:.4g}, cut-off {res['cutoff']:.4g}; "
                  f"{res['n_train']} train / {res['n_validation']} validation"
                  + (f" / {res['n_unseen']} not seen by the model" if res.get("n_unseen") else ""))
    for f, c in zip(res["features"], res["coefficients"]):
        console.print(f"  {c:+.4f} x z({f})")


@radscore_app.command("apply")
def apply_cmd(
    model: str = typer.Option(..., "--model", help="Model id in the store, or a JSON file from `rg radscore export`."),
    patients: Optional[str] = typer.Option(None, "--patients", help="Comma-separated patient ids or @FILE (one per line, or a CSV/TSV with a patient_id column) (default: all with features)."),
    cohort: str = typer.Option("external", "--cohort", help="Cohort label of the scores (train, validation, external, ...)."),
    roi: Optional[str] = typer.Option(None, "--roi", help="ROI of the features (default: the model's)."),
    params_hash: Optional[str] = typer.Option(None, "--params-hash", help="Feature parameter set (default: the model's)."),
    relabel_seen: bool = typer.Option(False, "--relabel-seen", help="Also re-label patients the model was trained or validated on with --cohort (they then no longer count as train/validation) (default: they keep their label and are skipped)."),
) -> None:
    """Apply a frozen Rad-score formula, unchanged, to patients the model has not seen."""
    from ..models.workflow import run_radscore_apply

    res = run_radscore_apply(_state.settings().store, model=model, patients=_patient_list(patients), cohort=cohort,
                             roi=roi, params_hash=params_hash, relabel_seen=relabel_seen).summary
    model_id = res["model_id"]
    skipped = (f"; skipped {res['n_skipped']} patient(s) the model was trained or validated on (they keep "
               "their train/validation label)" if res["n_skipped"] else "")
    _state.out_console().print(f"model {model_id}: scored {res['n_scored']} patient(s) as {cohort!r}, "
                               f"{res['n_failed']} failed (see failures for run {res['run_id']}){skipped}")


@radscore_app.command("export")
def export_cmd(
    model: str = typer.Option(..., "--model", help="Model id."),
    out: Optional[Path] = typer.Option(None, "--out", help="JSON file to write (default: print)."),
) -> None:
    """Export the frozen formula (features, coefficients, means, sds, cut-off, run) as JSON."""
    from ..models.workflow import run_radscore_export

    formula = run_radscore_export(_state.settings().store, model=model, out=out).summary
    if out is None:
        typer.echo(json.dumps(formula, indent=2, sort_keys=True))
    else:
        _state.out_console().print(f"wrote {out}")


groups_app = typer.Typer(help="Groupings: from a Rad-score (--model), a clinical column (--clinical), a SQL "
                         "predicate (--where) or a file (rg groups import).", invoke_without_command=True,
                         no_args_is_help=False)


@groups_app.callback()
def groups_cmd(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", help="Model id whose Rad-scores are grouped."),
    clinical: Optional[str] = typer.Option(None, "--clinical", help="Clinical column (or clinical.extra key) to group by."),
    where: Optional[str] = typer.Option(None, "--where", help="SQL predicate over the patient's clinical row (other views by subquery): true vs false group."),
    method: Optional[str] = typer.Option(None, "--method", help="--model: cutoff (the model's training cut-off, default), ranks or quantiles; --clinical: levels (default), threshold or quantiles."),
    ranks: Optional[str] = typer.Option(None, "--ranks", help="ranks: group sizes from the top, e.g. 36,32,32 (the study's; rescaled as proportions for other cohort sizes)."),
    quantiles: Optional[str] = typer.Option(None, "--quantiles", help="quantiles: e.g. 0.333,0.667 (low/middle/high) or 0.5."),
    thresholds: Optional[str] = typer.Option(None, "--thresholds", help="--clinical --method threshold: cut points, e.g. 65 (high > 65 >= low) or 50,70."),
    levels: Optional[str] = typer.Option(None, "--levels", help="--clinical --method levels: keep only these levels, e.g. Mutant,Wildtype."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Group names: --where true,false (default yes,no); threshold/quantiles from highest to lowest."),
    grouping: Optional[str] = typer.Option(None, "--grouping", help="Name of the grouping (default <model>:<method>, clinical:<column> or sql)."),
    cohort: Optional[str] = typer.Option(None, "--cohort", help="--model: only patients scored in this cohort."),
    cutoff: Optional[float] = typer.Option(None, "--cutoff", help="--model cutoff: override the model's cut-off."),
    patients: Optional[str] = typer.Option(None, "--patients", help="Only these patients: comma-separated ids or @FILE (one per line, or a CSV/TSV with a patient_id column)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="--model: only patients with a sample in this expression dataset (the study ranked its 96 RNA-seq patients)."),
) -> None:
    """Assign groups (high/low, high/middle/low, clinical levels, ...) into risk_groups."""
    from ..exceptions import InputError
    from ..models.groupings import run_groups

    if ctx.invoked_subcommand is not None:
        given = [n for n, v in (("--model", model), ("--clinical", clinical), ("--where", where)) if v]
        if given:
            raise InputError(f"{', '.join(given)} cannot be combined with `rg groups {ctx.invoked_subcommand}`")
        return
    res = run_groups(_state.settings().store, model=model, clinical=clinical, where=where, method=method,
                     ranks=_numbers(ranks, int, "--ranks") if ranks else None,
                     quantiles=_numbers(quantiles, float, "--quantiles") if quantiles else None,
                     thresholds=_numbers(thresholds, float, "--thresholds") if thresholds else None,
                     levels=_split(levels) or None, labels=_split(labels) or None, grouping=grouping, cohort=cohort,
                     cutoff=cutoff, patients=_patient_list(patients), dataset=dataset).summary
    counts = ", ".join(f"{k} {v}" for k, v in sorted(res["counts"].items()))
    _state.out_console().print(f"grouping {res['grouping']}: {counts} (run {res['run_id']})")


@groups_app.command("import")
def groups_import_cmd(
    file: Path = typer.Argument(..., help="CSV or TSV with a header `patient_id,group` (one row per patient)."),
    grouping: str = typer.Option(..., "--grouping", help="Name of the grouping."),
) -> None:
    """Import a grouping (e.g. a collaborator's model) from a patient_id,group file."""
    from ..models.groupings import run_groups_import

    res = run_groups_import(_state.settings().store, file, grouping=grouping).summary
    counts = ", ".join(f"{k} {v}" for k, v in sorted(res["counts"].items()))
    extra = f"; {res['n_failed']} row(s) not imported (see failures)" if res["n_failed"] else ""
    _state.out_console().print(f"grouping {res['grouping']}: {counts} (run {res['run_id']}){extra}")


def survival_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="Rad-score model (scores: C-index, td-AUC, Cox, nomogram)."),
    grouping: Optional[str] = typer.Option(None, "--grouping", help="Risk grouping (KM, log-rank, HR)."),
    endpoint: str = typer.Option("os", "--endpoint", help="os or dfs."),
    covariates: Optional[str] = typer.Option(None, "--covariates", help="Clinical columns for the Cox models, e.g. age,gender,histology."),
    times: str = typer.Option("365.25,1095.75,1826.25", "--times", help="Time points in days (1/3/5 years)."),
    cohort: Optional[str] = typer.Option(None, "--cohort", help="Only patients scored in this cohort."),
) -> None:
    """Survival evidence (KM, log-rank, HR, Cox, C-index, td-AUC, clinical vs combined, calibration, DCA,
    nomogram) into model_results."""
    from ..models.workflow import run_survival

    res = run_survival(_state.settings().store, model_id=model, grouping=grouping, endpoint=endpoint,
                       covariates=_split(covariates), times=_numbers(times, float, "--times"), cohort=cohort).summary
    extra = f", log-rank p = {res['logrank_p']:.3g}" if "logrank_p" in res else ""
    _state.out_console().print(f"{res['subject']}: {res['n']} patients, {res['events']} events{extra}; "
                               f"{res['rows']} rows in model_results (run {res['run_id']})")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the rg app."""
    app.add_typer(groups_app, name="groups")
    app.command("survival")(survival_cmd)
