"""Survival statistics against R (survival 3.x, maxstat, survminer) on the TCIA NSCLC clinical data.

Reference values: tests/data/R/survival/make_reference_survival.R -> ref_nsclc_survival.csv.
The inputs (columns of the TCIA clinical CSV) are committed next to the script.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from radiogenomics.models import (concordance_index, cox, cutpoint, hazard_ratio, kaplan_meier, km_at,
                                  logrank_test)
from tests.conftest import TEST_DATA

REF = TEST_DATA / "R" / "survival"
RTOL = 1e-6  # R and numpy both iterate to ~1e-9 relative on the log-likelihood


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    r = pd.read_csv(REF / "ref_nsclc_survival.csv", keep_default_na=False)
    r["value"] = r["value"].astype(float)
    return r


def _r(ref, analysis, term, statistic) -> float:
    hit = ref[(ref.analysis == analysis) & (ref.term == term) & (ref.statistic == statistic)]
    assert len(hit) == 1, (analysis, term, statistic)
    return float(hit.value.iloc[0])


@pytest.fixture(scope="module")
def clin() -> pd.DataFrame:
    """OS derived as in the R script: CT date -> death (Dead) or last known alive; event = Dead."""
    d = pd.read_csv(REF / "nsclc_clinical_input.csv")
    ct = pd.to_datetime(d["ct_date"], format="%m/%d/%Y")
    end = pd.to_datetime(np.where(d["survival_status"] == "Dead", d["date_death"], d["date_last_alive"]),
                         format="%m/%d/%Y")
    d["os_days"] = (end - ct).dt.days.astype(float)
    d["os_event"] = (d["survival_status"] == "Dead").astype(int)
    d["pack_years"] = pd.to_numeric(d["pack_years"], errors="coerce")
    d["os_months"] = np.floor(d["os_days"] / 30)
    return d[d["os_days"].notna()].reset_index(drop=True)


def test_os_derivation_matches_r(clin):
    r = pd.read_csv(REF / "ref_os_derived.csv")
    merged = r.merge(clin, on="case_id", suffixes=("_r", ""))
    assert len(merged) == len(r) == len(clin)
    np.testing.assert_array_equal(merged["os_days_r"], merged["os_days"])
    np.testing.assert_array_equal(merged["os_event_r"], merged["os_event"])


@pytest.mark.parametrize("var", ["gender", "histology"])
def test_logrank_matches_survdiff(clin, ref, var):
    res = logrank_test(clin.os_days, clin.os_event, clin[var])
    assert res.statistic == pytest.approx(_r(ref, f"logrank:{var}", "", "chisq"), rel=1e-10)
    assert res.pvalue == pytest.approx(_r(ref, f"logrank:{var}", "", "p"), rel=1e-8)
    for level, o, e in zip(res.groups, res.observed, res.expected):
        assert o == _r(ref, f"logrank:{var}", level, "observed")
        assert e == pytest.approx(_r(ref, f"logrank:{var}", level, "expected"), rel=1e-10)


def test_logrank_with_tied_times(clin, ref):
    res = logrank_test(clin.os_months, clin.os_event, clin.gender)
    assert res.statistic == pytest.approx(_r(ref, "logrank_ties:gender", "", "chisq"), rel=1e-10)


@pytest.mark.parametrize("analysis,duration,covs,ties", [
    ("cox_multi_efron", "os_days", ["age", "gender", "histology"], "efron"),
    ("cox_multi_breslow", "os_days", ["age", "gender", "histology"], "breslow"),
    ("cox_uni_age", "os_days", ["age"], "efron"),
    ("cox_ties_efron", "os_months", ["age", "gender"], "efron"),
    ("cox_ties_breslow", "os_months", ["age", "gender"], "breslow"),
])
def test_cox_matches_coxph(clin, ref, analysis, duration, covs, ties):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few events per coefficient (NOS histology) is expected here
        res = cox(clin, duration, "os_event", covs, ties=ties)
    terms = sorted(set(ref[(ref.analysis == analysis) & (ref.term != "")].term))
    assert sorted(res.terms) == terms
    for term in terms:
        for stat in ("coef", "se", "HR", "HR_lower", "HR_upper", "p"):
            assert res.table.loc[term, stat] == pytest.approx(_r(ref, analysis, term, stat), rel=RTOL, abs=1e-9), \
                (term, stat)
    assert res.loglik == pytest.approx(_r(ref, analysis, "", "loglik"), rel=1e-9)
    assert res.loglik_null == pytest.approx(_r(ref, analysis, "", "loglik_null"), rel=1e-9)
    assert res.concordance == pytest.approx(_r(ref, analysis, "", "concordance"), abs=1e-9)


def test_efron_and_breslow_differ_with_ties(clin):
    e = cox(clin, "os_months", "os_event", ["age", "gender"], ties="efron")
    b = cox(clin, "os_months", "os_event", ["age", "gender"], ties="breslow")
    assert abs(e.coef[1] - b.coef[1]) > 1e-4


@pytest.mark.parametrize("var", ["age", "pack_years"])
def test_concordance_matches_r(clin, ref, var):
    d = clin[clin[var].notna()]
    assert concordance_index(d.os_days, d.os_event, d[var]) == pytest.approx(_r(ref, "cindex", var, "C"), abs=1e-12)


@pytest.mark.parametrize("var", ["age", "pack_years"])
def test_maxstat_cutpoint_matches_survminer(clin, ref, var):
    d = clin[clin[var].notna()]
    res = cutpoint(d.os_days, d.os_event, d[var], minprop=0.1)
    assert res.cutpoint == _r(ref, "maxstat", var, "cutpoint")
    assert res.statistic == pytest.approx(_r(ref, "maxstat", var, "statistic"), rel=1e-10)
    assert res.n_high == _r(ref, "maxstat", var, "n_high")
    assert (res.assign(d[var]) == "high").sum() == res.n_high


def test_km_matches_survfit(clin, ref):
    curve = kaplan_meier(clin.os_days, clin.os_event)
    at = km_at(curve, [365.25, 1095.75, 1826.25])
    for row in at.itertuples():
        term = f"{row.time:g}"
        assert row.survival == pytest.approx(_r(ref, "km", term, "survival"), rel=1e-10)
        assert row.lower == pytest.approx(_r(ref, "km", term, "lower"), rel=1e-10)
        assert row.upper == pytest.approx(_r(ref, "km", term, "upper"), rel=1e-10)


def test_hazard_ratio_of_groups_equals_cox(clin, ref):
    hr = hazard_ratio(clin.os_days, clin.os_event, clin.gender, reference="Female")
    assert list(hr.term) == ["Male"]
    lr = logrank_test(clin.os_days, clin.os_event, clin.gender)
    assert hr.HR.iloc[0] > 1 and lr.pvalue < 0.01


def test_store_survival_stage_on_real_clinical_matches_r(ref, tmp_path):
    """The connectors' clinical table -> a grouping by gender -> `survival_evidence` -> the log-rank and
    univariable Cox rows equal R's (needs the shared TCIA CSV)."""
    from radiogenomics.connectors.clinical import parse_clinical_csv
    from radiogenomics.models import survival_evidence
    from radiogenomics.store import Store
    from tests.conftest import shared_file

    csv = shared_file("data", "tcia", "NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clinical = parse_clinical_csv(csv)
    path = tmp_path / "rg.duckdb"
    with Store.open(path) as store:
        store.upsert("clinical", clinical, run_id="test")
        store.upsert("risk_groups", pd.DataFrame({"grouping": "sex", "patient_id": clinical.patient_id,
                                                  "grp": clinical.gender, "method": "manual"}), run_id="test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = survival_evidence(path, grouping="sex", endpoint="os", covariates=["age"])
    assert summary["logrank_p"] == pytest.approx(_r(ref, "logrank:gender", "", "p"), rel=1e-8)
    with Store.open(path, read_only=True) as store:
        res = store.query("SELECT * FROM model_results WHERE subject = 'sex'")
    assert (res.run_id == summary["run_id"]).all()
    get = res.set_index(["analysis", "term", "statistic"]).value
    assert get[("logrank:os", "", "chisq")] == pytest.approx(_r(ref, "logrank:gender", "", "chisq"), rel=1e-10)
    assert get[("cox_uni:os", "age", "HR")] == pytest.approx(_r(ref, "cox_uni_age", "age", "HR"), rel=1e-6)
    assert get[("km:os", "all@365.25", "survival")] == pytest.approx(_r(ref, "km", "365.25", "survival"), rel=1e-10)


def test_predicted_survival_matches_survfit_coxph(clin, ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cox(clin, "os_days", "os_event", ["age", "gender", "histology"])
    times = [365.25, 1095.75, 1826.25]
    pred = res.predict_survival(clin.iloc[:3], times)
    for j, case in enumerate(clin.case_id.iloc[:3]):
        for k, t in enumerate(times):
            assert pred[j, k] == pytest.approx(_r(ref, "cox_predict", f"{case}@{t:g}", "survival"), rel=1e-7)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_predicted_survival_with_tied_times_matches_survfit(clin, ref, ties):
    res = cox(clin, "os_months", "os_event", ["age", "gender"], ties=ties)
    times = [12, 36, 60]
    pred = res.predict_survival(clin.iloc[:3], times)
    for j, case in enumerate(clin.case_id.iloc[:3]):
        for k, t in enumerate(times):
            expected = _r(ref, f"cox_predict_ties_{ties}", f"{case}@{t:g}", "survival")
            assert pred[j, k] == pytest.approx(expected, rel=1e-7), (case, t)
