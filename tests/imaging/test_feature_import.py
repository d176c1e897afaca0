"""rg import features: pyradiomics batch output, wide and long tables; bad files; use by rg radscore fit."""

from __future__ import annotations

import ast
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import InputError
from radiogenomics.imaging.feature_import import import_features, read_feature_file
from radiogenomics.imaging.features import load_params, params_hash
from radiogenomics.store import Store

from pathlib import Path

TEST_DATA = Path(__file__).resolve().parent.parent / "data"

BATCH = TEST_DATA / "pyradiomics" / "batch_output.csv"


def _store(path, ids, crosswalk=None):
    with Store.open(path) as st:
        st.add_patients(ids, "TEST", "test", run_id="seed")
        if crosswalk:
            st.add_crosswalk("tcia", crosswalk, run_id="seed")
    return path


def _count(path, table):
    with Store.open(path, read_only=True) as st:
        return int(st.query(f"SELECT count(*) AS n FROM {table}").n.iloc[0])


def _rg(path, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(["--store", str(path), "-q", *args])


def test_pyradiomics_batch_output(tmp_path):
    path = _store(tmp_path / "rg.duckdb", ["R01-000", "R01-001", "R01-002"])
    res = import_features(path, BATCH, patient_column="Patient")
    src = pd.read_csv(BATCH)
    settings = ast.literal_eval(src["diagnostics_Configuration_Settings"].iloc[0])
    expected_params = {"setting": settings, "imageType": {"Original": {}},
                       "featureClass": {"firstorder": ["Energy", "Entropy", "Mean", "Skewness"],
                                        "shape": ["MeshVolume", "Sphericity"]}}
    assert res["format"] == "pyradiomics" and res["params_hash"] == params_hash(expected_params)
    assert res["n_patients"] == 3 and res["n_features"] == 6 and res["n_failed"] == 0
    with Store.open(path, read_only=True) as st:
        feats = st.query("SELECT * FROM features ORDER BY patient_id, feature")
        params = st.query("SELECT * FROM feature_params")
        diag = st.query("SELECT * FROM feature_diagnostics WHERE key = 'diagnostics_Mask-original_VoxelNum'")
        run = st.query("SELECT * FROM runs WHERE command = 'rg import features'")
    got = feats.pivot(index="patient_id", columns="feature", values="value")
    want = src.set_index("Patient")[got.columns]
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())  # values exactly as pyradiomics wrote them
    assert set(feats.params_hash) == {res["params_hash"]} and set(feats.roi) == {"tumor"}
    assert feats.set_index("patient_id").image_sha1.loc["R01-001"].iloc[0] == src["diagnostics_Image-original_Hash"][1]
    # the stored settings are a valid pyradiomics parameter file with the same hash
    stored = tmp_path / "stored.yaml"
    stored.write_text(params.params_yaml.iloc[0])
    assert load_params(stored).hash == res["params_hash"]
    assert sorted(diag.value.astype(int)) == [600, 660, 720]
    assert run.status.iloc[0] == "ok" and "batch_output.csv" in json.loads(run.input_checksums.iloc[0])
    # re-import: idempotent (same keys, same hash)
    import_features(path, BATCH, patient_column="Patient")
    assert _count(path, "features") == 18


def test_pyradiomics_regex_unknown_and_failed_rows(tmp_path):
    # R01-000 by the crosswalk, R01-001 known, R01-002 unknown; one more case where extraction failed
    path = _store(tmp_path / "rg.duckdb", ["P0", "R01-001", "R01-003"], {"R01-000": "P0"})
    src = pd.read_csv(BATCH, dtype=str, keep_default_na=False)
    failed = src.iloc[[0]].copy()
    failed["Image"] = "/archive/nsclc/data/R01-003/R01-003_ct.nrrd"
    feature_cols = [c for c in src.columns if c.startswith("original_")]
    failed[feature_cols] = ""
    f = tmp_path / "batch.csv"
    pd.concat([src, failed]).drop(columns="Patient").to_csv(f, index=False)
    res = import_features(path, f, patient_regex=r"(?P<patient>R01-\d+)_ct")
    assert res["n_patients"] == 2 and res["n_failed"] == 2
    with Store.open(path, read_only=True) as st:
        pats = set(st.query("SELECT DISTINCT patient_id FROM features").patient_id)
        fail = st.query("SELECT * FROM failures WHERE stage = 'import_features' ORDER BY patient_id")
        status = st.query("SELECT status FROM runs WHERE command = 'rg import features'").status.iloc[0]
    assert pats == {"P0", "R01-001"} and status == "partial"
    assert list(fail.patient_id) == ["R01-002", "R01-003"]
    assert "line 4" in fail.reason.iloc[0] and "not in the store" in fail.reason.iloc[0]
    assert "no feature value" in fail.reason.iloc[1]


def _bad(tmp_path, name, frame):
    f = tmp_path / name
    frame.to_csv(f, index=False)
    return f


@pytest.mark.parametrize("mutate, kwargs, message", [
    (lambda d: d, {}, "no patient column.*--patient-column COLUMN or --patient-regex"),
    (lambda d: d, {"patient_column": "Nope"}, "no patient column 'Nope'"),
    (lambda d: d.assign(Patient=["R01-000", "R01-000", "R01-002"]), {"patient_column": "Patient"},
     r"given more than once.*'R01-000': \[2, 3\]"),
    (lambda d: d.assign(original_firstorder_Mean=["1.5", "abc", "2"]), {"patient_column": "Patient"},
     r"non-numeric value 'abc' in column 'original_firstorder_Mean' for patient 'R01-001' \(line 3"),
    (lambda d: d.assign(diagnostics_Configuration_Settings=[d.diagnostics_Configuration_Settings[0]] * 2
                        + [d.diagnostics_Configuration_Settings[0].replace("'binWidth': 25", "'binWidth': 10")]),
     {"patient_column": "Patient"}, "mixes 2 extraction settings"),
    (lambda d: d, {"patient_regex": r"R01-\d+"}, "needs a group"),
    (lambda d: d, {"patient_regex": r"(X\d+)"}, "does not match the Image path"),
])
def test_pyradiomics_bad_files_write_nothing(tmp_path, mutate, kwargs, message):
    path = _store(tmp_path / "rg.duckdb", ["R01-000", "R01-001", "R01-002"])
    f = _bad(tmp_path, "bad.csv", mutate(pd.read_csv(BATCH, dtype=str, keep_default_na=False)))
    with pytest.raises(InputError, match=message):
        import_features(path, f, **kwargs)
    assert _count(path, "features") == 0 and _count(path, "feature_params") == 0


def test_wide_long_parquet_and_params(tmp_path):
    path = _store(tmp_path / "rg.duckdb", ["A", "B", "C"])
    wide = pd.DataFrame({"patient_id": ["A", "B", "C"], "f1": [1.0, 2.0, np.nan], "f2": [3.0, 4.0, 5.0]})
    wide.to_csv(tmp_path / "w.csv", index=False)
    r1 = import_features(path, tmp_path / "w.csv")
    assert r1["format"] == "wide" and r1["n_features"] == 2
    assert r1["params_hash"] == params_hash({"imported": {"features": ["f1", "f2"]}})
    long = wide.melt(id_vars="patient_id", var_name="feature", value_name="value")
    long.to_parquet(tmp_path / "l.parquet")
    r2 = import_features(path, tmp_path / "l.parquet", roi="node_1")
    assert r2["format"] == "long" and r2["params_hash"] == r1["params_hash"]  # same feature set, same hash
    wide.rename(columns={"patient_id": "case"}).to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    params = TEST_DATA / "pyradiomics" / "batch_params.yaml"
    r3 = import_features(path, tmp_path / "w.tsv", patient_column="case", roi="peritumoral", params=params)
    assert r3["params_hash"] == load_params(params).hash
    with Store.open(path, read_only=True) as st:
        f = st.query("SELECT roi, patient_id, feature, value FROM features ORDER BY ALL")
    for roi in ("tumor", "node_1", "peritumoral"):
        sub = f[f.roi == roi].set_index(["patient_id", "feature"]).value
        assert sub.loc[("B", "f2")] == 4.0 and np.isnan(sub.loc[("C", "f1")])


@pytest.mark.parametrize("text, kwargs, message", [
    ("case,f1\nA,1\n", {}, "no patient column 'patient_id'"),
    ("patient_id,f1\nA,1\nA,2\n", {}, "given more than once"),
    ("patient_id,f1,site\nA,1,north\n", {}, "non-numeric value 'north' in column 'site'.*drop the column"),
    ("patient_id,feature,value\nA,f1,1\nA,f1,2\n", {}, "'f1' more than once"),
    ("patient_id,feature,value\nA,f1,x\n", {}, "non-numeric value 'x'"),
    ("patient_id,f1\nX,1\nY,2\n", {}, "no row of .* can be imported: 2 patient"),
    ("patient_id,f1\n", {}, "no rows"),
    ("patient_id,f1\nA,1\n", {"fmt": "excel"}, "--format must be one of"),
    ("patient_id,f1\nA,1\n", {"patient_regex": "(A)"}, "applies to pyradiomics"),
])
def test_plain_bad_files(tmp_path, text, kwargs, message):
    path = _store(tmp_path / "rg.duckdb", ["A", "B"])
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=message):
        import_features(path, f, **kwargs)
    assert _count(path, "features") == 0


def test_imported_features_fit_radscore_like_extracted(tmp_path, capsys):
    """A wide table from elsewhere feeds rg radscore fit exactly like extracted features."""
    rng = np.random.default_rng(4)
    n = 120
    ids = [f"TR{i:03d}" for i in range(n)]
    X = rng.normal(size=(n, 6))
    t = rng.exponential(1200 * np.exp(-(0.9 * X[:, 0] - 0.7 * X[:, 1])))
    c = rng.uniform(300, 2500, n)
    path = tmp_path / "rg.duckdb"
    with Store.open(path) as st:
        st.upsert("clinical", pd.DataFrame({"patient_id": ids, "os_days": np.minimum(t, c).round() + 1,
                                            "os_event": (t <= c).astype(int)}), run_id="seed")
    wide = pd.DataFrame(X * 5 + 20, columns=[f"original_firstorder_F{j}" for j in range(6)])
    wide.insert(0, "patient_id", ids)
    wide.to_csv(tmp_path / "features.csv", index=False)
    assert _rg(path, "import", "features", str(tmp_path / "features.csv")) == 0
    assert "120 patient(s) x 6 feature(s)" in capsys.readouterr().out
    assert _rg(path, "radscore", "fit", "--endpoint", "os", "--top-k", "0", "--folds", "5", "--model-id", "imp") == 0
    with Store.open(path, read_only=True) as st:
        model = st.query("SELECT * FROM models WHERE model_id = 'imp'")
        imported_hash = st.query("SELECT DISTINCT params_hash FROM features").params_hash.tolist()
    formula = json.loads(model.formula.iloc[0])
    assert model.params_hash.iloc[0] == imported_hash[0]
    assert {"original_firstorder_F0", "original_firstorder_F1"} <= set(formula["features"])


def test_stability_on_imported_pyradiomics_settings(tmp_path):
    """Where the masks are in the store, rg stability --params-hash computes ICCs under the imported set."""
    import SimpleITK as sitk

    from radiogenomics.config import Settings
    from radiogenomics.imaging.rois import import_images
    from radiogenomics.imaging.stability import run_stability
    from radiogenomics.models.workflow import load_features

    ids = ["R01-000", "R01-001", "R01-002"]
    path = _store(tmp_path / "rg.duckdb", ids)
    res = import_features(path, BATCH, patient_column="Patient")
    rng = np.random.default_rng(3)
    with Store.open(path) as st:
        for i, pid in enumerate(ids):  # the same synthetic CT/mask recipe as make_batch_output.py
            arr = rng.normal(40 + 10 * i, 15, size=(12, 24, 24)).astype(np.int16)
            m = np.zeros_like(arr, dtype=np.uint8)
            m[3:9, 6:16 + i, 7:17] = 1
            img = sitk.GetImageFromArray(arr)
            img.SetSpacing((0.8, 0.8, 2.5))
            msk = sitk.GetImageFromArray(m)
            msk.CopyInformation(img)
            sitk.WriteImage(img, str(tmp_path / f"{pid}_ct.nrrd"))
            sitk.WriteImage(msk, str(tmp_path / f"{pid}_mask.nrrd"))
            import_images(st, pid, tmp_path / f"{pid}_ct.nrrd", tmp_path / f"{pid}_mask.nrrd",
                          data_dir=tmp_path / "data")
    summary = run_stability(path, settings=Settings.from_env(store=path), params_hash=res["params_hash"],
                            method="perturbation", perturbations=("erode", "dilate")).summary
    assert summary.params_hash == res["params_hash"] and summary.n_features == 6
    with Store.open(path, read_only=True) as st:
        stab = st.query("SELECT feature, params_hash, stable FROM feature_stability")
        # the imported values stay as pyradiomics wrote them
        imported = st.query("SELECT value FROM features WHERE patient_id = 'R01-001' AND "
                            "feature = 'original_firstorder_Mean'").value.iloc[0]
        wide, used = load_features(st, roi="tumor")
    assert set(stab.params_hash) == {res["params_hash"]}
    assert imported == pytest.approx(pd.read_csv(BATCH).original_firstorder_Mean[1])
    assert used == res["params_hash"] and set(wide.columns) == set(stab.loc[stab.stable, "feature"])
    with pytest.raises(Exception, match="no parameter set 'nope'"):
        run_stability(path, settings=Settings.from_env(store=path), params_hash="nope")
