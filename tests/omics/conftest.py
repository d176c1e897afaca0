"""Synthetic expression fixtures for the omics tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics.omics import load_library
from radiogenomics.omics.immune import estimate_signatures, ips_genes

PLANTED = "HALLMARK_HYPOXIA"


@pytest.fixture(scope="session")
def hallmark() -> dict[str, list[str]]:
    return load_library("hallmark")[1]


@pytest.fixture(scope="session")
def planted(hallmark):
    """FPKM-like matrix (genes x 24 patients): the Hallmark hypoxia genes doubled in the 12 high patients."""
    genes = set(g for v in hallmark.values() for g in v)
    genes |= set(ips_genes()["GENE"]) | set(g for v in estimate_signatures().values() for g in v)
    genes = sorted(genes)
    rng = np.random.default_rng(7)
    patients = [f"R01-{i:03d}" for i in range(24)]
    fpkm = pd.DataFrame(rng.gamma(2.0, 5.0, size=(len(genes), len(patients))), index=genes, columns=patients)
    groups = pd.Series(["high"] * 12 + ["low"] * 12, index=patients)
    fpkm.loc[hallmark[PLANTED], patients[:12]] *= 2.0
    return fpkm, groups
