"""Immune microenvironment scores: ESTIMATE (Yoshihara et al. 2013) and the immunophenoscore
(Charoentong et al. 2017).  Deconvolution lives in :mod:`.deconvolution`.

ESTIMATE: reproduces the authors' R package ``estimate`` 1.0.13 (``filterCommonGenes`` +
``estimateScore``, platform "affymetrix"), tied values included: the expression is
restricted to ESTIMATE's 10,412 common genes and sorted by symbol (the package's merge with
its common-genes table does this), the stromal and immune signatures (141 genes each) are
scored per sample by the package's ssGSEA (:func:`radiogenomics.omics.ssgsea` with
``convention="estimate"``: exact average ranks, alpha 0.25, unnormalised),
``ESTIMATEScore`` is their sum and ``TumorPurity = cos(0.6049872018 + 0.0001467884 *
ESTIMATEScore)`` (the Affymetrix calibration of the paper; on RNA-seq it is indicative only).

TumorPurity is NA outside the score range on which that formula is a purity, i.e. where its
angle ``0.6049872018 + 0.0001467884 * ESTIMATEScore`` leaves [0, pi/2]:

* above ``ESTIMATE_SCORE_MAX`` (6579.6) the cosine is negative; the package sets NA there
  too (it NAs every negative purity), so these NAs are the package's;
* below ``ESTIMATE_SCORE_MIN`` (-4121.5) the angle is negative and the cosine falls again
  from 1, so purity would drop as the stromal and immune signal drops.  The package returns
  that value; this module returns NA instead (the one deliberate difference, reached only by
  scores far below the paper's calibration data).

Every NA purity is announced by a warning that says how many samples got it.

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
from ..exceptions import DataQualityWarning, InputError, StatisticalWarning
from .genesets import read_gmt
from .ssgsea import ssgsea

log = logging.getLogger(__name__)

PURITY_INTERCEPT = 0.6049872018
PURITY_SLOPE = 0.0001467884
IPS_CLASSES = ("MHC", "CP", "EC", "SC")
#: ESTIMATEScore range on which TumorPurity is defined (angle of the cosine in [0, pi/2])
ESTIMATE_SCORE_MIN = -PURITY_INTERCEPT / PURITY_SLOPE
ESTIMATE_SCORE_MAX = (np.pi / 2 - PURITY_INTERCEPT) / PURITY_SLOPE


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


def tumor_purity(score: np.ndarray) -> np.ndarray:
    """ESTIMATE's Affymetrix tumour purity of ESTIMATE scores, NaN outside its valid range.

    Parameters
    ----------
    score : ndarray
        ESTIMATEScore values.

    Returns
    -------
    ndarray
        ``cos(0.6049872018 + 0.0001467884 * score)``; NaN where the score is NaN or outside
        ``[ESTIMATE_SCORE_MIN, ESTIMATE_SCORE_MAX]`` (see the module docstring).
    """
    score = np.asarray(score, dtype=float)
    angle = PURITY_INTERCEPT + PURITY_SLOPE * score
    purity = np.cos(angle)
    # the package's own test is "purity < 0"; within [0, pi) it is the same as angle > pi/2
    valid = (angle >= 0) & (angle < np.pi) & (purity >= 0)
    return np.where(valid, purity, np.nan)


def estimate(expr: pd.DataFrame, common_only: bool = True) -> pd.DataFrame:
    """ESTIMATE stromal, immune and ESTIMATE scores and tumour purity per sample.

    Identical to R ``estimate::filterCommonGenes(id = "GeneSymbol")`` followed by
    ``estimate::estimateScore(platform = "affymetrix")``, ties included, except for
    TumorPurity below ``ESTIMATE_SCORE_MIN`` (NA here, see the module docstring).

    Parameters
    ----------
    expr : DataFrame
        Genes (HGNC symbols) x samples; any monotone scale (only within-sample ranks matter).
    common_only : bool
        Restrict to ESTIMATE's common genes first (as the ESTIMATE package does).  With
        False all genes are used (still sorted by symbol); the package has no such mode.

    Returns
    -------
    DataFrame
        Samples x ``StromalScore, ImmuneScore, ESTIMATEScore, TumorPurity``; TumorPurity
        is NaN where ESTIMATEScore is outside the purity formula's range (with a
        :class:`~radiogenomics.exceptions.StatisticalWarning` giving the count).

    Raises
    ------
    InputError
        When a signature has no gene in the data.
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
    scores = ssgsea(x, sigs, alpha=0.25, normalize=False, convention="estimate")
    if set(scores.index) != {"StromalSignature", "ImmuneSignature"}:
        raise InputError("ESTIMATE: a signature has no gene in the expression data; are the genes HGNC symbols?")
    out = pd.DataFrame({"StromalScore": scores.loc["StromalSignature"], "ImmuneScore": scores.loc["ImmuneSignature"]})
    out["ESTIMATEScore"] = out["StromalScore"] + out["ImmuneScore"]
    total = out["ESTIMATEScore"].to_numpy()
    out["TumorPurity"] = tumor_purity(total)
    high = int((total > ESTIMATE_SCORE_MAX).sum())
    low = int((total < ESTIMATE_SCORE_MIN).sum())
    if high or low:
        bad = out.index[out["TumorPurity"].isna() & out["ESTIMATEScore"].notna()].astype(str).tolist()
        parts = ([f"{high} above {ESTIMATE_SCORE_MAX:.1f}"] if high else []) + \
            ([f"{low} below {ESTIMATE_SCORE_MIN:.1f}"] if low else [])
        warnings.warn(f"ESTIMATE: TumorPurity is NA for {high + low} of {len(out)} sample(s) whose ESTIMATEScore "
                      f"is outside the purity formula's range [{ESTIMATE_SCORE_MIN:.1f}, {ESTIMATE_SCORE_MAX:.1f}] "
                      f"({', '.join(parts)}; e.g. {', '.join(bad[:5])}); their other scores are kept. "
                      "Such scores are outside the Affymetrix calibration: check the expression scale and "
                      "gene ids", StatisticalWarning, stacklevel=2)
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
