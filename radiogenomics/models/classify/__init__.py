"""Binary endpoints: LASSO-logistic signature and a classifier panel, tuned by nested CV.

Seed 003: a LASSO-logistic "Rad-score" with a Youden cutoff (sensitivity/specificity),
decision curve analysis and a reader-vs-model comparison (DeLong; reader + model
probability).  Seed 004: a panel of classifiers (LR, SVM, RF, KNN, NB, MLP, LDA)
compared per endpoint with AUC (95% CI, DeLong), accuracy, precision, recall and F1.

Every model is a scikit-learn pipeline whose imputation, scaling and feature
selection are fitted inside each training fold only.  Hyperparameters are tuned
by an inner CV; an outer CV on the training split estimates performance; the
validation split is touched only by ``predict``.

One module per job:

* :mod:`.estimators` -- the LASSO-logistic signature and the panel's pipelines/grids;
* :mod:`.metrics` -- Youden cutoff, AUC (DeLong CI) and threshold metrics, net benefit,
  reader comparison;
* :mod:`.cv` -- nested cross-validation and :func:`classify` (pure, arrays/frames);
* :mod:`.data` -- the endpoint and feature sets read through the store's read layer;
* :mod:`.stage` -- :func:`compute_classify`, :func:`write_classify`, :func:`run_classify`.

The store-level wrapper :func:`run_classify` reads ``features`` and ``clinical`` through
:mod:`radiogenomics.store.tables` and writes ``core.models`` (kind ``classifier``) and
``core.model_results``.  Every name is importable from this package as before the split.
"""

from __future__ import annotations

from .cv import ClassificationResult, FittedModel, classify, nested_cv
from .data import (DEFAULT_CLINICAL, FEATURE_SETS, MISSING_TOKENS, POSITIVE_TOKENS, ClassifyData, binarize_endpoint,
                   load_classify_data, read_patient_list)
from .estimators import DEFAULT_MODELS, MODEL_NAMES, LassoLogisticSignature, ModelSpec, model_spec
from .metrics import DCA_THRESHOLDS, binary_metrics, net_benefit, reader_comparison, youden_cutoff
from .stage import ClassifyOutcome, compute_classify, run_classify, write_classify

__all__ = [
    "MODEL_NAMES", "DEFAULT_MODELS", "ModelSpec", "FittedModel", "ClassificationResult",
    "LassoLogisticSignature", "model_spec", "nested_cv", "classify", "youden_cutoff",
    "binary_metrics", "net_benefit", "reader_comparison", "binarize_endpoint",
    "ClassifyData", "load_classify_data", "compute_classify", "write_classify", "run_classify",
    "ClassifyOutcome", "DCA_THRESHOLDS", "DEFAULT_CLINICAL", "FEATURE_SETS", "MISSING_TOKENS", "POSITIVE_TOKENS",
    "read_patient_list",
]
