"""ICC against Shrout & Fleiss (1979); mask perturbations; the stability stage and `stable_features`."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from radiogenomics.config import Settings
from radiogenomics.exceptions import ConfigError, ImagingError
from radiogenomics.imaging import extract_features, icc, import_images, perturb_mask, run_stability, stable_features
from radiogenomics.imaging.features import load_params
from radiogenomics.store import Store

from ._helpers import FAST_PARAMS, sql_from_another_process, write_case

# Shrout & Fleiss (1979), Psychological Bulletin 86(2):420-428, Table 2: 6 targets x 4 judges
SF_TABLE = np.array([[9, 2, 5, 8],
                     [6, 1, 3, 2],
                     [8, 4, 6, 8],
                     [7, 1, 2, 6],
                     [10, 5, 6, 9],
                     [6, 2, 4, 7]], dtype=float)


def test_icc_shrout_fleiss_table():
    res = icc(SF_TABLE)
    # the paper's ANOVA (Table 3): BMS 11.24, JMS 32.49, EMS 1.02, WMS 6.26
    assert res.bms == pytest.approx(11.2417, abs=1e-4)
    assert res.jms == pytest.approx(32.4861, abs=1e-4)
    assert res.ems == pytest.approx(1.0194, abs=1e-4)
    assert res.wms == pytest.approx(6.2639, abs=1e-4)
    # the paper's Table 4: ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71
    assert round(res.icc11, 2) == 0.17
    assert round(res.icc21, 2) == 0.29
    assert round(res.icc31, 2) == 0.71
    # by hand from those mean squares (n = 6, k = 4)
    bms, jms, ems = 404.7 / 36, 97.4583333 / 3, 15.2916667 / 15
    assert res.icc31 == pytest.approx((bms - ems) / (bms + 3 * ems), rel=1e-6)
    assert res.icc21 == pytest.approx((bms - ems) / (bms + 3 * ems + 4 * (jms - ems) / 6), rel=1e-6)


def test_icc_edge_cases():
    assert icc(np.column_stack([np.arange(5.0)] * 3)).icc31 == pytest.approx(1.0)
    assert np.isnan(icc(np.ones((5, 3))).icc31)  # constant feature
    with_nan = np.vstack([SF_TABLE, [np.nan, 1, 2, 3]])
    assert icc(with_nan).icc31 == pytest.approx(icc(SF_TABLE).icc31)  # incomplete rows dropped
    assert np.isnan(icc(SF_TABLE[:1]).icc21)
    with pytest.raises(ImagingError):
        icc(np.arange(4.0))


def test_perturb_mask():
    mask = np.zeros((3, 7, 7), dtype=bool)
    mask[:, 2:5, 2:5] = True
    assert perturb_mask(mask, "erode").sum() == 3  # in-plane: the centre pixel of each slice
    assert perturb_mask(mask, "erode", in_plane=False).sum() == 1
    assert perturb_mask(mask, "dilate").sum() == 3 * 21
    shifted = perturb_mask(mask, "shift+x")
    np.testing.assert_array_equal(shifted[:, 2:5, 3:6], True)
    assert shifted.sum() == mask.sum()
    assert perturb_mask(mask, "shift-y:2")[:, 0:3, 2:5].all()
    with pytest.raises(ConfigError, match="unknown mask perturbation"):
        perturb_mask(mask, "twist")


@pytest.fixture
def cohort(tmp_path, store_path):
    with Store.open(store_path) as store:
        for seed in range(4):
            image, mask = write_case(tmp_path / f"P{seed}", seed)
            import_images(store, f"P{seed}", image, mask)
    return tmp_path


def test_run_stability_perturbation(cohort, store_path):
    settings = Settings.from_env(store=store_path)
    with Store.open(store_path) as store:
        summary = run_stability(store, settings=settings, params=FAST_PARAMS, perturbations=["erode", "dilate", "shift+x"]).summary
        table = store.query("SELECT * FROM feature_stability ORDER BY feature")
        h = load_params(FAST_PARAMS).hash
        assert (summary.method, summary.n_patients, summary.n_raters, summary.n_features) == ("perturbation", 4, 4, 7)
        assert table.method.eq("perturbation").all() and table.run_id.eq(summary.run_id).all()
        assert table.stable.tolist() == (table.icc31 > 0.9).tolist()
        # recompute one feature's ICC directly: original + the 3 perturbed masks per patient
        matrix = []
        for r in store.query("SELECT image_path, mask_path FROM rois ORDER BY patient_id").itertuples():
            base = sitk.GetArrayFromImage(sitk.ReadImage(r.mask_path)).astype(bool)
            row = []
            for kind in (None, "erode", "dilate", "shift+x"):
                m = base if kind is None else perturb_mask(base, kind)
                img = sitk.GetImageFromArray(m.astype(np.uint8))
                img.CopyInformation(sitk.ReadImage(r.mask_path))
                row.append(extract_features(r.image_path, img, FAST_PARAMS)["original_firstorder_Mean"])
            matrix.append(row)
        stored = table.set_index("feature").loc["original_firstorder_Mean"]
        assert stored.icc31 == pytest.approx(icc(np.array(matrix)).icc31, rel=1e-9)
        assert stored.icc21 == pytest.approx(icc(np.array(matrix)).icc21, rel=1e-9)
        # volume differs far more between patients than between perturbations
        assert "original_shape_VoxelVolume" in stable_features(store, "tumor", h)
        assert stable_features(store, "tumor", h, threshold=0.999999) != stable_features(store, "tumor", h, 0.0)
        with pytest.raises(ImagingError, match="run `rg stability"):
            stable_features(store, "node_1", h)


def test_run_stability_readers(cohort, store_path, tmp_path):
    settings = Settings.from_env(store=store_path)
    with Store.open(store_path) as store:
        rows = store.query("SELECT patient_id, image_path, mask_path FROM rois")
        for r in rows.itertuples():
            mask = sitk.ReadImage(r.mask_path)
            moved = perturb_mask(sitk.GetArrayFromImage(mask).astype(bool), "dilate")
            path = tmp_path / f"{r.patient_id}_reader2.nrrd"
            out = sitk.GetImageFromArray(moved.astype(np.uint8))
            out.CopyInformation(mask)
            sitk.WriteImage(out, str(path))
            import_images(store, r.patient_id, r.image_path, path, reader="reader_2")
        summary = run_stability(store, settings=settings, params=FAST_PARAMS).summary
        assert (summary.method, summary.n_patients, summary.n_raters) == ("readers", 4, 2)
        methods = set(store.query("SELECT DISTINCT method FROM feature_stability").method)
    assert methods == {"readers"}


def test_run_stability_bad_inputs(cohort, store_path):
    settings = Settings.from_env(store=store_path)
    with Store.open(store_path) as store:
        with pytest.raises(ConfigError, match="method"):
            run_stability(store, settings=settings, params=FAST_PARAMS, method="vote")
        with pytest.raises(ImagingError, match="no usable ROI 'node_1'"):
            run_stability(store, settings=settings, params=FAST_PARAMS, roi="node_1")
        with pytest.raises(ImagingError, match="at least 2 patients"):
            run_stability(store, settings=settings, params=FAST_PARAMS, patients=["P0"])
        with pytest.raises(ImagingError, match="several readers"):
            run_stability(store, settings=settings, params=FAST_PARAMS, method="readers")


def test_icc_identical_targets_is_nan():
    # every target alike, raters differ: no between-target variance, ICC undefined (not noise / noise)
    rater_effect = np.array([1.0, 1.1, 0.9, 1.3]) * 1e3 / 3
    data = np.tile(rater_effect, (3, 1))
    res = icc(data)
    assert np.isnan(res.icc31) and res.icc21 == 0.0


def test_run_stability_on_a_store_path_leaves_the_store_readable_while_computing(cohort, store_path):
    """Given a store path, `run_stability` opens the store only to read the ROIs and to write the ICCs."""
    settings = Settings.from_env(store=store_path)
    answers = []

    def progress(done, total):
        if done == 1:
            answers.append(sql_from_another_process(store_path, "SELECT count(*) AS n FROM rois"))

    summary = run_stability(store_path, settings=settings, params=FAST_PARAMS, perturbations=["erode", "dilate"],
                            progress=progress).summary
    assert (summary.method, summary.n_patients, summary.n_raters, summary.n_features) == ("perturbation", 4, 3, 7)
    assert answers and answers[0][0] == 0, answers
    assert answers[0][1].split()[-1] == "4"
    with Store.open(store_path, read_only=True) as store:
        stored = store.query("SELECT count(*) AS n FROM feature_stability WHERE run_id = ?", [summary.run_id])
        run = store.query("SELECT status, command FROM runs WHERE run_id = ?", [summary.run_id])
    assert stored.n[0] == 7
    assert (run.status[0], run.command[0]) == ("ok", "rg stability")
