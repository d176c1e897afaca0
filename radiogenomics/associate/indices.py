"""Derived clinical indices: kept importable here; the implementation is :mod:`radiogenomics.clinical.indices`."""

from __future__ import annotations

from ..clinical.indices import INDEX_INPUTS, INPUT_ALIASES, derived_indices

__all__ = ["INDEX_INPUTS", "INPUT_ALIASES", "derived_indices"]
