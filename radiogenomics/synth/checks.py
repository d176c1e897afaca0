"""Planted effects of a synthetic cohort (``truth.json``) against the study's stored results.

Used by ``rg demo`` (console) and ``rg report --truth`` (the report's first section), so the
two always show the same table. Held-out evidence is checked per cohort: the Rad-score is
fitted on ``train``, checked on the internal ``validation`` patients and on the ``external``
site that the model never saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, NotInStoreError
from ..store import tables
from ..store.results import Analysis, Stat

#: the cohorts of a Rad-score, in the order a paper reports them
COHORTS = ("train", "validation", "external")
CHECK_COLUMNS = ["cohort", "effect", "expected", "observed", "recovered", "required"]


def read_truth(path: str | Path) -> dict:
    """The planted truth written by :func:`radiogenomics.synth.cohort.make_cohort`."""
    path = Path(path)
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the planted truth {path}: {exc}; it is the truth.json that "
                         "`rg demo` writes beside the synthetic cohort") from exc
    if not isinstance(truth, dict) or "patients" not in truth:
        raise InputError(f"{path} is not a synthetic cohort's truth.json (no 'patients' entry)")
    return truth


def _formula(store, model_id: str) -> dict | None:
    try:
        return tables.model_formula(store, model_id)
    except NotInStoreError:
        return None


def cohort_counts(store, model_id: str) -> dict[str, int]:
    """Patients with a stored Rad-score per cohort label (train / validation / external / ...)."""
    rows = tables.result_rows(store, "radscores", model_id=model_id).dropna(subset=["score"])
    counts = rows.groupby("cohort", sort=True).size().rename("n").reset_index()
    out = {c: int(counts.loc[counts.cohort == c, "n"].sum()) for c in COHORTS}
    for c, n in zip(counts.cohort, counts.n):
        out.setdefault(str(c), int(n))
    return out


def counts_text(counts: dict[str, int]) -> str:
    """``48 train / 34 validation / 36 external``: the one wording of the console and the report."""
    return " / ".join(f"{n} {c}" for c, n in counts.items())


def _survival_row(store, grouping: str, cohort: str) -> tuple[float, float, float, int]:
    """HR (high vs low), its p and the log-rank p of ``rg survival`` for one cohort ('' = all)."""
    res = tables.result_rows(store, "model_results", subject=grouping, cohort=cohort)
    term = res["term"].astype(str)
    hr, lr, km = f"{Analysis.HR}:dfs", f"{Analysis.LOGRANK}:dfs", f"{Analysis.KM}:dfs"
    res = res[((res.analysis == hr) & term.str.startswith("high")) | ((res.analysis == lr) & (term == ""))
              | ((res.analysis == km) & (term == "all"))]

    def pick(analysis: str, statistic: str) -> float:
        v = res.loc[(res.analysis == analysis) & (res.statistic == statistic), "value"]
        return float(v.iloc[0]) if len(v) else float("nan")

    return pick(hr, Stat.HR), pick(hr, Stat.P), pick(lr, Stat.P), int(np.nan_to_num(pick(km, Stat.N)))


def planted_checks(store, truth: dict, grouping: str, model_id: str) -> pd.DataFrame:
    """Compare the study's results in the store with the planted truth of a synthetic cohort.

    Parameters
    ----------
    store
        An open store (read-only is enough).
    truth
        ``truth.json`` of the cohort (:func:`read_truth`).
    grouping, model_id
        The risk grouping and the Rad-score model of the study.

    Returns
    -------
    pandas.DataFrame
        ``cohort, effect, expected, observed, recovered, required`` per planted effect; the
        Rad-score and survival effects once per cohort (``all``, ``train``, ``validation``,
        ``external``), the omics effects over all grouped patients.
    """
    rows: list[dict[str, Any]] = []

    def add(cohort: str, effect: str, expected: str, observed: str, recovered: bool, required: bool = True) -> None:
        rows.append({"cohort": cohort, "effect": effect, "expected": expected, "observed": observed,
                     "recovered": bool(recovered), "required": required})

    risk = pd.Series({p: v["risk"] for p, v in truth.get("patients", {}).items()}, name="risk")
    formula = _formula(store, model_id)
    if formula is None:
        add("all", "Rad-score model", "fitted", f"no model {model_id!r} in the store", False)
        return pd.DataFrame(rows, columns=CHECK_COLUMNS)
    coef = pd.Series(formula.get("coefficients", []), index=formula.get("features", []), dtype=float)
    if coef.empty:
        add("train", "Rad-score built on texture / intensity features", "non-shape features carry most weight",
            "the model has no feature", False)
    else:
        share = float(coef[~coef.index.str.contains("_shape_")].abs().sum() / coef.abs().sum()) \
            if coef.abs().sum() > 0 else 0.0
        add("train", "Rad-score built on texture / intensity features", "non-shape features carry most weight",
            f"{len(coef)} features, {share:.0%} of |coef| on non-shape features", share > 0.5)
    scores = tables.result_rows(store, "radscores", model_id=model_id).dropna(subset=["score"])
    scores = scores[["patient_id", "score", "cohort"]].set_index("patient_id")
    scores = scores.join(risk, how="inner")
    held_out = [c for c in COHORTS if c != "train"]
    for cohort in ("all", *COHORTS):
        sub = scores if cohort == "all" else scores[scores["cohort"] == cohort]
        required = cohort in held_out or cohort == "all"
        if len(sub) < 4:
            add(cohort, "Rad-score tracks the planted risk", "Spearman rho > 0.3",
                f"only {len(sub)} scored patient(s)", False, required)
            continue
        rho = float(sub["score"].rank().corr(sub["risk"].rank()))
        add(cohort, "Rad-score tracks the planted risk", "Spearman rho > 0.3", f"rho = {rho:.2f} (n = {len(sub)})",
            rho > 0.3, required)
    for cohort in ("all", *COHORTS):
        hr, p_hr, p_lr, n = _survival_row(store, grouping, "" if cohort == "all" else cohort)
        effect = "High-risk group has shorter DFS than low-risk"
        # the log-rank test decides: a Wald p of the HR is meaningless when a group has no event
        # (monotone likelihood, infinite HR), which small held-out cohorts do produce
        expected = "HR high vs low > 1, log-rank p < 0.05"
        required = cohort in held_out or cohort == "all"
        if np.isnan(hr):
            add(cohort, effect, expected, "no survival result for this cohort (`rg survival --cohort`)", False, required)
            continue
        add(cohort, effect, expected, f"HR {hr:.2f}, p = {p_hr:.2g}; log-rank p = {p_lr:.2g} (n = {n})",
            hr > 1 and p_lr < 0.05, required)

    gsea = tables.result_rows(store, "gsea_results", grouping=grouping)
    for term in truth.get("expression", {}).get("up_sets", []):
        row = gsea[gsea["term"] == term]
        if row.empty:
            add("all", f"{term} up in high risk", "NES > 0, FDR < 0.25", "not in the GSEA results", False)
        else:
            from ..report.figures import format_small  # a permutation FDR of 0 reads "< 0.001", never "0"

            nes, fdr = float(row["NES"].iloc[0]), float(row["fdr"].iloc[0])
            add("all", f"{term} up in high risk", "NES > 0, FDR < 0.25", f"NES {nes:.2f}, FDR {format_small(fdr)}",
                nes > 0 and fdr < 0.25)
    associations = tables.result_rows(store, "associations", grouping=grouping)
    assoc = associations[associations["family"].astype(str).str.startswith("immune:")
                         & associations["test"].isin(["mann-whitney", "wilcoxon"])]
    try:
        groups = tables.risk_groups(store, grouping)[["patient_id", "grp"]]
    except NotInStoreError:
        groups = pd.DataFrame(columns=["patient_id", "grp"])
    groups = groups[groups["grp"].isin(["high", "low"])]
    imm = tables.result_rows(store, "immune_scores").merge(groups, on="patient_id")
    for score in ("ImmuneScore", "IPS"):
        sub = imm[imm["score"] == score]
        if sub.empty:
            add("all", f"{score} lower in high risk", "median high < low, p < 0.05", "no scores", False)
            continue
        med = sub.groupby("grp")["value"].median()
        p_row = assoc[assoc["variable"].str.endswith(":" + score)]
        p = float(p_row["p"].iloc[0]) if len(p_row) else float("nan")
        lower = med.get("high", np.nan) < med.get("low", np.nan)
        add("all", f"{score} lower in high risk", "median high < low, p < 0.05",
            f"median high {med.get('high', np.nan):.3g} vs low {med.get('low', np.nan):.3g}, p = {p:.2g}",
            bool(lower and p < 0.05), required=score == "ImmuneScore")
    for cell in truth.get("expression", {}).get("signature", {}).get("lower_in_high_risk", []):
        sub = imm[(imm["method"] == "deconvolution") & (imm["score"] == cell)]
        effect = f"{cell} fraction lower in high risk (deconvolution)"
        if sub.empty:
            add("all", effect, "median high < low", "no deconvolution", False, required=False)
            continue
        med = sub.groupby("grp")["value"].median()
        add("all", effect, "median high < low",
            f"median high {med.get('high', np.nan):.2f} vs low {med.get('low', np.nan):.2f}",
            bool(med.get("high", np.nan) < med.get("low", np.nan)), required=False)
    de = tables.result_rows(store, "de_results", grouping=grouping)
    up_genes = set(truth.get("expression", {}).get("up_genes", []))
    if len(de) and up_genes:
        tested = de[de["gene"].isin(up_genes)]
        share_up = float((tested["direction"] == "up").mean()) if len(tested) else 0.0
        base = float((de["direction"] == "up").mean())
        add("all", "Planted genes up-regulated in high risk", "share called up well above the background",
            f"{share_up:.0%} of {len(tested)} planted genes up vs {base:.0%} of all genes",
            share_up > 2 * base and share_up > 0.1)
    clin = associations[(associations["family"] == "clinical")
                        & associations["variable"].isin(["t_stage_group", "t_stage"])]
    if len(clin):
        p = float(clin["p"].min())
        add("all", "T stage higher in high risk (weak effect)", "p < 0.05 (not required: weak by design)",
            f"p = {p:.2g}", p < 0.05, required=False)
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)
