"""The report shows stored statistics: its KM intervals are the stored ones; a renamed declared name fails it."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import StoreError
from radiogenomics.models.workflow import survival_evidence
from radiogenomics.report import build
from radiogenomics.store import Store, results


@pytest.fixture(scope="module")
def survival_store(filled_store, tmp_path_factory):
    """The report fixture plus real `rg survival` rows (KM with R survfit's log intervals) for grouping g."""
    path = tmp_path_factory.mktemp("km") / "rg.duckdb"
    shutil.copy(filled_store, path)
    with Store.open(path) as store:
        store.delete("model_results", "subject = 'g' AND analysis LIKE '%:dfs'")
    survival_evidence(path, grouping="g", endpoint="dfs")
    return path


def _drawn_curves(store_path, monkeypatch):
    drawn = []
    real = build.figures.km_figure

    def spy(curves, risk, **kwargs):
        drawn.append((kwargs.get("title"), curves, kwargs.get("pvalue")))
        return real(curves, risk, **kwargs)

    monkeypatch.setattr(build.figures, "km_figure", spy)
    tables: dict[str, pd.DataFrame] = {}
    with Store.open(store_path, read_only=True) as store:
        inputs = build.load_inputs(store, "g")
    build.section_survival(inputs, tables)
    return drawn, tables


def test_report_km_intervals_equal_the_stored_ones(survival_store, monkeypatch):
    drawn, tables = _drawn_curves(survival_store, monkeypatch)
    curves = next(c for title, c, _ in drawn if title == "disease-free survival - all")
    stored = tables["km_survival"]
    stored = stored[(stored["endpoint"] == "dfs") & (stored["cohort"] == "all") & (stored["group"] != "all")]
    stored = stored.dropna(subset=["survival"])
    assert set(stored["group"]) == {"high", "middle", "low"} and len(stored) >= 6
    for row in stored.itertuples():
        sub = curves[(curves["group"] == row.group) & (curves["time"] <= row.time)].iloc[-1]
        # the drawn step function at the stored time point is the stored estimate and interval
        assert sub["surv"] == pytest.approx(row.survival, rel=1e-12)
        assert sub["lower"] == pytest.approx(row.lower, rel=1e-12)
        assert sub["upper"] == pytest.approx(row.upper, rel=1e-12)
    # and those are R survfit's log intervals: symmetric around S on the log scale (log-log ones are not)
    inner = stored[stored["upper"] < 1]
    assert len(inner) >= 3
    np.testing.assert_allclose(np.log(inner["survival"]) - np.log(inner["lower"]),
                               np.log(inner["upper"]) - np.log(inner["survival"]), rtol=1e-9)
    # the log-rank p shown is the stored one
    with Store.open(survival_store, read_only=True) as store:
        p = store.query("SELECT value FROM model_results WHERE analysis = 'logrank:dfs' AND subject = 'g' "
                        "AND statistic = 'p' AND cohort = ''").value.iloc[0]
    assert next(pv for title, _, pv in drawn if title == "disease-free survival - all") == p


def test_renamed_statistic_fails_the_report(survival_store, monkeypatch):
    # stored rows say HR_lower; a report reading another declared name must not show a CI-less forest plot
    monkeypatch.setattr(results.Stat, "HR_LOWER", "HR_low")
    with Store.open(survival_store, read_only=True) as store:
        inputs = build.load_inputs(store, "g")
    with pytest.raises(StoreError, match=r"lack statistic\(s\) \['HR_low'\].*rg survival"):
        build.section_survival(inputs, {})


def test_writer_and_report_share_the_declaration(survival_store, tmp_path, monkeypatch):
    # renamed in the one declaration, the writer writes the new name and the report reads it back
    monkeypatch.setattr(results.Stat, "HR_LOWER", "HR_low")
    path = tmp_path / "rg.duckdb"
    shutil.copy(survival_store, path)
    survival_evidence(path, grouping="g", endpoint="dfs")
    with Store.open(path, read_only=True) as store:
        inputs = build.load_inputs(store, "g")
    tables: dict[str, pd.DataFrame] = {}
    build.section_survival(inputs, tables)
    assert tables["cox_models"]["lower"].notna().all()


def test_renamed_declared_column_fails_the_report(filled_store, monkeypatch):
    renamed = tuple("estimate" if c == "value" else c for c in results.MODEL_RESULTS.columns)
    monkeypatch.setattr(results.MODEL_RESULTS, "columns", renamed)
    with Store.open(filled_store, read_only=True) as store, \
            pytest.raises(StoreError, match=r"model_results lacks declared column\(s\) \['estimate'\]"):
        build.load_inputs(store, "g")


def test_declarations_match_the_schema(tmp_path):
    with Store.open(tmp_path / "rg.duckdb") as store:
        for name, decl in results.RESULT_TABLES.items():
            assert store.table_columns(name) == list(decl.columns), name
            assert store.primary_key(name) == list(decl.key), name
