"""CLI of the imaging arm: `rg rois`, `rg features`, `rg stability`, `rg import images`, `rg import features`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import _state
from ._groups import import_app
from .scale import executor_option


def _print_failures(failures, limit: int = 10) -> None:
    console = _state.err_console()
    for patient, item, reason in failures[:limit]:
        console.print(f"  failed: {patient}{' ' + item if item else ''}: {reason}", markup=False, highlight=False)
    if len(failures) > limit:
        console.print(f"  ... and {len(failures) - limit} more (see the `failures` view)", markup=False)


def _exit_if_failed(failures) -> None:
    """Per-patient failures: exit with :class:`~radiogenomics.exceptions.PartialFailure`'s code (12)."""
    if failures:
        from ..exceptions import PartialFailure

        typer.echo(f"{len({f[0] for f in failures})} patient(s) had failures (see above and "
                   "`rg sql \"SELECT * FROM failures\"`); what succeeded is stored; rerun to retry", err=True)
        raise typer.Exit(code=PartialFailure.exit_code)


def rois_cmd(
    patient: Optional[List[str]] = typer.Option(None, "--patient", "-p", help="Only this patient (repeatable)."),
    ring_mm: float = typer.Option(3.0, "--ring-mm", help="Thickness of the peritumoural ring (mm)."),
    ring_gap_mm: float = typer.Option(0.0, "--ring-gap-mm", help="Distance of the ring from the tumour (mm)."),
    no_ring: bool = typer.Option(False, "--no-ring", help="Do not derive a peritumoural ring."),
    min_voxels: int = typer.Option(1, "--min-voxels", help="Masks with fewer voxels are recorded as failed."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Parallel processes (default: $RG_WORKERS)."),
    executor: str = executor_option(),
) -> None:
    """Build ROIs (NRRD image + masks, `rois` rows) from stored CT + SEG/RTSTRUCT series; derive rings.

    Exits 12 when some patients failed (recorded in `failures`; the rest is stored).
    """
    from ..imaging.rois import run_rois

    settings = _state.settings()
    with _state.progress() as progress:
        summary = run_rois(settings.store, patients=patient or None, ring_mm=None if no_ring else ring_mm,
                           ring_gap_mm=ring_gap_mm, min_voxels=min_voxels, workers=workers, executor=executor,
                           progress=progress, settings=settings).summary
    typer.echo(summary.text())
    _print_failures(summary.failures)
    _exit_if_failed(summary.failures)


def features_cmd(
    params: Optional[Path] = typer.Option(None, "--params", help="pyradiomics parameter YAML (default: the 851-feature file)."),
    roi: Optional[List[str]] = typer.Option(None, "--roi", help="Only this ROI name (repeatable)."),
    patient: Optional[List[str]] = typer.Option(None, "--patient", "-p", help="Only this patient (repeatable)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Parallel processes (default: $RG_WORKERS)."),
    executor: str = executor_option(),
) -> None:
    """Extract pyradiomics features of the stored ROIs into `features` (cached by image, mask and params).

    Exits 12 when some patients failed (recorded in `failures`; the rest is stored).
    """
    from ..imaging.features import run_features

    settings = _state.settings()
    with _state.progress() as progress:
        summary = run_features(settings.store, params=params, rois=roi or None, patients=patient or None,
                               workers=workers, executor=executor, progress=progress, settings=settings).summary
    typer.echo(f"features: {summary.computed} ROIs computed, {summary.cached} cached, {summary.failed} failed; "
               f"{summary.n_features} features, params {summary.params_hash} ({summary.seconds:.1f} s, "
               f"run {summary.run_id})")
    _print_failures(summary.failures)
    _exit_if_failed(summary.failures)


def stability_cmd(
    params: Optional[Path] = typer.Option(None, "--params", help="pyradiomics parameter YAML (default: the 851-feature file)."),
    roi: str = typer.Option("tumor", "--roi", help="ROI name."),
    method: str = typer.Option("auto", "--method", help="auto, readers or perturbation."),
    perturbations: str = typer.Option("erode,dilate,shift+x,shift+y", "--perturbations",
                                      help="Comma list of erode, dilate, shift+x/-x/+y/-y/+z/-z (':N' voxels)."),
    in_plane: bool = typer.Option(True, "--in-plane/--3d", help="Erode/dilate within slices (default) or in 3-D."),
    threshold: float = typer.Option(0.90, "--threshold", help="Stable when ICC(3,1) > threshold."),
    patient: Optional[List[str]] = typer.Option(None, "--patient", "-p", help="Only this patient (repeatable)."),
    max_patients: Optional[int] = typer.Option(None, "--max-patients", help="Random subset of this many patients."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Parallel processes (default: $RG_WORKERS)."),
    executor: str = executor_option(),
    params_hash: Optional[str] = typer.Option(None, "--params-hash", help="Instead of --params: a parameter set stored in feature_params (e.g. an imported pyradiomics batch file's settings)."),
) -> None:
    """ICC(3,1) / ICC(2,1) per feature across readers or perturbed masks, into `feature_stability`."""
    from ..imaging.stability import run_stability

    kinds = [k.strip() for k in perturbations.split(",") if k.strip()]
    settings = _state.settings()
    with _state.progress() as progress:
        summary = run_stability(settings.store, params=params, roi=roi, method=method, perturbations=kinds,
                                in_plane=in_plane, patients=patient or None, max_patients=max_patients,
                                threshold=threshold, workers=workers, executor=executor, progress=progress,
                                params_hash=params_hash, settings=settings).summary
    typer.echo(f"stability ({summary.method}): {summary.n_stable} of {summary.n_features} features with "
               f"ICC(3,1) > {summary.threshold:g} over {summary.n_patients} patients x {summary.n_raters} raters "
               f"(run {summary.run_id})")
    _print_failures(summary.failures)


@import_app.command("images")
def import_images_cmd(
    patient: str = typer.Option(..., "--patient", "-p", help="Patient id."),
    image: Path = typer.Option(..., "--image", help="Image file (NRRD, NIfTI, ...)."),
    mask: Path = typer.Option(..., "--mask", help="Mask file on the same grid."),
    roi: str = typer.Option("tumor", "--roi", help="ROI name (tumor, node_1, ...)."),
    reader: str = typer.Option("default", "--reader", help="Reader name for repeated segmentations."),
    label: Optional[int] = typer.Option(None, "--label", help="Mask label to use when the mask holds several."),
) -> None:
    """Register an image + mask pair as an ROI of a patient (no network)."""
    from ..imaging.rois import run_import_images

    settings = _state.settings()
    row = run_import_images(settings.store, patient=patient, image=image, mask=mask, roi=roi, reader=reader,
                            label=label, settings=settings).summary
    typer.echo(f"imported {patient} ROI {roi} (reader {reader}): {row['voxels']} voxels, "
               f"{row['volume_mm3']:.1f} mm3 (run {row['run_id']})")


@import_app.command("features")
def import_features_cmd(
    file: Path = typer.Argument(..., help="pyradiomics batch-output CSV, or a wide / long CSV, TSV or Parquet table."),
    fmt: str = typer.Option("auto", "--format", help="auto, pyradiomics, wide (patient_id + one column per feature) or long (patient_id, feature, value[, roi])."),
    roi: str = typer.Option("tumor", "--roi", help="ROI name of the imported features (a long table's roi column wins)."),
    patient_column: Optional[str] = typer.Option(None, "--patient-column", help="Column holding the patient id (default patient_id)."),
    patient_regex: Optional[str] = typer.Option(None, "--patient-regex", help="pyradiomics: regular expression with one group (or a group named patient) searched in the Image path, e.g. '(R01-\\d+)'."),
    params: Optional[Path] = typer.Option(None, "--params", help="Plain tables: the pyradiomics parameter file that produced them (its hash becomes params_hash)."),
) -> None:
    """Store features computed elsewhere (an earlier pyradiomics batch run, another tool) like extracted ones."""
    from ..imaging.feature_import import run_import_features

    res = run_import_features(_state.settings().store, file, format=fmt, roi=roi, patient_column=patient_column,
                              patient_regex=patient_regex, params=params).summary
    extra = f"; {res['n_failed']} row(s) not imported (see failures)" if res["n_failed"] else ""
    typer.echo(f"imported {res['format']} features: {res['n_patients']} patient(s) x {res['n_features']} feature(s), "
               f"ROI {res['roi']}, params {res['params_hash']} (run {res['run_id']}){extra}")


def harmonize_cmd(
    batch: str = typer.Option(..., "--batch", help="Batch: a scanner column of series (manufacturer, manufacturer_model, convolution_kernel, slice_thickness) or a clinical column."),
    roi: str = typer.Option("tumor", "--roi", help="ROI whose features are harmonised."),
    params_hash: Optional[str] = typer.Option(None, "--params-hash", help="Feature parameter set when several were extracted."),
    preserve: Optional[str] = typer.Option(None, "--preserve", help="Clinical columns whose effects ComBat keeps, e.g. age,histology."),
    train: Optional[Path] = typer.Option(None, "--train", help="File of training patient ids: ComBat learns on them only and is applied to the others."),
    model: Optional[str] = typer.Option(None, "--model", help="Learn on the training cohort of this Rad-score model."),
    nonparametric: bool = typer.Option(False, "--nonparametric", help="Non-parametric empirical Bayes (default: parametric)."),
) -> None:
    """ComBat on features (fitted on training patients, applied to the rest), written as a new parameter set."""
    from ..imaging.harmonize import run_harmonize

    result = run_harmonize(_state.settings().store, batch, roi=roi, params_hash=params_hash,
                           preserve=[c.strip() for c in (preserve or "").split(",") if c.strip()],
                           train_file=train, model_id=model, parametric=not nonparametric)
    c, s = result.counts, result.summary
    _state.out_console().print(
        f"harmonised {c['patients']} patients x {c['features']} features by {batch} (batches {', '.join(s['batches'])}; "
        f"fitted on {c['train']}) -> params_hash {s['params_hash']} (run {s['run_id']}); {c['failed']} not harmonised")
    if result.partial:
        raise typer.Exit(code=5)


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the rg app."""
    app.command("rois")(rois_cmd)
    app.command("features")(features_cmd)
    app.command("stability")(stability_cmd)
    app.command("harmonize")(harmonize_cmd)
