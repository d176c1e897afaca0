"""``rg associate``, ``rg report``, ``rg run`` and ``rg demo``: the study as users run it."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import _state


def associate_cmd(
    grouping: str = typer.Option(..., "--grouping", "-g", help="Grouping name in risk_groups."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Expression dataset id (default: the only one in the store)."),
    what: str = typer.Option("de,gsea,ora,immune,clinical", "--what", help="Analyses to run, comma-separated: de,gsea,ora,immune,clinical."),
    groups: Optional[str] = typer.Option(None, "--groups", help="Groups compared, e.g. high,low or Mutant,Wildtype; others (e.g. middle) are ignored; 'all' = every level. Default: high,low when the grouping has them, else all its levels. 3+ groups: omnibus tests (Kruskal-Wallis, chi-square) plus pairwise contrasts with BH FDR; DE/GSEA/ORA need two."),
    gsea_method: str = typer.Option("prerank", "--gsea-method", help="prerank (on the DE statistic) or phenotype (label permutation)."),
    permutations: int = typer.Option(1000, "--permutations", min=10, help="GSEA permutations."),
    seed: int = typer.Option(0, "--seed", help="Seed of GSEA and deconvolution permutations."),
    library: Optional[List[str]] = typer.Option(None, "--library", help="ORA library: go_bp, go_mf, go_cc or a GMT path (repeatable) (default: go_bp)."),
    signature: Optional[Path] = typer.Option(None, "--signature", exists=True, dir_okay=False, help="Deconvolution signature matrix (LM22 layout; not shipped)."),
    lfc: float = typer.Option(0.1, "--lfc", help="DE: |log2 fold change| threshold."),
    pvalue: float = typer.Option(0.05, "--p", help="DE: p-value threshold."),
) -> None:
    """Omics (DE, GSEA, ORA, immune) and clinicopathological tests between a grouping's groups (high vs low by default)."""
    from ..associate.study import run_associate

    parts = tuple(p.strip() for p in groups.split(",") if p.strip()) if groups else None
    if parts is not None and len(parts) < 2 and parts != ("all",):
        raise typer.BadParameter("--groups needs at least two groups (e.g. high,low) or 'all'")
    # the store path: each analysis reads, computes, and holds the write lock only to write
    result = run_associate(_state.settings().store, grouping=grouping, dataset_id=dataset, what=what, groups=parts,
                           gsea_method=gsea_method, permutations=permutations, seed=seed,
                           libraries=tuple(library or ("go_bp",)), signature=str(signature) if signature else None,
                           lfc_threshold=lfc, p_threshold=pvalue)
    typer.echo(result.summary.text())
    if result.partial:
        raise typer.Exit(code=5)


def report_cmd(
    grouping: str = typer.Option(..., "--grouping", "-g", help="Grouping name in risk_groups."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: reports/<grouping>/)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Expression dataset (default: the one the grouping's DE used)."),
    title: Optional[str] = typer.Option(None, "--title", help="Report title."),
    truth: Optional[Path] = typer.Option(None, "--truth", exists=True, dir_okay=False, help="truth.json of a synthetic cohort (`rg demo`): the report opens with its planted-effect checks per cohort."),
) -> None:
    """Write the study report (one self-contained HTML file plus tables as CSV)."""
    from ..report import run_report

    stage = run_report(_state.settings().store, grouping, out, dataset_id=dataset, title=title, truth=truth)
    result = stage.summary
    typer.echo(f"report: {result.html_path} ({result.figures} figures, {len(result.tables)} tables in "
               f"{result.html_path.parent / 'tables'})")
    for note in result.notes:
        typer.echo(f"  note: {note}", err=True)


def _parse_sets(values: Optional[List[str]]) -> dict[str, str]:
    out = {}
    for item in values or []:
        if "=" not in item:
            raise typer.BadParameter(f"--set takes NAME=VALUE, not {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def run_cmd(
    pipeline: Path = typer.Argument(..., exists=True, dir_okay=False, help="Pipeline YAML file (see pipelines/)."),
    from_step: Optional[str] = typer.Option(None, "--from", help="Start at this step."),
    until_step: Optional[str] = typer.Option(None, "--until", help="Stop after this step."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a pipeline variable: NAME=VALUE (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Run the selected steps even if their inputs are unchanged."),
) -> None:
    """Run a pipeline's steps in order; finished steps with unchanged inputs are skipped."""
    from ..pipeline import load_pipeline, run_pipeline

    settings = _state.settings()
    settings.ensure_dirs()
    builtins = {"home": str(settings.home), "store": str(settings.store), "data_dir": str(settings.data_dir)}
    spec = load_pipeline(pipeline, overrides=_parse_sets(set_), builtins=builtins)

    def show(outcome) -> None:
        typer.echo(f"  {outcome.name:<22} {outcome.status:<12} {outcome.seconds:6.1f}s"
                   + (f"  {outcome.message}" if outcome.message else ""), err=True)

    result = run_pipeline(spec, settings.store, data_dir=settings.data_dir, from_step=from_step,
                          until_step=until_step, force=force, quiet=_state.state().quiet, on_step=show)
    typer.echo(result.text())
    if not result.ok:
        raise typer.Exit(code=5)


def demo_cmd(
    patients: int = typer.Option(120, "--patients", "-n", min=1, help="Patients in the synthetic cohort: 30% an external site, the rest 60/40 training/validation (at least 60)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: reports/demo/)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic cohort and of every analysis."),
    offline: bool = typer.Option(False, "--offline", help="Register the imaging with `rg import nbia` instead of the local NBIA server."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Worker processes for per-patient stages."),
) -> None:
    """Synthetic cohort in real formats -> real connectors -> the whole study -> report (a few minutes)."""
    from ..demo import run_demo

    settings = _state.settings()
    result = run_demo(settings.store, n_patients=patients, out_dir=out, seed=seed, offline=offline, workers=workers,
                      quiet=_state.state().quiet, settings=settings).summary
    typer.echo(result.text())
    if not result.ok:
        raise typer.Exit(code=5)


def map_cmd(
    map_id: str = typer.Option("default", "--map-id", help="Name of the map in radiogenomic_map (a rerun replaces it)."),
    model: Optional[str] = typer.Option(None, "--model", help="Include this model's Rad-score as an imaging variable."),
    features: str = typer.Option("stable", "--features", help="Imaging features: stable, all, none or a comma-separated list."),
    roi: str = typer.Option("tumor", "--roi", help="ROI of the features."),
    params_hash: Optional[str] = typer.Option(None, "--params-hash", help="Feature parameter set when several were extracted."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Expression dataset (default: the only one in the store)."),
    pathways: str = typer.Option("hallmark", "--pathways", help="Single-sample pathway scores (ssGSEA): hallmark, go_bp, a GMT path, or none."),
    no_immune: bool = typer.Option(False, "--no-immune", help="Leave out the stored immune scores (rg immune)."),
    genes: bool = typer.Option(False, "--genes", help="Also correlate with every gene (log2 expression)."),
    adjust: Optional[str] = typer.Option(None, "--adjust", help="Clinical columns to adjust for (partial Spearman), e.g. age,gender."),
) -> None:
    """The radiogenomic map: Spearman of every imaging variable with every pathway / immune score / gene, BH FDR."""
    from ..associate.map_stage import run_map

    result = run_map(_state.settings().store, map_id, model_id=model, features=features, roi=roi,
                     params_hash=params_hash, dataset_id=dataset, pathways=pathways, immune=not no_immune,
                     genes=genes, adjust=[c.strip() for c in (adjust or "").split(",") if c.strip()])
    c = result.counts
    console = _state.out_console()
    console.print(f"map {map_id}: {c['imaging']} imaging x {c['molecular']} molecular variables over "
                  f"{c['patients']} patients; {c['significant']} of {c['pairs']} pairs with FDR < 0.05 "
                  f"(run {result.run_ids[0]})")
    for r in result.summary["top"].itertuples():
        console.print(f"  {r.imaging} ~ {r.molecular}: rho {r.rho:+.3f}, FDR {r.fdr:.3g} (n = {r.n})")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the rg app."""
    app.command("map")(map_cmd)
    app.command("associate")(associate_cmd)
    app.command("report")(report_cmd)
    app.command("run")(run_cmd)
    app.command("demo")(demo_cmd)
