"""Issue 17 (store and files): atomic writes, ids -> file names, damaged stores, dead runs, lock messages."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from radiogenomics.atomic import atomic_path, write_bytes, write_text
from radiogenomics.cli import main
from radiogenomics.config import Settings
from radiogenomics.exceptions import InputError, StoreError, WriteError
from radiogenomics.ids import MAX_ID_LENGTH, check_patient_id, id_file_name
from radiogenomics.store import Store


# ---------------------------------------------------------------------------- atomic writes (item 3)
def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise ValueError("writer crashed")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_enospc_is_a_clear_write_error_and_leaves_nothing(tmp_path):
    target = tmp_path / "mask.nrrd"
    with pytest.raises(WriteError, match=f"no space left on {target}"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x" * 10)
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    # SimpleITK reports it as a RuntimeError carrying the OS text
    with pytest.raises(WriteError, match="no space left on"):
        with atomic_path(target):
            raise RuntimeError("ImageFileWriter: No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_empty_or_unreadable_result_is_refused(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(WriteError, match="empty \\(0 bytes\\)"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"")
    assert not target.exists()

    def check(path: Path) -> None:
        if path.read_bytes() != b"PAR1":
            raise WriteError("does not read back")

    with pytest.raises(WriteError, match="does not read back"):
        with atomic_path(target, check=check) as tmp:
            tmp.write_bytes(b"junk")
    assert list(tmp_path.iterdir()) == []
    write_text(tmp_path / "empty.txt", "")  # an intentionally empty text file is fine
    assert (tmp_path / "empty.txt").read_text() == ""


def test_write_image_and_parquet_use_the_helper(tmp_path, monkeypatch):
    import SimpleITK as sitk

    from radiogenomics.imaging.volumes import write_image
    from radiogenomics.store import parquet

    image = sitk.GetImageFromArray(np.ones((3, 4, 5), np.uint8))
    assert write_image(image, tmp_path / "a.nii.gz").stat().st_size > 0  # double suffix keeps its format
    assert sitk.ReadImage(str(tmp_path / "a.nii.gz")).GetSize() == (5, 4, 3)

    def full(table, where, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    import pyarrow.parquet as pq

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(WriteError, match="no space left on"):
        parquet._write_file(pd.DataFrame({"patient_id": ["p"], "roi": ["tumor"], "feature": ["f"], "value": [1.0]}),
                            tmp_path / "pq" / "p-p.parquet")
    assert not any((tmp_path / "pq").iterdir())


def test_temp_names_are_unique_per_process_and_call(tmp_path):
    from radiogenomics.atomic import temp_name

    names = {temp_name(tmp_path / "tumor.nrrd") for _ in range(50)}
    assert len(names) == 50 and all(n.name.startswith(".") and n.suffix == ".nrrd" for n in names)
    assert all(str(os.getpid()) in n.name for n in names)
    assert not temp_name(tmp_path / "p-x.parquet", keep_suffix=False).name.endswith(".parquet")


# ---------------------------------------------------------------------------- ids (item 4, 7)
def test_id_file_names_are_injective_readable_and_bounded():
    a, b = id_file_name("P é1"), id_file_name("P ü1")
    assert a != b and a.startswith("P_e1_") and b.startswith("P_u1_")
    assert id_file_name("R01-001").startswith("R01-001_")
    assert len(id_file_name("患" * 60)) <= 51 and len(id_file_name("x" * 5000)) <= 51
    ids = [f"P{c}1" for c in "éèêëüúùûäàâ ._-/\\"] + ["", "..", "患者"]
    assert len({id_file_name(i) for i in ids}) == len(ids)
    assert all("/" not in id_file_name(i) and not id_file_name(i).startswith(".") for i in ids)


def test_check_patient_id():
    assert check_patient_id("R01-001") == "R01-001"
    assert check_patient_id("P é1") == "P é1"
    for bad, match in [("", "empty"), ("  ", "empty"), (None, "empty"), ("a\nb", "control"), ("a\x00", "control"),
                       ("a\u200bb", "control"), ("x" * (MAX_ID_LENGTH + 1), f"{MAX_ID_LENGTH + 1} characters")]:
        with pytest.raises(InputError, match=match):
            check_patient_id(bad, "test")


def test_store_refuses_bad_patient_ids(store_path):
    with Store.open(store_path) as store:
        with pytest.raises(InputError, match="empty patient id"):
            store.add_patients(["R01-001", ""], None, "test")
        assert store.query("SELECT count(*) AS n FROM patients").n.iloc[0] == 0


def test_parquet_file_names_stay_injective_and_bounded():
    from radiogenomics.store.parquet import patient_file_name

    assert patient_file_name("R01-001") == "p-R01-001.parquet"  # unchanged for ordinary ids
    long_cjk = patient_file_name("患者" * 30)
    assert long_cjk.startswith("p-+") and len(long_cjk) < 80
    assert patient_file_name("P é1") != patient_file_name("P ü1")
    assert len(patient_file_name("x" * 5000)) < 80


# ---------------------------------------------------------------------------- damaged store (item 7)
def _damaged_copy(store_path: Path, dest: Path, keep: int) -> Path:
    shutil.copy(store_path, dest)
    os.truncate(dest, keep)
    return dest


def test_store_info_reports_a_truncated_store(tmp_path, capsys):
    path = tmp_path / "rg.duckdb"
    with Store.open(path) as store:
        rng = np.random.default_rng(0)
        genes = [f"G{i}" for i in range(3000)]
        for k in range(8):
            store.upsert("expression", pd.DataFrame({"dataset_id": "D", "patient_id": f"P{k}", "gene": genes,
                                                     "value": rng.normal(size=len(genes))}))
        store.execute("CHECKPOINT")
        store.execute("DELETE FROM core.expression WHERE patient_id >= 'P4'")
        store.execute("CHECKPOINT")
    size = path.stat().st_size
    assert main(["--store", str(path), "store", "info"]) == 0
    capsys.readouterr()
    # cut far into the file: DuckDB cannot open it -> one clear line, not a traceback
    cut = _damaged_copy(path, tmp_path / "cut.duckdb", 1 << 16)
    assert main(["--store", str(cut), "store", "info"]) == StoreError.exit_code
    err = capsys.readouterr().err
    assert "damaged" in err and "internal error" not in err and len(err.strip().splitlines()) == 1
    # a few bytes short of its blocks: it still opens, and info says it is damaged
    short = _damaged_copy(path, tmp_path / "short.duckdb", size - 1000)
    with Store.open(short, read_only=True) as store:
        assert any("truncated" in p for p in store.check_file())
    assert main(["--store", str(short), "store", "info"]) == StoreError.exit_code
    err = capsys.readouterr().err
    assert "is damaged: the file is truncated" in err


def test_disk_full_inside_duckdb_is_a_write_error(store_path):
    with Store.open(store_path) as store:
        err = store._translate(duckdb.IOException('Could not write file "x.wal": No space left on device'))
    assert isinstance(err, WriteError) and "no space left on" in str(err)


# ---------------------------------------------------------------------------- dead runs (item 6)
def _dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(out.stdout)


def test_run_left_running_by_a_dead_process_is_shown_interrupted(store_path):
    import socket

    with Store.open(store_path) as store:
        store.execute("INSERT INTO core.runs (run_id, command, started_at, status, pid, host) VALUES "
                      "('dead', 'rg features', now(), 'running', ?, ?), "
                      "('alive', 'rg features', now(), 'running', ?, ?), "
                      "('elsewhere', 'rg features', now(), 'running', 1, 'another-host')",
                      [_dead_pid(), socket.gethostname(), os.getpid(), socket.gethostname()])
    # the next command that opens the store, even read-only, shows it
    with Store.open(store_path, read_only=True) as store:
        status = dict(store.query("SELECT run_id, status FROM runs").values.tolist())
        error = store.query("SELECT error FROM runs WHERE run_id = 'dead'").error.iloc[0]
    assert status == {"dead": "interrupted", "alive": "running", "elsewhere": "running"}
    assert "ended without finishing" in error


def test_keyboard_interrupt_ends_a_run_interrupted(store_path):
    with Store.open(store_path) as store:
        with pytest.raises(KeyboardInterrupt):
            with store.run("rg test"):
                raise KeyboardInterrupt("terminated by signal 15")
        assert store.query("SELECT status FROM runs").status.tolist() == ["interrupted"]
        assert store.query("SELECT pid FROM runs").pid.tolist() == [os.getpid()]


# ---------------------------------------------------------------------------- lock messages (item 7)
def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    code = (f"import duckdb, sys, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
            f"time.sleep({seconds})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_waiting_for_the_write_lock_says_for_whom(store_path, caplog):
    Store.open(store_path).close()
    holder = _hold_lock(store_path, 2.0)
    try:
        with caplog.at_level(logging.INFO, logger="radiogenomics.store.db"):
            with Store.open(store_path, wait=30):
                pass
    finally:
        holder.wait()
    text = caplog.text
    assert "waiting up to" in text and f"process {holder.pid}" in text and "is writing to it" in text


def test_fetch_clinical_says_it_waits_for_the_lock(tmp_path):
    store = tmp_path / "rg.duckdb"
    Store.open(store).close()
    csv = tmp_path / "clinical.csv"
    csv.write_text("Case ID,Age at Histological Diagnosis\nR01-001,50\n")
    holder = _hold_lock(store, 10.0)
    try:
        out = subprocess.run([sys.executable, "-m", "radiogenomics", "--store", str(store), "fetch", "clinical",
                              "--file", str(csv)], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, COLUMNS="200"))
    finally:
        holder.wait()
    assert out.returncode == 0, out.stderr
    assert "waiting up to" in out.stderr and f"process {holder.pid}" in out.stderr


# ---------------------------------------------------------------------------- relative --data-dir (item 7)
def test_relative_data_dir_is_stored_as_absolute_paths(tmp_path, monkeypatch):
    import SimpleITK as sitk

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert Settings.from_env(data_dir="data", store="s/rg.duckdb").data_dir == work / "data"
    array = np.zeros((4, 8, 8), np.uint8)
    array[1:3, 2:6, 2:6] = 2
    sitk.WriteImage(sitk.GetImageFromArray(array.astype(np.int16)), "img.nrrd")
    sitk.WriteImage(sitk.GetImageFromArray(array), "labels.nrrd")
    code = main(["--store", "s/rg.duckdb", "--data-dir", "data", "import", "images", "-p", "R01-001",
                 "--image", "img.nrrd", "--mask", "labels.nrrd", "--label", "2"])
    assert code == 0
    monkeypatch.chdir(tmp_path)  # another working directory: the stored paths still work
    with Store.open(work / "s" / "rg.duckdb", read_only=True) as store:
        row = store.query("SELECT image_path, mask_path FROM rois").iloc[0]
    assert Path(row.image_path).is_absolute() and Path(row.mask_path).is_absolute()
    assert Path(row.mask_path).is_file() and str(work / "data" / "rois") in row.mask_path
