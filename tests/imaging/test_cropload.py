"""The cropping loader gives exactly pyradiomics' full-image result (resampled voxels, features, diagnostics)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from radiomics import featureextractor, imageoperations

from radiogenomics.catalog import catalog_file
from radiogenomics.imaging import cropload

from tests.conftest import shared_file


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger("radiomics").setLevel(logging.ERROR)


def _default_params() -> dict:
    return yaml.safe_load(catalog_file("pyradiomics", "default_851.yaml").read_text())


def _synthetic(size=(160, 150, 24), spacing=(0.7, 0.7, 2.5), centre=(60, 80, 12), radius=9, seed=0,
               dtype=np.int16):
    """A textured CT-like volume (HU, integers) with an ellipsoidal ROI."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = size
    smooth = rng.normal(0, 1, (nz, ny, nx)).cumsum(axis=2).cumsum(axis=1) / 15
    array = (-700 + 300 * np.tanh(smooth) + rng.normal(0, 40, (nz, ny, nx))).round().astype(dtype)
    z, y, x = np.ogrid[:nz, :ny, :nx]
    roi = (((x - centre[0]) * spacing[0]) ** 2 + ((y - centre[1]) * spacing[1]) ** 2
           + ((z - centre[2]) * spacing[2]) ** 2) <= (radius * max(spacing[:2]) * 1.6) ** 2
    array[roi] = (array[roi] + 650 + rng.normal(0, 60, roi.sum())).round().astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin((-55.25, 20.125, -301.0))
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def _same_loaded(image, mask, settings):
    """Loaded (resampled, cropped) image and mask of pyradiomics and of the cropping loader are identical."""
    reference = featureextractor.RadiomicsFeatureExtractor.loadImage(image, mask, None, **settings)
    fast = cropload.load_cropped(image, mask, None, **settings)
    assert fast is not None, cropload.unsupported(image, mask, settings)
    for ref, got in zip(reference, fast):
        assert got.GetPixelID() == ref.GetPixelID()
        assert got.GetSize() == ref.GetSize()
        assert got.GetOrigin() == ref.GetOrigin() and got.GetSpacing() == ref.GetSpacing()
        assert got.GetDirection() == ref.GetDirection()
        np.testing.assert_array_equal(sitk.GetArrayViewFromImage(got), sitk.GetArrayViewFromImage(ref))


def _same_features(params, image, mask):
    """All features and diagnostics of the cropping extractor equal pyradiomics' on the full image."""
    reference = featureextractor.RadiomicsFeatureExtractor(params).execute(image, mask)
    fast = cropload.cropping_extractor_class()(params).execute(image, mask)
    assert list(fast) == list(reference)
    for key, want in reference.items():
        got = fast[key]
        if key.startswith("diagnostics_"):
            assert str(got) == str(want), key
        else:  # exact: the same voxels go through the same pyradiomics code
            assert float(got) == float(want) or (np.isnan(float(got)) and np.isnan(float(want))), key
    return reference


@pytest.mark.parametrize("settings", [
    dict(resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline", padDistance=10, label=1),
    dict(resampledPixelSpacing=[1, 1, 1], interpolator=sitk.sitkLinear, padDistance=5, label=1),
    dict(resampledPixelSpacing=[0.5, 0.5, 0], interpolator="sitkBSpline", padDistance=5, label=1),
    dict(resampledPixelSpacing=[2, 2, 2], interpolator="sitkBSpline5", padDistance=3, label=1),
    dict(resampledPixelSpacing=[1, 1, 1], interpolator="sitkNearestNeighbor", padDistance=10, label=1),
])
def test_loaded_voxels_equal_full_image_resampling(settings):
    image, mask = _synthetic()
    _same_loaded(image, mask, settings)


def test_roi_at_the_image_border_is_clipped_the_same_way():
    # the ROI touches the first slice and the last columns: pyradiomics clips its grid there
    image, mask = _synthetic(size=(90, 70, 14), centre=(84, 35, 1))
    _same_loaded(image, mask, dict(resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline", padDistance=10))


def test_label_other_than_one_and_uint16_image():
    image, mask = _synthetic(dtype=np.uint16, seed=3)  # uint16 wraps the negative HU: still integers
    mask = mask * 3
    _same_loaded(image, mask, dict(resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline", padDistance=10,
                                   label=3))


def test_all_851_features_and_diagnostics_equal_on_a_synthetic_ct():
    image, mask = _synthetic()
    result = _same_features(_default_params(), image, mask)
    assert sum(not k.startswith("diagnostics_") for k in result) == 851


def test_bin_count_and_the_bin_edges_shortcut():
    params = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None, "glcm": None, "glszm": None},
              "setting": {"binCount": 32, "resampledPixelSpacing": [1, 1, 1], "interpolator": "sitkBSpline",
                          "padDistance": 5}}
    image, mask = _synthetic(seed=5)
    _same_features(params, image, mask)
    assert imageoperations.getBinEdges is not cropload._edges_from_extremes  # restored after execute


@pytest.mark.parametrize("values", [np.array([54.0, 166.0, 99.5, 75.0]), np.array([50.0, 50.0]),
                                    np.arange(-1024, 3000, 7, dtype=np.int16), np.array([0.1, -0.2, 1e-9])])
@pytest.mark.parametrize("kwargs", [dict(binWidth=25), dict(binWidth=0.1), dict(binCount=16)])
def test_bin_edges_from_extremes_equal_pyradiomics(values, kwargs):
    with cropload._fast_bin_edges():
        got = cropload._edges_from_extremes(values, **kwargs)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(imageoperations.getBinEdges(values, **kwargs)))


def test_forced_full_resampling_on_a_tie_gives_the_same_voxels(monkeypatch):
    monkeypatch.setattr(cropload, "TIE_DISTANCE", 0.5)  # every voxel counts as a possible cast tie
    calls = []
    real = cropload._resample
    monkeypatch.setattr(cropload, "_resample", lambda image, *a: calls.append(image.GetSize()) or real(image, *a))
    image, mask = _synthetic()
    _same_loaded(image, mask, dict(resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline", padDistance=10))
    assert image.GetSize() in calls  # the full image was resampled


def test_itk_casts_by_truncation():
    assert cropload.itk_cast_truncates()


@pytest.mark.parametrize("change, reason", [
    (lambda i, m, s: (sitk.Cast(i, sitk.sitkFloat32), m, s), "floating-point"),
    (lambda i, m, s: (i, m, dict(s, normalize=True)), "normalisation"),
    (lambda i, m, s: (i, m, dict(s, resampledPixelSpacing=None)), "no resampling"),
    (lambda i, m, s: (i, m, dict(s, interpolator="sitkGaussian")), "interpolator"),
    (lambda i, m, s: (i, sitk.Resample(m, [n + 1 for n in m.GetSize()], sitk.Transform(), sitk.sitkNearestNeighbor,
                                       m.GetOrigin(), m.GetSpacing(), m.GetDirection()), s), "grid"),
    (lambda i, m, s: (i, m, dict(s, resampledPixelSpacing=[0.7, 0.7, 2.5])), "already"),
])
def test_unsupported_settings_use_pyradiomics_loader(change, reason):
    image, mask = _synthetic(size=(40, 40, 8), centre=(20, 20, 4), radius=4)
    settings = dict(resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline", padDistance=5)
    image, mask, settings = change(image, mask, settings)
    assert reason in cropload.unsupported(image, mask, settings)
    assert cropload.load_cropped(image, mask, None, **settings) is None
    loaded = cropload.cropping_extractor_class()({"setting": settings}).loadImage(image, mask, None, **settings)
    reference = featureextractor.RadiomicsFeatureExtractor.loadImage(image, mask, None, **settings)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(loaded[0]), sitk.GetArrayViewFromImage(reference[0]))


def test_prefilter_margin_bounds_the_crop_effect():
    for order in (2, 3, 4, 5):
        margin = cropload.prefilter_margin(order, 3071.0)
        assert cropload._POLES[order] ** (margin - order // 2 - 2) * 4 * 3071.0 <= cropload.COEFFICIENT_TOLERANCE
    assert cropload.prefilter_margin(1, 3071.0) == 2


@pytest.mark.slow
def test_lung_ct_all_851_values_equal_full_image_pyradiomics():
    """The real lung CT (512 x 512 x 61): the 851 default features equal pyradiomics on the full image, exactly."""
    image = sitk.ReadImage(str(shared_file("data", "ct", "lung2_image.nrrd")))
    mask = sitk.ReadImage(str(shared_file("data", "ct", "lung2_label.nrrd")))
    settings = _default_params()["setting"]
    _same_loaded(image, mask, settings)
    result = _same_features(_default_params(), image, mask)
    assert sum(not k.startswith("diagnostics_") for k in result) == 851
