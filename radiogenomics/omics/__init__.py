"""Omics arm: expression handling, differential expression (limma / DESeq2), GSEA and ORA,
immune scoring (ESTIMATE, immunophenoscore, CIBERSORT-style deconvolution), and the
store-level ``run_*`` functions used by the CLI and ``rg associate``.

Heavy optional libraries (gseapy, pydeseq2, scikit-learn) are imported inside the
functions that need them.
"""

from .deconvolution import deconvolve, read_signature
from .deseq import deseq2_de
from .enrichment import gsea_phenotype, gsea_prerank, ora
from .expression import ExpressionOptions, collapse_duplicates, load_expression, load_groups, prepare_expression
from .genesets import load_library, read_gmt
from .immune import estimate, ips
from .limma import limma_de
from .run import compute_de, compute_immune, run_de, run_gsea, run_immune, run_ora
from .ssgsea import ssgsea

__all__ = [
    "ExpressionOptions", "collapse_duplicates", "compute_de", "compute_immune", "deconvolve", "deseq2_de",
    "estimate", "gsea_phenotype", "gsea_prerank", "ips", "limma_de", "load_expression", "load_groups",
    "load_library", "ora", "prepare_expression", "read_gmt", "read_signature", "run_de", "run_gsea",
    "run_immune", "run_ora", "ssgsea",
]
