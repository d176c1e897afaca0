"""Result-table vocabulary: table names, columns and ``model_results`` statistics, declared once.

Writers (the modelling, omics and association stages) and readers (the report, the
demo checks) import these names instead of repeating bare strings, so a rename is one
edit here; :func:`require_columns` and :func:`require_statistics` turn a store written
with other names into a clear error instead of a silently empty figure.

The declarations are looked up at call time (``results.MODEL_RESULTS.columns``,
``Stat.HR_LOWER``), never copied into module constants elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from ..exceptions import StoreError

if TYPE_CHECKING:  # pandas loads lazily: a fast command (`rg de`) need not import it
    import pandas as pd

__all__ = ["ResultTable", "RESULT_TABLES", "MODELS", "RADSCORES", "RISK_GROUPS", "MODEL_RESULTS", "DE_RESULTS",
           "GSEA_RESULTS", "ORA_RESULTS", "IMMUNE_SCORES", "ASSOCIATIONS", "RADIOGENOMIC_MAP",
           "RADIOGENOMIC_MAP_PATIENTS", "RADIOGENOMIC_MAP_VALUES", "Analysis", "Stat", "hr_statistics",
           "km_statistics", "km_term", "require_columns", "require_statistics", "result_table"]


@dataclass
class ResultTable:
    """A result table: its name (view and ``core`` table), natural key and columns in order."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    #: columns a reader may rely on being present (empty: all of ``columns``)
    required: tuple[str, ...] = field(default=())


MODELS = ResultTable("models", ("model_id",),
                     ("model_id", "kind", "endpoint", "formula", "cutoff", "training_patients", "params_hash",
                      "created_at", "run_id"))
RADSCORES = ResultTable("radscores", ("model_id", "patient_id"),
                        ("model_id", "patient_id", "score", "cohort", "run_id"))
RISK_GROUPS = ResultTable("risk_groups", ("grouping", "patient_id"),
                          ("grouping", "patient_id", "grp", "model_id", "score", "method", "run_id"))
MODEL_RESULTS = ResultTable("model_results", ("analysis", "subject", "term", "statistic", "cohort"),
                            ("analysis", "subject", "term", "statistic", "value", "cohort", "run_id"))
DE_RESULTS = ResultTable("de_results", ("grouping", "dataset_id", "method", "contrast", "gene"),
                         ("grouping", "dataset_id", "method", "contrast", "gene", "baseMean", "log2FoldChange",
                          "lfcSE", "stat", "pvalue", "padj", "logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B",
                          "direction", "run_id"),
                         required=("grouping", "dataset_id", "method", "contrast", "gene", "direction"))
GSEA_RESULTS = ResultTable("gsea_results", ("grouping", "dataset_id", "method", "library", "term"),
                           ("grouping", "dataset_id", "method", "library", "term", "ES", "NES", "pvalue", "fdr",
                            "fwer", "set_size", "lead_genes", "significant", "run_id"))
ORA_RESULTS = ResultTable("ora_results", ("grouping", "dataset_id", "direction", "library", "term"),
                          ("grouping", "dataset_id", "direction", "library", "term", "overlap", "set_size",
                           "n_query", "n_universe", "pvalue", "padj", "genes", "run_id"))
IMMUNE_SCORES = ResultTable("immune_scores", ("dataset_id", "patient_id", "method", "score"),
                            ("dataset_id", "patient_id", "method", "score", "value", "run_id"))
ASSOCIATIONS = ResultTable("associations", ("grouping", "family", "variable", "test"),
                           ("grouping", "family", "variable", "test", "statistic", "p", "fdr", "n_per_group",
                            "effect_size", "effect_name", "groups", "note", "run_id"))
RADIOGENOMIC_MAP = ResultTable("radiogenomic_map", ("map_id", "imaging", "molecular"),
                                ("map_id", "imaging", "imaging_source", "molecular", "molecular_source", "rho", "p",
                                 "fdr", "n", "method", "covariates", "run_id"))
RADIOGENOMIC_MAP_PATIENTS = ResultTable("radiogenomic_map_patients", ("map_id", "patient_id"),
                                        ("map_id", "patient_id", "run_id"))
RADIOGENOMIC_MAP_VALUES = ResultTable("radiogenomic_map_values", ("map_id", "variable", "patient_id"),
                                      ("map_id", "variable", "patient_id", "value", "run_id"))

#: every declared result table by name
RESULT_TABLES: dict[str, ResultTable] = {t.name: t for t in (
    MODELS, RADSCORES, RISK_GROUPS, MODEL_RESULTS, DE_RESULTS, GSEA_RESULTS, ORA_RESULTS, IMMUNE_SCORES,
    ASSOCIATIONS, RADIOGENOMIC_MAP, RADIOGENOMIC_MAP_PATIENTS, RADIOGENOMIC_MAP_VALUES)}


class Analysis:
    """``model_results.analysis`` prefixes of the survival stage (``<prefix>:<endpoint>``)."""

    KM = "km"
    LOGRANK = "logrank"
    HR = "hr"
    COX_UNI = "cox_uni"
    COX_MULTI = "cox_multi"
    CINDEX = "cindex"
    TD_AUC = "td_auc"
    COMPARE = "compare"
    CALIBRATION = "calibration"
    DCA = "dca"
    NOMOGRAM_POINTS = "nomogram_points"
    NOMOGRAM_SURVIVAL = "nomogram_survival"


class Stat:
    """``model_results.statistic`` names shared by the survival writer and the report."""

    N = "n"
    EVENTS = "events"
    MEDIAN = "median"
    SURVIVAL = "survival"
    LOWER = "lower"
    UPPER = "upper"
    COEF = "coef"
    HR = "HR"
    HR_LOWER = "HR_lower"
    HR_UPPER = "HR_upper"
    P = "p"
    CHISQ = "chisq"
    DF = "df"
    OBSERVED = "observed"
    EXPECTED = "expected"
    CINDEX = "cindex"
    C = "C"
    AUC = "auc"


def hr_statistics() -> tuple[str, ...]:
    """Statistics of one hazard-ratio row (hr, cox_uni, cox_multi): coef, HR, HR_lower, HR_upper, p."""
    return (Stat.COEF, Stat.HR, Stat.HR_LOWER, Stat.HR_UPPER, Stat.P)


def km_statistics() -> tuple[str, ...]:
    """Statistics of a Kaplan-Meier point (term ``<group>@<time>``): survival, lower, upper."""
    return (Stat.SURVIVAL, Stat.LOWER, Stat.UPPER)


def km_term(group: str, time: float) -> str:
    """``model_results.term`` of a Kaplan-Meier point: ``<group>@<time:g>``."""
    return f"{group}@{float(time):g}"


def result_table(name: str) -> ResultTable:
    """The declaration of result table ``name``."""
    try:
        return RESULT_TABLES[name]
    except KeyError:
        raise StoreError(f"{name!r} is not a declared result table ({', '.join(RESULT_TABLES)})") from None


def require_columns(frame: pd.DataFrame, table: str | ResultTable) -> pd.DataFrame:
    """``frame`` unchanged if it has the declared required columns of ``table``; else StoreError.

    An empty frame without columns (the table has no rows) passes.
    """
    decl = result_table(table) if isinstance(table, str) else table
    if frame.empty and len(frame.columns) == 0:
        return frame
    missing = [c for c in (decl.required or decl.columns) if c not in frame.columns]
    if missing:
        raise StoreError(f"stored {decl.name} lacks declared column(s) {missing} (has {list(frame.columns)}); "
                         "the store was written by another radiogenomics version: rerun the stage that writes "
                         f"{decl.name}")
    return frame


def require_statistics(frame: pd.DataFrame, statistics: Iterable[str], what: str) -> None:
    """StoreError when ``model_results`` rows of ``what`` lack one of ``statistics``.

    ``frame`` holds the rows of one analysis (columns ``statistic``, ...); checked only when
    it has rows.
    """
    if frame.empty:
        return
    present = set(frame["statistic"].astype(str))
    missing = [s for s in statistics if s not in present]
    if missing:
        raise StoreError(f"stored model_results of {what} lack statistic(s) {missing} (have {sorted(present)}); "
                         "they were written by another radiogenomics version: rerun `rg survival`")
