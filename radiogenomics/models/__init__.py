"""Rad-score, risk groups and survival models (the reference study's modelling)."""

from .cutpoint import CutpointResult, cutpoint, logrank_scores
from .dca import decision_curve, decision_curve_survival
from .evaluation import YEARS_1_3_5, calibration, compare_models, nomogram
from .groups import STUDY_RANKS, groups_by_cutoff, groups_by_quantiles, groups_by_ranks
from .radscore import RadScore
from .ranking import mrmr_scores, rank_features, rsf_importance
from .survival import (CoxResult, LogrankResult, concordance_index, cox, hazard_ratio, kaplan_meier, km_at,
                       logrank_test, median_survival)
from .timeroc import time_dependent_auc, time_roc
from .workflow import (apply_radscore, export_model, fit_on_split, fit_radscore, import_model, load_endpoint,
                       load_features, make_groups, survival_evidence, survival_tables)

__all__ = [
    "CoxResult", "CutpointResult", "LogrankResult", "RadScore", "STUDY_RANKS", "YEARS_1_3_5", "calibration",
    "compare_models", "concordance_index", "cox", "cutpoint", "decision_curve", "decision_curve_survival",
    "groups_by_cutoff", "groups_by_quantiles", "groups_by_ranks", "hazard_ratio", "kaplan_meier", "km_at",
    "logrank_scores", "logrank_test", "median_survival", "mrmr_scores", "nomogram", "rank_features",
    "rsf_importance", "time_dependent_auc", "time_roc",
    "apply_radscore", "export_model", "fit_on_split", "fit_radscore", "import_model", "load_endpoint",
    "load_features", "make_groups", "survival_evidence", "survival_tables",
]
from .delong import AUCResult, DeLongResult, auc_ci, delong_test  # noqa: E402,F401  (classify helper)
from .nodal import aggregate_nodes, lnr, lodds, nodal_metrics  # noqa: E402,F401  (classify helper)
from .classify import ClassificationResult, LassoLogisticSignature, classify, reader_comparison, run_classify  # noqa: E402,F401  (classify helper)
