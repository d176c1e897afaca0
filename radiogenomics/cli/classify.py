"""``rg classify`` (binary endpoints, classifier panel) and ``rg deep-features``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import _state
from .scale import executor_option


def _split_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def classify_cmd(
    endpoint: str = typer.Option(..., "--endpoint", help="Clinical column to predict, e.g. egfr, kras, n_stage, lymphovascular_invasion."),
    positive: Optional[str] = typer.Option(None, "--positive", help="Value(s) of the positive class, comma-separated (e.g. N1,N2). Default: Mutant/Present/Yes/True, or N>0 for n_stage."),
    features: str = typer.Option("radiomics,clinical", "--features", help="Feature sets: radiomics,clinical,deep (several sets also fit a combined model)."),
    models: str = typer.Option("lasso,lr,svm,rf,knn,nb,mlp,lda", "--models", help="Classifiers to tune and compare."),
    split: float = typer.Option(0.3, "--split", help="Validation fraction of a stratified random split (0 = CV only)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the CV folds and the models."),
    train: Optional[Path] = typer.Option(None, "--train", help="File of training patient ids (one per line, or a CSV/TSV with a patient_id column; # comments); the rest validate."),
    reader_scores: Optional[str] = typer.Option(None, "--reader-scores", help="Clinical column (or clinical.extra key) with reader scores to compare against the models."),
    params_hash: Optional[str] = typer.Option(None, "--params-hash", help="Radiomics parameter set to use when several were extracted."),
    clinical_columns: Optional[str] = typer.Option(None, "--clinical-columns", help="Clinical covariates of the 'clinical' set (default: age,gender,smoking_status,pack_years,pct_gg)."),
    rois: Optional[str] = typer.Option(None, "--rois", help="Radiomic ROIs to use, comma-separated (e.g. tumor,peritumoral_3mm,node; default: all but deep)."),
    inner_folds: int = typer.Option(5, "--inner-folds", help="Folds of the hyperparameter search (inner CV)."),
    outer_folds: int = typer.Option(5, "--outer-folds", help="Folds of the performance estimate (outer CV)."),
    stable: Optional[bool] = typer.Option(None, "--stable/--all-features", help="Only radiomic features marked stable in feature_stability (default: when stability results exist for the ROI); the same policy as rg radscore fit."),
) -> None:
    """Predict a binary endpoint: LASSO signature + classifier panel, nested CV, DeLong, DCA."""
    from ..models.classify import run_classify

    with _state.progress() as bar:
        task = bar.add_task(f"classify {endpoint}", total=None)
        # the store path: read-only while loading and tuning, the write lock only to write
        outcome = run_classify(_state.settings().store, endpoint, positive=positive, features=_split_list(features),
                               models=_split_list(models), split=split, seed=seed, train_file=train,
                               reader_scores=reader_scores, params_hash=params_hash, inner_folds=inner_folds,
                               outer_folds=outer_folds, clinical_columns=_split_list(clinical_columns) or None,
                               rois=_split_list(rois) or None, stable_only=stable,
                               progress=lambda name: bar.update(task, advance=1,
                                                                description=f"classify {name}")).summary
    _print_summary(outcome, outcome.counts)


def _print_summary(outcome, counts) -> None:
    from rich.table import Table

    summary = outcome.summary()
    cohort = "validation" if outcome.data.valid_ids else "cv"
    summary = summary[summary["cohort"] == cohort]
    table = Table(title=f"{outcome.data.endpoint} (positive: {', '.join(outcome.data.positive)}; "
                        f"{len(outcome.data.train_ids)} train / {len(outcome.data.valid_ids)} validation) - {cohort}")
    for col in ("features", "model", "AUC [95% CI]", "accuracy", "precision", "recall", "F1"):
        table.add_column(col)
    fmt = lambda v: "-" if v != v else f"{v:.3f}"  # noqa: E731
    for _, r in summary.iterrows():
        table.add_row(r["feature_set"], r["model"], f"{fmt(r['auc'])} [{fmt(r['auc_lower'])}, {fmt(r['auc_upper'])}]",
                      fmt(r["accuracy"]), fmt(r["precision"]), fmt(r["recall"]), fmt(r["f1"]))
    console = _state.out_console()
    console.print(table)
    if not outcome.readers.empty:
        for _, r in outcome.readers.iterrows():
            console.print(f"{r['model']} {r['comparison']}: AUC {r['auc_a']:.3f} vs reader {r['auc_b']:.3f}, "
                          f"DeLong p = {r['pvalue']:.3g}")
    console.print(f"wrote {counts['models']} models and {counts['model_results']} result rows "
                  f"(rg sql \"SELECT * FROM model_results WHERE analysis = 'classify:{outcome.data.endpoint}'\")")


def deep_features_cmd(
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local state_dict of an ImageNet-pretrained torchvision resnet18 (default: $RG_DEEP_WEIGHTS). Never downloaded."),
    roi: str = typer.Option("tumor", "--roi", help="ROI locating the tumour."),
    arch: str = typer.Option("resnet18", "--arch", help="resnet18 or resnet34 (must match the weights)."),
    neighbours: int = typer.Option(2, "--neighbours", help="Slices on each side of the largest tumour slice."),
    crop_mm: float = typer.Option(160.0, "--crop-mm", help="Side of the square patch in mm."),
    pixels: int = typer.Option(160, "--pixels", help="Side of the patch in pixels after resampling."),
    pooling: str = typer.Option("mean", "--pooling", help="Multi-instance pooling of slice embeddings: mean, max, meanmax."),
    random_init: bool = typer.Option(False, "--random-init", help="Use a randomly initialised network when no weights are given (testing only)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Parallel processes (each builds the network once)."),
    executor: str = executor_option(),
) -> None:
    """2.5D deep features (largest tumour slice +- neighbours through a ResNet), stored as roi 'deep'.

    Needs the optional extra: pip install 'radiogenomics\\[deep]'.
    """
    from ..imaging import deep

    bar = _state.progress()
    tasks: list = []

    def progress(i: int, total: int) -> None:
        if not tasks:  # shown from the first patient: a missing torch or a bad option prints alone
            bar.start()
            tasks.append(bar.add_task("deep features", total=total))
        bar.update(tasks[0], completed=i, total=total)

    try:
        out = deep.run_deep_features(_state.settings().store, weights=weights, roi=roi, arch=arch,
                                     neighbours=neighbours, crop_mm=crop_mm, pixels=pixels, pooling=pooling,
                                     random_init=random_init, seed=seed, workers=workers, executor=executor,
                                     progress=progress).summary
    finally:
        bar.stop()
    _state.out_console().print(f"deep features for {out['patients']} patients ({out['failed']} failed), "
                               f"{out['features']} values, params_hash {out['params_hash']}")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the rg app."""
    app.command("classify")(classify_cmd)
    app.command("deep-features")(deep_features_cmd)
