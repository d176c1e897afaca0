"""`rg harmonize` on a small store: batch from the scanner of each ROI's CT, fitted on training patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import InputError
from radiogenomics.imaging.harmonize import run_harmonize
from radiogenomics.store import Store


@pytest.fixture
def scanner_store(tmp_path):
    rng = np.random.default_rng(2)
    ids = [f"P{i:02d}" for i in range(40)]
    maker = ["GE"] * 18 + ["SIEMENS"] * 18 + ["PHILIPS"] * 4  # PHILIPS: no training patient
    shift = {"GE": 0.0, "SIEMENS": 3.0, "PHILIPS": -2.0}
    X = rng.normal(size=(40, 5)) + np.array([shift[m] for m in maker])[:, None]
    feats = pd.DataFrame(X, columns=[f"original_firstorder_F{j}" for j in range(5)])
    feats["patient_id"] = ids
    long = feats.melt(id_vars="patient_id", var_name="feature", value_name="value")
    long["roi"], long["params_hash"] = "tumor", "h1"
    path = tmp_path / "rg.duckdb"
    with Store.open(path) as store:
        store.upsert("features", long, run_id="seed")
        store.upsert("series", pd.DataFrame({"series_uid": [f"1.2.{i}" for i in range(40)], "patient_id": ids,
                                             "modality": "CT", "manufacturer": maker}), run_id="seed")
        store.upsert("rois", pd.DataFrame({"patient_id": ids, "roi": "tumor", "reader": "default",
                                           "ct_series_uid": [f"1.2.{i}" for i in range(40)], "status": "ok"}),
                     run_id="seed")
        store.upsert("clinical", pd.DataFrame({"patient_id": ids, "age": rng.normal(65, 8, 40).round()}),
                     run_id="seed")
    return path, ids


def test_harmonize_writes_a_new_parameter_set_fitted_on_training_only(scanner_store, tmp_path):
    path, ids = scanner_store
    train = ids[:12] + ids[18:30]
    res = run_harmonize(path, "manufacturer", train=train, preserve=["age"])
    new = res.summary["params_hash"]
    assert new.startswith("h1+combat-") and res.counts == {"patients": 36, "features": 5, "train": 24, "failed": 4}
    with Store.open(path, read_only=True) as store:
        old = store.query("SELECT count(*) AS n FROM features WHERE params_hash = 'h1'").n.iloc[0]
        rows = store.query("SELECT patient_id, feature, value FROM features WHERE params_hash = ?", [new])
        failures = store.query("SELECT patient_id, reason FROM failures WHERE stage = 'harmonize'")
        params = store.query("SELECT params_yaml FROM feature_params WHERE params_hash = ?", [new])
    assert old == 200  # the originals are untouched
    assert rows.patient_id.nunique() == 36 and sorted(failures.patient_id) == ids[36:]
    assert "PHILIPS" in failures.reason.iloc[0] and "combat" in params.params_yaml.iloc[0]
    wide = rows.pivot(index="patient_id", columns="feature", values="value")
    with Store.open(path, read_only=True) as store:
        raw = store.query("SELECT patient_id, feature, value FROM features WHERE params_hash = 'h1'").pivot(
            index="patient_id", columns="feature", values="value")
    held_ge, held_siemens = ids[12:18], ids[30:36]  # patients ComBat never saw

    def gap(m):
        return float((m.loc[held_ge].mean() - m.loc[held_siemens].mean()).abs().mean())

    assert gap(raw) > 2.0 and gap(wide) < 1.0  # the 3-unit scanner offset is gone
    # the harmonised set is modelled like extracted features
    from radiogenomics.models.workflow import load_features

    with Store.open(path, read_only=True) as store:
        matrix, used = load_features(store, params_hash=new, stable_only=False)
    assert used == new and matrix.shape == (36, 5)


@pytest.mark.parametrize("batch, kwargs, message", [
    ("kernel", {}, "neither a scanner column .* nor a clinical column"),
    ("convolution_kernel", {}, "no series convolution_kernel is stored"),
    ("manufacturer", {"train": ["P00", "P01", "P02", "P03", "P04"]}, "no batch effect"),
    ("manufacturer", {"preserve": ["bmi"]}, "neither columns of `clinical`"),
])
def test_bad_requests_are_clear_and_write_nothing(scanner_store, batch, kwargs, message):
    path, _ = scanner_store
    with pytest.raises(InputError, match=message):
        run_harmonize(path, batch, **kwargs)
    with Store.open(path, read_only=True) as store:
        assert store.query("SELECT count(DISTINCT params_hash) AS n FROM features").n.iloc[0] == 1


def test_cli_harmonize_warns_without_training_patients(scanner_store, capsys):
    path, _ = scanner_store
    code = main(["--store", str(path), "-q", "harmonize", "--batch", "manufacturer"])
    assert code == 0  # every batch has training patients when all patients train
    assert "harmonised 40 patients x 5 features by manufacturer" in " ".join(capsys.readouterr().out.split())
    with pytest.warns(Warning, match="fitted on every patient"):
        res = run_harmonize(path, "manufacturer", params_hash="h1")
    assert any("fitted on every patient" in w for w in res.warnings)
