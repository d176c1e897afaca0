"""``rg report``: read the store's tables for one grouping and write the HTML report + CSVs.

Each section is built by a function over the loaded DataFrames; a section whose inputs
are absent says so (a note) instead of failing, and a figure that cannot be drawn
records why.  Every figure is drawn from store tables (plus the shipped gene-set files
for the GSEA running-score curves).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..associate.stage import DECONVOLUTION_DIAGNOSTICS
from ..exceptions import InputError, RGError
from ..store import tables as store_tables
from ..store.results import Analysis, Stat, hr_statistics, km_statistics, require_statistics
from . import compute, figures
from .html import Section, clear_figure_files, figure_stem, png_file_to_data_uri, render_html, save_figure_files

log = logging.getLogger(__name__)

ENDPOINTS = {"dfs": "disease-free survival", "os": "overall survival"}
CONTINUOUS_CLINICAL = ("age", "pack_years", "weight_lbs", "days_ct_to_surgery")
CATEGORICAL_CLINICAL = ("gender", "smoking_status", "histology", "t_stage_group", "t_stage", "n_stage", "grade",
                        "egfr", "kras", "alk", "lymphovascular_invasion", "pleural_invasion")
# y-axis labels (with units) of the figures' continuous variables and scores
CLINICAL_UNITS = {"age": "age (years)", "pack_years": "smoking (pack-years)", "weight_lbs": "weight (lb)",
                  "days_ct_to_surgery": "CT to surgery (days)"}
SCORE_UNITS = {"estimate": {"TumorPurity": "tumour purity (fraction, 0-1)"},
               "ips": {"IPS": "immunophenoscore (0-10)"}}
SCORE_DEFAULT_UNIT = {"estimate": "ESTIMATE score (a.u.)", "ips": "IPS component (z-score, a.u.)",
                      "deconvolution": "estimated cell fraction (0-1)"}

@dataclass
class ReportInputs:
    """The store tables one report needs (empty frames where a table has no rows)."""

    grouping: str
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    dataset_id: str | None = None
    model_id: str | None = None
    formula: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> pd.DataFrame:
        return self.frames.get(name, pd.DataFrame())


def load_inputs(store, grouping: str, dataset_id: str | None = None) -> ReportInputs:
    """Read everything the report of ``grouping`` draws from the store.

    Raises
    ------
    NotInStoreError
        The grouping does not exist in ``risk_groups``.
    """
    groups = store_tables.risk_groups(store, grouping).assign(grouping=grouping)
    inputs = ReportInputs(grouping=grouping)
    inputs.frames["groups"] = groups
    # every frame through the store's read layer; result tables checked against store/results.py
    inputs.frames.update(store_tables.overview(store))
    model_id = groups["model_id"].dropna().iloc[0] if groups["model_id"].notna().any() else None
    inputs.model_id = model_id
    if model_id:
        model = store_tables.result_rows(store, "models", model_id=model_id)
        inputs.frames["model"] = model
        if len(model) and model["formula"].iloc[0]:
            raw = model["formula"].iloc[0]
            inputs.formula = json.loads(raw) if isinstance(raw, str) else dict(raw)
        inputs.frames["radscores"] = store_tables.result_rows(store, "radscores", model_id=model_id)
    subjects = [grouping] + ([model_id] if model_id else [])
    inputs.frames["model_results"] = store_tables.result_rows(store, "model_results", subject=subjects)
    for table in ("de_results", "gsea_results", "ora_results", "associations"):
        inputs.frames[table] = store_tables.result_rows(store, table, grouping=grouping)
    for table in ("radiogenomic_map", "radiogenomic_map_values", "radiogenomic_map_patients"):
        try:
            inputs.frames[table] = store_tables.result_rows(store, table)
        except RGError:  # a store from before the map existed: the section says how to make one
            inputs.frames[table] = pd.DataFrame()
    if dataset_id is None:
        for table in ("de_results", "gsea_results"):
            frame = inputs.get(table)
            if len(frame) and "dataset_id" in frame:
                dataset_id = str(frame["dataset_id"].iloc[0])
                break
    if dataset_id is None and len(inputs.get("datasets")):
        dataset_id = str(inputs.get("datasets")["dataset_id"].iloc[0])
    inputs.dataset_id = dataset_id
    if dataset_id:
        for table in ("de_results", "gsea_results", "ora_results"):
            frame = inputs.get(table)
            if len(frame) and "dataset_id" in frame:
                inputs.frames[table] = frame[frame["dataset_id"] == dataset_id]
        inputs.frames["immune"] = store_tables.result_rows(store, "immune_scores", dataset_id=dataset_id)
        de = inputs.get("de_results")
        if len(de):
            genes = _heatmap_genes(de)
            if genes:
                try:
                    wide = store_tables.expression(store, dataset_id, genes=genes)
                except RGError as exc:  # dataset without values: the heatmap says it is absent
                    log.debug("heatmap expression not readable: %s", exc)
                else:
                    inputs.frames["heatmap_expr"] = (wide.stack().rename("value").rename_axis(["gene", "patient_id"])
                                                     .reset_index())
    return inputs


# --------------------------------------------------------------------------- helpers


class _Collector:
    """Runs figure functions, turning their failures into notes of the section."""

    def __init__(self, section: Section, tables: dict[str, pd.DataFrame]):
        self.section = section
        self.tables = tables

    def figure(self, caption: str, fn: Callable[..., Any], *args: Any, slug: str | None = None, **kwargs: Any) -> bool:
        """Draw ``fn(*args, **kwargs)``; ``slug`` names its files (``figNN_<slug>``) [default: from ``fn``]."""
        try:
            fig = fn(*args, **kwargs)
        except (InputError, ValueError, KeyError, TypeError, IndexError) as exc:
            self.section.notes.append(f"{caption}: not drawn ({exc}).")
            log.info("report figure %r not drawn: %s", caption, exc)
            return False
        # kept as a Figure: write_report numbers the figures in report order and writes their files
        self.section.figures.append((caption, fig, slug or fn.__name__.removesuffix("_figure")))
        return True

    def table(self, name: str, frame: pd.DataFrame, shown: int = 15, csv: bool = True) -> None:
        if frame is None or frame.empty:
            return
        self.section.tables.append((name, frame, shown))
        if csv:
            self.tables[name] = frame


def _mr(inputs: ReportInputs, prefix: str) -> pd.DataFrame:
    """model_results rows whose analysis starts with ``prefix`` (e.g. ``cox_uni:``)."""
    mr = inputs.get("model_results")
    if mr.empty:
        return mr
    return mr[mr["analysis"].astype(str).str.startswith(prefix)]


def _endpoints_of(frame: pd.DataFrame) -> list[str]:
    eps = {a.rsplit(":", 1)[-1] for a in frame["analysis"].astype(str)} if len(frame) else set()
    return [e for e in ("dfs", "os") if e in eps] + sorted(eps - {"dfs", "os"})


def _cohort_label(c: Any) -> str:
    return str(c) if c not in (None, "") and not (isinstance(c, float) and np.isnan(c)) else "all"


def _pvalues(assoc: pd.DataFrame, family: str) -> dict[str, float]:
    if assoc.empty or "family" not in assoc:
        return {}
    sub = assoc[assoc["family"] == family]
    return {str(v): float(p) for v, p in zip(sub["variable"], sub["p"]) if pd.notna(p)}


def _no_p_reasons(assoc: pd.DataFrame, family: str) -> dict[str, str]:
    """Why a stored association has no p-value (its note), per variable; absent rows say they were not tested."""
    if assoc.empty or "family" not in assoc:
        return {}
    sub = assoc[(assoc["family"] == family) & assoc["p"].isna()]
    notes = sub["note"] if "note" in sub else pd.Series([None] * len(sub), index=sub.index)
    return {str(v): (str(n) if pd.notna(n) and str(n) else f"test {t} gave no p-value")
            for v, t, n in zip(sub["variable"], sub.get("test", [""] * len(sub)), notes)}


def _compared_groups(assoc: pd.DataFrame, family: str) -> str:
    """`` (p: stored test, high vs low)``: what the panels' p-values compare (from ``n_per_group``)."""
    if assoc.empty or "n_per_group" not in assoc:
        return ""
    for raw in assoc.loc[assoc["family"] == family, "n_per_group"].dropna():
        try:
            groups = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            continue
        if groups:
            return f" (p: stored test, {' vs '.join(compute.order_groups(groups))})"
    return " (p: stored test)"


def _heatmap_genes(de: pd.DataFrame, per_direction: int = 25) -> list[str]:
    d = _de_view(de)
    sig = d[d["direction"].isin(["up", "down"])]
    if sig.empty:
        return []
    genes: list[str] = []
    for direction in ("up", "down"):
        genes += sig[sig["direction"] == direction].nsmallest(per_direction, "pvalue")["gene"].astype(str).tolist()
    return genes


def _de_view(de: pd.DataFrame) -> pd.DataFrame:
    """DE rows with tool-neutral ``log2FoldChange, pvalue, padj, stat`` (limma's logFC/P.Value/t)."""
    out = de.copy()
    for target, alt in (("log2FoldChange", "logFC"), ("pvalue", "P.Value"), ("padj", "adj.P.Val"), ("stat", "t")):
        if target not in out:
            out[target] = np.nan
        if alt in out:
            out[target] = out[target].fillna(out[alt]) if out[target].notna().any() else out[alt]
    if "direction" not in out:
        out["direction"] = "ns"
    out["direction"] = out["direction"].fillna("ns")
    return out


# --------------------------------------------------------------------------- sections


def cohort_flow(inputs: ReportInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cohort flow (stage, n, excluded, reasons) and the per-patient exclusion list.

    Patients are followed from every patient known to the store through imaging, ROI,
    features, Rad-score, risk group and expression; each drop gets the recorded failure
    reason (``failures``, ``rois.reason``, ``series.error``) or a description of what is missing.
    """
    failures = inputs.get("failures")
    fail_reason: dict[str, str] = {}
    if len(failures):
        for row in failures.sort_values("failed_at" if "failed_at" in failures else "run_id").itertuples():
            fail_reason[str(row.patient_id)] = f"{row.stage}: {row.reason}"
    everyone: set[str] = set()
    for name in ("patients", "clinical", "rois", "features_n", "radscores", "groups", "expr_patients"):
        frame = inputs.get(name)
        if len(frame) and "patient_id" in frame:
            everyone |= set(frame["patient_id"].astype(str))
    stages: list[tuple[str, set[str], Callable[[str], str]]] = []
    rois = inputs.get("rois")
    tumour = rois[rois["roi"] == "tumor"] if len(rois) else rois
    roi_reason = ({str(p): f"ROI: {r}" for p, r, s in zip(tumour["patient_id"], tumour["reason"], tumour["status"])
                   if s != "ok"} if len(tumour) else {})
    series = inputs.get("series")
    series_reason = ({str(p): f"series: {e}" for p, e, s in zip(series["patient_id"], series["error"], series["status"])
                      if s == "failed"} if len(series) else {})
    if len(tumour):
        ok = set(tumour.loc[tumour["status"] == "ok", "patient_id"].astype(str))
        stages.append(("tumour ROI on CT", ok, lambda p: roi_reason.get(p) or series_reason.get(p)
                       or fail_reason.get(p) or "no CT + SEG imaging"))
    feats = inputs.get("features_n")
    if len(feats):
        hashes = inputs.formula.get("params_hash")
        sub = feats[(feats["roi"] == inputs.formula.get("roi", "tumor"))]
        if hashes:
            sub = sub[sub["params_hash"] == hashes]
        stages.append(("radiomic features", set(sub["patient_id"].astype(str)),
                       lambda p: fail_reason.get(p) or "no features extracted"))
    scores = inputs.get("radscores")
    if len(scores):
        stages.append(("Rad-score", set(scores.loc[scores["score"].notna(), "patient_id"].astype(str)),
                       lambda p: fail_reason.get(p) or "not scored (no follow-up or a missing feature)"))
    groups = inputs.get("groups")
    stages.append(("risk group assigned", set(groups["patient_id"].astype(str)),
                   lambda p: "not in the grouping"))
    clinical = inputs.get("clinical")
    if len(clinical):
        ok = set(clinical.loc[clinical.get("dfs_days", pd.Series(dtype=float)).notna()
                              | clinical.get("os_days", pd.Series(dtype=float)).notna(), "patient_id"].astype(str))
        stages.append(("with follow-up (clinical)", ok, lambda p: "no clinical follow-up"))
    expr = inputs.get("expr_patients")
    if len(expr) and inputs.dataset_id:
        have = set(expr.loc[(expr["dataset_id"] == inputs.dataset_id) & (expr["n_values"] > 0), "patient_id"].astype(str))
        stages.append((f"with expression ({inputs.dataset_id})", have, lambda p: "no expression sample"))
        compared = set(groups.loc[groups["grp"].isin(["high", "low"]), "patient_id"].astype(str))
        stages.append(("omics comparison (high vs low)", compared,
                       lambda p: "middle group (ignored as in the reference study)"))
    rows = [{"stage": "patients in the store", "n": len(everyone), "excluded": 0, "reasons": ""}]
    exclusions = []
    current = set(everyone)
    for name, kept, why in stages:
        dropped = sorted(current - kept)
        current = current & kept
        reasons = pd.Series([why(p) for p in dropped], dtype=object)
        summary = "; ".join(f"{r} ({n})" for r, n in reasons.value_counts().head(4).items())
        rows.append({"stage": name, "n": len(current), "excluded": len(dropped), "reasons": summary})
        exclusions += [{"patient_id": p, "excluded_at": name, "reason": r} for p, r in zip(dropped, reasons)]
    return pd.DataFrame(rows), pd.DataFrame(exclusions, columns=["patient_id", "excluded_at", "reason"])


def section_cohort(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("cohort", "Cohort flow")
    c = _Collector(section, tables)
    flow, excluded = cohort_flow(inputs)
    c.figure("Cohort flow: patients kept at each stage and why the others were excluded",
             figures.cohort_flow_figure, flow)
    c.table("cohort_flow", flow, 20)
    c.table("exclusions", excluded, 25)
    groups = inputs.get("groups")
    counts = groups.groupby("grp").size().rename("n").reset_index()
    section.text = ("<p>Grouping <b>{}</b> (method {}): {}.</p>".format(
        html.escape(inputs.grouping), html.escape(str(groups["method"].dropna().iloc[0]) if groups["method"].notna().any() else "n/a"),
        ", ".join(f"{html.escape(str(g))} {n}" for g, n in zip(counts["grp"], counts["n"]))))
    return section


def section_radscore(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("radscore", "Rad-score")
    c = _Collector(section, tables)
    formula = inputs.formula
    if not formula:
        section.notes.append("No Rad-score model is linked to this grouping (risk_groups.model_id); "
                             "run `rg radscore fit` and `rg groups --model`.")
        return section
    if not formula.get("features"):
        section.notes.append(f"Rad-score model {inputs.model_id} has no feature (the LASSO kept none), so it "
                             "scores every patient the same; refit it (`rg radscore fit`) before reading any "
                             "result of this grouping.")
        return section
    coef = pd.DataFrame({"feature": formula["features"], "coefficient": formula.get("coefficients"),
                         "mean": formula.get("means"), "sd": formula.get("sds")})
    terms = " ".join(f"{'+' if b >= 0 else '&minus;'} {abs(b):.4g} &times; ({html.escape(f)} &minus; {m:.4g}) / {s:.4g}"
                     for f, b, m, s in coef[["feature", "coefficient", "mean", "sd"]].itertuples(index=False))
    cut = formula.get("cutoff")
    section.text = (f"<p>Model <code>{html.escape(str(inputs.model_id))}</code>, endpoint "
                    f"{html.escape(str(formula.get('endpoint', '')))}, {len(coef)} features, "
                    f"cut-off {cut if cut is None else f'{cut:.4g}'} ({html.escape(str(formula.get('cutoff_method', '')))}), "
                    f"trained on {formula.get('n_train_patients') or formula.get('n_train')} patients.</p>"
                    f"<p><b>Rad-score</b> = {terms.lstrip('+ ')}</p>")
    c.figure("Rad-score coefficients (per SD of each z-scored feature)", figures.radscore_coefficients_figure, coef)
    c.table("radscore_formula", coef, 30)
    scores = inputs.get("radscores")
    if len(scores):
        merged = scores.merge(inputs.get("groups")[["patient_id", "grp"]], on="patient_id", how="left")
        merged["grp"] = merged["grp"].fillna("ungrouped")
        c.figure("Rad-score per patient, coloured by risk group", figures.radscore_distribution_figure, merged,
                 cutoff=cut)
        c.table("radscores", merged[["patient_id", "score", "cohort", "grp"]], 12)
    return section


def _stored_logrank_p(logrank: pd.DataFrame, endpoint: str, cohort: str) -> float | None:
    """The stored log-rank p of one endpoint and cohort (``all`` = the rows with cohort ``''``)."""
    if logrank.empty:
        return None
    rows = logrank[(logrank["analysis"] == f"{Analysis.LOGRANK}:{endpoint}") & (logrank["statistic"] == Stat.P)
                   & (logrank["cohort"].fillna("").replace("", "all") == cohort)]
    return float(rows["value"].iloc[0]) if len(rows) else None


def _stored_km(km: pd.DataFrame, endpoint: str, cohort: str) -> pd.DataFrame:
    """Stored Kaplan-Meier points (``km:<endpoint>`` terms ``<group>@<time>``) as ``group, time, survival, lower, upper``."""
    if km.empty:
        return pd.DataFrame()
    rows = km[(km["analysis"] == f"{Analysis.KM}:{endpoint}") & km["term"].astype(str).str.contains("@")
              & (km["cohort"].fillna("").replace("", "all") == cohort)]
    if rows.empty:
        return pd.DataFrame()
    require_statistics(rows, km_statistics(), f"km:{endpoint}")
    split = rows["term"].astype(str).str.rsplit("@", n=1)
    rows = rows.assign(group=split.str[0], time=split.str[1].astype(float))
    wide = rows.pivot_table(index=["group", "time"], columns="statistic", values="value", aggfunc="first")
    wide = wide.reindex(columns=list(km_statistics())).reset_index()
    wide.columns = ["group", "time", "survival", "lower", "upper"]
    return wide.assign(endpoint=endpoint, cohort=cohort)[["endpoint", "cohort", "group", "time", "survival",
                                                          "lower", "upper"]]


def _survival_data(inputs: ReportInputs, endpoint: str) -> pd.DataFrame:
    clinical = inputs.get("clinical")
    if clinical.empty or f"{endpoint}_days" not in clinical:
        return pd.DataFrame()
    data = inputs.get("groups")[["patient_id", "grp"]].merge(
        clinical[["patient_id", f"{endpoint}_days", f"{endpoint}_event"]], on="patient_id")
    scores = inputs.get("radscores")
    if len(scores):
        data = data.merge(scores[["patient_id", "cohort"]], on="patient_id", how="left")
    else:
        data["cohort"] = ""
    return data.rename(columns={f"{endpoint}_days": "time", f"{endpoint}_event": "event"}).dropna(subset=["time", "event"])


def section_survival(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("survival", "Survival: Kaplan-Meier, Cox models, discrimination")
    c = _Collector(section, tables)
    logrank = _mr(inputs, f"{Analysis.LOGRANK}:")
    km_points = _mr(inputs, f"{Analysis.KM}:")
    any_curve = False
    km_rows, km_stored = [], []
    for endpoint, label in ENDPOINTS.items():
        data = _survival_data(inputs, endpoint)
        if data.empty:
            section.notes.append(f"No {label} follow-up ({endpoint}_days / {endpoint}_event) for this grouping's patients.")
            continue
        cohorts = [("all", data)]
        if data["cohort"].nunique() > 1:
            cohorts += [(str(k), v) for k, v in data.groupby("cohort")]
        for cohort, sub in cohorts:
            if len(sub) < 3:
                continue
            # statistics are read from model_results (written by `rg survival`), never recomputed here
            p = _stored_logrank_p(logrank, endpoint, cohort)
            if p is None:
                cohort_opt = f" --cohort {cohort}" if cohort != "all" else ""
                section.notes.append(f"No stored log-rank test for {label}, {cohort} patients; run "
                                     f"`rg survival --grouping {inputs.grouping} --endpoint {endpoint}{cohort_opt}`.")
            points = _stored_km(km_points, endpoint, cohort)
            if len(points):
                km_stored.append(points)
            # the curve between the stored time points: the same Kaplan-Meier (R survfit, log CI)
            curves = compute.km_curves(sub["time"], sub["event"], sub["grp"])
            step = max(365.25, float(np.ceil(sub["time"].max() / 5 / 365.25) * 365.25))
            at = np.arange(0, sub["time"].max() + 1, step)
            risk = compute.numbers_at_risk(sub["time"], sub["grp"], at)
            any_curve |= c.figure(f"Kaplan-Meier, {label}, {cohort} patients (n={len(sub)}, events={int(sub['event'].sum())})",
                                  figures.km_figure, curves, risk, title=f"{label} - {cohort}", pvalue=p,
                                  slug=f"km_{endpoint}_{cohort}")
            km_rows.append({"endpoint": endpoint, "cohort": cohort, "n": len(sub), "events": int(sub["event"].sum()),
                            "logrank_p": np.nan if p is None else p})
    c.table("km_logrank", pd.DataFrame(km_rows), 20)
    if km_stored:
        c.table("km_survival", pd.concat(km_stored, ignore_index=True), 30)
    hr_rows = []
    for kind, label in ((Analysis.HR, "risk group"), (Analysis.COX_UNI, "univariable"),
                        (Analysis.COX_MULTI, "multivariable")):
        frame = _mr(inputs, f"{kind}:")
        if frame.empty:
            continue
        terms = frame[frame["term"] != ""]
        require_statistics(terms, hr_statistics(), f"{kind} ({label})")
        wide = terms.pivot_table(index=["analysis", "term", "cohort"], columns="statistic", values="value",
                                 aggfunc="first").reset_index()
        wide["model"] = label + " " + wide["analysis"].str.split(":").str[-1] + wide["cohort"].map(
            lambda x: f" ({x})" if x else "")
        hr_rows.append(wide)
    if hr_rows:
        cox = pd.concat(hr_rows, ignore_index=True).rename(columns={"term": "label", Stat.HR: "HR",
                                                                    Stat.HR_LOWER: "lower", Stat.HR_UPPER: "upper",
                                                                    Stat.P: "p"})
        c.figure("Forest plot: hazard ratios with 95% CI (risk group vs reference, univariable and multivariable Cox)",
                 figures.forest_figure, cox[["model", "label", "HR", "lower", "upper"] + (["p"] if "p" in cox else [])])
        c.table("cox_models", cox.drop(columns=["analysis"]), 30)
    else:
        section.notes.append("No Cox / hazard-ratio results in model_results; run `rg survival`.")
    # discrimination: C-index of the Rad-score and of the clinical / combined models
    rows = []
    for r in _mr(inputs, "cindex:").itertuples():
        rows.append({"model": f"{r.term} ({r.analysis.split(':')[-1]})", "cohort": _cohort_label(r.cohort), "value": r.value})
    for r in _mr(inputs, "compare:").itertuples():
        if r.statistic == "cindex":
            rows.append({"model": f"{r.term} ({r.analysis.split(':')[-1]})", "cohort": _cohort_label(r.cohort), "value": r.value})
    if rows:
        cidx = pd.DataFrame(rows)
        c.figure("Harrell's C-index per model and cohort", figures.metric_bar_figure, cidx, "cindex", "C-index")
        c.table("cindex", cidx, 20)
    auc_rows = []
    for r in pd.concat([_mr(inputs, "td_auc:"), _mr(inputs, "compare:")]).itertuples():
        if r.statistic not in ("auc", "td_auc") or "@" not in str(r.term):
            continue
        model, t = str(r.term).rsplit("@", 1)
        try:
            auc_rows.append({"model": f"{model} ({r.analysis.split(':')[-1]})", "cohort": _cohort_label(r.cohort),
                             "time": float(t), "auc": r.value})
        except ValueError:
            continue
    if auc_rows:
        auc = pd.DataFrame(auc_rows)
        c.figure("Time-dependent AUC at 1, 3 and 5 years", figures.td_auc_figure, auc)
        c.table("td_auc", auc, 20)
    if not rows and not auc_rows:
        section.notes.append("No C-index / time-dependent AUC in model_results (needs `rg survival --model`).")
    if not any_curve and not hr_rows:
        section.notes.append("No survival evidence could be drawn for this grouping.")
    return section


def section_calibration(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("calibration", "Calibration, decision curves and nomogram")
    c = _Collector(section, tables)
    calib = _mr(inputs, "calibration:")
    if len(calib):
        parts = calib["analysis"].str.split(":")
        calib = calib.assign(time=parts.str[1].astype(float), endpoint=parts.str[-1])
        wide = calib.pivot_table(index=["endpoint", "cohort", "time", "term"], columns="statistic", values="value",
                                 aggfunc="first").reset_index()
        wide["model"] = wide["endpoint"] + wide["cohort"].map(lambda x: f" ({x})" if x else "")
        c.figure("Calibration: predicted vs observed survival (combined Cox model) at 1/3/5 years",
                 figures.calibration_figure, wide)
        c.table("calibration", wide.drop(columns=["model"]), 20)
    else:
        section.notes.append("No calibration results in model_results (needs `rg survival --model`).")
    dca = _mr(inputs, "dca:")
    if len(dca):
        parts = dca["analysis"].str.split(":")
        dca = dca.assign(time=parts.str[1].astype(float), endpoint=parts.str[-1], threshold=dca["term"].astype(float))
        for (endpoint, t), sub in dca.groupby(["endpoint", "time"]):
            wide = sub.pivot_table(index="threshold", columns="statistic", values="value", aggfunc="first").reset_index()
            long = [pd.DataFrame({"model": "model", "threshold": wide["threshold"], "net_benefit": wide.get("net_benefit")})]
            if "treat_all" in wide:
                long.append(pd.DataFrame({"model": "treat all", "threshold": wide["threshold"], "net_benefit": wide["treat_all"]}))
            long.append(pd.DataFrame({"model": "treat none", "threshold": wide["threshold"], "net_benefit": 0.0}))
            c.figure(f"Decision curve, {ENDPOINTS.get(endpoint, endpoint)} at t = {t:g} days "
                     f"({t / 365.25:.3g} years): model vs treat all vs treat none",
                     figures.dca_figure, pd.concat(long, ignore_index=True),
                     horizon=f"{t:g} days ({t / 365.25:.3g} y)", slug=f"dca_{endpoint}_{t:.0f}d")
        c.table("decision_curves", dca[["endpoint", "time", "threshold", "statistic", "value", "cohort"]]
                .sort_values(["endpoint", "time", "statistic", "threshold"]), 12)
    else:
        section.notes.append("No decision-curve results in model_results.")
    pts = _mr(inputs, "nomogram_points:")
    if len(pts):
        for endpoint in _endpoints_of(pts):
            sub = pts[pts["analysis"] == f"nomogram_points:{endpoint}"]
            split = sub["term"].str.split("=", n=1)
            points = pd.DataFrame({"variable": split.str[0], "level": split.str[1], "points": sub["value"].to_numpy()})
            points["level"] = [f"{float(v):.3g}" if re.fullmatch(r"-?[0-9.eE+-]+", str(v)) else v for v in points["level"]]
            surv = _mr(inputs, f"nomogram_survival:{endpoint}")
            totals = None
            if len(surv):
                totals = pd.DataFrame({"total_points": surv["term"].astype(float),
                                       "time": surv["statistic"].str.extract(r"S\(([^)]+)\)")[0].astype(float),
                                       "survival": surv["value"].to_numpy()})
            c.figure(f"Nomogram ({ENDPOINTS.get(endpoint, endpoint)})", figures.nomogram_figure, points, totals,
                     slug=f"nomogram_{endpoint}")
            c.table(f"nomogram_points_{endpoint}", points.sort_values(["variable", "points"]), 30)
    else:
        section.notes.append("No nomogram in model_results.")
    return section


def section_expression(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("de", "Differential expression (high vs low)")
    c = _Collector(section, tables)
    de = inputs.get("de_results")
    if de.empty:
        section.notes.append("No differential-expression results for this grouping (run `rg associate --what de`).")
        return section
    de = _de_view(de)
    method = str(de["method"].iloc[0])
    de = de[de["method"] == method]
    counts = de["direction"].value_counts()
    section.text = (f"<p>Dataset <code>{html.escape(str(inputs.dataset_id))}</code>, method {html.escape(method)}, "
                    f"contrast {html.escape(str(de['contrast'].iloc[0]))}: {int(counts.get('up', 0))} genes up, "
                    f"{int(counts.get('down', 0))} down of {len(de)} tested.</p>")
    c.figure("Volcano plot of the DE genes", figures.volcano_figure, de)
    expr = inputs.get("heatmap_expr")
    if len(expr):
        matrix = expr.pivot_table(index="gene", columns="patient_id", values="value", aggfunc="first")
        if str(_dataset_scale(inputs)) in {"fpkm", "counts", "tpm"}:
            matrix = np.log2(matrix.clip(lower=0) + 1)
        groups = inputs.get("groups").set_index("patient_id")["grp"]
        groups = groups[groups.isin(["high", "low"])]
        matrix = compute.zscore_rows(matrix[[p for p in matrix.columns if p in groups.index]])
        order = [g for g in _heatmap_genes(de) if g in matrix.index]
        c.figure("Heatmap of the top DE genes (z-scored expression; patients by group)", figures.heatmap_figure,
                 matrix.loc[order], groups)
    cols = [x for x in ("gene", "log2FoldChange", "stat", "pvalue", "padj", "direction", "AveExpr", "baseMean")
            if x in de]
    c.table("de_genes", de.loc[de["direction"] != "ns", cols].sort_values("pvalue"), 20)
    return section


def _dataset_scale(inputs: ReportInputs) -> str | None:
    ds = inputs.get("datasets")
    if ds.empty or not inputs.dataset_id:
        return None
    row = ds[ds["dataset_id"] == inputs.dataset_id]
    return str(row["scale"].iloc[0]) if len(row) else None


def _library_sets(library: str) -> dict[str, list[str]]:
    """Gene sets of a library label stored in gsea_results (a shipped library, or a GMT path)."""
    from ..catalog import catalog_file
    from ..omics.genesets import LIBRARIES, LIBRARY_LABELS, read_gmt

    by_label = {label: name for name, label in LIBRARY_LABELS.items()}
    name = by_label.get(library, library if library in LIBRARIES else None)
    if name is not None:
        return read_gmt(catalog_file("genesets", LIBRARIES[name]))
    if Path(library).is_file():
        return read_gmt(library)
    raise InputError(f"gene-set library {library!r} is neither shipped nor a readable GMT file; "
                     "its running-score curves need the sets")


def section_gsea(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("gsea", "Gene set enrichment (GSEA) and over-representation (ORA)")
    c = _Collector(section, tables)
    gsea = inputs.get("gsea_results")
    if gsea.empty:
        section.notes.append("No GSEA results for this grouping (run `rg associate --what gsea`).")
    else:
        for (method, library), sub in gsea.groupby(["method", "library"]):
            c.figure(f"GSEA {method}, {library}: NES (high vs low), coloured by FDR", figures.gsea_bar_figure, sub)
            top = sub.dropna(subset=["NES"]).reindex(sub["NES"].abs().sort_values(ascending=False).index).head(6)
            de = _de_view(inputs.get("de_results"))
            if len(de) and len(top):
                try:
                    sets = _library_sets(str(library))
                    ranking = de.set_index("gene")["stat"].dropna()
                    if ranking.empty:
                        ranking = de.set_index("gene")["log2FoldChange"].dropna()
                    curves = []
                    notes = {}
                    for row in top.itertuples():
                        if row.term in sets:
                            curve = compute.running_enrichment(ranking, sets[row.term])
                            curve.insert(0, "term", row.term)
                            curves.append(curve)
                            notes[row.term] = f"NES {row.NES:.2f}, FDR {figures.format_small(row.fdr)}"
                    if curves:
                        c.figure(f"Running enrichment score of the top {len(curves)} sets ({method})",
                                 figures.enrichment_curves_figure, pd.concat(curves, ignore_index=True), notes)
                except InputError as exc:
                    section.notes.append(f"Enrichment curves not drawn: {exc}.")
        cols = [x for x in ("method", "library", "term", "ES", "NES", "pvalue", "fdr", "set_size", "significant",
                            "lead_genes") if x in gsea]
        c.table("gsea", gsea[cols].sort_values("NES", ascending=False), 25)
    ora = inputs.get("ora_results")
    if ora.empty:
        section.notes.append("No ORA results for this grouping (run `rg associate --what ora`).")
    else:
        for library, sub in ora.groupby("library"):
            c.figure(f"Over-representation of up/down DE genes, {library}", figures.ora_bar_figure, sub)
        c.table("ora", ora.sort_values("padj").drop(columns=["grouping", "dataset_id", "genes", "run_id"],
                                                    errors="ignore"), 20)
    return section


def section_immune(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("immune", "Immune microenvironment (ESTIMATE, IPS, deconvolution)")
    c = _Collector(section, tables)
    immune = inputs.get("immune")
    if immune.empty:
        section.notes.append("No immune scores for this dataset (run `rg associate --what immune`).")
        return section
    merged = immune.merge(inputs.get("groups")[["patient_id", "grp"]], on="patient_id")
    if merged.empty:
        section.notes.append("No patient of this grouping has immune scores.")
        return section
    assoc = inputs.get("associations")
    pv = {}
    if len(assoc):
        sub = assoc[assoc["family"].astype(str).str.contains("immune|estimate|ips|deconv", case=False, regex=True)]
        for r in sub.itertuples():
            key = str(r.variable).split(":")[-1]
            if pd.notna(r.p) and (key not in pv or str(r.test).lower() == "ks"):
                pv[key] = float(r.p)
    fit = merged[(merged["method"] == "deconvolution") & merged["score"].isin(DECONVOLUTION_DIAGNOSTICS)]
    scores = merged.drop(index=fit.index)
    for method, sub in scores.groupby("method"):
        extra = (" (estimated cell-type fractions; fit diagnostics in the table 'deconvolution fit')"
                 if method == "deconvolution" else "")
        units = {s: SCORE_UNITS.get(str(method), {}).get(s, SCORE_DEFAULT_UNIT.get(str(method), "score (a.u.)"))
                 for s in sub["score"].unique()}
        c.figure(f"{method}: scores by risk group{extra}", figures.score_box_figure, sub[["score", "grp", "value"]], pv,
                 title=str(method), units=units, slug=f"immune_{method}")
    summary = scores.groupby(["method", "score", "grp"])["value"].median().unstack("grp").reset_index()
    c.table("immune_medians", summary, 30)
    if len(fit):
        # goodness of fit of each sample's deconvolution: how far to trust the fractions, not a cell type
        stats = fit.groupby(["score", "grp"])["value"].describe(percentiles=[0.25, 0.5, 0.75])
        diag = stats.rename(columns={"count": "n", "25%": "q25", "50%": "median", "75%": "q75"})[
            ["n", "median", "q25", "q75", "min", "max"]].reset_index().rename(columns={"score": "diagnostic"})
        rank = {d: i for i, d in enumerate(DECONVOLUTION_DIAGNOSTICS)}
        rank.update({g: i for i, g in enumerate(compute.order_groups(diag["grp"]))})
        diag = diag.sort_values(["diagnostic", "grp"], key=lambda col: col.map(rank)).astype({"n": int})
        c.table("deconvolution_fit", diag.reset_index(drop=True), 0)
    return section


def section_clinical(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("clinical", "Clinicopathological associations")
    c = _Collector(section, tables)
    clinical = inputs.get("clinical")
    assoc = inputs.get("associations")
    if clinical.empty:
        section.notes.append("No clinical table in the store (run `rg fetch clinical`).")
    else:
        data = inputs.get("groups")[["patient_id", "grp"]].merge(clinical, on="patient_id")
        pv = _pvalues(assoc, "clinical")
        reasons = _no_p_reasons(assoc, "clinical")
        compared = _compared_groups(assoc, "clinical")
        cont = [v for v in CONTINUOUS_CLINICAL if v in data and pd.to_numeric(data[v], errors="coerce").notna().sum() > 2]
        if cont:
            long = data.melt(id_vars=["grp"], value_vars=cont, var_name="variable", value_name="value")
            c.figure(f"Continuous clinical variables by risk group{compared}",
                     figures.clinical_violin_figure, long, pv, units=CLINICAL_UNITS, reasons=reasons)
        cat = [v for v in CATEGORICAL_CLINICAL if v in data and data[v].notna().sum() > 2]
        if "t_stage_group" in cat and "t_stage" in cat:
            cat.remove("t_stage")
        if cat:
            long = data.melt(id_vars=["grp"], value_vars=cat, var_name="variable", value_name="level").dropna()
            c.figure(f"Categorical clinical variables by risk group, proportions{compared}",
                     figures.clinical_bar_figure, long, pv, reasons=reasons)
        missing = [v for v in ("WBC", "neutrophils", "lymphocytes", "platelets", "albumin", "Ki67", "positive nodes")
                   if v.lower() not in {col.lower() for col in clinical.columns}]
        if missing:
            section.notes.append("Not in this cohort's clinical table (indices needing them are not computed): "
                                 + ", ".join(missing) + ".")
    if len(assoc):
        cols = [x for x in ("family", "variable", "test", "statistic", "p", "fdr", "n_per_group", "effect_size",
                            "effect_name", "groups", "note") if x in assoc]
        c.table("associations", assoc[cols].sort_values(["family", "p"]), 40)
    else:
        section.notes.append("No association tests for this grouping (run `rg associate --what clinical`).")
    return section


def section_methods(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    section = Section("methods", "Methods and provenance")
    c = _Collector(section, tables)
    runs = inputs.get("runs")
    text = ["<p>Every number in this report is read from the DuckDB store; the runs below wrote them. "
            "Re-running a stage with the same inputs reproduces its rows (seeds are stored with the parameters).</p>"]
    fp = inputs.get("feature_params")
    if len(fp):
        used = inputs.formula.get("params_hash")
        row = fp[fp["params_hash"] == used] if used else fp.head(1)
        row = row if len(row) else fp.head(1)
        text.append(f"<h3>Feature extraction parameters (pyradiomics, hash {html.escape(str(row['params_hash'].iloc[0]))})</h3>"
                    f"<pre>{html.escape(str(row['params_yaml'].iloc[0]))[:4000]}</pre>")
    stab = inputs.get("stability")
    if len(stab):
        text.append(f"<p>Stability: {int(stab['stable'].sum())} of {len(stab)} feature x method rows stable "
                    f"(ICC(3,1) > {stab['threshold'].dropna().iloc[0] if stab['threshold'].notna().any() else 'n/a'}; "
                    f"methods {', '.join(map(str, stab['method'].unique()))}).</p>")
    if inputs.formula:
        keep = {k: v for k, v in inputs.formula.items() if k not in ("features", "coefficients", "means", "sds")}
        text.append(f"<h3>Rad-score model settings</h3><pre>{html.escape(json.dumps(keep, indent=1, default=str))}</pre>")
    if len(runs):
        versions = runs["package_versions"].dropna()
        if len(versions):
            v = versions.iloc[-1]
            v = json.loads(v) if isinstance(v, str) else v
            text.append("<h3>Package versions</h3><p>" + ", ".join(
                f"{html.escape(k)} {html.escape(str(val))}" for k, val in sorted(v.items()) if not k.startswith("_")) + "</p>")
        # the parameters that produced each kind of result: the latest ok run of every stage
        latest = (runs[(runs["status"].isin(["ok", "partial"])) & ~runs["command"].astype(str).str.startswith("rg run ")]
                  .sort_values("started_at").groupby("command", sort=False).tail(1))
        c.table("stage_parameters", latest[["command", "run_id", "parameters"]].reset_index(drop=True), 40)
        table = runs[["run_id", "command", "status", "started_at", "finished_at", "parameters", "input_checksums"]].copy()
        c.table("runs", table, 60)
        checks = []
        for r in runs.itertuples():
            raw = r.input_checksums
            data = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
            for name, digest in (data or {}).items():
                checks.append({"run_id": r.run_id, "command": r.command, "input": name, "sha256": digest})
        c.table("input_checksums", pd.DataFrame(checks), 30)
    else:
        section.notes.append("No runs recorded in the store.")
    section.text = "".join(text)
    return section


def section_map(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> Section:
    """The radiogenomic map(s) of the store (``rg map``): heatmap and top pairs, from stored results."""
    from ..associate.rgmap import top_pairs
    from .map_figures import map_heatmap_figure, map_scatter_figure

    section = Section("map", "Radiogenomic map")
    c = _Collector(section, tables)
    rgmap = inputs.get("radiogenomic_map")
    if rgmap.empty:
        section.notes.append("No radiogenomic map in the store; run `rg map` (e.g. `rg map --model MODEL`).")
        return section
    values = inputs.get("radiogenomic_map_values")
    used = inputs.get("radiogenomic_map_patients")
    if len(used):
        used = used.groupby("map_id").size().rename("n").reset_index()
    text = []
    for map_id, table in rgmap.sort_values(["map_id", "p"]).groupby("map_id", sort=True):
        n_pat = int(used.loc[used["map_id"] == map_id, "n"].iloc[0]) if len(used) and (used["map_id"] == map_id).any() \
            else int(table["n"].max())
        n_sig = int((table["fdr"] < 0.05).sum())
        method = str(table["method"].iloc[0])
        covs = str(table["covariates"].iloc[0] or "")
        text.append(f"<p>Map <b>{html.escape(str(map_id))}</b>: {table['imaging'].nunique()} imaging x "
                    f"{table['molecular'].nunique()} molecular variables over {n_pat} patients, {html.escape(method)}"
                    f"{' adjusted for ' + html.escape(covs) if covs else ''}; {n_sig} of {len(table)} pairs with "
                    "Benjamini-Hochberg FDR &lt; 0.05 over the whole map.</p>")
        c.figure(f"Radiogenomic map {map_id}: Spearman rho of the imaging and molecular variables with the smallest "
                 "FDR, clustered (dots: FDR < 0.05)", map_heatmap_figure, table, title=f"map {map_id}")
        c.figure(f"Radiogenomic map {map_id}: the six pairs with the smallest p", map_scatter_figure,
                 top_pairs(table, 6), values[values["map_id"] == map_id] if len(values) else values)
        c.table(f"radiogenomic_map_{map_id}_top",
                top_pairs(table, 50)[["imaging", "molecular", "molecular_source", "rho", "p", "fdr", "n"]], 15)
    section.text = "".join(text)
    return section


def section_checks(checks: pd.DataFrame, tables: dict[str, pd.DataFrame], counts: str = "") -> Section:
    """A section listing expected effects and whether the results show them (demo), per cohort."""
    section = Section("checks", "Planted effects: recovered?")
    c = _Collector(section, tables)
    n_ok = int(checks["recovered"].astype(bool).sum())
    required = checks[checks["required"].astype(bool)] if "required" in checks else checks
    r_ok = int(required["recovered"].astype(bool).sum())
    cohorts = f" Rad-score cohorts: {html.escape(counts)}." if counts else ""
    section.text = (f"<p>The demo cohort is synthetic with known planted effects; the Rad-score is fitted on the "
                    f"training patients and checked on held-out validation patients and an external site it never "
                    f"saw.{cohorts} <span class=\"{'ok' if r_ok == len(required) else 'bad'}\">{n_ok} of "
                    f"{len(checks)} recovered ({r_ok} of {len(required)} required).</span></p>")
    c.table("planted_effects", checks, 0)
    return section


SECTIONS: tuple[Callable[[ReportInputs, dict[str, pd.DataFrame]], Section], ...] = (
    section_cohort, section_radscore, section_survival, section_calibration, section_expression, section_gsea,
    section_immune, section_clinical, section_map, section_methods,
)


@dataclass
class ReportResult:
    """Where the report went and what it holds."""

    html_path: Path
    tables: dict[str, Path]
    sections: list[str]
    figures: int
    notes: list[str]
    #: figure file stem (``fig03_volcano``) -> extension -> path, in report order
    figure_files: dict[str, dict[str, Path]] = field(default_factory=dict)


def write_report(inputs: ReportInputs, out_dir: str | Path, title: str | None = None,
                 checks: pd.DataFrame | None = None, counts: str = "") -> ReportResult:
    """Render every section of ``inputs`` into ``out_dir/report.html`` and ``out_dir/tables/*.csv``.

    A section that raises an unexpected error is replaced by a note naming the error, so
    one broken input never loses the rest of the report.
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    tables: dict[str, pd.DataFrame] = {}
    sections: list[Section] = []
    if checks is not None and len(checks):
        sections.append(section_checks(checks, tables, counts))
    for build in SECTIONS:
        try:
            sections.append(build(inputs, tables))
        except Exception as exc:  # noqa: BLE001 - one failing section must not lose the report
            log.warning("report section %s failed: %s", build.__name__, exc)
            name = build.__name__.replace("section_", "")
            sections.append(Section(name, name.title(), notes=[f"This section failed: {type(exc).__name__}: {exc}"]))
    figure_dir = out / "figures"
    clear_figure_files(figure_dir)
    number = 0
    figure_files: dict[str, dict[str, Path]] = {}
    for section in sections:
        exported = []
        for caption, fig, name in section.figures:
            number += 1
            stem = figure_stem(number, name)
            try:
                data = figures.plotted_data(fig)
            except InputError:
                data = None
            files = figure_files[stem] = save_figure_files(fig, figure_dir, stem, data)
            links = [(label, f"figures/{files[ext].name}") for ext, label in
                     (("svg", "SVG"), ("png", "PNG 300 dpi"), ("csv", "data (CSV)")) if ext in files]
            exported.append((f"Figure {number}. {caption}", png_file_to_data_uri(files["png"]), links))
        section.figures = exported
    written: dict[str, Path] = {}
    from ..atomic import atomic_path, write_text

    for name, frame in tables.items():
        path = out / "tables" / f"{name}.csv"
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        written[name] = path
    # a table an earlier report wrote and this one did not is stale: it would describe other results
    for old in (out / "tables").glob("*.csv"):
        if old not in written.values():
            old.unlink()
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = render_html(sections, title or f"Radiogenomics report: {inputs.grouping}",
                      f"grouping {inputs.grouping} | model {inputs.model_id or 'n/a'} | dataset "
                      f"{inputs.dataset_id or 'n/a'} | generated {stamp}",
                      {k: f"tables/{k}.csv" for k in written})
    html_path = write_text(out / "report.html", doc)
    notes = [n for s in sections for n in s.notes]
    return ReportResult(html_path, written, [s.key for s in sections], sum(len(s.figures) for s in sections), notes,
                        figure_files)


def build_report(store, grouping: str, out_dir: str | Path, dataset_id: str | None = None,
                 title: str | None = None, checks: pd.DataFrame | None = None,
                 truth: dict | None = None) -> ReportResult:
    """``rg report``: load the grouping's tables from ``store`` and write the report.

    Parameters
    ----------
    store
        An open :class:`~radiogenomics.store.Store` (read-only is enough).
    grouping
        Name in ``risk_groups``.
    out_dir
        Folder for ``report.html`` and ``tables/``.
    dataset_id
        Expression dataset [default: the one the grouping's DE/GSEA used, else the first].
    checks
        Optional table (``effect, expected, observed, recovered``) shown first (the demo's planted effects).
    truth
        ``truth.json`` of a synthetic cohort: the planted-effect checks are computed from the store
        (:func:`radiogenomics.synth.checks.planted_checks`) and shown first, as ``rg demo`` does.
    """
    inputs = load_inputs(store, grouping, dataset_id)
    counts = ""
    if truth is not None and checks is None:
        from ..synth.checks import cohort_counts, counts_text, planted_checks

        checks = planted_checks(store, truth, grouping, inputs.model_id or "")
        if inputs.model_id:
            counts = counts_text(cohort_counts(store, inputs.model_id))
    return write_report(inputs, out_dir, title=title, checks=checks, counts=counts)
