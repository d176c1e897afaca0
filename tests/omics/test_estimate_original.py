"""ESTIMATE against the authors' own R package (estimate 1.0.13) on its own example data.

Reference: tests/data/estimate_original (README there): the package's 10-sample ovarian
Affymetrix example, plain and rounded to one decimal (ties), and the package's output of
``filterCommonGenes`` + ``estimateScore(platform = "affymetrix")``.  Tolerance: 1e-8
absolute on all four scores (seen: ~1e-11); NaN positions must match.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import StatisticalWarning
from radiogenomics.omics import estimate, ssgsea
from radiogenomics.omics.immune import (ESTIMATE_SCORE_MAX, ESTIMATE_SCORE_MIN, PURITY_INTERCEPT, PURITY_SLOPE,
                                        estimate_common_genes, estimate_signatures, tumor_purity)

DATA = Path(__file__).resolve().parent.parent / "data" / "estimate_original"
CASES = ["ovarian_affy_10", "ovarian_affy_10_rounded"]
SCORES = ["StromalScore", "ImmuneScore", "ESTIMATEScore", "TumorPurity"]


def _input(case: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{case}_input.tsv.gz", sep="\t", index_col=0)


def _reference(case: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{case}_estimate_original.csv", index_col=0)


def _assert_same(ours: pd.DataFrame, ref: pd.DataFrame, atol: float = 1e-8) -> None:
    assert list(ours.columns) == SCORES and sorted(ours.index) == sorted(ref.index)
    a = ours.loc[ref.index, SCORES].to_numpy(float)
    b = ref[SCORES].to_numpy(float)
    assert np.array_equal(np.isnan(a), np.isnan(b)), "NaN positions differ"
    ok = ~np.isnan(b)
    np.testing.assert_allclose(a[ok], b[ok], rtol=0, atol=atol)


def test_shipped_inputs_are_the_reference_files():
    readme = (DATA / "README.md").read_text()
    for case in CASES:
        digest = hashlib.sha256(gzip.decompress((DATA / f"{case}_input.tsv.gz").read_bytes())).hexdigest()
        assert re.search(rf"{case}_input\.tsv\.gz \|.*SHA-256 {digest}", readme), case


@pytest.mark.parametrize("case", CASES)
def test_estimate_equals_the_authors_package(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the package's example needs no warning
        out = estimate(_input(case))
    _assert_same(out, _reference(case))


def test_tied_genes_are_ordered_by_symbol_not_by_input_order():
    x = _input("ovarian_affy_10_rounded")
    shuffled = x.iloc[np.random.default_rng(19).permutation(len(x))]
    _assert_same(estimate(shuffled), _reference("ovarian_affy_10_rounded"))


def test_reference_data_exercise_the_tie_convention():
    # GSVA's convention (integer ranks, input order) is a different method: identical without
    # ties, far off with them; so the rounded case really tests the tie handling.
    sigs = estimate_signatures()
    for case, differs in (("ovarian_affy_10", False), ("ovarian_affy_10_rounded", True)):
        x = _input(case)
        x = x.loc[x.index.isin(estimate_common_genes())]
        gsva = ssgsea(x, sigs, alpha=0.25, convention="gsva").loc["StromalSignature"]
        exact = ssgsea(x, sigs, alpha=0.25, convention="estimate").loc["StromalSignature"]
        ref = _reference(case)["StromalScore"]
        np.testing.assert_allclose(exact[ref.index], ref, rtol=0, atol=1e-8)
        gap = float(np.abs(gsva[ref.index] - ref).max())
        assert (gap > 1.0) if differs else (gap < 1e-8), (case, gap)


def test_ssgsea_rejects_unknown_convention():
    from radiogenomics.exceptions import InputError
    with pytest.raises(InputError, match="'gsva' or 'estimate'"):
        ssgsea(_input("ovarian_affy_10").iloc[:50], {"S": ["ELMO2"]}, convention="Estimate")


def test_purity_range_bounds():
    assert ESTIMATE_SCORE_MAX == pytest.approx(6579.6011, abs=1e-4)
    assert ESTIMATE_SCORE_MIN == pytest.approx(-4121.4919, abs=1e-4)
    score = np.array([-20000, -4121.5, -4121.4, 0.0, 6579.6, 6579.61, 20000, 30000, np.nan])
    got = tumor_purity(score)
    want = np.cos(PURITY_INTERCEPT + PURITY_SLOPE * score)
    inside = np.array([False, False, True, True, True, False, False, False, False])
    np.testing.assert_array_equal(np.isnan(got), ~inside)
    np.testing.assert_allclose(got[inside], want[inside], rtol=1e-15)
    # where the package's cos(...) is negative, it (and we) report NA
    assert want[5] < 0 and want[6] < 0
    # 30000 would give a positive cosine again: not a purity either
    assert want[7] > 0


def _pushed(x: pd.DataFrame, up: list[str], down: list[str]) -> pd.DataFrame:
    sig = [g for genes in estimate_signatures().values() for g in genes]
    x = x.copy()
    rows = x.index.isin(sig)
    x.loc[rows, up] += 8.0
    x.loc[rows, down] = float(x.to_numpy().min()) - 1.0
    return x


def test_out_of_range_scores_give_na_purity_with_a_warning():
    x = _pushed(_input("ovarian_affy_10_rounded"), up=["s516", "s518"], down=["s519"])
    with pytest.warns(StatisticalWarning, match=r"NA for 3 of 10 sample\(s\).*2 above 6579\.6, 1 below -4121\.5") as rec:
        out = estimate(x)
    assert rec[0].filename == __file__  # stacklevel=2: the caller's line
    assert out.loc[["s516", "s518"], "ESTIMATEScore"].min() > ESTIMATE_SCORE_MAX
    assert out.loc["s519", "ESTIMATEScore"] < ESTIMATE_SCORE_MIN
    assert out["TumorPurity"].isna().tolist() == [s in ("s516", "s518", "s519") for s in out.index]
    assert out[["StromalScore", "ImmuneScore", "ESTIMATEScore"]].notna().all().all()
    # the untouched samples keep the package's values (a sample's scores depend on it alone)
    ref = _reference("ovarian_affy_10_rounded")
    keep = [s for s in ref.index if s not in ("s516", "s518", "s519")]
    _assert_same(out.loc[keep], ref.loc[keep])


# --------------------------------------------------------------------------- stored immune scoring


def test_compute_immune_scores_estimate_on_unfiltered_genes():
    # FPKM with many lowly expressed genes (zeros): the low-expression filter would drop them,
    # the package keeps them; compute_immune must give estimate() of the whole matrix.
    from radiogenomics.omics.run import compute_immune
    x = _input("ovarian_affy_10_rounded")
    fpkm = np.exp2(x) - 1.0
    fpkm.iloc[::3] = 0.0
    fpkm.iloc[::3, 0] = 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long = compute_immune(fpkm, "fpkm", methods=["estimate"])
        want = estimate(np.log2(fpkm + 1.0))
    got = long.pivot(index="patient_id", columns="score", values="value")[SCORES]
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), rtol=0, atol=1e-8)


def test_na_purity_flows_through_store_associations_and_report(store_path, tmp_path):
    from radiogenomics.associate.stage import associate_scores
    from radiogenomics.omics import run_immune
    from radiogenomics.report.build import build_report
    from radiogenomics.store import Store

    x = _pushed(_input("ovarian_affy_10_rounded"), up=["s516", "s518"], down=["s519"])
    fpkm = np.exp2(x) - 1.0
    long = fpkm.rename_axis("gene").reset_index().melt(id_vars="gene", var_name="patient_id", value_name="value")
    long["dataset_id"] = "D1"
    groups = pd.DataFrame({"grouping": "G", "patient_id": list(fpkm.columns), "grp": ["high", "low"] * 5})
    with Store.open(store_path) as store:
        store.upsert("datasets", pd.DataFrame({"dataset_id": ["D1"], "scale": ["fpkm"], "source": ["test"]}))
        store.upsert("expression", long)
        store.upsert("risk_groups", groups)
        with pytest.warns(StatisticalWarning, match="NA for 3 of 10"):
            run_immune(store, "D1", methods=["estimate", "ips"])
        stored = store.query("SELECT patient_id, value FROM immune_scores WHERE method = 'estimate' "
                             "AND score = 'TumorPurity' ORDER BY patient_id")
        assert len(stored) == 10
        assert sorted(stored.loc[stored["value"].isna(), "patient_id"]) == ["s516", "s518", "s519"]
        rest = stored.dropna().set_index("patient_id")["value"]
        ref = _reference("ovarian_affy_10_rounded")["TumorPurity"]
        np.testing.assert_allclose(rest, ref[rest.index], rtol=0, atol=1e-8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few patients per group
            assoc = associate_scores(store, "G", "D1")
        row = assoc[(assoc["variable"] == "estimate:TumorPurity") & (assoc["test"] == "mann-whitney")].iloc[0]
        assert row["n_per_group"] == {"high": 3, "low": 4}  # s516, s518 high; s519 low
        assert 0 <= row["p"] <= 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = build_report(store, "G", tmp_path / "report", dataset_id="D1")
    assert "immune" in result.sections
    medians = pd.read_csv(result.tables["immune_medians"])
    purity = medians[medians["score"] == "TumorPurity"]
    assert len(purity) == 1 and purity[["high", "low"]].notna().all(axis=None)
