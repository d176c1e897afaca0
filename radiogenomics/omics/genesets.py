"""Gene-set libraries: GMT reading and the shipped collections in ``data_catalog/genesets``.

Shipped: MSigDB Hallmark v7.0 (``hallmark``) and GO BP/MF/CC (``go_bp``, ``go_mf``, ``go_cc``)
built from Bioconductor's GO.db/org.Hs.eg.db by ``data_catalog/genesets/build_go_gmt.R``.
KEGG cannot be shipped (its licence forbids redistribution): pass your own GMT file path
wherever a library name is accepted.
"""

from __future__ import annotations

import gzip
import logging
import warnings
from pathlib import Path
from typing import Iterable, Mapping

from ..catalog import catalog_file
from ..exceptions import InputError, DataQualityWarning

log = logging.getLogger(__name__)

#: library name -> file in data_catalog/genesets
LIBRARIES: dict[str, str] = {
    "hallmark": "h.all.v7.0.symbols.gmt",
    "go_bp": "go_bp.symbols.gmt.gz",
    "go_mf": "go_mf.symbols.gmt.gz",
    "go_cc": "go_cc.symbols.gmt.gz",
}

#: label stored in the result tables for each shipped library
LIBRARY_LABELS: dict[str, str] = {"hallmark": "hallmark_v7.0", "go_bp": "go_bp", "go_mf": "go_mf", "go_cc": "go_cc"}


def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Read a GMT file (name, description, genes...; tab separated; ``.gz`` allowed).

    Duplicated genes within a set are kept once (first occurrence); a set name seen twice
    is an error.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"gene-set file {path} not found")
    opener = gzip.open if path.suffix == ".gz" else open
    sets: dict[str, list[str]] = {}
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                raise InputError(f"{path}:{lineno}: a GMT line needs a name, a description and at least one gene "
                                 "separated by tabs")
            name = parts[0].strip()
            if name in sets:
                raise InputError(f"{path}:{lineno}: gene set {name!r} appears twice")
            sets[name] = list(dict.fromkeys(g.strip() for g in parts[2:] if g.strip()))
    if not sets:
        raise InputError(f"gene-set file {path} holds no gene set")
    return sets


def load_library(library: str | Path) -> tuple[str, dict[str, list[str]]]:
    """A shipped library by name (``hallmark``, ``go_bp``, ``go_mf``, ``go_cc``) or a user GMT path.

    Returns ``(label, sets)``; the label is what result tables store in ``library``.
    """
    key = str(library)
    if key in LIBRARIES:
        return LIBRARY_LABELS[key], read_gmt(catalog_file("genesets", LIBRARIES[key]))
    path = Path(key)
    if not path.exists():
        raise InputError(f"gene-set library {key!r} is neither a shipped library ({', '.join(LIBRARIES)}) nor a "
                         "GMT file; KEGG is not shipped (licence): download its GMT yourself and pass the path")
    label = path.name
    for suffix in (".gz", ".gmt"):
        if label.endswith(suffix):
            label = label[: -len(suffix)]
    return label, read_gmt(path)


def restrict_sets(sets: Mapping[str, Iterable[str]], universe: Iterable[str], min_size: int = 1,
                  max_size: int | None = None, what: str = "expression data") -> dict[str, list[str]]:
    """Keep the genes of each set that are in ``universe``; drop sets outside [min_size, max_size].

    Warns (DataQualityWarning) naming the sets with no gene present; raises InputError when
    no set is left.
    """
    uni = set(universe)
    out: dict[str, list[str]] = {}
    empty: list[str] = []
    for name, genes in sets.items():
        kept = [g for g in dict.fromkeys(genes) if g in uni]
        if not kept:
            empty.append(name)
            continue
        if len(kept) < min_size or (max_size is not None and len(kept) > max_size):
            continue
        out[name] = kept
    if empty:
        warnings.warn(f"{len(empty)} gene set(s) have no gene in the {what} and are skipped: "
                      f"{', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}", DataQualityWarning, stacklevel=2)
    if not out:
        raise InputError(f"no gene set has genes in the {what} (size window {min_size}..{max_size}); check that "
                         "the gene identifiers match (e.g. HGNC symbols in both)")
    return out
