"""The report's figures: each one a small function from tidy DataFrames to a matplotlib Figure.

Functions never read the store (``build`` does that) so each can be tested on
synthetic frames.  Missing columns or empty inputs raise
:class:`~radiogenomics.exceptions.InputError` with a message naming what is absent;
the report turns that into a note in the section instead of failing.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..exceptions import InputError
from .compute import order_groups

log = logging.getLogger(__name__)

GROUP_COLOURS = {"high": "#d62728", "low": "#1f77b4", "middle": "#7f7f7f", "normal": "#7f7f7f"}
_CYCLE = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e"]


def group_colour(group: str, i: int = 0) -> str:
    """Fixed colours for the risk groups, a cycle for anything else."""
    return GROUP_COLOURS.get(str(group), _CYCLE[i % len(_CYCLE)])


def _require(frame: pd.DataFrame | None, columns: Sequence[str], what: str) -> pd.DataFrame:
    if frame is None or len(frame) == 0:
        raise InputError(f"no {what} to plot")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lacks columns {missing} (has {list(frame.columns)})")
    return frame


def _p_text(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


# --------------------------------------------------------------------------- cohort


def cohort_flow_figure(flow: pd.DataFrame) -> Figure:
    """Cohort flow: one box per stage with the count kept and the exclusions beside it.

    Parameters
    ----------
    flow
        Columns ``stage, n`` and optionally ``excluded`` (count) and ``reasons`` (text), in order.
    """
    flow = _require(flow, ["stage", "n"], "cohort flow").reset_index(drop=True)
    height = 0.8 * len(flow) + 0.4
    fig = Figure(figsize=(8.5, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, len(flow))
    ax.axis("off")
    for i, row in flow.iterrows():
        y = len(flow) - i - 0.5
        ax.text(3.0, y, f"{row['stage']}\nn = {int(row['n'])}", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc="#eef3fb", ec="#4a6fa5"))
        if i + 1 < len(flow):
            ax.annotate("", xy=(3.0, y - 0.62), xytext=(3.0, y - 0.38),
                        arrowprops=dict(arrowstyle="->", color="#4a6fa5"))
        excluded = row.get("excluded")
        if excluded is not None and not pd.isna(excluded) and int(excluded) > 0:
            reasons = str(row.get("reasons") or "")
            if len(reasons) > 160:
                reasons = reasons[:157] + "..."
            ax.text(5.6, y, f"excluded {int(excluded)}" + (f"\n{reasons}" if reasons else ""),
                    ha="left", va="center", fontsize=7.5, wrap=True,
                    bbox=dict(boxstyle="round,pad=0.3", fc="#fdf0ef", ec="#c0504d"))
            ax.plot([4.4, 5.5], [y, y], color="#c0504d", lw=0.8)
    return fig


# --------------------------------------------------------------------------- Rad-score


def radscore_coefficients_figure(formula: pd.DataFrame) -> Figure:
    """Horizontal bars of the Rad-score coefficients (per z-scored feature).

    Parameters
    ----------
    formula
        Columns ``feature, coefficient``.
    """
    formula = _require(formula, ["feature", "coefficient"], "Rad-score formula")
    data = formula.assign(coefficient=pd.to_numeric(formula["coefficient"], errors="coerce"))
    data = data.dropna(subset=["coefficient"]).sort_values("coefficient")
    if data.empty:
        raise InputError("the Rad-score formula has no numeric coefficient")
    fig = Figure(figsize=(8, 0.35 * len(data) + 1.2))
    ax = fig.add_subplot(111)
    colours = ["#d62728" if c > 0 else "#1f77b4" for c in data["coefficient"]]
    ax.barh(range(len(data)), data["coefficient"], color=colours)
    ax.set_yticks(range(len(data)), [str(f) for f in data["feature"]], fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("LASSO-Cox coefficient (per SD of the feature)")
    fig.tight_layout()
    return fig


def radscore_distribution_figure(scores: pd.DataFrame, cutoff: float | None = None) -> Figure:
    """Rad-score per patient (sorted, a waterfall) coloured by group, with the cut-off line.

    Parameters
    ----------
    scores
        Columns ``patient_id, score, grp`` and optionally ``cohort``.
    """
    scores = _require(scores, ["patient_id", "score", "grp"], "Rad-scores")
    data = scores.dropna(subset=["score"]).sort_values("score").reset_index(drop=True)
    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot(111)
    for i, grp in enumerate(order_groups(data["grp"])):
        sub = data[data["grp"] == grp]
        ax.bar(sub.index, sub["score"], color=group_colour(grp, i), label=f"{grp} (n={len(sub)})", width=0.9)
    if cutoff is not None and np.isfinite(cutoff):
        ax.axhline(cutoff, color="black", ls="--", lw=0.8, label=f"cut-off {cutoff:.3g}")
    ax.set_xlabel("patients (sorted by Rad-score)")
    ax.set_ylabel("Rad-score")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- survival


def km_figure(curves: pd.DataFrame, risk: pd.DataFrame | None = None, title: str = "",
              pvalue: float | None = None, time_unit: str = "days") -> Figure:
    """Kaplan-Meier curves (step functions with CI bands) and a numbers-at-risk table below.

    Parameters
    ----------
    curves
        Columns ``group, time, surv`` and optionally ``lower, upper`` (``compute.km_curves``).
    risk
        Columns ``group, time, n_risk`` (``compute.numbers_at_risk``), drawn as a table.
    pvalue
        Log-rank p-value written on the plot.
    """
    curves = _require(curves, ["group", "time", "surv"], "Kaplan-Meier curves")
    groups = order_groups(curves["group"])
    with_risk = risk is not None and len(risk) > 0
    fig = Figure(figsize=(6, 4.8 if with_risk else 3.8))
    if with_risk:
        grid = fig.add_gridspec(2, 1, height_ratios=[4, 0.35 * len(groups) + 0.5], hspace=0.22)
        ax = fig.add_subplot(grid[0])
        tab = fig.add_subplot(grid[1], sharex=ax)
    else:
        ax = fig.add_subplot(111)
        tab = None
    for i, grp in enumerate(groups):
        sub = curves[curves["group"] == grp].sort_values("time")
        colour = group_colour(grp, i)
        ax.step(sub["time"], sub["surv"], where="post", color=colour, label=str(grp))
        if {"lower", "upper"} <= set(sub.columns):
            ax.fill_between(sub["time"], sub["lower"], sub["upper"], step="post", color=colour, alpha=0.15,
                            lw=0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("survival probability")
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    ax.set_title(title, fontsize=10)
    if pvalue is not None:
        ax.text(0.98, 0.95, f"log-rank {_p_text(pvalue)}", transform=ax.transAxes, ha="right", va="top",
                fontsize=9)
    if tab is not None:
        ax.tick_params(labelbottom=False)
        for i, grp in enumerate(groups):
            sub = risk[risk["group"] == grp]
            for _, row in sub.iterrows():
                tab.text(row["time"], len(groups) - i - 0.5, str(int(row["n_risk"])), ha="center",
                         va="center", fontsize=8, color=group_colour(grp, i))
        tab.set_ylim(0, len(groups))
        tab.set_yticks([len(groups) - i - 0.5 for i in range(len(groups))], groups, fontsize=8)
        tab.set_xlabel(f"time ({time_unit})")
        tab.set_title("number at risk", fontsize=8, loc="left")
        for spine in ("top", "right", "left"):
            tab.spines[spine].set_visible(False)
        tab.tick_params(axis="y", length=0)
        xmax = float(curves["time"].max())
        tab.set_xticks(sorted(risk["time"].unique()))
        tab.set_xlim(-0.02 * xmax, xmax * 1.02)
    else:
        ax.set_xlabel(f"time ({time_unit})")
    fig.subplots_adjust(left=0.14, right=0.97, top=0.93, bottom=0.1)
    return fig


def forest_figure(cox: pd.DataFrame, title: str = "") -> Figure:
    """Forest plot of hazard ratios with 95% CIs on a log axis.

    Parameters
    ----------
    cox
        Columns ``label, HR, lower, upper`` and optionally ``p`` and ``model`` (panel
        label such as univariable / multivariable).
    """
    cox = _require(cox, ["label", "HR", "lower", "upper"], "Cox results")
    data = cox.copy()
    for col in ("HR", "lower", "upper"):
        data[col] = pd.to_numeric(data[col], errors="coerce")
    data = data[(data["HR"] > 0) & np.isfinite(data["HR"])].reset_index(drop=True)
    if data.empty:
        raise InputError("no finite hazard ratio in the Cox results")
    fig = Figure(figsize=(9, 0.33 * len(data) + 1.3))
    ax = fig.add_subplot(111)
    y = np.arange(len(data))[::-1]
    models = list(dict.fromkeys(data["model"])) if "model" in data else []
    colour_of = {m: _CYCLE[i % len(_CYCLE)] for i, m in enumerate(models)}
    colours = [colour_of.get(m, "#333333") for m in data["model"]] if models else ["#333333"] * len(data)
    lower = data["lower"].where(data["lower"] > 0, data["HR"])
    upper = data["upper"].where(np.isfinite(data["upper"]), data["HR"])
    ax.hlines(y, lower, upper, color=colours)
    ax.scatter(data["HR"], y, color=colours, marker="s", zorder=3)
    labels = [f"{row.model}: {row.label}" if models else str(row.label) for row in data.itertuples()]
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(1.0, color="black", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("hazard ratio (95% CI, log scale)")
    if "p" in data:
        for yy, row in zip(y, data.itertuples()):
            ax.text(1.01, yy, f"HR {row.HR:.2f} ({row.lower:.2f}-{row.upper:.2f}) {_p_text(row.p)}",
                    transform=ax.get_yaxis_transform(), fontsize=7, va="center")
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.28, right=0.68, top=0.92, bottom=0.12 + 0.3 / len(data))
    return fig


def metric_bar_figure(frame: pd.DataFrame, metric: str, ylabel: str, title: str = "") -> Figure:
    """Grouped bars of one metric (C-index, AUC, ...) per model and cohort, with CIs when given.

    Parameters
    ----------
    frame
        Columns ``model, cohort, value`` and optionally ``lower, upper``.
    """
    frame = _require(frame, ["model", "cohort", "value"], metric)
    models = list(dict.fromkeys(frame["model"]))
    cohorts = list(dict.fromkeys(frame["cohort"]))
    width = 0.8 / max(1, len(cohorts))
    fig = Figure(figsize=(max(5, 1.4 * len(models) + 2), 3.6))
    ax = fig.add_subplot(111)
    for j, cohort in enumerate(cohorts):
        sub = frame[frame["cohort"] == cohort].set_index("model").reindex(models)
        x = np.arange(len(models)) + (j - (len(cohorts) - 1) / 2) * width
        values = pd.to_numeric(sub["value"], errors="coerce")
        err = None
        if {"lower", "upper"} <= set(sub.columns):
            lo = values - pd.to_numeric(sub["lower"], errors="coerce")
            hi = pd.to_numeric(sub["upper"], errors="coerce") - values
            err = np.vstack([lo.fillna(0).clip(lower=0), hi.fillna(0).clip(lower=0)])
        ax.bar(x, values, width=width, yerr=err, capsize=3, label=str(cohort) or "all",
               color=_CYCLE[j % len(_CYCLE)])
        for xx, v in zip(x, values):
            if np.isfinite(v):
                ax.text(xx, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(0.5, color="grey", ls=":", lw=0.8)
    ax.set_xticks(range(len(models)), models, fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def td_auc_figure(frame: pd.DataFrame) -> Figure:
    """Time-dependent AUC at each evaluation time, one line per model x cohort.

    Parameters
    ----------
    frame
        Columns ``model, cohort, time, auc``.
    """
    frame = _require(frame, ["model", "cohort", "time", "auc"], "time-dependent AUC")
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot(111)
    for i, ((model, cohort), sub) in enumerate(frame.groupby(["model", "cohort"], sort=False)):
        sub = sub.sort_values("time")
        ax.plot(sub["time"], sub["auc"], marker="o", color=_CYCLE[i % len(_CYCLE)],
                label=f"{model} ({cohort})" if cohort else str(model))
    ax.axhline(0.5, color="grey", ls=":", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time")
    ax.set_ylabel("AUC(t)")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def calibration_figure(frame: pd.DataFrame) -> Figure:
    """Predicted vs observed survival at each time point (one panel per time).

    Parameters
    ----------
    frame
        Columns ``time, predicted, observed`` and optionally ``model`` and ``lower, upper``
        (CI of the observed value).
    """
    frame = _require(frame, ["time", "predicted", "observed"], "calibration")
    times = sorted(frame["time"].unique())
    fig = Figure(figsize=(3.3 * len(times), 3.4))
    for k, t in enumerate(times):
        ax = fig.add_subplot(1, len(times), k + 1)
        sub = frame[frame["time"] == t]
        models = list(dict.fromkeys(sub["model"])) if "model" in sub else [""]
        for i, model in enumerate(models):
            part = sub[sub["model"] == model] if "model" in sub else sub
            part = part.sort_values("predicted")
            err = None
            if {"lower", "upper"} <= set(part.columns):
                err = np.vstack([(part["observed"] - part["lower"]).clip(lower=0).fillna(0),
                                 (part["upper"] - part["observed"]).clip(lower=0).fillna(0)])
            ax.errorbar(part["predicted"], part["observed"], yerr=err, marker="o", capsize=2,
                        color=_CYCLE[i % len(_CYCLE)], label=str(model) or None)
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"t = {t:g}", fontsize=9)
        ax.set_xlabel("predicted survival")
        if k == 0:
            ax.set_ylabel("observed (KM)")
            if models != [""]:
                ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def dca_figure(frame: pd.DataFrame) -> Figure:
    """Decision curves: net benefit against threshold probability per model.

    Parameters
    ----------
    frame
        Columns ``model, threshold, net_benefit``; models named ``all`` / ``none`` (treat
        all / treat none) are drawn as reference lines.
    """
    frame = _require(frame, ["model", "threshold", "net_benefit"], "decision curve")
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(111)
    for i, (model, sub) in enumerate(frame.groupby("model", sort=False)):
        sub = sub.sort_values("threshold")
        ref = str(model).lower() in {"all", "none", "treat all", "treat none", "treat_all", "treat_none"}
        ax.plot(sub["threshold"], sub["net_benefit"], label=str(model),
                color="grey" if ref else _CYCLE[i % len(_CYCLE)], ls=":" if ref else "-")
    finite = pd.to_numeric(frame["net_benefit"], errors="coerce")
    top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 1.0
    ax.set_ylim(-0.05, max(0.05, top * 1.1))
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def nomogram_figure(points: pd.DataFrame, totals: pd.DataFrame | None = None) -> Figure:
    """A nomogram: one axis of points per factor, then total points -> predicted survival.

    Parameters
    ----------
    points
        Columns ``variable, level, points`` (level a label or a numeric value).
    totals
        Columns ``total_points, time, survival`` (survival probability at ``time`` for a
        given total); one extra axis per time.
    """
    points = _require(points, ["variable", "level", "points"], "nomogram points")
    variables = list(dict.fromkeys(points["variable"]))
    times = sorted(totals["time"].unique()) if totals is not None and len(totals) else []
    n_axes = len(variables) + 1 + (1 if times else 0) + len(times)
    fig = Figure(figsize=(8.5, 0.55 * n_axes + 0.8))
    ax = fig.add_axes((0.22, 0.05, 0.74, 0.9))
    ax.axis("off")
    max_points = float(pd.to_numeric(points["points"], errors="coerce").max())
    max_points = max_points if np.isfinite(max_points) and max_points > 0 else 100.0
    row = n_axes

    def _axis(y: float, label: str, ticks: Sequence[tuple[float, str]]) -> None:
        xs = [t[0] for t in ticks]
        ax.plot([min(xs), max(xs)], [y, y], color="black", lw=0.8)
        for x, text in ticks:
            ax.plot([x, x], [y, y + 0.12], color="black", lw=0.8)
            ax.text(x, y + 0.18, text, ha="center", va="bottom", fontsize=6.5)
        ax.text(-0.02 * max_points, y, label, ha="right", va="center", fontsize=8)

    _axis(row, "Points", [(x, f"{x:g}") for x in np.linspace(0, max_points, 11).round(1)])
    for var in variables:
        row -= 1
        sub = points[points["variable"] == var]
        _axis(row, str(var), [(float(p), str(lv)) for lv, p in zip(sub["level"], sub["points"])])
    if times:
        tot = totals.copy()
        span = float(tot["total_points"].max())
        scale = max_points / span if span > 0 else 1.0
        row -= 1
        ticks = np.linspace(0, span, 9)
        _axis(row, "Total points", [(x * scale, f"{x:.0f}") for x in ticks])
        for t in times:
            row -= 1
            sub = tot[tot["time"] == t].sort_values("total_points")
            wanted = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
            ticks_t = []
            surv = sub["survival"].to_numpy(dtype=float)
            tp = sub["total_points"].to_numpy(dtype=float)
            for w in wanted:
                if surv.min() <= w <= surv.max():
                    order = np.argsort(surv)
                    x = float(np.interp(w, surv[order], tp[order])) * scale
                    # drop a tick that would overprint its neighbour
                    if not ticks_t or abs(x - ticks_t[-1][0]) > 0.045 * max_points:
                        ticks_t.append((x, f"{w:.1f}"))
            if len(ticks_t) < 2:
                ticks_t = [(tp[0] * scale, f"{surv[0]:.2f}"), (tp[-1] * scale, f"{surv[-1]:.2f}")]
            _axis(row, f"P(survival at {t:g})", ticks_t)
    ax.set_xlim(-0.05 * max_points, max_points * 1.05)
    ax.set_ylim(0.3, n_axes + 0.8)
    return fig


# --------------------------------------------------------------------------- omics


def volcano_figure(de: pd.DataFrame, lfc_threshold: float = 0.1, p_threshold: float = 0.05,
                   label_top: int = 10, title: str = "") -> Figure:
    """Volcano plot: log2 fold change against -log10 p, up/down genes coloured, top genes named.

    Parameters
    ----------
    de
        Columns ``gene, log2FoldChange, pvalue`` and optionally ``direction`` (up/down/ns);
        without it the thresholds decide.
    """
    de = _require(de, ["gene", "log2FoldChange", "pvalue"], "differential expression results")
    data = de.copy()
    data["log2FoldChange"] = pd.to_numeric(data["log2FoldChange"], errors="coerce")
    data["pvalue"] = pd.to_numeric(data["pvalue"], errors="coerce")
    data = data.dropna(subset=["log2FoldChange", "pvalue"])
    if data.empty:
        raise InputError("no gene has both a fold change and a p-value")
    if "direction" not in data:
        sig = (data["pvalue"] < p_threshold) & (data["log2FoldChange"].abs() > lfc_threshold)
        data["direction"] = np.where(sig, np.where(data["log2FoldChange"] > 0, "up", "down"), "ns")
    data["nlp"] = -np.log10(data["pvalue"].clip(lower=1e-300))
    fig = Figure(figsize=(6.5, 5))
    ax = fig.add_subplot(111)
    colours = {"up": "#d62728", "down": "#1f77b4", "ns": "#bbbbbb"}
    for direction in ("ns", "down", "up"):
        sub = data[data["direction"] == direction]
        ax.scatter(sub["log2FoldChange"], sub["nlp"], s=6, color=colours[direction], alpha=0.7,
                   label=f"{direction} ({len(sub)})", lw=0)
    ax.axhline(-math.log10(p_threshold), color="grey", ls="--", lw=0.7)
    for x in (-lfc_threshold, lfc_threshold):
        ax.axvline(x, color="grey", ls="--", lw=0.7)
    for _, row in data[data["direction"] != "ns"].nlargest(label_top, "nlp").iterrows():
        ax.annotate(str(row["gene"]), (row["log2FoldChange"], row["nlp"]), fontsize=6.5,
                    xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("log2 fold change (high vs low)")
    ax.set_ylabel("-log10 p")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def heatmap_figure(matrix: pd.DataFrame, groups: pd.Series, title: str = "") -> Figure:
    """Heatmap of z-scored expression (genes x patients), patients ordered by group.

    Parameters
    ----------
    matrix
        Genes (rows) x patients (columns), already z-scored per gene.
    groups
        Group label per patient (index = patient id).
    """
    if matrix is None or matrix.empty:
        raise InputError("no expression values for the heatmap")
    groups = groups.astype(str)
    cols = [p for g in order_groups(groups) for p in groups.index[groups == g] if p in matrix.columns]
    if not cols:
        raise InputError("no patient of the grouping has expression values")
    data = matrix[cols]
    fig = Figure(figsize=(8, 0.14 * len(data) + 2.2))
    grid = fig.add_gridspec(2, 2, height_ratios=[0.35, max(1.0, 0.14 * len(data))], width_ratios=[30, 1],
                            hspace=0.03, wspace=0.03)
    bar = fig.add_subplot(grid[0, 0])
    ax = fig.add_subplot(grid[1, 0])
    cax = fig.add_subplot(grid[1, 1])
    labels = order_groups(groups)
    codes = np.array([[labels.index(groups[p]) for p in cols]])
    from matplotlib.colors import ListedColormap

    bar.imshow(codes, aspect="auto", cmap=ListedColormap([group_colour(g, i) for i, g in enumerate(labels)]),
               vmin=-0.5, vmax=len(labels) - 0.5, interpolation="nearest")
    bar.set_xticks([])
    bar.set_yticks([])
    for i, g in enumerate(labels):
        positions = np.where(codes[0] == i)[0]
        if len(positions):
            bar.text(positions.mean(), 0, g, ha="center", va="center", fontsize=8, color="white")
    bar.set_title(title, fontsize=10)
    image = ax.imshow(np.clip(data.to_numpy(dtype=float), -3, 3), aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3,
                      interpolation="nearest")
    ax.set_yticks(range(len(data)), [str(g) for g in data.index], fontsize=6 if len(data) > 40 else 7)
    ax.set_xticks([])
    ax.set_xlabel(f"patients (n = {len(cols)})")
    fig.colorbar(image, cax=cax, label="z-score")
    fig.subplots_adjust(left=0.15, right=0.9, top=0.95, bottom=0.06)
    return fig


def gsea_bar_figure(gsea: pd.DataFrame, fdr_threshold: float = 0.25, top: int = 30, title: str = "") -> Figure:
    """Bars of NES per gene set, coloured by FDR (significant sets saturated).

    Parameters
    ----------
    gsea
        Columns ``term, NES, fdr``.
    """
    gsea = _require(gsea, ["term", "NES", "fdr"], "GSEA results")
    data = gsea.copy()
    data["NES"] = pd.to_numeric(data["NES"], errors="coerce")
    data["fdr"] = pd.to_numeric(data["fdr"], errors="coerce")
    data = data.dropna(subset=["NES"])
    if data.empty:
        raise InputError("no gene set has a NES")
    data = data.reindex(data["NES"].abs().sort_values(ascending=False).index).head(top).sort_values("NES")
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    cmap = colormaps["viridis_r"]
    norm = Normalize(vmin=0, vmax=max(fdr_threshold * 2, 0.5))
    fig = Figure(figsize=(8, 0.26 * len(data) + 1.5))
    ax = fig.add_subplot(111)
    colours = [cmap(norm(f)) if np.isfinite(f) else "#cccccc" for f in data["fdr"]]
    ax.barh(range(len(data)), data["NES"], color=colours,
            edgecolor=["black" if (np.isfinite(f) and f < fdr_threshold) else "none" for f in data["fdr"]])
    ax.set_yticks(range(len(data)), [str(t).replace("HALLMARK_", "") for t in data["term"]], fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("normalised enrichment score (high vs low)")
    ax.set_title(title or f"GSEA (outlined: FDR < {fdr_threshold:g})", fontsize=10)
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="FDR", fraction=0.04)
    fig.tight_layout()
    return fig


def enrichment_curves_figure(curves: pd.DataFrame, annotations: Mapping[str, str] | None = None) -> Figure:
    """GSEA running enrichment score with the hit positions, one panel per gene set.

    Parameters
    ----------
    curves
        Columns ``term, rank, running_es, hit`` (``compute.running_enrichment`` per term).
    annotations
        Text per term (e.g. "NES 2.1, FDR 0.01").
    """
    curves = _require(curves, ["term", "rank", "running_es", "hit"], "enrichment curves")
    terms = list(dict.fromkeys(curves["term"]))
    ncol = min(3, len(terms))
    nrow = math.ceil(len(terms) / ncol)
    fig = Figure(figsize=(3.4 * ncol, 3.1 * nrow))
    # per set: 3 rows of curve, 1 of hit ticks, 1 spacer (room for the next title)
    grid = fig.add_gridspec(nrow * 5, ncol, hspace=0.1)
    for k, term in enumerate(terms):
        sub = curves[curves["term"] == term]
        r, c = divmod(k, ncol)
        ax = fig.add_subplot(grid[r * 5:r * 5 + 3, c])
        ticks = fig.add_subplot(grid[r * 5 + 3, c], sharex=ax)
        ax.plot(sub["rank"], sub["running_es"], color="#2ca02c", lw=1.2)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(str(term).replace("HALLMARK_", ""), fontsize=8)
        if annotations and term in annotations:
            ax.text(0.98, 0.95, annotations[term], transform=ax.transAxes, ha="right", va="top", fontsize=7)
        ax.tick_params(labelbottom=False, labelsize=7)
        ax.set_ylabel("running ES", fontsize=7)
        hits = sub.loc[sub["hit"].astype(bool), "rank"]
        ticks.vlines(hits, 0, 1, color="black", lw=0.5)
        ticks.set_yticks([])
        ticks.set_ylim(0, 1)
        ticks.tick_params(labelsize=7)
        ticks.set_xlabel("rank in ordered gene list", fontsize=7)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.1, wspace=0.3)
    return fig


def ora_bar_figure(ora: pd.DataFrame, top: int = 10, title: str = "") -> Figure:
    """Bars of -log10 adjusted p for the top over-represented terms per direction.

    Parameters
    ----------
    ora
        Columns ``term, direction, padj`` and optionally ``overlap, library``.
    """
    ora = _require(ora, ["term", "direction", "padj"], "ORA results")
    data = ora.copy()
    data["padj"] = pd.to_numeric(data["padj"], errors="coerce")
    data = data.dropna(subset=["padj"])
    if data.empty:
        raise InputError("no ORA term has an adjusted p-value")
    directions = [d for d in ("up", "down") if d in set(data["direction"])] or list(dict.fromkeys(data["direction"]))
    fig = Figure(figsize=(8, 0.3 * top * len(directions) + 1.2))
    for k, direction in enumerate(directions):
        ax = fig.add_subplot(len(directions), 1, k + 1)
        sub = data[data["direction"] == direction].nsmallest(top, "padj").iloc[::-1]
        nl = -np.log10(sub["padj"].clip(lower=1e-300))
        ax.barh(range(len(sub)), nl, color=group_colour("high" if direction == "up" else "low"))
        label = [f"{t[:55]}" + (f" ({int(o)})" if "overlap" in sub and pd.notna(o) else "")
                 for t, o in zip(sub["term"], sub["overlap"] if "overlap" in sub else [None] * len(sub))]
        ax.set_yticks(range(len(sub)), label, fontsize=7)
        ax.axvline(-math.log10(0.05), color="grey", ls="--", lw=0.7)
        ax.set_title(f"{direction}-regulated genes", fontsize=9)
        ax.set_xlabel("-log10 adjusted p")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def score_box_figure(scores: pd.DataFrame, pvalues: Mapping[str, float] | None = None, title: str = "",
                     ncol: int = 4) -> Figure:
    """Box plots (with points) of per-patient scores by group, one panel per score.

    Parameters
    ----------
    scores
        Columns ``score, grp, value`` (one row per patient and score).
    pvalues
        p-value per score, written in each panel's title.
    """
    scores = _require(scores, ["score", "grp", "value"], "scores")
    names = list(dict.fromkeys(scores["score"]))
    ncol = min(ncol, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig = Figure(figsize=(2.6 * ncol, 2.6 * nrow + 0.3))
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        sub = scores[scores["score"] == name]
        groups = order_groups(sub["grp"])
        values = [pd.to_numeric(sub.loc[sub["grp"] == g, "value"], errors="coerce").dropna().to_numpy()
                  for g in groups]
        box = ax.boxplot(values, patch_artist=True, widths=0.6, showfliers=False)
        ax.set_xticks(range(1, len(groups) + 1), groups, fontsize=7)
        for i, (patch, g) in enumerate(zip(box["boxes"], groups)):
            patch.set_facecolor(group_colour(g, i))
            patch.set_alpha(0.35)
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(values[i])), values[i], s=5,
                       color=group_colour(g, i), lw=0)
        label = str(name)
        if pvalues and name in pvalues:
            label += f"\n{_p_text(pvalues[name])}"
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def clinical_violin_figure(frame: pd.DataFrame, pvalues: Mapping[str, float] | None = None, ncol: int = 4) -> Figure:
    """Violin plots of continuous clinical variables by group.

    Parameters
    ----------
    frame
        Columns ``variable, grp, value``.
    """
    frame = _require(frame, ["variable", "grp", "value"], "continuous clinical variables")
    names = list(dict.fromkeys(frame["variable"]))
    ncol = min(ncol, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig = Figure(figsize=(2.6 * ncol, 2.6 * nrow))
    for k, name in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        sub = frame[frame["variable"] == name]
        groups = order_groups(sub["grp"])
        values = [pd.to_numeric(sub.loc[sub["grp"] == g, "value"], errors="coerce").dropna().to_numpy()
                  for g in groups]
        keep = [i for i, v in enumerate(values) if len(v) > 1]
        if keep:
            parts = ax.violinplot([values[i] for i in keep], positions=[i + 1 for i in keep], showmedians=True)
            for body, i in zip(parts["bodies"], keep):
                body.set_facecolor(group_colour(groups[i], i))
                body.set_alpha(0.5)
        ax.set_xticks(range(1, len(groups) + 1), groups, fontsize=7)
        label = str(name) + (f"\n{_p_text(pvalues[name])}" if pvalues and name in pvalues else "")
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def clinical_bar_figure(frame: pd.DataFrame, pvalues: Mapping[str, float] | None = None, ncol: int = 4) -> Figure:
    """Stacked proportion bars of categorical clinical variables by group.

    Parameters
    ----------
    frame
        Columns ``variable, grp, level`` (one row per patient and variable).
    """
    frame = _require(frame, ["variable", "grp", "level"], "categorical clinical variables")
    names = list(dict.fromkeys(frame["variable"]))
    ncol = min(ncol, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig = Figure(figsize=(2.8 * ncol, 2.8 * nrow))
    for k, name in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        sub = frame[frame["variable"] == name].dropna(subset=["level"])
        groups = order_groups(sub["grp"])
        table = pd.crosstab(sub["level"].astype(str), sub["grp"]).reindex(columns=groups, fill_value=0)
        share = table / table.sum(axis=0).replace(0, np.nan)
        bottom = np.zeros(len(groups))
        for i, level in enumerate(share.index):
            vals = share.loc[level].fillna(0).to_numpy()
            ax.bar(range(len(groups)), vals, bottom=bottom, color=_CYCLE[i % len(_CYCLE)], label=level)
            bottom += vals
        ax.set_xticks(range(len(groups)), [f"{g}\n(n={int(table[g].sum())})" for g in groups], fontsize=7)
        ax.set_ylim(0, 1)
        label = str(name) + (f"\n{_p_text(pvalues[name])}" if pvalues and name in pvalues else "")
        ax.set_title(label, fontsize=8)
        ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
