"""Synthetic CT series and DICOM SEG: read back with pydicom, highdicom and SimpleITK."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from radiogenomics.exceptions import InputError
from radiogenomics.synth.dicom import write_ct_series, write_nrrd_pair, write_seg

SPACING = (0.8, 0.9, 2.5)
ORIGIN = (-10.0, -20.0, -100.0)


def _volume():
    rng = np.random.default_rng(1)
    vol = rng.normal(-800, 30, size=(8, 24, 30)).round()
    vol[2:6, 8:16, 10:20] = 40
    mask = np.zeros(vol.shape, bool)
    mask[2:6, 8:16, 10:20] = True
    mask[2, 8, 10] = False  # asymmetric, so a flipped read-back would be caught
    return vol, mask


@pytest.fixture
def ct(tmp_path):
    vol, mask = _volume()
    files = write_ct_series(vol, SPACING, tmp_path / "ct", "R01-900", origin=ORIGIN,
                            study_date="19940315", manufacturer="GE MEDICAL SYSTEMS")
    return vol, mask, files


def test_ct_geometry_and_values(ct):
    vol, _, files = ct
    assert [f.name for f in files] == [f"1-{k:03d}.dcm" for k in range(1, 9)]
    dss = [pydicom.dcmread(f) for f in files]
    series = {d.SeriesInstanceUID for d in dss}
    assert len(series) == 1 and len({d.StudyInstanceUID for d in dss}) == 1
    assert len({d.SOPInstanceUID for d in dss}) == 8
    for k, d in enumerate(dss):
        assert d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert d.file_meta.MediaStorageSOPClassUID == d.SOPClassUID
        assert d.Modality == "CT" and d.PatientID == "R01-900" and d.StudyDate == "19940315"
        assert d.InstanceNumber == k + 1
        assert [float(v) for v in d.ImagePositionPatient] == pytest.approx([-10.0, -20.0, -100.0 + 2.5 * k])
        assert [float(v) for v in d.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in d.PixelSpacing] == pytest.approx([0.9, 0.8])
        assert float(d.SliceThickness) == pytest.approx(2.5)
        assert d.FrameOfReferenceUID
        hu = d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
        np.testing.assert_array_equal(hu, vol[k])
    assert dss[0].PixelRepresentation == 0  # -800 HU - (-1024) >= 0 -> uint16


def test_ct_reads_with_simpleitk(ct):
    sitk = pytest.importorskip("SimpleITK")
    vol, _, files = ct
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files[::-1]])  # order must not matter to geometry
    img = reader.Execute()
    assert img.GetSpacing() == pytest.approx(SPACING)
    arr = sitk.GetArrayFromImage(img)
    assert arr.shape == vol.shape


def test_signed_storage_and_slope(tmp_path):
    vol = np.array([[[-1000.0, 0.0], [500.0, 3000.0]]] * 2)
    files = write_ct_series(vol, (1, 1, 1), tmp_path, "P", intercept=0.0, slope=2.0)
    d = pydicom.dcmread(files[1])
    assert d.PixelRepresentation == 1
    np.testing.assert_array_equal(d.pixel_array * 2.0, vol[1])


def test_ct_bad_input(tmp_path):
    with pytest.raises(InputError, match="3-D"):
        write_ct_series(np.zeros((4, 4)), (1, 1, 1), tmp_path, "P")
    with pytest.raises(InputError, match="16 bits"):
        write_ct_series(np.full((1, 2, 2), 1e6), (1, 1, 1), tmp_path, "P")
    with pytest.raises(InputError, match="spacing"):
        write_ct_series(np.zeros((1, 2, 2)), (1, 0, 1), tmp_path, "P")


def test_deterministic_uids(tmp_path):
    vol, _ = _volume()
    a = write_ct_series(vol, SPACING, tmp_path / "a", "P")
    b = write_ct_series(vol, SPACING, tmp_path / "b", "P")
    assert pydicom.dcmread(a[0]).SOPInstanceUID == pydicom.dcmread(b[0]).SOPInstanceUID


def _mask_from_seg(seg, files, shape):
    """Rebuild the (z, y, x) mask by matching each frame's position to a CT slice."""
    z_of = {round(float(pydicom.dcmread(f).ImagePositionPatient[2]), 3): k for k, f in enumerate(files)}
    out = np.zeros(shape, bool)
    pix = seg.pixel_array
    if pix.ndim == 2:
        pix = pix[None]
    for i, fr in enumerate(seg.PerFrameFunctionalGroupsSequence):
        z = round(float(fr.PlanePositionSequence[0].ImagePositionPatient[2]), 3)
        out[z_of[z]] |= pix[i].astype(bool)
    return out


@pytest.mark.parametrize("maker,frames", [("3D Slicer", 8), ("ePAD", 4)])
def test_seg_round_trip(ct, tmp_path, maker, frames):
    hd = pytest.importorskip("highdicom")
    vol, mask, files = ct
    path = write_seg({"tumor": mask}, files[::-1], tmp_path / "seg" / "1-1.dcm", manufacturer=maker)
    seg = hd.seg.segread(path)
    ct0 = pydicom.dcmread(files[0])
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert seg.Manufacturer == {"3D Slicer": "3D Slicer Community", "ePAD": "Stanford University"}[maker]
    assert seg.ManufacturerModelName == maker
    assert seg.SeriesDescription.startswith({"3D Slicer": "3D Slicer", "ePAD": "ePAD Generated DSO"}[maker])
    assert seg.PatientID == "R01-900" and seg.StudyInstanceUID == ct0.StudyInstanceUID
    assert seg.FrameOfReferenceUID == ct0.FrameOfReferenceUID
    assert seg.SeriesInstanceUID != ct0.SeriesInstanceUID
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == ct0.SeriesInstanceUID
    ref_sops = {r.ReferencedSOPInstanceUID for r in ref.ReferencedInstanceSequence}
    assert ref_sops == {pydicom.dcmread(f).SOPInstanceUID for f in files}
    assert int(seg.NumberOfFrames) == frames
    np.testing.assert_array_equal(_mask_from_seg(seg, files, mask.shape), mask)
    label = seg.SegmentSequence[0].SegmentLabel
    assert label == ("TUMOR" if maker == "ePAD" else "tumor")


def test_seg_two_segments(ct, tmp_path):
    hd = pytest.importorskip("highdicom")
    _, mask, files = ct
    node = np.zeros_like(mask)
    node[6, 2:5, 2:5] = True
    seg = hd.seg.segread(write_seg({"tumor": mask, "node_1": node}, files, tmp_path / "s.dcm"))
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["tumor", "node_1"]


def test_seg_bad_input(ct, tmp_path):
    _, mask, files = ct
    with pytest.raises(InputError, match="shape"):
        write_seg({"tumor": mask[:-1]}, files, tmp_path / "s.dcm")
    with pytest.raises(InputError, match="empty"):
        write_seg({"tumor": np.zeros_like(mask)}, files, tmp_path / "s.dcm")
    with pytest.raises(InputError, match="manufacturer"):
        write_seg({"tumor": mask}, files, tmp_path / "s.dcm", manufacturer="Other")


def test_nrrd_pair(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    vol, mask = _volume()
    img, lab = write_nrrd_pair(vol, mask, SPACING, tmp_path, origin=ORIGIN)
    im = sitk.ReadImage(str(img))
    assert im.GetSpacing() == pytest.approx(SPACING) and im.GetOrigin() == pytest.approx(ORIGIN)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(lab))).astype(bool), mask)
