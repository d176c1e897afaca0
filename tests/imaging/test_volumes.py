"""DICOM CT series, SEG (3D Slicer and ePAD) and RTSTRUCT to volumes; bad inputs."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from radiogenomics.exceptions import ImagingError
from radiogenomics.imaging import read_ct_series, read_image, read_rtstruct, read_seg

dicom = pytest.importorskip("radiogenomics.synth.dicom")

SPACING = (1.0, 1.0, 2.5)
ORIGIN = (-12.0, -30.0, 100.0)


def _volume(shape=(6, 24, 24)):
    rng = np.random.default_rng(3)
    return rng.integers(-1000, 400, size=shape).astype(np.int16)


@pytest.fixture
def ct_dir(tmp_path):
    files = dicom.write_ct_series(_volume(), SPACING, tmp_path / "ct", "P1", origin=ORIGIN)
    return tmp_path / "ct", files


def _block_mask(shape=(6, 24, 24)):
    mask = np.zeros(shape, dtype=bool)
    mask[2:4, 4:8, 4:8] = True
    return mask


# ---------------------------------------------------------------------------- CT
def test_ct_geometry_and_hu_independent_of_file_names(ct_dir):
    folder, files = ct_dir
    # file names in reverse order of position: the reader must sort by position, not name
    for i, path in enumerate(files):
        path.rename(folder / f"x{len(files) - i:03d}.dcm")
    (folder / "LICENSE.txt").write_text("not dicom")
    ct = read_ct_series(folder)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ct.image), _volume())
    assert ct.image.GetSpacing() == pytest.approx(SPACING)
    assert ct.image.GetOrigin() == pytest.approx(ORIGIN)
    assert ct.image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert len(ct.sop_instance_uids) == 6 and ct.patient_id == "P1"


def test_ct_rescale_slope_gives_float_hu(ct_dir):
    folder, files = ct_dir
    for path in files:
        ds = pydicom.dcmread(path)
        ds.RescaleSlope = "0.5"
        ds.save_as(path)
    raw = [pydicom.dcmread(p) for p in files]
    ct = read_ct_series(folder)
    assert ct.image.GetPixelID() == sitk.sitkFloat32
    first = raw[0].pixel_array * 0.5 + float(raw[0].RescaleIntercept)
    np.testing.assert_allclose(sitk.GetArrayFromImage(ct.image)[0], first)


def test_missing_slice(ct_dir):
    folder, files = ct_dir
    files[2].unlink()
    with pytest.raises(ImagingError, match="1 missing slice"):
        read_ct_series(folder)


def test_duplicated_slice(ct_dir):
    folder, files = ct_dir
    ds = pydicom.dcmread(files[3])
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(folder / "dup.dcm")
    with pytest.raises(ImagingError, match="duplicated slice"):
        read_ct_series(folder)


def test_uneven_spacing(ct_dir):
    folder, files = ct_dir
    ds = pydicom.dcmread(files[3])
    ds.ImagePositionPatient = [ORIGIN[0], ORIGIN[1], ORIGIN[2] + 3 * SPACING[2] + 0.8]
    ds.save_as(files[3])
    with pytest.raises(ImagingError, match="uneven slice spacing"):
        read_ct_series(folder)
    # within tolerance: accepted
    ds.ImagePositionPatient = [ORIGIN[0], ORIGIN[1], ORIGIN[2] + 3 * SPACING[2] + 0.05]
    ds.save_as(files[3])
    assert read_ct_series(folder).image.GetSize() == (24, 24, 6)


def test_mixed_series(ct_dir, tmp_path):
    folder, _ = ct_dir
    other = dicom.write_ct_series(_volume((3, 24, 24)), SPACING, tmp_path / "other", "P1", origin=ORIGIN,
                                  series_uid=generate_uid())
    for path in other:
        shutil.copy(path, folder / f"other_{path.name}")
    with pytest.raises(ImagingError, match="mixes 2 series"):
        read_ct_series(folder)
    uid = pydicom.dcmread(other[0]).SeriesInstanceUID
    assert read_ct_series(folder, series_uid=uid).image.GetSize() == (24, 24, 3)


def test_inconsistent_rows(ct_dir):
    folder, files = ct_dir
    ds = pydicom.dcmread(files[1])
    ds.Rows = 12
    ds.save_as(files[1])
    with pytest.raises(ImagingError, match="12x24 pixels"):
        read_ct_series(folder)


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImagingError, match="empty"):
        read_ct_series(tmp_path / "empty")
    with pytest.raises(ImagingError, match="does not exist"):
        read_ct_series(tmp_path / "nope")


# ---------------------------------------------------------------------------- SEG
@pytest.mark.parametrize("maker", ["3D Slicer", "ePAD"])
def test_seg_two_segments(ct_dir, tmp_path, maker):
    folder, files = ct_dir
    tumour = _block_mask()
    node = np.zeros_like(tumour)
    node[4, 15:18, 15:17] = True
    seg = dicom.write_seg({"Tumor": tumour, "Lymph node": node}, files, tmp_path / "seg.dcm", manufacturer=maker)
    n_frames = int(pydicom.dcmread(seg).NumberOfFrames)
    if maker == "ePAD":
        assert n_frames == 3  # sparse: only slices holding a mask
    ct = read_ct_series(folder)
    segments = read_seg(seg, ct)
    assert [s.label.lower() for s in segments] == ["tumor", "lymph node"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(segments[0].mask).astype(bool), tumour)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(segments[1].mask).astype(bool), node)
    assert segments[0].mask.GetOrigin() == ct.image.GetOrigin()


def test_seg_frame_without_position_uses_referenced_slice(ct_dir, tmp_path):
    folder, files = ct_dir
    seg_path = dicom.write_seg({"Tumor": _block_mask()}, files, tmp_path / "seg.dcm", manufacturer="ePAD")
    ds = pydicom.dcmread(seg_path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.PlanePositionSequence
    ds.save_as(seg_path)
    segments = read_seg(seg_path, read_ct_series(folder))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(segments[0].mask).astype(bool), _block_mask())


def test_seg_frame_off_the_ct_grid(ct_dir, tmp_path):
    folder, files = ct_dir
    seg_path = dicom.write_seg({"Tumor": _block_mask()}, files, tmp_path / "seg.dcm", manufacturer="ePAD")
    ds = pydicom.dcmread(seg_path)
    pos = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
    pos.ImagePositionPatient = [float(v) for v in pos.ImagePositionPatient[:2]] + [float(pos.ImagePositionPatient[2]) + 1.2]
    ds.save_as(seg_path)
    with pytest.raises(ImagingError, match="off the CT grid"):
        read_seg(seg_path, read_ct_series(folder))


def test_seg_frame_with_other_pixel_size_is_resampled(ct_dir, tmp_path):
    folder, files = ct_dir
    seg_path = dicom.write_seg({"Tumor": _block_mask()}, files, tmp_path / "seg.dcm", manufacturer="ePAD")
    ds = pydicom.dcmread(seg_path)
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = [2.0, 2.0]
    ds.save_as(seg_path)
    mask = sitk.GetArrayFromImage(read_seg(seg_path, read_ct_series(folder))[0].mask).astype(bool)
    # frame pixels 4..7 of 2 mm cover CT pixels 7..14 of 1 mm (nearest neighbour, ties to even)
    expected = np.zeros_like(mask)
    expected[2:4, 7:15, 7:15] = True
    np.testing.assert_array_equal(mask, expected)


def test_seg_of_wrong_kind(ct_dir):
    folder, files = ct_dir
    with pytest.raises(ImagingError, match="not a DICOM SEG"):
        read_seg(files[0], read_ct_series(folder))


def test_ct_reader_rejects_seg_folder(ct_dir, tmp_path):
    _, files = ct_dir
    seg = dicom.write_seg({"Tumor": _block_mask()}, files, tmp_path / "segdir" / "seg.dcm")
    with pytest.raises(ImagingError, match="not a CT slice series"):
        read_ct_series(seg.parent)


# ---------------------------------------------------------------------------- RTSTRUCT
def _rtstruct(path, ct_files, contours_by_roi):
    ref = pydicom.dcmread(ct_files[0])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.PatientID = ref.PatientID
    ds.SeriesInstanceUID = generate_uid()
    ds.StructureSetROISequence = []
    ds.ROIContourSequence = []
    for number, (name, contours) in enumerate(contours_by_roi.items(), start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ROIName = name
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for points in contours:
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(points)
            c.ContourData = [f"{v:.3f}" for v in np.asarray(points).ravel()]
            item.ContourSequence.append(c)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)
    return path


def _square(x0, x1, y0, y1, z):
    """Corners in voxel index coordinates -> patient mm on the test CT grid."""
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return [(ORIGIN[0] + x * SPACING[0], ORIGIN[1] + y * SPACING[1], ORIGIN[2] + z * SPACING[2]) for x, y in corners]


def test_rtstruct_contours_with_hole(ct_dir, tmp_path):
    folder, files = ct_dir
    path = _rtstruct(tmp_path / "rs.dcm", files, {"GTV": [_square(3.5, 8.5, 3.5, 8.5, 2), _square(5.5, 6.5, 5.5, 6.5, 2)],
                                                  "Empty": []})
    segments = read_rtstruct(path, read_ct_series(folder))
    assert [s.label for s in segments] == ["GTV", "Empty"]
    mask = sitk.GetArrayFromImage(segments[0].mask).astype(bool)
    expected = np.zeros_like(mask)
    expected[2, 4:9, 4:9] = True
    expected[2, 6, 6] = False
    np.testing.assert_array_equal(mask, expected)
    assert segments[1].voxels == 0


def test_rtstruct_contour_between_slices(ct_dir, tmp_path):
    folder, files = ct_dir
    path = _rtstruct(tmp_path / "rs.dcm", files, {"GTV": [_square(3.5, 8.5, 3.5, 8.5, 2.5)]})
    with pytest.raises(ImagingError, match="does not lie on a CT slice"):
        read_rtstruct(path, read_ct_series(folder))


# ---------------------------------------------------------------------------- files
def test_read_image_errors(tmp_path):
    with pytest.raises(ImagingError, match="does not exist"):
        read_image(tmp_path / "missing.nrrd")
    bad = tmp_path / "bad.nrrd"
    bad.write_text("not an image")
    with pytest.raises(ImagingError, match="cannot read image file"):
        read_image(bad)
    flat = tmp_path / "flat.nrrd"
    sitk.WriteImage(sitk.Image(4, 4, sitk.sitkInt16), str(flat))
    with pytest.raises(ImagingError, match="2-D"):
        read_image(flat)


def test_localizer_in_series_is_ignored(ct_dir):
    folder, files = ct_dir
    ds = pydicom.dcmread(files[0])
    ds.SOPInstanceUID = generate_uid()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(folder / "scout.dcm")
    assert read_ct_series(folder).image.GetSize() == (24, 24, 6)


def test_flipped_ct_orientation_keeps_seg_in_place(ct_dir, tmp_path):
    """CT rows running towards -y (and so slices sorted towards -z): the SEG still lands on the same anatomy."""
    folder, files = ct_dir
    seg_path = dicom.write_seg({"Tumor": _block_mask()}, files, tmp_path / "seg.dcm", manufacturer="3D Slicer")
    reference = read_ct_series(folder).image
    for path in files:
        ds = pydicom.dcmread(path)
        z = float(ds.ImagePositionPatient[2])
        ds.ImageOrientationPatient = [1, 0, 0, 0, -1, 0]
        ds.ImagePositionPatient = [ORIGIN[0], ORIGIN[1] + 23 * SPACING[1], z]
        ds.save_as(path)
    ct = read_ct_series(folder)
    assert ct.image.GetDirection() == pytest.approx((1, 0, 0, 0, -1, 0, 0, 0, -1))
    mask = read_seg(seg_path, ct)[0].mask
    back = sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back).astype(bool), _block_mask())
