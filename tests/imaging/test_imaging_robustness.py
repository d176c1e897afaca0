"""Issue 17: disk full, odd patient ids, concurrent `rg rois`, killed `rg features -j 2`, NaN voxels.

Each test reproduces a failure of the issue's campaign and shows the fix.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiogenomics.cli import main
from radiogenomics.config import Settings
from radiogenomics.exceptions import DataQualityWarning, ImagingError, InputError, PartialFailure
from radiogenomics.imaging import build_rois, import_images
from radiogenomics.store import Store

from ._helpers import FAST_PARAMS, synthetic_case, to_image, write_case

dicom = pytest.importorskip("radiogenomics.synth.dicom")
RG = [sys.executable, "-c", "import sys; from radiogenomics.cli import main; sys.exit(main(sys.argv[1:]))"]


def _seg_store(tmp_path: Path, store_path: Path, n: int) -> list[str]:
    """A store with ``n`` patients, each a complete CT + SEG series (tumour and a node)."""
    import pydicom

    rows, ids = [], []
    for i in range(n):
        pid = f"R01-{i + 1:03d}"
        volume, tumour = synthetic_case(i)
        node = np.zeros_like(tumour)
        node[5, 2:5, 2:5] = True
        files = dicom.write_ct_series(volume, (1.0, 1.0, 2.0), tmp_path / "dicom" / pid / "ct", pid)
        seg = dicom.write_seg({"Tumor": tumour, "Lymph node": node}, files, tmp_path / "dicom" / pid / "seg" / "1.dcm")
        ct_uid = str(pydicom.dcmread(files[0]).SeriesInstanceUID)
        rows += [dict(series_uid=ct_uid, patient_id=pid, modality="CT", path=str(files[0].parent), status="complete"),
                 dict(series_uid=str(pydicom.dcmread(seg).SeriesInstanceUID), patient_id=pid, modality="SEG",
                      path=str(seg.parent), referenced_series_uid=ct_uid, status="complete")]
        ids.append(pid)
    with Store.open(store_path) as store:
        store.upsert("series", pd.DataFrame(rows))
    return ids


# ---------------------------------------------------------------------------- disk full (item 3)
@pytest.mark.parametrize("mode", ["enospc", "empty"])
def test_disk_full_during_rois_is_a_per_patient_failure(tmp_path, store_path, monkeypatch, mode):
    """Campaign: 0-byte masks registered `ok`, exit 0.  Now: failure naming the path, exit 12."""
    _seg_store(tmp_path, store_path, 3)
    real = sitk.WriteImage

    def full_disk(image, path, *args, **kwargs):
        # the CT and the first patient's files fit; then the disk is full
        if "R01-001" in str(path) or Path(path).name.startswith(".ct_"):
            return real(image, path, *args, **kwargs)
        if mode == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        Path(path).write_bytes(b"")  # what a full disk leaves: an empty file

    monkeypatch.setattr(sitk, "WriteImage", full_disk)
    monkeypatch.setenv("RG_STORE", str(store_path))
    monkeypatch.setenv("RG_DATA_DIR", str(tmp_path / "data"))
    code = main(["-q", "rois", "-j", "1"])
    assert code == PartialFailure.exit_code == 12
    with Store.open(store_path, read_only=True) as store:
        rois = store.query("SELECT * FROM rois")
        failures = store.query("SELECT * FROM failures")
        runs = store.query("SELECT status FROM runs")
    # nothing empty is registered as ok; every ok file reads back
    for row in rois[rois.status == "ok"].itertuples():
        assert Path(row.mask_path).stat().st_size > 0
        sitk.ReadImage(row.mask_path)
    assert set(rois.loc[rois.status == "ok", "patient_id"]) == {"R01-001"}
    assert set(failures.patient_id) == {"R01-002", "R01-003"}
    expected = "no space left on" if mode == "enospc" else "empty (0 bytes)"
    assert failures.reason.str.contains(expected, regex=False).all(), failures.reason.tolist()
    assert runs.status.tolist() == ["partial"]
    # no temporary file is left behind
    assert not [p for p in (tmp_path / "data").rglob("*") if ".tmp" in p.name]


def test_rois_summary_counts_failed_patients(tmp_path, store_path, monkeypatch):
    """Campaign: '82 ROIs ok, 0 failed' while 7 patients had failed.  The summary counts them."""
    _seg_store(tmp_path, store_path, 2)
    from radiogenomics.imaging import rois as rois_module

    real = rois_module.read_ct_series

    def broken(path, series_uid=None):
        if "R01-002" in str(path):
            raise OSError(errno.EIO, "Input/output error")  # not an ImagingError: the whole task fails
        return real(path, series_uid=series_uid)

    monkeypatch.setattr(rois_module, "read_ct_series", broken)
    settings = Settings.from_env(store=store_path, data_dir=tmp_path / "data")
    summary = build_rois(settings, store_path, ring_mm=None)
    assert summary.patients_failed == 1 and len(summary.failures) == 1
    assert "(1 with failures)" in summary.text() and "1 failed" in summary.text()


# ---------------------------------------------------------------------------- ids -> file names (item 4)
def test_ids_differing_in_non_ascii_characters_do_not_share_files(tmp_path, store_path):
    image, mask = write_case(tmp_path / "in", 1)
    # a label mask, so import writes a binary copy under data/rois/<patient>/
    labels = sitk.ReadImage(str(mask)) * 3
    label_path = tmp_path / "in" / "labels.nrrd"
    sitk.WriteImage(labels, str(label_path))
    with Store.open(store_path) as store:
        a = import_images(store, "P é1", image, label_path, label=3, data_dir=tmp_path / "data")
        b = import_images(store, "P ü1", image, label_path, label=3, data_dir=tmp_path / "data")
        rows = store.query("SELECT patient_id, mask_path FROM rois ORDER BY patient_id")
    assert a["mask_path"] != b["mask_path"]
    assert len(set(rows.mask_path)) == 2 and all(Path(p).is_file() for p in rows.mask_path)
    assert all(len(Path(p).parent.name) <= 51 for p in rows.mask_path)


@pytest.mark.parametrize("bad, match", [("", "empty patient id"), ("   ", "empty patient id"),
                                        ("P\t1", "control characters"), ("P\x001", "control characters"),
                                        ("x" * 5000, "5000 characters long")])
def test_bad_patient_ids_are_refused_at_import(tmp_path, store_path, bad, match):
    image, mask = write_case(tmp_path / "in", 1)
    with Store.open(store_path) as store:
        with pytest.raises(InputError, match=match):
            import_images(store, bad, image, mask)
        assert store.query("SELECT count(*) AS n FROM rois").n.iloc[0] == 0
        assert store.query("SELECT count(*) AS n FROM patients").n.iloc[0] == 0


def test_5000_character_patient_id_is_a_clear_cli_error(tmp_path, monkeypatch, capsys):
    image, mask = write_case(tmp_path / "in", 1)
    code = main(["import", "images", "-p", "x" * 5000, "--image", str(image), "--mask", str(mask)])
    err = capsys.readouterr().err
    assert code == InputError.exit_code
    assert "5000 characters long" in err and "internal error" not in err and len(err.strip().splitlines()) == 1


def test_long_cjk_patient_id_gets_bounded_parquet_file_name(tmp_path, store_path):
    """Campaign: a 60-character CJK id made Parquet names too long; every `rg features` exited 70."""
    from radiogenomics.imaging import run_features
    from radiogenomics.store.parquet import enable_features_parquet

    long_id = "患者" * 30
    image, mask = write_case(tmp_path / "in", 2)
    with Store.open(store_path) as store:
        enable_features_parquet(store, tmp_path / "features")
        import_images(store, long_id, image, mask)
        import_images(store, "R01-001", image, mask)
    settings = Settings.from_env(store=store_path, data_dir=tmp_path / "data")
    summary = run_features(store_path, settings=settings, params=FAST_PARAMS).summary
    assert summary.failed == 0 and summary.computed == 2
    files = sorted((tmp_path / "features").rglob("*.parquet"))
    assert len(files) == 2 and all(len(f.name) < 100 for f in files)
    with Store.open(store_path, read_only=True) as store:
        feats = store.query("SELECT patient_id, count(*) AS n FROM features GROUP BY 1 ORDER BY 1")
        diags = store.query("SELECT DISTINCT patient_id FROM feature_diagnostics")
    assert set(feats.patient_id) == set(diags.patient_id) == {long_id, "R01-001"}


# ---------------------------------------------------------------------------- concurrency (item 2)
def test_two_parallel_rois_runs_do_not_fail_each_other(tmp_path, store_path):
    """Campaign: two parallel `rg rois` failed 7 patients and said '0 failed'.  Both now succeed."""
    ids = _seg_store(tmp_path, store_path, 6)
    env = dict(os.environ, RG_STORE=str(store_path), RG_DATA_DIR=str(tmp_path / "data"))
    procs = [subprocess.Popen(RG + ["-q", "rois", "-j", "1"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, (out, err)
        assert "0 failed" in out
    with Store.open(store_path, read_only=True) as store:
        rois = store.query("SELECT patient_id, roi, status, mask_path FROM rois")
        failures = store.query("SELECT * FROM failures")
    assert failures.empty
    assert (rois.status == "ok").all() and set(rois.patient_id) == set(ids)
    assert len(rois) == 3 * len(ids)  # tumor, node_1, ring: no duplicates
    for path in rois.mask_path:
        sitk.ReadImage(path)


# ---------------------------------------------------------------------------- killed runs (item 6)
def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_killed_features_run_takes_its_workers_and_is_shown_interrupted(tmp_path, store_path, how):
    """Campaign: after kill -9 / SIGTERM of `rg features -j 2` both workers lived on; the run stayed 'running'."""
    with Store.open(store_path) as store:
        for k in range(4):
            image, mask = write_case(tmp_path / "in", k, shape=(40, 64, 64), radius=14.0)
            import_images(store, f"R01-{k:03d}", image, mask)
    env = dict(os.environ, RG_STORE=str(store_path), RG_DATA_DIR=str(tmp_path / "data"))
    # the default 851-feature file (wavelets, LoG) keeps the workers busy for a while
    proc = subprocess.Popen(RG + ["-q", "features", "-j", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [c for c in _children(proc.pid) if _alive(c)]
            time.sleep(0.1)
        assert len(workers) >= 2, f"no pool workers seen: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL if how == "kill9" else signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "pool workers outlived their parent"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if how == "sigterm":
        assert proc.returncode == 130
    # the next command that opens the store (here a read-only one) shows the run as interrupted
    code = main(["--store", str(store_path), "sql", "SELECT command, status, error FROM runs WHERE command = 'rg features'",
                 "-f", "csv"])
    assert code == 0
    with Store.open(store_path, read_only=True) as store:
        runs = store.query("SELECT status, error, pid, host FROM runs WHERE command = 'rg features'")
    assert runs.status.tolist() == ["interrupted"], runs
    assert runs.pid.iloc[0] == proc.pid


# ---------------------------------------------------------------------------- NaN voxels (item 7)
def test_nan_voxels_inside_the_mask_warn(tmp_path, store_path):
    from radiogenomics.imaging import extract_features, run_features

    volume, mask = synthetic_case(3)
    image = volume.astype(np.float32)
    z, y, x = np.argwhere(mask)[0]
    image[z, y, x] = np.nan
    folder = tmp_path / "nan"
    folder.mkdir()
    sitk.WriteImage(to_image(image), str(folder / "img.nrrd"))
    sitk.WriteImage(to_image(mask.astype(np.uint8)), str(folder / "mask.nrrd"))
    shape_only = {"imageType": {"Original": {}}, "featureClass": {"shape": ["VoxelVolume"]},
                  "setting": {"label": 1}}
    with pytest.warns(DataQualityWarning, match="1 voxel\\(s\\) inside the mask are NaN"):
        values = extract_features(folder / "img.nrrd", folder / "mask.nrrd", shape_only)
    assert values["original_shape_VoxelVolume"] > 0
    # intensity features cannot be computed: the error says why instead of pyradiomics' own words
    with pytest.warns(DataQualityWarning), pytest.raises(ImagingError, match="NaN/infinite"):
        extract_features(folder / "img.nrrd", folder / "mask.nrrd", FAST_PARAMS)
    with Store.open(store_path) as store:
        import_images(store, "R01-NAN", folder / "img.nrrd", folder / "mask.nrrd")
    settings = Settings.from_env(store=store_path, data_dir=tmp_path / "data")
    with pytest.warns(DataQualityWarning, match="R01-NAN"):
        summary = run_features(store_path, settings=settings, params=shape_only).summary
    assert len(summary.warnings) == 1
    with Store.open(store_path, read_only=True) as store:
        diag = store.query("SELECT value FROM feature_diagnostics WHERE key = 'rg_nan_voxels_in_mask'")
    assert diag.value.tolist() == ["1"]
    # a clean image warns nothing
    clean_image, clean_mask = write_case(tmp_path / "clean", 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        extract_features(clean_image, clean_mask, FAST_PARAMS)


def test_features_exit_12_when_patients_failed(tmp_path, store_path, monkeypatch, capsys):
    image, mask = write_case(tmp_path / "in", 1)
    with Store.open(store_path) as store:
        import_images(store, "R01-001", image, mask)
        import_images(store, "R01-002", *write_case(tmp_path / "in2", 2))
    # the second patient's mask changes after registration: its ROI fails
    sitk.WriteImage(to_image(synthetic_case(5)[1].astype(np.uint8)), str(tmp_path / "in2" / "mask_2.nrrd"))
    params = tmp_path / "p.yaml"
    import yaml

    params.write_text(yaml.safe_dump(FAST_PARAMS))
    code = main(["--store", str(store_path), "features", "--params", str(params), "-j", "1"])
    captured = capsys.readouterr()
    assert code == 12, captured
    assert "1 ROIs computed" in captured.out and "1 failed" in captured.out
    assert "R01-002" in captured.err and "1 patient(s) had failures" in captured.err


def test_disk_full_while_storing_features_fails_only_that_patient(tmp_path, store_path, monkeypatch):
    """A Parquet feature file that cannot be written (ENOSPC) fails its patient; the batch's others are stored."""
    from radiogenomics.imaging import run_features
    from radiogenomics.store.parquet import enable_features_parquet

    with Store.open(store_path) as store:
        enable_features_parquet(store, tmp_path / "features")
        for k in range(3):
            import_images(store, f"R01-{k:03d}", *write_case(tmp_path / f"in{k}", k))
    # the shared helper turns the OSError into a WriteError; patch under it so it is exercised
    import pyarrow.parquet as pq

    real_write = pq.write_table

    def write_table(table, where, **kwargs):
        if "R01-001" in table.column("patient_id").to_pylist():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", write_table)
    settings = Settings.from_env(store=store_path, data_dir=tmp_path / "data")
    summary = run_features(store_path, settings=settings, params=FAST_PARAMS).summary
    assert (summary.computed, summary.failed) == (2, 1)
    assert [f[0] for f in summary.failures] == ["R01-001"] and "no space left on" in summary.failures[0][2]
    with Store.open(store_path, read_only=True) as store:
        feats = set(store.query("SELECT DISTINCT patient_id FROM features").patient_id)
        diags = set(store.query("SELECT DISTINCT patient_id FROM feature_diagnostics").patient_id)
        status = store.query("SELECT status FROM runs WHERE command = 'rg features'").status.tolist()
    assert feats == diags == {"R01-000", "R01-002"}  # never features without diagnostics
    assert status == ["partial"]
