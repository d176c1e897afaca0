"""Round trip: the lung2 crop written as a DICOM CT series + DICOM SEG gives the NRRD pair's features."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from radiogenomics.imaging import extract_features, read_ct_series, read_seg

from ._helpers import LUNG2_IMAGE, LUNG2_MASK

dicom = pytest.importorskip("radiogenomics.synth.dicom")


@pytest.fixture(scope="module")
def nrrd_features(lung2_params):
    return extract_features(LUNG2_IMAGE, LUNG2_MASK, lung2_params)


@pytest.mark.parametrize("maker", ["3D Slicer", "ePAD"])
def test_dicom_ct_and_seg_give_same_features(tmp_path, maker, lung2_params, nrrd_features):
    image = sitk.ReadImage(str(LUNG2_IMAGE))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(LUNG2_MASK))).astype(bool)
    files = dicom.write_ct_series(sitk.GetArrayFromImage(image), image.GetSpacing(), tmp_path / "ct", "LUNG2",
                                  origin=image.GetOrigin())
    seg_path = dicom.write_seg({"Tumor": mask}, files, tmp_path / "seg" / "seg.dcm", manufacturer=maker)

    ct = read_ct_series(tmp_path / "ct")
    assert ct.image.GetSize() == image.GetSize()
    np.testing.assert_allclose(ct.image.GetSpacing(), image.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(ct.image.GetOrigin(), image.GetOrigin(), atol=1e-3)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ct.image), sitk.GetArrayFromImage(image))

    segments = read_seg(seg_path, ct)
    assert len(segments) == 1 and segments[0].voxels == int(mask.sum())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(segments[0].mask).astype(bool), mask)

    features = extract_features(ct.image, segments[0].mask, lung2_params)
    # DICOM stores spacing/position as decimal strings of <= 16 characters: shape features move by ~1e-7
    np.testing.assert_allclose(features[nrrd_features.index].to_numpy(), nrrd_features.to_numpy(), rtol=1e-6)
