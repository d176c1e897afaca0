"""Clinical data helpers shared by every stage: the one ``extra`` parser and the derived indices."""

from .indices import INDEX_INPUTS, INPUT_ALIASES, derived_indices, lnr, lodds, nodal_metrics
from .table import column_key, flatten_extra, resolve_column

__all__ = ["INDEX_INPUTS", "INPUT_ALIASES", "column_key", "derived_indices", "flatten_extra", "lnr", "lodds",
           "nodal_metrics", "resolve_column"]
