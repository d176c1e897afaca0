"""``rg de``, ``rg gsea``, ``rg ora``, ``rg immune``: the omics arm on a grouping and a dataset."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from . import _state


def _groups(value: str) -> tuple[str, str]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) != 2:
        raise typer.BadParameter("give two groups separated by a comma, e.g. high,low")
    return parts[0], parts[1]


def _options(min_present: float, min_value: Optional[float], min_fraction: float, collapse: str):
    from ..omics import ExpressionOptions

    return ExpressionOptions(min_present=min_present, min_value=min_value, min_fraction=min_fraction,
                             collapse=collapse)


@contextmanager
def _busy(message: str) -> Iterator[None]:
    if _state.state().quiet:
        yield
        return
    with _state.err_console().status(message):
        yield


GROUPING = typer.Option(..., "--grouping", "-g", help="Grouping name in risk_groups.")
DATASET = typer.Option(..., "--dataset", "-d", help="Expression dataset id (see the datasets view).")
GROUPS = typer.Option("high,low", "--groups", help="The two groups compared, first vs second.")
MIN_PRESENT = typer.Option(0.8, "--min-present", help="Drop genes observed in fewer than this fraction of samples.")
MIN_VALUE = typer.Option(None, "--min-value", help="Low-expression cut on the dataset's scale (default: 1 for FPKM, 10 for counts, none for log2).")
MIN_FRACTION = typer.Option(0.2, "--min-fraction", help="Keep genes at or above --min-value in at least this fraction of samples.")
COLLAPSE = typer.Option("max_mean", "--collapse", help="Duplicated symbols: max_mean (row with the highest mean) or mean.")


def de(
    grouping: str = GROUPING,
    dataset: str = DATASET,
    groups: str = GROUPS,
    method: str = typer.Option("auto", "--method", help="auto (limma for log/FPKM data, DESeq2 for counts), limma or deseq2."),
    covariate: List[str] = typer.Option([], "--covariate", help="Clinical column to adjust for (repeatable)."),
    lfc: float = typer.Option(0.1, "--lfc", help="|log2 fold change| threshold for up/down."),
    p: float = typer.Option(0.05, "--p", help="P-value threshold for up/down."),
    adjusted: bool = typer.Option(False, "--adjusted", help="Apply --p to BH-adjusted p-values instead of nominal ones."),
    min_present: float = MIN_PRESENT, min_value: Optional[float] = MIN_VALUE, min_fraction: float = MIN_FRACTION,
    collapse: str = COLLAPSE,
) -> None:
    """Differential expression between two groups of a grouping (results in de_results)."""
    from ..omics import run_de

    # the store path, not an open store: run_de opens it to read, then only to write
    with _busy("differential expression"):
        result = run_de(_state.settings().store, grouping, dataset, groups=_groups(groups), method=method,
                        covariates=covariate, lfc_threshold=lfc, p_threshold=p, adjusted=adjusted,
                        options=_options(min_present, min_value, min_fraction, collapse))
    # printed from the counts: the summary table would cost a pandas import (half of rg de's time)
    counts = result.counts
    typer.echo(f"{result.facts['method']} {result.facts['contrast']} on {dataset}: {counts['genes']} genes, "
               f"{counts['up']} up, {counts['down']} down (run {result.run_id})")


def gsea(
    grouping: str = GROUPING,
    dataset: str = DATASET,
    groups: str = GROUPS,
    method: str = typer.Option("prerank", "--method", help="prerank (on the DE statistic) or phenotype (label permutation)."),
    library: str = typer.Option("hallmark", "--library", help="hallmark, go_bp, go_mf, go_cc or a GMT file path."),
    permutations: int = typer.Option(1000, "--permutations", help="Number of permutations."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    fdr: float = typer.Option(0.25, "--fdr", help="FDR threshold for the significant flag."),
    min_size: int = typer.Option(15, "--min-size"), max_size: int = typer.Option(500, "--max-size"),
    min_present: float = MIN_PRESENT, min_value: Optional[float] = MIN_VALUE, min_fraction: float = MIN_FRACTION,
    collapse: str = COLLAPSE,
) -> None:
    """Gene-set enrichment analysis via gseapy (results in gsea_results)."""
    from ..omics import run_gsea

    with _busy(f"GSEA ({method}, {permutations} permutations)"):
        rows = run_gsea(_state.settings().store, grouping, dataset, groups=_groups(groups), method=method, library=library,
                        permutations=permutations, seed=seed, fdr_threshold=fdr, min_size=min_size,
                        max_size=max_size, options=_options(min_present, min_value, min_fraction, collapse)).summary
    sig = rows[rows["significant"]]
    typer.echo(f"GSEA {method} {rows['library'].iloc[0]}: {len(rows)} sets tested, {len(sig)} with FDR < {fdr} "
               f"({int((sig['NES'] > 0).sum())} up, {int((sig['NES'] < 0).sum())} down)")


def ora(
    grouping: str = GROUPING,
    dataset: str = DATASET,
    groups: str = GROUPS,
    library: List[str] = typer.Option(["go_bp", "go_mf", "go_cc"], "--library", help="Shipped library (go_bp, go_mf, go_cc, hallmark) or GMT path; repeatable. KEGG is not shipped: pass your own GMT."),
    min_size: int = typer.Option(10, "--min-size"), max_size: int = typer.Option(500, "--max-size"),
) -> None:
    """Over-representation of the up / down DE genes (from rg de) per library (results in ora_results)."""
    from ..omics import run_ora

    with _busy("over-representation analysis"):
        rows = run_ora(_state.settings().store, grouping, dataset, groups=_groups(groups), libraries=library, min_size=min_size,
                       max_size=max_size).summary
    for (lib, direction), sub in rows.groupby(["library", "direction"]):
        typer.echo(f"{lib} {direction}: {len(sub)} terms tested, {int((sub['padj'] < 0.05).sum())} with padj < 0.05")


def immune(
    dataset: str = DATASET,
    signature: Optional[Path] = typer.Option(None, "--signature", help="Signature matrix for deconvolution (genes x cell types, tab separated, LM22 layout). Not shipped: CIBERSORT's LM22 is not redistributable."),
    method: List[str] = typer.Option([], "--method", help="estimate, ips, deconvolution (repeatable; default: estimate and ips, plus deconvolution with --signature)."),
    perm: int = typer.Option(100, "--perm", help="Permutations for the deconvolution p-value."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes sharing the deconvolution's SVR fits (same result for any number)."),
    min_present: float = MIN_PRESENT, min_value: Optional[float] = MIN_VALUE, min_fraction: float = MIN_FRACTION,
    collapse: str = COLLAPSE,
) -> None:
    """ESTIMATE, immunophenoscore and deconvolution per patient (results in immune_scores).

    ESTIMATE skips the low-expression filter (--min-value/--min-fraction), as the authors' package.
    """
    from ..omics import run_immune

    with _busy("immune scores"):
        rows = run_immune(_state.settings().store, dataset, signature=signature, methods=method or None, perm=perm, seed=seed,
                          workers=workers,
                          options=_options(min_present, min_value, min_fraction, collapse)).summary
    for m, sub in rows.groupby("method"):
        typer.echo(f"{m}: {sub['patient_id'].nunique()} patients x {sub['score'].nunique()} scores")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the rg app."""
    app.command("de")(de)
    app.command("gsea")(gsea)
    app.command("ora")(ora)
    app.command("immune")(immune)
