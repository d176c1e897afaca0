"""Omics arm: expression handling, differential expression (limma / DESeq2), GSEA and ORA,
immune scoring (ESTIMATE, immunophenoscore, CIBERSORT-style deconvolution), and the
store-level ``run_*`` functions used by the CLI and ``rg associate``.

The names below load on first use (PEP 562): ``from radiogenomics.omics import run_de``
imports the DE stage alone, not deconvolution or GSEA (and so not pandas), which keeps
``rg de`` quick to start.  Heavy optional libraries (gseapy, pydeseq2, scikit-learn) are
imported inside the functions that need them.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .._lazy import lazy_exports

#: public name -> the submodule that defines it
_EXPORTS = {
    "ExpressionOptions": "expression", "collapse_duplicates": "expression", "load_expression": "expression",
    "load_groups": "expression", "prepare_expression": "expression",
    "compute_de": "de", "run_de": "de",
    "deconvolve": "deconvolution", "read_signature": "deconvolution",
    "deseq2_de": "deseq",
    "gsea_phenotype": "enrichment", "gsea_prerank": "enrichment", "ora": "enrichment",
    "load_library": "genesets", "read_gmt": "genesets",
    "estimate": "immune", "ips": "immune",
    "limma_de": "limma",
    "compute_immune": "run", "run_gsea": "run", "run_immune": "run", "run_ora": "run",
    "ssgsea": "ssgsea",
}

__all__ = sorted(_EXPORTS)


class _Package(types.ModuleType):
    """The package's module type: the function ``ssgsea`` keeps its name over the submodule ``ssgsea``.

    Importing a submodule binds it as an attribute of the package; where a public function
    has its submodule's name, the function is bound instead (as an eager
    ``from .ssgsea import ssgsea`` in this file used to leave it).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
