"""Association of risk groups with clinicopathological variables and immune scores."""

from .compare import ASSOCIATION_COLUMNS, bh_fdr, compare_groups
from .indices import derived_indices
from .stage import associate_clinical, associate_scores, clinical_association_table

__all__ = [
    "ASSOCIATION_COLUMNS", "associate_clinical", "associate_scores", "bh_fdr", "clinical_association_table",
    "compare_groups", "derived_indices",
]
