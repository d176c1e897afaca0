"""ROI naming, mask checks, the peritumoural ring, `build_rois` from stored series, `import_images`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiogenomics.config import Settings
from radiogenomics.exceptions import ImagingError
from radiogenomics.imaging import (build_rois, derive_ring, import_images, mask_problem, name_segments,
                                   ring_mask)
from radiogenomics.store import Store

from ._helpers import sql_from_another_process, synthetic_case, to_image, write_case

dicom = pytest.importorskip("radiogenomics.synth.dicom")


def test_name_segments():
    assert name_segments(["Tumor", "Lymph node", "LN 4R", "Neoplasm", "nodal station 7"]) == [
        "tumor", "node_1", "node_2", "tumor_2", "node_3"]
    assert name_segments(["Segment_1"]) == ["tumor"]


def test_mask_problem():
    mask = np.zeros((4, 6, 6), dtype=bool)
    assert "empty" in mask_problem(mask)
    mask[1, 2, 2:4] = True
    assert "spans 1 dimension" in mask_problem(mask)
    mask[1, 3, 2:4] = True
    assert mask_problem(mask) is None
    assert "fewer than the minimum 10" in mask_problem(mask, min_voxels=10)


def test_ring_respects_physical_spacing():
    mask = np.zeros((7, 21, 21), dtype=bool)
    mask[3, 10, 10] = True
    ring = ring_mask(mask, spacing_zyx=(5.0, 1.0, 1.0), thickness_mm=3.0)
    z, y, x = np.nonzero(ring)
    # 5 mm slices: a 3 mm ring stays in the tumour's slice
    assert set(z) == {3}
    dist = np.hypot(y - 10, x - 10)
    assert dist.max() <= 3.0 and dist.min() > 0
    assert ring.sum() == 28  # lattice points with 0 < r <= 3 in the plane
    assert not (ring & mask).any()
    # isotropic 1 mm: the same ring is a ball shell
    ring3 = ring_mask(mask, spacing_zyx=(1.0, 1.0, 1.0), thickness_mm=3.0)
    assert ring3.sum() == 122  # lattice points with 0 < r <= 3 in 3-D
    # a gap moves the band outwards
    outer = ring_mask(mask, (1.0, 1.0, 1.0), thickness_mm=1.0, gap_mm=2.0)
    zz, yy, xx = np.nonzero(outer)
    r = np.sqrt((zz - 3) ** 2 + (yy - 10) ** 2 + (xx - 10) ** 2)
    assert r.min() > 2.0 and r.max() <= 3.0


def test_derive_ring_keeps_grid():
    volume, mask = synthetic_case(1)
    ring = derive_ring(to_image(mask.astype(np.uint8)), 3.0)
    assert ring.GetSize() == (24, 24, 8) and ring.GetSpacing() == (1.0, 1.0, 2.0)
    with pytest.raises(ImagingError, match="thickness"):
        derive_ring(to_image(mask.astype(np.uint8)), 0.0)


def _series_rows(rows):
    frame = pd.DataFrame(rows)
    frame["status"] = frame.get("status", "complete")
    return frame


def test_build_rois_from_stored_series(tmp_path, store_path):
    settings = Settings.from_env(store=store_path, data_dir=tmp_path / "data")
    rows = []
    for i, maker in enumerate(["3D Slicer", "ePAD"]):
        pid = f"R01-00{i + 1}"
        volume, tumour = synthetic_case(i)
        node = np.zeros_like(tumour)
        node[5, 2:5, 2:5] = True
        files = dicom.write_ct_series(volume, (1.0, 1.0, 2.0), tmp_path / pid / "ct", pid)
        seg = dicom.write_seg({"Tumor": tumour, "Lymph node": node}, files, tmp_path / pid / "seg" / "1-1.dcm",
                              manufacturer=maker)
        import pydicom
        ct_uid = pydicom.dcmread(files[0]).SeriesInstanceUID
        seg_uid = pydicom.dcmread(seg).SeriesInstanceUID
        rows += [dict(series_uid=ct_uid, patient_id=pid, modality="CT", path=str(files[0].parent), status="complete"),
                 dict(series_uid=seg_uid, patient_id=pid, modality="SEG", path=str(seg.parent),
                      referenced_series_uid=ct_uid, status="complete")]
    # patient 3: a single-voxel-wide node (too small), patient 4: SEG whose CT was never downloaded
    volume, tumour = synthetic_case(2)
    tiny = np.zeros_like(tumour)
    tiny[4, 3, 3] = True
    files = dicom.write_ct_series(volume, (1.0, 1.0, 2.0), tmp_path / "R01-003" / "ct", "R01-003")
    seg = dicom.write_seg({"Tumor": tumour, "node": tiny}, files, tmp_path / "R01-003" / "seg" / "1-1.dcm")
    import pydicom
    rows += [dict(series_uid=pydicom.dcmread(files[0]).SeriesInstanceUID, patient_id="R01-003", modality="CT",
                  path=str(files[0].parent), status="complete"),
             dict(series_uid="1.2.3.seg4", patient_id="R01-004", modality="SEG", path=str(seg.parent),
                  referenced_series_uid="1.2.3.missing", status="complete"),
             dict(series_uid=pydicom.dcmread(seg).SeriesInstanceUID, patient_id="R01-003", modality="SEG",
                  path=str(seg.parent), referenced_series_uid=pydicom.dcmread(files[0]).SeriesInstanceUID,
                  status="complete")]
    with Store.open(store_path) as store:
        store.upsert("series", pd.DataFrame(rows))
        summary = build_rois(settings, store)
        rois = store.query("SELECT * FROM rois ORDER BY patient_id, roi")
        failures = store.query("SELECT * FROM failures ORDER BY patient_id")
        run = store.query("SELECT status FROM runs WHERE run_id = ?", [summary.run_id])
    assert run.status.iloc[0] == "partial"
    ok = rois[rois.status == "ok"]
    assert sorted(zip(ok.patient_id, ok.roi)) == [
        ("R01-001", "node_1"), ("R01-001", "peritumoral_3mm"), ("R01-001", "tumor"),
        ("R01-002", "node_1"), ("R01-002", "peritumoral_3mm"), ("R01-002", "tumor"),
        ("R01-003", "peritumoral_3mm"), ("R01-003", "tumor")]
    bad = rois[rois.status == "failed"]
    assert list(zip(bad.patient_id, bad.roi)) == [("R01-003", "node_1")]
    assert "spans 0 dimension" in bad.reason.iloc[0]
    assert set(failures.patient_id) == {"R01-003", "R01-004"}
    assert "not downloaded" in failures[failures.patient_id == "R01-004"].reason.iloc[0]
    # files on disk, on the CT grid, hashes recorded
    tumour_row = ok[(ok.patient_id == "R01-001") & (ok.roi == "tumor")].iloc[0]
    image = sitk.ReadImage(tumour_row.image_path)
    mask = sitk.ReadImage(tumour_row.mask_path)
    assert str(settings.data_dir / "rois" / "R01-001") in tumour_row.mask_path
    assert image.GetSize() == mask.GetSize() == (24, 24, 8)
    assert tumour_row.voxels == int(synthetic_case(0)[1].sum())
    assert tumour_row.volume_mm3 == pytest.approx(tumour_row.voxels * 2.0)
    assert ok.run_id.eq(summary.run_id).all() and ok.image_sha1.notna().all() and ok.mask_sha1.notna().all()
    assert summary.rois_ok == 8 and summary.rois_failed == 1


def test_build_rois_with_nothing_to_do(tmp_path, store_path):
    with Store.open(store_path) as store:
        with pytest.raises(ImagingError, match="no SEG/RTSTRUCT series"):
            build_rois(Settings.from_env(store=store_path, data_dir=tmp_path), store)


def test_import_images_and_ring_for_imported_tumour(tmp_path, store_path):
    image, mask = write_case(tmp_path, 1)
    settings = Settings.from_env(store=store_path, data_dir=tmp_path / "data")
    with Store.open(store_path) as store:
        row = import_images(store, "P1", image, mask)
        summary = build_rois(settings, store, ring_mm=2.0)
        rois = store.query("SELECT * FROM rois ORDER BY roi")
        patients = store.query("SELECT * FROM patients")
    assert row["voxels"] == int(synthetic_case(1)[1].sum()) and row["source"] == "import"
    assert list(rois.roi) == ["peritumoral_2mm", "tumor"]
    assert rois.source.tolist() == ["derived", "import"]
    assert summary.rois_ok == 1
    assert patients.patient_id.tolist() == ["P1"]


def test_import_images_bad_inputs(tmp_path, store_path):
    image, mask = write_case(tmp_path, 1)
    volume, m = synthetic_case(1)
    shifted = tmp_path / "shifted.nrrd"
    sitk.WriteImage(to_image(m.astype(np.uint8), origin=(0.5, 0.0, 0.0)), str(shifted))
    labels = tmp_path / "labels.nrrd"
    sitk.WriteImage(to_image(m.astype(np.uint8) * 2 + (np.indices(m.shape)[0] == 0)), str(labels))
    empty = tmp_path / "empty.nrrd"
    sitk.WriteImage(to_image(np.zeros_like(m, dtype=np.uint8)), str(empty))
    with Store.open(store_path) as store:
        with pytest.raises(ImagingError, match="not on the grid"):
            import_images(store, "P1", image, shifted)
        with pytest.raises(ImagingError, match="pass --label"):
            import_images(store, "P1", image, labels)
        with pytest.raises(ImagingError, match="no voxel with label 5"):
            import_images(store, "P1", image, labels, label=5)
        with pytest.raises(ImagingError, match="empty mask"):
            import_images(store, "P1", image, empty)
        assert store.query("SELECT count(*) AS n FROM rois").n.iloc[0] == 0
        row = import_images(store, "P1", image, labels, label=2, data_dir=tmp_path / "data")
        assert row["voxels"] == int(m.sum()) and "data" in row["mask_path"]


def test_build_rois_from_rtstruct(tmp_path, store_path):
    import pydicom

    from .test_volumes import ORIGIN, SPACING, _rtstruct, _square, _volume

    files = dicom.write_ct_series(_volume(), SPACING, tmp_path / "ct", "P9", origin=ORIGIN)
    (tmp_path / "rs").mkdir()
    rs = _rtstruct(tmp_path / "rs" / "rs.dcm", files, {"GTV": [_square(3.5, 8.5, 3.5, 8.5, z) for z in (2, 3)]})
    ct_uid = pydicom.dcmread(files[0]).SeriesInstanceUID
    rows = [dict(series_uid=ct_uid, patient_id="P9", modality="CT", path=str(files[0].parent), status="complete"),
            dict(series_uid="1.2.9.rs", patient_id="P9", modality="RTSTRUCT", path=str(rs.parent),
                 referenced_series_uid=ct_uid, status="complete")]
    with Store.open(store_path) as store:
        store.upsert("series", pd.DataFrame(rows))
        build_rois(Settings.from_env(store=store_path, data_dir=tmp_path / "data"), store, ring_mm=None)
        rois = store.query("SELECT roi, source, voxels, status FROM rois")
    assert rois.to_dict("records") == [dict(roi="tumor", source="rtstruct", voxels=50, status="ok")]


def test_build_rois_on_a_store_path_leaves_the_store_readable_while_computing(tmp_path, store_path):
    """Given a store path, `build_rois` holds the write lock only while writing a batch."""
    with Store.open(store_path) as store:
        for seed in range(3):
            image, mask = write_case(tmp_path / f"P{seed}", seed)
            import_images(store, f"P{seed}", image, mask)
    settings = Settings.from_env(store=store_path, data_dir=tmp_path / "data")
    answers = []

    def progress(done, total):
        if done == 1:
            answers.append(sql_from_another_process(store_path, "SELECT count(*) AS n FROM rois"))

    summary = build_rois(settings, store_path, progress=progress, batch_size=1)
    assert (summary.patients, summary.rois_ok, summary.rois_failed) == (3, 3, 0)
    assert answers and answers[0][0] == 0, answers
    assert int(answers[0][1].split()[-1]) >= 3
    with Store.open(store_path, read_only=True) as store:
        rings = store.query("SELECT patient_id, run_id FROM rois WHERE roi = 'peritumoral_3mm' ORDER BY 1")
        run = store.query("SELECT status, command FROM runs WHERE run_id = ?", [summary.run_id])
    assert rings.patient_id.tolist() == ["P0", "P1", "P2"] and rings.run_id.eq(summary.run_id).all()
    assert (run.status[0], run.command[0]) == ("ok", "rg rois")
