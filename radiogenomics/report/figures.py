"""The report's figures: each one a small function from tidy DataFrames to a matplotlib Figure.

Functions never read the store (``build`` does that) so each can be tested on
synthetic frames.  Missing columns or empty inputs raise
:class:`~radiogenomics.exceptions.InputError` with a message naming what is absent;
the report turns that into a note in the section instead of failing.
"""

from __future__ import annotations

import logging
import math
import re
import textwrap
import weakref
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

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


def format_small(value: float | None, digits: int = 3) -> str:
    """A p-value / FDR for display: ``< 0.001`` for 0 (a permutation floor), else the exact value.

    A permutation FDR of exactly 0 only says "below the resolution of the permutations", so
    it is never printed as ``0``; a small non-zero value keeps its digits (``2.3e-05``).
    """
    if value is None or not np.isfinite(value):
        return "n/a"
    if value <= 0:
        return "< 0.001"
    return f"{value:.{digits}g}" if value < 0.001 else f"{value:.{digits}f}".rstrip("0").rstrip(".")


# the numbers each figure plots, for the CSV written beside its vector / raster files
_PLOTTED: "weakref.WeakKeyDictionary[Figure, pd.DataFrame]" = weakref.WeakKeyDictionary()


def _plotted(fig: Figure, data: pd.DataFrame) -> Figure:
    _PLOTTED[fig] = data.reset_index(drop=True)
    return fig


def plotted_data(fig: Figure) -> pd.DataFrame:
    """The tidy table of the numbers ``fig`` shows (recorded by the figure function that drew it).

    Raises
    ------
    InputError
        ``fig`` was not drawn by a function of this module.
    """
    try:
        return _PLOTTED[fig]
    except KeyError:
        raise InputError("this figure was not drawn by radiogenomics.report.figures; it has no plotted data") from None


def _renderer(fig: Figure):
    """An Agg renderer for ``fig`` (figures here are created without pyplot, hence without a canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def overlapping_texts(texts: Iterable[Text], renderer=None, pad: float = 0.5) -> list[tuple[Text, Text]]:
    """Pairs of visible, non-empty texts whose drawn boxes overlap by more than ``pad`` pixels.

    Parameters
    ----------
    texts
        Text artists of one figure (e.g. tick labels, annotations).
    renderer
        Renderer of the figure [default: an Agg renderer of the first text's figure].
    pad
        Tolerance in pixels: boxes that only touch are not an overlap.
    """
    shown = [t for t in texts if t.get_visible() and t.get_text().strip()]
    if len(shown) < 2:
        return []
    renderer = renderer or _renderer(shown[0].figure)
    boxes = [t.get_window_extent(renderer) for t in shown]
    pairs = []
    for i in range(len(shown)):
        for j in range(i + 1, len(shown)):
            a, b = boxes[i], boxes[j]
            dx = min(a.x1, b.x1) - max(a.x0, b.x0)
            dy = min(a.y1, b.y1) - max(a.y0, b.y0)
            if dx > pad and dy > pad:
                pairs.append((shown[i], shown[j]))
    return pairs


def _tick_labels(axis) -> list[Text]:
    """The tick labels an axis draws (ticks inside its view interval, after a draw)."""
    lo, hi = sorted(axis.get_view_interval())
    eps = 1e-9 * max(1.0, abs(hi - lo))
    locs = axis.get_majorticklocs()
    ticks = axis.get_major_ticks(len(locs))
    return [t.label1 for t, loc in zip(ticks, locs) if lo - eps <= loc <= hi + eps and t.label1.get_visible()]


def _fit_xticklabels(fig: Figure, axes: Sequence) -> None:
    """Rotate the x tick labels of any of ``axes`` whose labels would overprint each other."""
    renderer = _renderer(fig)
    fig.draw_without_rendering()
    for ax in axes:
        labels = _tick_labels(ax.xaxis)
        if overlapping_texts(labels, renderer):
            for label in labels:
                label.set_rotation(35)
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")


def _wrap(text: str, width: int, max_lines: int | None = None) -> str:
    lines = textwrap.wrap(str(text), width=width, break_long_words=True, break_on_hyphens=False) or [""]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:max(1, width - 1)].rstrip() + "\u2026"
    return "\n".join(lines)


_TERM_PREFIX = re.compile(r"^(GOBP|GOCC|GOMF|GO|HALLMARK|REACTOME|KEGG|WP|BIOCARTA|PID)_")


def term_labels(terms: Sequence[str], width: int = 42, max_lines: int = 2) -> list[str]:
    """Readable, unique, wrapped labels for gene-set names (``GOBP_CELL_KILLING`` -> ``CELL KILLING``).

    The collection prefix goes and underscores become spaces; each label is wrapped at
    ``width`` characters into at most ``max_lines`` lines (ending in an ellipsis when cut).
    Two labels that would read the same are given their full, uncut text, and if even that
    is not enough the term's position is appended, so two bars never read the same.
    """
    plain = [_TERM_PREFIX.sub("", str(t)).replace("_", " ").strip() or str(t) for t in terms]
    labels = [_wrap(p, width, max_lines) for p in plain]
    for _ in range(2):
        counts = pd.Series(labels).value_counts()
        clashes = set(counts[counts > 1].index)
        if not clashes:
            break
        labels = [_wrap(p, width) if lab in clashes else lab for p, lab in zip(plain, labels)]
    counts = pd.Series(labels).value_counts()
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        if counts[lab] > 1:  # the same gene-set name twice (e.g. two libraries): number them
            seen[lab] = seen.get(lab, 0) + 1
            lab = f"{lab} [{seen[lab]}]"
        out.append(lab)
    return out


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
    return _plotted(fig, flow)


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
    ax.set_xlabel("LASSO-Cox coefficient (log hazard ratio per SD of the feature)")
    fig.tight_layout()
    return _plotted(fig, data[["feature", "coefficient"]])


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
        ax.bar(sub.index + 1, sub["score"], color=group_colour(grp, i), label=f"{grp} (n={len(sub)})", width=0.9)
    if cutoff is not None and np.isfinite(cutoff):
        ax.axhline(cutoff, color="black", ls="--", lw=0.8, label=f"cut-off {cutoff:.3g}")
    ax.set_xlabel("patient rank by Rad-score (1 = lowest)")
    ax.set_ylabel("Rad-score (log relative hazard)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    ranked = data.assign(rank=data.index + 1)
    return _plotted(fig, ranked[["rank"] + [c for c in ("patient_id", "score", "grp", "cohort") if c in ranked]])


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
    ax.set_ylabel("survival probability (0-1)")
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
    data = curves.assign(table="survival")
    if with_risk:
        data = pd.concat([data, risk.assign(table="number at risk")], ignore_index=True)
    return _plotted(fig, data)


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
    ax.set_xlabel("hazard ratio (ratio of hazards, log scale; 95% CI)")
    if "p" in data:
        for yy, row in zip(y, data.itertuples()):
            ax.text(1.01, yy, f"HR {row.HR:.2f} ({row.lower:.2f}-{row.upper:.2f}) {_p_text(row.p)}",
                    transform=ax.get_yaxis_transform(), fontsize=7, va="center")
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.28, right=0.68, top=0.92, bottom=0.12 + 0.3 / len(data))
    return _plotted(fig, data)


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
    _fit_xticklabels(fig, [ax])
    fig.tight_layout()
    return _plotted(fig, frame)


def _years(days: float) -> str:
    return f"{days / 365.25:.3g} y"


def td_auc_figure(frame: pd.DataFrame, time_unit: str = "days") -> Figure:
    """Time-dependent AUC at each evaluation time, one line per model x cohort.

    Parameters
    ----------
    frame
        Columns ``model, cohort, time, auc``.
    time_unit
        Unit of ``time`` (written on the axis; ``days`` also get year tick labels).
    """
    frame = _require(frame, ["model", "cohort", "time", "auc"], "time-dependent AUC")
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot(111)
    for i, ((model, cohort), sub) in enumerate(frame.groupby(["model", "cohort"], sort=False)):
        sub = sub.sort_values("time")
        ax.plot(sub["time"], sub["auc"], marker="o", color=_CYCLE[i % len(_CYCLE)],
                label=f"{model} ({cohort})" if cohort else str(model))
    ax.axhline(0.5, color="grey", ls=":", lw=0.8)
    ax.text(1.0, 0.5, " chance", transform=ax.get_yaxis_transform(), fontsize=7, color="grey", va="center")
    times = sorted(pd.to_numeric(frame["time"], errors="coerce").dropna().unique())
    if time_unit == "days" and times:
        ax.set_xticks(times, [f"{t:g}\n({_years(t)})" for t in times])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"evaluation time t ({time_unit} after baseline)")
    ax.set_ylabel("time-dependent AUC(t) (0-1)")
    ax.legend(frameon=False, fontsize=7, loc="lower left")
    fig.tight_layout()
    _fit_xticklabels(fig, [ax])
    fig.tight_layout()
    return _plotted(fig, frame)


def calibration_figure(frame: pd.DataFrame, time_unit: str = "days") -> Figure:
    """Predicted vs observed survival at each time point (one panel per time).

    Parameters
    ----------
    frame
        Columns ``time, predicted, observed`` and optionally ``model`` and ``lower, upper``
        (CI of the observed value).
    """
    frame = _require(frame, ["time", "predicted", "observed"], "calibration")
    times = sorted(frame["time"].unique())
    fig = Figure(figsize=(3.3 * len(times), 3.5))
    first = None
    for k, t in enumerate(times):
        ax = fig.add_subplot(1, len(times), k + 1, sharey=first)
        first = first or ax
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
        when = f"t = {t:g} {time_unit}" + (f" ({_years(t)})" if time_unit == "days" else "")
        ax.set_title(when, fontsize=9)
        ax.set_xlabel("predicted survival probability (0-1)", fontsize=8)
        if k == 0:
            ax.set_ylabel("observed survival, Kaplan-Meier (0-1)", fontsize=8)
            if models != [""]:
                ax.legend(frameon=False, fontsize=7)
        else:
            ax.tick_params(labelleft=False)
    fig.tight_layout()
    return _plotted(fig, frame)


_REFERENCE_STYLE = {  # decision-curve reference strategies: distinct from each other and from models
    "treat all": dict(color="#444444", ls="--", lw=1.2),
    "treat none": dict(color="black", ls=":", lw=1.6),
}


def dca_figure(frame: pd.DataFrame, horizon: str = "") -> Figure:
    """Decision curves: net benefit against threshold probability per model.

    Parameters
    ----------
    frame
        Columns ``model, threshold, net_benefit``; models named ``all`` / ``none`` (treat
        all / treat none, also ``treat_all`` ...) are the reference strategies, drawn in
        their own styles and labelled at the right end of their lines.
    horizon
        Time horizon of the event probability (e.g. ``"1 year"``), for the axis label.
    """
    frame = _require(frame, ["model", "threshold", "net_benefit"], "decision curve")
    fig = Figure(figsize=(6.4, 4))
    ax = fig.add_subplot(111)
    finite = pd.to_numeric(frame["net_benefit"], errors="coerce")
    top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 1.0
    ymin, ymax = -0.05, max(0.05, top * 1.12)
    colour = 0
    for model, sub in frame.groupby("model", sort=False):
        sub = sub.sort_values("threshold")
        key = str(model).lower().replace("_", " ")
        key = {"all": "treat all", "none": "treat none"}.get(key, key)
        if key in _REFERENCE_STYLE:
            ax.plot(sub["threshold"], sub["net_benefit"], label=key, **_REFERENCE_STYLE[key])
            # name the line on the plot too: treat none at its right end (above the line), treat all
            # where it crosses zero (below, left of the crossing: the models run above it there)
            nb = sub["net_benefit"].to_numpy(dtype=float)
            th = sub["threshold"].to_numpy(dtype=float)
            if key == "treat none" and len(th):
                ax.annotate(key, (th[-1], nb[-1]), xytext=(0, 3), textcoords="offset points", fontsize=7,
                            ha="right", va="bottom", color=_REFERENCE_STYLE[key]["color"])
            elif key == "treat all":
                below = np.flatnonzero(nb <= 0)
                if len(below) and below[0] > 0:
                    i = below[0]
                    x0 = th[i - 1] + (th[i] - th[i - 1]) * nb[i - 1] / (nb[i - 1] - nb[i])
                    ax.annotate(key, (x0, 0.0), xytext=(-4, -4), textcoords="offset points", fontsize=7,
                                ha="right", va="top", color=_REFERENCE_STYLE[key]["color"])
        else:
            ax.plot(sub["threshold"], sub["net_benefit"], label=str(model), color=_CYCLE[colour % len(_CYCLE)], lw=1.6)
            colour += 1
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel("threshold probability of the event" + (f" by {horizon}" if horizon else "") + " (0-1)")
    ax.set_ylabel("net benefit (true positives per patient)")
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    return _plotted(fig, frame)


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
    data = points.assign(table="points")
    if times:
        data = pd.concat([data, totals.assign(table="total points to survival")], ignore_index=True)
    return _plotted(fig, data)


# --------------------------------------------------------------------------- omics


def _place_labels(ax, texts: list[Text], x: np.ndarray, y: np.ndarray) -> list[Text]:
    """Move point labels apart with adjustText, drop any that still overprint, and draw leader lines.

    ``texts`` are in priority order: when two labels cannot be separated the later one is
    removed (and logged), so the labels left never overlap each other.
    """
    from adjustText import adjust_text
    from matplotlib.patches import FancyArrowPatch

    fig = ax.figure
    renderer = _renderer(fig)
    # a fixed iteration budget (not adjustText's default time limit) keeps the layout reproducible
    adjust_text(texts, target_x=x, target_y=y, ax=ax, iter_lim=400, expand=(1.15, 1.35),
                force_text=(0.2, 0.4), force_static=(0.2, 0.4), ensure_inside_axes=True)
    kept = list(texts)
    while True:
        pairs = overlapping_texts(kept, renderer)
        if not pairs:
            break
        loser = max((b for _, b in pairs), key=kept.index)
        log.info("volcano: label %r dropped (no room without overlapping another label)", loser.get_text())
        loser.remove()
        kept.remove(loser)
    index = {id(t): i for i, t in enumerate(texts)}
    for text in kept:
        i = index[id(text)]
        tx, ty = ax.transData.transform(text.get_position())
        px, py = ax.transData.transform((x[i], y[i]))
        if math.hypot(tx - px, ty - py) > 4:  # pixels: a label right on its point needs no line
            ax.add_patch(FancyArrowPatch(text.get_position(), (x[i], y[i]), patchA=text.get_bbox_patch(),
                                         arrowstyle="-", shrinkA=1, shrinkB=2, lw=0.5, color="#555555", zorder=2))
    return kept


def volcano_figure(de: pd.DataFrame, lfc_threshold: float = 0.1, p_threshold: float = 0.05,
                   label_top: int = 10, title: str = "") -> Figure:
    """Volcano plot: log2 fold change against -log10 p, up/down genes coloured, top genes named.

    The ``label_top`` most significant genes (half up, half down when both exist) are
    named; labels are placed by adjustText and never overlap (one that cannot be placed is
    left out).

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
    data["direction"] = data["direction"].fillna("ns").astype(str)
    data["neg_log10_p"] = -np.log10(data["pvalue"].clip(lower=1e-300))
    fig = Figure(figsize=(7.4, 5.2))
    ax = fig.add_subplot(111)
    colours = {"up": "#d62728", "down": "#1f77b4", "ns": "#bbbbbb"}
    for direction in ("ns", "down", "up"):
        sub = data[data["direction"] == direction]
        ax.scatter(sub["log2FoldChange"], sub["neg_log10_p"], s=6, color=colours[direction], alpha=0.7,
                   label=f"{direction} ({len(sub)})", lw=0)
    ax.axhline(-math.log10(p_threshold), color="grey", ls="--", lw=0.7)
    for x in (-lfc_threshold, lfc_threshold):
        ax.axvline(x, color="grey", ls="--", lw=0.7)
    sig = data[data["direction"].isin(["up", "down"])]
    per_side = max(1, label_top // 2)
    pick = pd.concat([sig[sig["direction"] == d].nlargest(per_side, "neg_log10_p") for d in ("up", "down")])
    if len(pick) < label_top:  # one side short of genes: fill from the other
        pick = pd.concat([pick, sig.drop(index=pick.index).nlargest(label_top - len(pick), "neg_log10_p")])
    pick = pick.sort_values("neg_log10_p", ascending=False)
    top = float(data["neg_log10_p"].max())
    ax.set_ylim(-0.03 * top, top * 1.12 + 0.1)  # headroom for the labels of the top genes
    ax.set_xlabel("log2 fold change, high vs low (log2 ratio)")
    ax.set_ylabel("-log10 p-value (unitless)")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="genes",
              title_fontsize=8)
    fig.tight_layout()
    data["labelled"] = False
    if len(pick):
        texts = [ax.text(r.log2FoldChange, r.neg_log10_p, str(r.gene), fontsize=7, ha="center", va="center",
                         zorder=4, bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.75))
                 for r in pick.itertuples()]
        kept = _place_labels(ax, texts, pick["log2FoldChange"].to_numpy(), pick["neg_log10_p"].to_numpy())
        data.loc[data["gene"].astype(str).isin({t.get_text() for t in kept}), "labelled"] = True
    cols = ["gene", "log2FoldChange", "pvalue", "neg_log10_p", "direction", "labelled"]
    return _plotted(fig, data[cols])


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
    ax.set_xlabel(f"patients, ordered by risk group (n = {len(cols)})")
    fig.colorbar(image, cax=cax, label="expression z-score (SD from gene mean)")
    fig.subplots_adjust(left=0.15, right=0.88, top=0.95, bottom=0.06)
    long = data.rename_axis(index="gene", columns="patient_id").stack().rename("z").reset_index()
    long["grp"] = long["patient_id"].map(groups)
    return _plotted(fig, long[["gene", "patient_id", "grp", "z"]])


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
    ax.set_yticks(range(len(data)), term_labels(data["term"], width=48), fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("normalised enrichment score, high vs low (NES, unitless)")
    ax.set_title(title or f"GSEA (outlined: FDR < {fdr_threshold:g})", fontsize=10)
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="FDR (q-value, 0-1)", fraction=0.04)
    fig.tight_layout()
    return _plotted(fig, data[[c for c in ("term", "NES", "fdr", "pvalue") if c in data]])


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
    fig = Figure(figsize=(3.4 * ncol, 3.3 * nrow))
    # per set: 3 rows of curve, 1 of hit ticks, 1 spacer (room for the next title)
    grid = fig.add_gridspec(nrow * 5, ncol, hspace=0.1)
    for k, term in enumerate(terms):
        sub = curves[curves["term"] == term]
        r, c = divmod(k, ncol)
        ax = fig.add_subplot(grid[r * 5:r * 5 + 3, c])
        ticks = fig.add_subplot(grid[r * 5 + 3, c], sharex=ax)
        ax.plot(sub["rank"], sub["running_es"], color="#2ca02c", lw=1.2)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(term_labels([term], width=40)[0], fontsize=8)
        if annotations and term in annotations:
            ax.text(0.98, 0.95, annotations[term], transform=ax.transAxes, ha="right", va="top", fontsize=7)
        ax.tick_params(labelbottom=False, labelsize=7)
        ax.set_ylabel("running ES (unitless)", fontsize=7)
        hits = sub.loc[sub["hit"].astype(bool), "rank"]
        ticks.vlines(hits, 0, 1, color="black", lw=0.5)
        ticks.set_yticks([])
        ticks.set_ylim(0, 1)
        ticks.tick_params(labelsize=7)
        ticks.set_xlabel("gene rank in the ordered list (position)", fontsize=7)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.1, wspace=0.3)
    return _plotted(fig, curves)


def ora_bar_figure(ora: pd.DataFrame, top: int = 10, title: str = "") -> Figure:
    """Bars of -log10 adjusted p for the top over-represented terms per direction.

    Term names are made readable and wrapped (:func:`term_labels`), never cut so far that two
    bars read the same.

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
    shown = []
    for direction in directions:
        sub = data[data["direction"] == direction].nsmallest(top, "padj").iloc[::-1].copy()
        labels = term_labels(sub["term"], width=46, max_lines=2)
        if "overlap" in sub:
            labels = [lab + (f" ({int(o)})" if pd.notna(o) else "") for lab, o in zip(labels, sub["overlap"])]
        sub["label"] = labels
        sub["neg_log10_padj"] = -np.log10(sub["padj"].clip(lower=1e-300))
        shown.append(sub)
    lines = [max(1, lab.count("\n") + 1) for sub in shown for lab in sub["label"]]
    fig = Figure(figsize=(8.5, 0.22 * sum(lines) + 0.12 * len(lines) + 1.0 * len(directions) + 0.4))
    grid = fig.add_gridspec(len(directions), 1, height_ratios=[max(1, len(sub)) for sub in shown])
    for k, (direction, sub) in enumerate(zip(directions, shown)):
        ax = fig.add_subplot(grid[k])
        ax.barh(range(len(sub)), sub["neg_log10_padj"], color=group_colour("high" if direction == "up" else "low"))
        ax.set_yticks(range(len(sub)), sub["label"], fontsize=7)
        ax.set_ylim(-0.6, len(sub) - 0.4)
        ax.axvline(-math.log10(0.05), color="grey", ls="--", lw=0.7)
        ax.set_title(f"{direction}-regulated genes (overlap with the set in brackets)", fontsize=9)
        ax.set_xlabel("-log10 adjusted p-value (unitless; dashed: 0.05)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    cols = ["direction", "term", "label", "padj", "neg_log10_padj"] + [c for c in ("overlap", "library") if c in data]
    return _plotted(fig, pd.concat(shown, ignore_index=True)[cols])


def _group_ticks(ax, groups: Sequence[str], counts: Sequence[int]) -> None:
    """Group names with their n as x tick labels (two lines, so neighbours have room)."""
    ax.set_xticks(range(1, len(groups) + 1), [f"{g}\nn={n}" for g, n in zip(groups, counts)], fontsize=7)


def _panel_title(name: str, pvalues: Mapping[str, float] | None, reasons: Mapping[str, str] | None,
                 fallback: str | None = None, width: int = 34) -> str:
    """``name`` over its p-value, or over the reason it has none (never silently blank).

    The stored test's own reason comes first; ``fallback`` is what the plotted data shows
    (e.g. a single level) when no test said why.
    """
    p = (pvalues or {}).get(name)
    if p is not None and np.isfinite(p):
        return f"{name}\n{_p_text(p)}"
    why = (reasons or {}).get(name) or fallback or "no test stored for this variable"
    return f"{name}\n" + _wrap(f"no p-value: {why}", width, 2)


def _y_unit(units: Mapping[str, str] | str | None, name: str, default: str) -> str:
    if isinstance(units, str):
        return units
    return (units or {}).get(name, default)


def score_box_figure(scores: pd.DataFrame, pvalues: Mapping[str, float] | None = None, title: str = "",
                     ncol: int = 4, units: Mapping[str, str] | str | None = None,
                     reasons: Mapping[str, str] | None = None) -> Figure:
    """Box plots (with points) of per-patient scores by group, one panel per score.

    Parameters
    ----------
    scores
        Columns ``score, grp, value`` (one row per patient and score).
    pvalues
        p-value per score, written in each panel's title.
    units
        y-axis label (with its unit) per score, or one label for all [default: "score (a.u.)"].
    reasons
        Why a score has no p-value (written instead of it).
    """
    scores = _require(scores, ["score", "grp", "value"], "scores")
    names = list(dict.fromkeys(scores["score"]))
    ncol = min(ncol, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig = Figure(figsize=(2.7 * ncol, 2.9 * nrow + 0.3))
    rng = np.random.default_rng(0)
    rows = []
    for k, name in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        sub = scores[scores["score"] == name]
        groups = order_groups(sub["grp"])
        values = [pd.to_numeric(sub.loc[sub["grp"] == g, "value"], errors="coerce").dropna().to_numpy()
                  for g in groups]
        box = ax.boxplot(values, patch_artist=True, widths=0.6, showfliers=False)
        _group_ticks(ax, groups, [len(v) for v in values])
        for i, (patch, g) in enumerate(zip(box["boxes"], groups)):
            patch.set_facecolor(group_colour(g, i))
            patch.set_alpha(0.35)
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(values[i])), values[i], s=5,
                       color=group_colour(g, i), lw=0)
        ax.set_title(_panel_title(str(name), pvalues, reasons), fontsize=8)
        ax.set_ylabel(_y_unit(units, str(name), "score (a.u.)"), fontsize=7)
        ax.tick_params(labelsize=7)
        rows.append(sub.assign(p=(pvalues or {}).get(name, np.nan)))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _fit_xticklabels(fig, fig.axes)
    fig.tight_layout()
    return _plotted(fig, pd.concat(rows, ignore_index=True))


def clinical_violin_figure(frame: pd.DataFrame, pvalues: Mapping[str, float] | None = None, ncol: int = 4,
                           units: Mapping[str, str] | None = None,
                           reasons: Mapping[str, str] | None = None) -> Figure:
    """Violin plots of continuous clinical variables by group.

    Parameters
    ----------
    frame
        Columns ``variable, grp, value``.
    pvalues
        p-value per variable (panel title); a variable without one shows why instead.
    units
        y-axis label with unit per variable (e.g. ``{"age": "age (years)"}``).
    reasons
        Why a variable has no p-value (e.g. the association's note).
    """
    frame = _require(frame, ["variable", "grp", "value"], "continuous clinical variables")
    names = list(dict.fromkeys(frame["variable"]))
    ncol = min(ncol, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig = Figure(figsize=(2.7 * ncol, 2.9 * nrow))
    rows = []
    groups = order_groups(frame["grp"])  # every panel shows every group (n=0 where it has no value)
    for k, name in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        sub = frame[frame["variable"] == name]
        values = [pd.to_numeric(sub.loc[sub["grp"] == g, "value"], errors="coerce").dropna().to_numpy()
                  for g in groups]
        keep = [i for i, v in enumerate(values) if len(v) > 1]
        if keep:
            parts = ax.violinplot([values[i] for i in keep], positions=[i + 1 for i in keep], showmedians=True)
            for body, i in zip(parts["bodies"], keep):
                body.set_facecolor(group_colour(groups[i], i))
                body.set_alpha(0.5)
        _group_ticks(ax, groups, [len(v) for v in values])
        with_values = sum(len(v) > 0 for v in values)
        fallback = "fewer than two groups with values" if with_values < 2 else None
        ax.set_title(_panel_title(str(name), pvalues, reasons, fallback), fontsize=8)
        ax.set_ylabel(_y_unit(units, str(name), f"{name} (as recorded)"), fontsize=7)
        ax.tick_params(labelsize=7)
        rows.append(sub.assign(p=(pvalues or {}).get(name, np.nan)))
    fig.tight_layout()
    _fit_xticklabels(fig, fig.axes)
    fig.tight_layout()
    return _plotted(fig, pd.concat(rows, ignore_index=True))


def clinical_bar_figure(frame: pd.DataFrame, pvalues: Mapping[str, float] | None = None, ncol: int = 3,
                        reasons: Mapping[str, str] | None = None) -> Figure:
    """Stacked proportion bars of categorical clinical variables by group.

    Each panel's title carries the variable's p-value or why there is none (a single level,
    fewer than two groups with values, or the stored association's note); x tick labels are
    the group with its n, rotated if they would touch; level names are wrapped in a legend
    below the panel.

    Parameters
    ----------
    frame
        Columns ``variable, grp, level`` (one row per patient and variable).
    pvalues
        p-value per variable.
    reasons
        Why a variable has no p-value (e.g. the association's note).
    """
    frame = _require(frame, ["variable", "grp", "level"], "categorical clinical variables")
    names = list(dict.fromkeys(frame["variable"]))
    ncol = min(ncol, len(names))
    nrow = math.ceil(len(names) / ncol)
    subs = [frame[frame["variable"] == name].dropna(subset=["level"]) for name in names]
    legend_rows = max(sub["level"].nunique() for sub in subs)
    fig = Figure(figsize=(3.2 * ncol, (2.4 + 0.17 * legend_rows) * nrow + 0.2), layout="constrained")
    rows = []
    first = None
    groups = order_groups(frame["grp"])  # every panel shows every group (n=0 where it has no value)
    for k, (name, sub) in enumerate(zip(names, subs)):
        ax = fig.add_subplot(nrow, ncol, k + 1, sharey=first)
        first = first or ax
        table = pd.crosstab(sub["level"].astype(str), sub["grp"]).reindex(columns=groups, fill_value=0)
        share = table / table.sum(axis=0).replace(0, np.nan)
        bottom = np.zeros(len(groups))
        for i, level in enumerate(share.index):
            vals = share.loc[level].fillna(0).to_numpy()
            ax.bar(range(1, len(groups) + 1), vals, bottom=bottom, width=0.7, color=_CYCLE[i % len(_CYCLE)],
                   label=_wrap(level, 24, 2))
            bottom += vals
        _group_ticks(ax, groups, [int(table[g].sum()) for g in groups])
        ax.set_ylim(0, 1)
        if k % ncol == 0:
            ax.set_ylabel("proportion of patients (0-1)", fontsize=7)
        else:  # same 0-1 scale as the panel at the row's start
            ax.tick_params(labelleft=False)
        fallback = None
        if len(share.index) < 2:
            fallback = "single level" + (f" ({share.index[0]})" if len(share.index) else "")
        elif sum(int(table[g].sum()) > 0 for g in groups) < 2:
            fallback = "fewer than two groups with values"
        ax.set_title(_panel_title(str(name), pvalues, reasons, fallback), fontsize=8)
        ax.legend(fontsize=6.5, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  handlelength=1, columnspacing=0.8)
        ax.tick_params(labelsize=7)
        counts = table.stack().rename("n").reset_index()
        counts["share"] = [share.loc[lv, g] for lv, g in zip(counts["level"], counts["grp"])]
        rows.append(counts.assign(variable=name, p=(pvalues or {}).get(name, np.nan)))
    _fit_xticklabels(fig, fig.axes)
    data = pd.concat(rows, ignore_index=True)
    return _plotted(fig, data[["variable", "grp", "level", "n", "share", "p"]])
