"""Immune microenvironment scores: ESTIMATE (Yoshihara et al. 2013) and the immunophenoscore
(Charoentong et al. 2017).  Deconvolution lives in :mod:`.deconvolution`.

ESTIMATE: the expression is restricted to ESTIMATE's 10,412 common genes, the stromal and
immune signatures (141 genes each) are scored per sample by ssGSEA (the GSVA-exact core of
:func:`radiogenomics.omics.ssgsea`, alpha 0.25, unnormalised; the ESTIMATE package's own
ssGSEA gives the same numbers up to the handling of tied values), ``ESTIMATEScore`` is
their sum and ``TumorPurity = cos(0.6049872018 + 0.0001467884 * ESTIMATEScore)`` (the
Affymetrix calibration of the paper; on RNA-seq it is indicative only).

IPS: following the icbi-lab Immunophenogram logic: each gene is z-scored within its sample
against the mean and sd of all genes of that sample; the z-scores are averaged per IPS
feature (e.g. "Act CD4"), multiplied by the feature's weight (+1/-1) and averaged per
class: MHC (antigen processing), CP (checkpoints / immunomodulators), EC (effector cells),
SC (suppressor cells); ``AZ = MHC + CP + EC + SC`` and ``IPS = round(AZ * 10 / 3)`` clipped
to 0..10.  Input: log2 expression (log2(TPM/FPKM + 1)).  A feature whose genes are all
missing is left out of its class mean (with a warning) instead of making the class NaN.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from ..catalog import catalog_file
from ..exceptions import DataQualityWarning, InputError
from .genesets import read_gmt
from .ssgsea import ssgsea

log = logging.getLogger(__name__)

PURITY_INTERCEPT = 0.6049872018
PURITY_SLOPE = 0.0001467884
IPS_CLASSES = ("MHC", "CP", "EC", "SC")


def estimate_signatures() -> dict[str, list[str]]:
    """The shipped ESTIMATE StromalSignature and ImmuneSignature."""
    return read_gmt(catalog_file("signatures", "estimate_SI_geneset.gmt"))


def estimate_common_genes() -> list[str]:
    """ESTIMATE's 10,412 common genes (symbols)."""
    table = pd.read_csv(catalog_file("signatures", "estimate_common_genes.txt"), sep="\t", dtype=str)
    return table["GeneSymbol"].dropna().tolist()


def ips_genes() -> pd.DataFrame:
    """The shipped IPS gene table (GENE, NAME, CLASS, WEIGHT)."""
    return pd.read_csv(catalog_file("signatures", "ips_genes.txt"), sep="\t", dtype={"GENE": str, "NAME": str,
                                                                                      "CLASS": str})


def estimate(expr: pd.DataFrame, common_only: bool = True) -> pd.DataFrame:
    """ESTIMATE stromal, immune and ESTIMATE scores and tumour purity per sample.

    Parameters
    ----------
    expr : DataFrame
        Genes (HGNC symbols) x samples; any monotone scale (only within-sample ranks matter).
    common_only : bool
        Restrict to ESTIMATE's common genes first (as the ESTIMATE package does).

    Returns
    -------
    DataFrame
        Samples x ``StromalScore, ImmuneScore, ESTIMATEScore, TumorPurity``.
    """
    x = expr
    if common_only:
        common = estimate_common_genes()
        keep = x.index.isin(common)
        if keep.sum() < 0.5 * len(common):
            warnings.warn(f"ESTIMATE: only {int(keep.sum())} of its {len(common)} common genes are in the data; "
                          "scores are not comparable with published ones", DataQualityWarning, stacklevel=2)
        x = x.loc[keep]
    sigs = estimate_signatures()
    scores = ssgsea(x, sigs, alpha=0.25, normalize=False)
    if set(scores.index) != {"StromalSignature", "ImmuneSignature"}:
        raise InputError("ESTIMATE: a signature has no gene in the expression data; are the genes HGNC symbols?")
    out = pd.DataFrame({"StromalScore": scores.loc["StromalSignature"], "ImmuneScore": scores.loc["ImmuneSignature"]})
    out["ESTIMATEScore"] = out["StromalScore"] + out["ImmuneScore"]
    out["TumorPurity"] = np.cos(PURITY_INTERCEPT + PURITY_SLOPE * out["ESTIMATEScore"])
    out.index.name = "sample"
    return out


def ips_map(az: np.ndarray) -> np.ndarray:
    """Aggregate z-score -> immunophenoscore 0..10 (round(AZ*10/3), clipped)."""
    az = np.asarray(az, dtype=float)
    out = np.round(az * 10 / 3)
    out = np.where(az <= 0, 0.0, np.where(az >= 3, 10.0, out))
    return np.where(np.isnan(az), np.nan, out)


def ips(expr: pd.DataFrame) -> pd.DataFrame:
    """Immunophenoscore components per sample.

    Parameters
    ----------
    expr : DataFrame
        Genes (HGNC symbols) x samples, log2 scale (log2(TPM+1) or log2(FPKM+1)); all genes
        of the sample are used for its z-scores, so pass the whole (filtered) matrix.

    Returns
    -------
    DataFrame
        Samples x ``MHC, CP, EC, SC, AZ, IPS``.
    """
    table = ips_genes()
    x = expr.astype(float)
    present = table["GENE"].isin(x.index)
    if not present.any():
        raise InputError("IPS: none of its 161 genes is in the expression data; are the genes HGNC symbols?")
    if (~present).any():
        missing = table.loc[~present, "GENE"].tolist()
        warnings.warn(f"IPS: {len(missing)} gene(s) missing from the data: {', '.join(missing[:8])}"
                      f"{' ...' if len(missing) > 8 else ''}", DataQualityWarning, stacklevel=2)
    values = x.to_numpy()
    mean = np.nanmean(values, axis=0)
    sd = np.nanstd(values, axis=0, ddof=1)
    z = (x.reindex(table["GENE"]).to_numpy() - mean) / sd  # ips genes x samples
    zdf = pd.DataFrame(z, index=table.index, columns=x.columns)
    names = list(dict.fromkeys(table["NAME"]))
    feats = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing features give NaN, handled below
        for name in names:
            rows = table.index[table["NAME"] == name]
            feats[name] = np.nanmean(zdf.loc[rows].to_numpy(), axis=0) * table.loc[rows, "WEIGHT"].astype(float).mean()
    wg = pd.DataFrame(feats, index=x.columns)
    empty = [n for n in names if wg[n].isna().all()]
    if empty:
        warnings.warn(f"IPS: feature(s) without any gene in the data left out: {', '.join(empty)}",
                      DataQualityWarning, stacklevel=2)
    out = pd.DataFrame(index=x.columns)
    cls_of = dict(zip(table["NAME"], table["CLASS"]))
    for cls in IPS_CLASSES:
        cols = [n for n in names if cls_of[n] == cls]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[cls] = np.nanmean(wg[cols].to_numpy(), axis=1)
    out["AZ"] = out[list(IPS_CLASSES)].sum(axis=1, min_count=len(IPS_CLASSES))
    out["IPS"] = ips_map(out["AZ"].to_numpy())
    out.index.name = "sample"
    return out
