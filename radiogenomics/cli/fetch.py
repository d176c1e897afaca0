"""``rg fetch tcia|idc|geo|clinical|nsclc-radiogenomics`` and ``rg import manifest|nbia``.

Parse options, call one connector function, print its summary.  The store is passed
as a path, so the connectors open it only for each write and ``rg sql`` can read
during a long download.  A run that ends
with failed series exits with code 5 after printing them (rerun to retry: complete
series are skipped).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from . import _state
from ._groups import fetch_app, import_app
from .scale import executor_option


@contextmanager
def _progress(label: str) -> Iterator[object]:
    """A rich progress bar of series and bytes; yields the connectors' progress callback."""
    from rich.filesize import decimal
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[size]}"), TimeElapsedColumn(),
                   console=_state.err_console(), disable=_state.state().quiet)
    task = bar.add_task(label, total=0, size="")
    received = [0]

    def callback(event: str, n: int) -> None:
        if not bar.live.is_started:  # shown from the first event: an early error prints alone
            bar.start()
        if event == "total":
            bar.update(task, total=(bar.tasks[0].total or 0) + n)
        elif event == "series":
            bar.advance(task, n)
        elif event == "bytes":
            received[0] += n
            bar.update(task, size=decimal(received[0]))

    try:
        yield callback
    finally:
        bar.stop()


def _finish(summary: object) -> None:
    typer.echo(summary.text())  # type: ignore[attr-defined]
    if getattr(summary, "failed", None):
        typer.echo(f"{len(summary.failed)} series failed (see above and `rg sql \"SELECT * FROM failures\"`); "  # type: ignore[attr-defined]
                   "rerun the same command to retry them; complete series are skipped", err=True)
        raise typer.Exit(code=5)


@fetch_app.command("tcia")
def fetch_tcia_cmd(
    collection: str = typer.Option(..., "--collection", "-c", help="NBIA collection name, e.g. 'NSCLC Radiogenomics'."),
    patient: Optional[List[str]] = typer.Option(None, "--patient", "-p", help="Only this patient (repeatable)."),
    modality: Optional[List[str]] = typer.Option(None, "--modality", "-m", help="Only this modality, e.g. CT, SEG (repeatable)."),
    referenced_ct: bool = typer.Option(False, "--referenced-ct", help="With --modality SEG: also fetch exactly the CT series each SEG references."),
    workers: int = typer.Option(4, "--workers", "-w", min=1, help="Parallel downloads."),
    md5: bool = typer.Option(False, "--md5", help="Download with per-file MD5 checksums (getImageWithMD5Hash) and verify them."),
    executor: str = executor_option(),
) -> None:
    """Download series of a TCIA collection (NBIA v4, anonymous) into the store."""
    from ..connectors.tcia import run_fetch_tcia

    settings = _state.settings()
    with _progress("series") as cb:
        summary = run_fetch_tcia(settings.store, collection=collection, patients=patient or None,
                                 modalities=modality or None, referenced_ct=referenced_ct, workers=workers, md5=md5,
                                 progress=cb, executor=executor, settings=settings).summary
    _finish(summary)


@fetch_app.command("idc")
def fetch_idc_cmd(
    collection: str = typer.Option(..., "--collection", "-c", help="IDC collection id, e.g. nsclc_radiogenomics."),
    patient: Optional[List[str]] = typer.Option(None, "--patient", "-p", help="Only this patient (repeatable)."),
    modality: Optional[List[str]] = typer.Option(None, "--modality", "-m", help="Only this modality: SEG, CT or PT (repeatable)."),
    segmentation: str = typer.Option("all", "--segmentation", help="Which SEG series: original, ai, corrected or all."),
    referenced_ct: bool = typer.Option(False, "--referenced-ct", help="With --modality SEG: also fetch exactly the CT series each SEG references."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the series, patients, sizes and licences that would be fetched; fetch nothing."),
    workers: int = typer.Option(4, "--workers", "-w", min=1, help="Series downloaded in parallel."),
) -> None:
    """Download series of a collection from NCI Imaging Data Commons' public buckets (no account) into the store.

    The series come from the IDC index bundled in idc-index-data (RG_IDC_INDEX to use another);
    files are read from RG_IDC_ENDPOINT (default AWS S3) without credentials.
    """
    from ..connectors.idc import run_fetch_idc

    settings = _state.settings()
    if dry_run:
        typer.echo(run_fetch_idc(settings.store, collection=collection, patients=patient or None,
                                 modalities=modality or None, segmentation=segmentation, referenced_ct=referenced_ct,
                                 dry_run=True, settings=settings).summary.text())
        return
    with _progress("series") as cb:
        summary = run_fetch_idc(settings.store, collection=collection, patients=patient or None,
                                modalities=modality or None, segmentation=segmentation, referenced_ct=referenced_ct,
                                workers=workers, progress=cb, settings=settings).summary
    _finish(summary)


@fetch_app.command("geo")
def fetch_geo_cmd(
    gse: str = typer.Argument(..., help="GEO series accession, e.g. GSE103584."),
    file: Optional[List[str]] = typer.Option(None, "--file", "-f", help="Supplementary file to load as the expression table (repeatable)."),
) -> None:
    """Download a GEO series: samples from the series matrix, expression from its table."""
    from ..connectors.geo import run_fetch_geo

    settings = _state.settings()
    summary = run_fetch_geo(settings.store, gse, files=file or None, settings=settings).summary
    typer.echo(summary.text())


@fetch_app.command("clinical")
def fetch_clinical_cmd(
    name: str = typer.Argument("nsclc-radiogenomics", help="Catalog entry whose clinical CSV to load."),
    file: Optional[Path] = typer.Option(None, "--file", help="Local copy of the clinical CSV (default: download the catalog entry's URL, or $RG_CLINICAL_URL)."),
) -> None:
    """Load the clinical CSV (typed, missing codes -> NULL, derived OS/DFS)."""
    from ..connectors.collection import run_fetch_clinical

    settings = _state.settings()
    summary = run_fetch_clinical(settings.store, name, file=file, settings=settings).summary
    typer.echo(summary.text())


@fetch_app.command("nsclc-radiogenomics")
def fetch_nsclc_cmd(
    patient: Optional[List[str]] = typer.Option(None, "--patient", "-p", help="Only these patients' imaging (repeatable)."),
    workers: int = typer.Option(4, "--workers", "-w", min=1, help="Parallel downloads."),
    clinical_file: Optional[Path] = typer.Option(None, "--clinical-file", help="Local copy of the clinical CSV."),
    skip: Optional[List[str]] = typer.Option(None, "--skip", help="Leave out a part: clinical, tcia or geo (repeatable)."),
    executor: str = executor_option(),
) -> None:
    """Clinical CSV, SEGs plus the CT series they reference, and GSE103584, from the catalog entry."""
    from ..connectors.collection import STUDY_PARTS, run_fetch_study

    bad = [s for s in (skip or []) if s not in STUDY_PARTS]
    if bad:
        raise typer.BadParameter(f"--skip takes clinical, tcia or geo, not {bad}")
    settings = _state.settings()
    with _progress("series") as cb:
        summary = run_fetch_study(settings.store, "nsclc-radiogenomics", patients=patient or None, workers=workers,
                                  clinical_file=clinical_file, skip=skip or (), progress=cb, executor=executor,
                                  settings=settings).summary
    typer.echo(summary.text())
    if summary.tcia is not None and summary.tcia.failed:
        raise typer.Exit(code=5)


@import_app.command("manifest")
def import_manifest_cmd(
    manifest: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .tcia manifest from the TCIA portal."),
    workers: int = typer.Option(4, "--workers", "-w", min=1, help="Parallel downloads."),
    md5: bool = typer.Option(False, "--md5", help="Verify per-file MD5 checksums."),
    executor: str = executor_option(),
) -> None:
    """Fetch exactly the series a .tcia manifest lists."""
    from ..connectors.manifest import run_import_manifest

    settings = _state.settings()
    with _progress("series") as cb:
        summary = run_import_manifest(settings.store, manifest, workers=workers, md5=md5, progress=cb,
                                      executor=executor, settings=settings).summary
    _finish(summary)


@import_app.command("nbia")
def import_nbia_cmd(
    folder: Path = typer.Argument(..., exists=True, help="Folder written by the NBIA Data Retriever (holding metadata.csv)."),
    workers: int = typer.Option(4, "--workers", "-w", min=1, help="Threads verifying series."),
) -> None:
    """Register an existing NBIA Data Retriever download (verifies every file; no network)."""
    from ..connectors.nbia_import import run_import_nbia

    settings = _state.settings()
    with _progress("series") as cb:
        summary = run_import_nbia(settings.store, folder, workers=workers, progress=cb, settings=settings).summary
    _finish(summary)


def register(app: typer.Typer) -> None:
    """Commands are attached to the shared ``fetch``/``import`` groups at import time."""
