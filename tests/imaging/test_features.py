"""`extract_features` API and the cached, parallel `run_features` stage."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from radiogenomics.config import Settings
from radiogenomics.exceptions import ConfigError, ImagingError
from radiogenomics.imaging import extract_features, import_images, load_params, params_hash, run_features
from radiogenomics.store import Store

from ._helpers import (FAST_PARAMS, LUNG2_IMAGE, LUNG2_MASK, sql_from_another_process, synthetic_case,
                       to_image, write_case)

FAST_NAMES = {"original_shape_VoxelVolume", "original_shape_Sphericity", "original_firstorder_Mean",
              "original_firstorder_Energy", "original_firstorder_Skewness", "original_glcm_Contrast",
              "original_glcm_Idm"}


def test_extract_features_paths_and_images_agree():
    by_path = extract_features(LUNG2_IMAGE, LUNG2_MASK, FAST_PARAMS)
    by_image = extract_features(sitk.ReadImage(str(LUNG2_IMAGE)), sitk.ReadImage(str(LUNG2_MASK)), FAST_PARAMS)
    assert set(by_path.index) == FAST_NAMES
    assert by_path.dtype == float
    np.testing.assert_array_equal(by_path.to_numpy(), by_image[by_path.index].to_numpy())
    assert by_path["original_shape_VoxelVolume"] == pytest.approx(24644 * 0.6269531 ** 2 * 5.0, rel=1e-6)


def test_flat_settings_override_default_file():
    volume, mask = synthetic_case(0)
    image, m = to_image(volume), to_image(mask.astype(np.uint8))
    coarse = extract_features(image, m, {"binWidth": 200, "resampledPixelSpacing": None})
    fine = extract_features(image, m, FAST_PARAMS)  # binWidth 25
    assert len(coarse) == 851  # image types and classes of the default file
    assert coarse["original_firstorder_Mean"] == pytest.approx(fine["original_firstorder_Mean"])
    assert coarse["original_glcm_Contrast"] != pytest.approx(fine["original_glcm_Contrast"])


def test_label_and_geometry_errors():
    volume, mask = synthetic_case(0)
    image = to_image(volume)
    with pytest.raises(ImagingError, match="Label \\(3\\) not present"):
        extract_features(image, to_image(mask.astype(np.uint8)), FAST_PARAMS, label=3)
    with pytest.raises(ImagingError, match="pyradiomics failed"):
        extract_features(image, to_image(mask.astype(np.uint8), origin=(30.0, 0, 0)), FAST_PARAMS)
    with pytest.raises(ImagingError, match="file path or a SimpleITK image"):
        extract_features(volume, mask, FAST_PARAMS)


def test_params_validation_and_hash(tmp_path):
    with pytest.raises(ConfigError, match="unknown sections"):
        load_params({"settings": {"binWidth": 25}})
    with pytest.raises(ConfigError, match="invalid"):
        load_params({"setting": {"binWidth": "wide"}})
    with pytest.raises(ConfigError, match="does not exist"):
        load_params(tmp_path / "none.yaml")
    path = tmp_path / "p.yaml"
    path.write_text("# a comment\n" + yaml.safe_dump(FAST_PARAMS))
    assert load_params(path).hash == params_hash(FAST_PARAMS) == load_params(FAST_PARAMS).hash


@pytest.fixture
def three_patients(tmp_path, store_path):
    with Store.open(store_path) as store:
        for seed in range(3):
            image, mask = write_case(tmp_path / f"P{seed}", seed)
            import_images(store, f"P{seed}", image, mask)
    return tmp_path


def _count(store, sql, params=None):
    return int(store.query(sql, params).iloc[0, 0])


def test_run_features_cache_new_params_and_failures(three_patients, store_path):
    settings = Settings.from_env(store=store_path)
    with Store.open(store_path) as store:
        first = run_features(store, settings=settings, params=FAST_PARAMS).summary
        assert (first.computed, first.cached, first.failed, first.n_features) == (3, 0, 0, 7)
        assert _count(store, "SELECT count(*) FROM features") == 21
        assert _count(store, "SELECT count(*) FROM features WHERE run_id = ?", [first.run_id]) == 21
        assert _count(store, "SELECT count(*) FROM feature_diagnostics WHERE key = 'diagnostics_Mask-original_VoxelNum'") == 3
        assert _count(store, "SELECT count(*) FROM core.feature_params WHERE params_hash = ?", [first.params_hash]) == 1

        again = run_features(store, settings=settings, params=FAST_PARAMS).summary
        assert (again.computed, again.cached) == (0, 3)
        assert _count(store, "SELECT count(*) FROM features WHERE run_id = ?", [again.run_id]) == 0

        changed = {**FAST_PARAMS, "setting": {"binWidth": 10, "label": 1}}
        new = run_features(store, settings=settings, params=changed, patients=["P0", "P1"]).summary
        assert new.params_hash != first.params_hash and new.computed == 2
        assert _count(store, "SELECT count(*) FROM features") == 21 + 14  # old rows kept

        # a broken mask file: that patient is recorded, the others go on
        mask_path = store.query("SELECT mask_path FROM rois WHERE patient_id = 'P2'").mask_path.iloc[0]
        sitk.WriteImage(sitk.GetImageFromArray(np.ones((8, 24, 24), np.uint8)), mask_path)
        broken = run_features(store, settings=settings, params=changed).summary
        assert (broken.computed, broken.cached, broken.failed) == (0, 2, 1)
        failure = store.query("SELECT * FROM failures WHERE run_id = ?", [broken.run_id])
        assert failure.patient_id.tolist() == ["P2"] and "changed since it was registered" in failure.reason.iloc[0]
        assert store.query("SELECT status FROM runs WHERE run_id = ?", [broken.run_id]).status.iloc[0] == "partial"

        with pytest.raises(ImagingError, match="no usable ROIs .* ROI node_9"):
            run_features(store, settings=settings, params=FAST_PARAMS, rois=["node_9"])


def test_run_features_two_workers_equal_one(three_patients, store_path, tmp_path):
    settings = Settings.from_env(store=store_path)
    with Store.open(store_path) as store:
        run_features(store, settings=settings, params=FAST_PARAMS, workers=1)
        one = store.query("SELECT patient_id, feature, value FROM features ORDER BY 1, 2")
        store.execute("DELETE FROM core.features")
        done = []
        summary = run_features(store, settings=settings, params=FAST_PARAMS, workers=2, progress=lambda d, t: done.append((d, t))).summary
        two = store.query("SELECT patient_id, feature, value FROM features ORDER BY 1, 2")
    assert summary.computed == 3 and done[-1] == (3, 3)
    np.testing.assert_array_equal(one.to_numpy(), two.to_numpy())


def test_run_features_on_a_store_path_leaves_the_store_readable_while_computing(three_patients, store_path):
    """Given a store path, the extraction holds the write lock only while writing a batch:
    another process can run `rg sql` between patients."""
    settings = Settings.from_env(store=store_path)
    answers = []

    def progress(done, total):
        if done == 1:
            answers.append(sql_from_another_process(store_path, "SELECT count(*) AS n FROM rois"))

    summary = run_features(store_path, settings=settings, params=FAST_PARAMS, progress=progress, batch_size=1).summary
    assert summary.computed == 3 and summary.failed == 0
    assert answers and answers[0][0] == 0, answers
    assert answers[0][1].split()[-1] == "3"
    with Store.open(store_path, read_only=True) as store:
        assert _count(store, "SELECT count(DISTINCT patient_id) FROM features") == 3
        run = store.query("SELECT status, input_checksums FROM runs WHERE run_id = ?", [summary.run_id])
    assert run.status[0] == "ok"
