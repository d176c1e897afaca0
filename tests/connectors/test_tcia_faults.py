"""Fault injection against the TCIA connector: retries, clean failures, resumable reruns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radiogenomics.connectors.http import HttpClient
from radiogenomics.testing.nbia_server import FaultPlan
from radiogenomics.connectors.tcia import fetch_tcia, partial_dir, series_folder

COLLECTION = "SYNTH Radiogenomics"


def _state(store):
    series = store.query("SELECT series_uid, status, path, image_count FROM core.series ORDER BY series_uid")
    inst = store.query("SELECT count(*) AS n, count(DISTINCT sop_instance_uid) AS d FROM core.instances")
    return series, int(inst["n"][0]), int(inst["d"][0])


def _assert_clean_failure(settings, store, summary, uid, words):
    failed = dict(summary.failed)
    assert uid in failed, summary.text()
    assert any(w.lower() in failed[uid].lower() for w in words), failed[uid]
    assert f"failed {uid}" in summary.text()
    # nothing partial kept: no staging leftovers, no final folder, no instances, not complete
    pdir = partial_dir(settings)
    assert not pdir.exists() or not any(pdir.iterdir()), list(pdir.iterdir())
    row = store.query("SELECT status, error FROM core.series WHERE series_uid = ?", [uid])
    assert row["status"][0] == "failed" and row["error"][0]
    assert store.query("SELECT count(*) AS n FROM core.instances WHERE series_uid = ?", [uid])["n"][0] == 0
    hits = list(Path(settings.data_dir, "tcia").rglob(uid))
    assert hits == [], hits
    fail_rows = store.query("SELECT * FROM core.failures WHERE item = ?", [uid])
    assert len(fail_rows) == 1
    assert store.query("SELECT status FROM core.runs WHERE run_id = ?", [summary.run_id])["status"][0] == "partial"


def _assert_no_duplicates(store, cohort):
    """Every stored series is complete, once, with exactly its instances, once each."""
    series, n_inst, n_distinct = _state(store)
    assert (series["status"] == "complete").all() and not series["series_uid"].duplicated().any()
    assert n_inst == n_distinct == sum(cohort.image_counts[u] for u in series["series_uid"])
    assert store.query("SELECT count(*) AS n FROM core.failures")["n"][0] == 1  # only the first run's


def _rerun_completes(settings, store, server, n_before_ok, cohort):
    server.faults.clear()
    again = fetch_tcia(settings, store, COLLECTION, workers=2)
    assert again.failed == []
    assert again.skipped == n_before_ok
    series, n_inst, n_distinct = _state(store)
    assert (series["status"] == "complete").all()
    assert len(series) == len(cohort.image_counts)
    assert n_inst == n_distinct == sum(cohort.image_counts.values())
    # a third run downloads nothing and writes no duplicates
    before = len(server.requests_for("getImage"))
    third = fetch_tcia(settings, store, COLLECTION, workers=2)
    assert third.fetched == 0 and third.skipped == len(cohort.image_counts)
    assert len(server.requests_for("getImage")) == before
    assert _state(store)[1] == n_inst


def test_fetch_all_then_skip(settings, store, server, cohort):
    summary = fetch_tcia(settings, store, COLLECTION, workers=3)
    assert summary.failed == [] and summary.fetched == len(cohort.image_counts) and summary.bytes > 0
    series, n_inst, _ = _state(store)
    assert n_inst == sum(cohort.image_counts.values())
    for uid, path, count in zip(series["series_uid"], series["path"], series["image_count"]):
        assert Path(path).is_dir() and len(list(Path(path).iterdir())) == count == cohort.image_counts[uid]
    segs = store.query("SELECT patient_id, referenced_series_uid, modality FROM core.series WHERE modality='SEG'")
    assert dict(zip(segs["patient_id"], segs["referenced_series_uid"])) == {p: cohort.ct[p] for p in cohort.seg}
    pats = store.query("SELECT patient_id FROM core.patients ORDER BY 1")["patient_id"].tolist()
    assert pats == ["AMC-001", "R01-001", "R01-002"]
    assert store.query("SELECT count(*) AS n FROM core.id_crosswalk WHERE source='tcia'")["n"][0] == 3
    expected = series_folder(settings, COLLECTION, "R01-001", cohort.ct["R01-001"])
    assert expected.is_dir()
    again = fetch_tcia(settings, store, COLLECTION)
    assert again.fetched == 0 and again.skipped == len(cohort.image_counts)


def test_referenced_ct_fetches_exactly_the_segd_ct(settings, store, server, cohort):
    summary = fetch_tcia(settings, store, COLLECTION, modalities=["SEG"], referenced_ct=True, md5=True)
    assert summary.failed == []
    got = set(store.query("SELECT series_uid FROM core.series WHERE status='complete'")["series_uid"])
    assert got == set(cohort.seg.values()) | set(cohort.ct[p] for p in cohort.seg)
    assert not (got & set(cohort.fusion.values()))
    assert store.query("SELECT bool_and(md5_verified) AS ok FROM core.series")["ok"][0]
    fetched = {r[2]["SeriesInstanceUID"] for r in server.requests_for("getImageWithMD5Hash")}
    assert fetched == got


@pytest.mark.parametrize("kind, kw, words", [
    ("status", dict(status=503), ["503"]),
    ("status", dict(status=500), ["500"]),
    ("status", dict(status=429, retry_after=0), ["429"]),
    ("drop", {}, ["IncompleteRead", "ChunkedEncoding", "Connection", "short body", "prematurely"]),
    ("truncate", {}, ["ZIP"]),
    ("corrupt", {}, ["not a readable DICOM"]),
    ("missing", {}, ["files but the server lists"]),
])
def test_persistent_fault_fails_cleanly_and_rerun_completes(settings, store, server, cohort, kind, kw, words):
    victim = cohort.ct["R01-002"]
    server.faults = FaultPlan().add(kind, "getImage", match={"SeriesInstanceUID": victim}, times=-1, **kw)
    summary = fetch_tcia(settings, store, COLLECTION, workers=2)
    assert [u for u, _ in summary.failed] == [victim]
    assert summary.fetched == len(cohort.image_counts) - 1
    _assert_clean_failure(settings, store, summary, victim, words)
    _rerun_completes(settings, store, server, len(cohort.image_counts) - 1, cohort)


def test_md5_mismatch_fails_cleanly(settings, store, server, cohort):
    victim = cohort.seg["R01-001"]
    server.faults = FaultPlan().add("md5", "getImageWithMD5Hash", match={"SeriesInstanceUID": victim}, times=-1)
    summary = fetch_tcia(settings, store, COLLECTION, modalities=["SEG"], md5=True)
    assert [u for u, _ in summary.failed] == [victim]
    _assert_clean_failure(settings, store, summary, victim, ["MD5"])
    server.faults.clear()
    again = fetch_tcia(settings, store, COLLECTION, modalities=["SEG"], md5=True)
    assert again.failed == [] and again.fetched == 1 and again.skipped == 1
    _assert_no_duplicates(store, cohort)


@pytest.mark.parametrize("kind, kw", [
    ("status", dict(status=500, times=2)),
    ("status", dict(status=503, times=3)),
    ("drop", dict(times=1)),
    ("truncate", dict(times=1)),
    ("corrupt", dict(times=2)),
])
def test_transient_fault_is_retried(settings, store, server, cohort, kind, kw):
    victim = cohort.ct["R01-001"]
    server.faults = FaultPlan().add(kind, "getImage", match={"SeriesInstanceUID": victim}, **kw)
    summary = fetch_tcia(settings, store, COLLECTION, workers=2)
    assert summary.failed == [] and summary.fetched == len(cohort.image_counts)
    assert server.faults.fired == kw["times"]
    assert _state(store)[1] == sum(cohort.image_counts.values())


def test_429_retry_after_is_honoured(settings, store, server, cohort):
    waits: list[float] = []
    http = HttpClient(timeout=2, retries=3, backoff=0.01, max_wait=30, sleep=waits.append)
    server.faults = FaultPlan().add("status", "getSeries", status=429, retry_after=7, times=1) \
                               .add("status", "getImage", status=429, retry_after="3", times=1)
    summary = fetch_tcia(settings, store, COLLECTION, workers=1, http=http)
    assert summary.failed == []
    assert sorted(w for w in waits if w >= 1) == [3.0, 7.0]
    assert [r[3] for r in server.requests_for("getSeries")][:2] == [429, 200]


def test_listing_failure_raises_clear_error(settings, store, server):
    from radiogenomics.exceptions import DownloadError, NotFoundError

    server.faults = FaultPlan().add("status", "getSeries", status=503, times=-1)
    with pytest.raises(DownloadError, match="getSeries.*503"):
        fetch_tcia(settings, store, COLLECTION)
    server.faults.clear()
    with pytest.raises(NotFoundError, match="no series for collection 'Nope'"):
        fetch_tcia(settings, store, "Nope")
    assert store.query("SELECT count(*) AS n FROM core.series")["n"][0] == 0


def test_slow_body_times_out_and_rerun_completes(settings, store, server, cohort, monkeypatch):
    monkeypatch.setenv("RG_TIMEOUT", "0.4")
    monkeypatch.setenv("RG_RETRIES", "1")
    from radiogenomics.config import Settings

    quick = Settings.from_env(tcia_url=settings.tcia_url, data_dir=settings.data_dir, store=settings.store)
    victim = cohort.seg["R01-002"]
    server.faults = FaultPlan().add("slow", "getImage", match={"SeriesInstanceUID": victim}, times=-1, delay=1.5)
    t0 = time.monotonic()
    summary = fetch_tcia(quick, store, COLLECTION, modalities=["SEG"])
    assert time.monotonic() - t0 < 5
    _assert_clean_failure(quick, store, summary, victim, ["timed out", "timeout"])
    server.faults.clear()
    again = fetch_tcia(quick, store, COLLECTION, modalities=["SEG"])
    assert again.failed == [] and again.fetched == 1 and again.skipped == 1
    _assert_no_duplicates(store, cohort)


def test_interrupted_run_leftovers_are_cleaned_or_reused(settings, store, server, cohort):
    import shutil

    summary = fetch_tcia(settings, store, COLLECTION)
    assert summary.failed == []
    reuse, broken = cohort.ct["R01-001"], cohort.ct["AMC-001"]
    # as if killed: one series moved but not yet marked complete, one folder half written,
    # stale staging files in .partial
    store.execute("UPDATE core.series SET status='listed' WHERE series_uid IN (?, ?)", [reuse, broken])
    store.execute("DELETE FROM core.instances WHERE series_uid IN (?, ?)", [reuse, broken])
    broken_dir = series_folder(settings, COLLECTION, "AMC-001", broken)
    next(iter(sorted(broken_dir.iterdir()))).unlink()
    stale = partial_dir(settings) / "1.2.3.4"
    stale.mkdir(parents=True)
    (stale / "x.dcm").write_bytes(b"half")
    (partial_dir(settings) / "1.2.3.4.zip").write_bytes(b"PK")
    before = {r[2]["SeriesInstanceUID"] for r in server.requests_for("getImage")}
    assert before == set(cohort.image_counts)
    n_before = len(server.requests_for("getImage"))
    again = fetch_tcia(settings, store, COLLECTION)
    assert again.failed == []
    new = [r[2]["SeriesInstanceUID"] for r in server.requests_for("getImage")][n_before:]
    assert new == [broken]  # only the broken one is downloaded again
    assert reuse in again.skipped_uids and broken in again.fetched_uids
    assert not any(partial_dir(settings).iterdir())
    series, n_inst, n_distinct = _state(store)
    assert (series["status"] == "complete").all()
    assert n_inst == n_distinct == sum(cohort.image_counts.values())
    shutil.rmtree(broken_dir)


def test_killed_process_leaves_nothing_marked_complete(settings, server, cohort, tmp_path):
    """A real `rg fetch tcia` killed mid-download; the next run completes."""
    from radiogenomics.store import Store

    victim = cohort.ct["R01-002"]
    server.faults = FaultPlan().add("slow", "getImage", match={"SeriesInstanceUID": victim}, times=1,
                                    delay=30, fraction=0.3)
    env = dict(os.environ, RG_TCIA_URL=settings.tcia_url, RG_DATA_DIR=str(settings.data_dir),
               RG_STORE=str(settings.store), RG_TIMEOUT="60")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from radiogenomics.cli import main; sys.exit(main(sys.argv[1:]))",
                             "-q", "fetch", "tcia", "-c", COLLECTION,
                             "-w", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not server.faults.fired and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.faults.fired == 1, proc.stderr.read().decode() if proc.poll() is not None else "no request"
        time.sleep(0.3)
        # the CLI holds the store only while writing: a reader gets in during the download
        with Store.open(settings.store, read_only=True, wait=5) as reader:
            assert reader.query("SELECT status FROM runs")["status"].tolist() == ["running"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with Store.open(settings.store) as st:
        row = st.query("SELECT status FROM core.series WHERE series_uid = ?", [victim])
        assert row.empty or row["status"][0] != "complete"
        assert st.query("SELECT count(*) AS n FROM core.instances WHERE series_uid = ?", [victim])["n"][0] == 0
        summary = fetch_tcia(settings, st, COLLECTION)
        assert summary.failed == []
        assert victim in summary.fetched_uids
        series, n_inst, n_distinct = _state(st)
        assert (series["status"] == "complete").all() and len(series) == len(cohort.image_counts)
        assert n_inst == n_distinct == sum(cohort.image_counts.values())
    assert not any(partial_dir(settings).iterdir())


def test_interrupt_stops_cleanly_and_rerun_completes(settings, store, server, cohort):
    calls = []

    def progress(event, n):
        if event == "series":
            calls.append(n)
            if len(calls) == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_tcia(settings, store, COLLECTION, workers=1, progress=progress)
    assert store.query("SELECT status FROM core.runs")["status"].tolist() == ["interrupted"]
    assert not any(partial_dir(settings).iterdir())
    complete = store.query("SELECT series_uid, path FROM core.series WHERE status = 'complete'")
    assert all(Path(p).is_dir() for p in complete["path"])
    again = fetch_tcia(settings, store, COLLECTION)
    assert again.failed == [] and again.fetched + again.skipped == len(cohort.image_counts)
    assert _state(store)[1] == sum(cohort.image_counts.values())


def test_seg_without_referenced_series_resolves_through_instances(settings, store, server, cohort, tmp_path):
    import pydicom

    from radiogenomics.connectors.series_io import verify_series_folder, write_series

    assert fetch_tcia(settings, store, COLLECTION, modalities=["CT"]).failed == []
    seg_file = next((cohort.root / "R01-001" / "seg").iterdir())
    ds = pydicom.dcmread(seg_file)
    del ds.ReferencedSeriesSequence
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.999.1"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.999.2"
    folder = tmp_path / "seg"
    folder.mkdir()
    ds.save_as(folder / "seg.dcm")
    files = verify_series_folder(folder, None, 1)
    assert files.referenced_series_uid is None and files.referenced_sop_uids
    write_series(store, "test-run", files, "R01-001", COLLECTION)
    got = store.query("SELECT referenced_series_uid FROM core.series WHERE series_uid = ?", [files.series_uid])
    assert got["referenced_series_uid"][0] == cohort.ct["R01-001"]


def test_executor_process_pool_gives_the_same_store_rows(settings, store, server, cohort, tmp_path):
    """--executor other than 'local' runs each series download as a picklable task; same rows."""
    summary = fetch_tcia(settings, store, COLLECTION, modalities=["SEG"], referenced_ct=True, workers=2,
                         executor="local:2")
    assert summary.failed == [] and summary.fetched == 2 * len(cohort.seg) and summary.bytes > 0
    series, n_inst, n_distinct = _state(store)
    assert (series["status"] == "complete").all()
    assert set(series["series_uid"]) == set(cohort.seg.values()) | {cohort.ct[p] for p in cohort.seg}
    assert n_inst == n_distinct == sum(cohort.image_counts[u] for u in series["series_uid"])
    params = store.query("SELECT parameters->>'executor' AS ex FROM core.runs WHERE run_id = ?", [summary.run_id])
    assert params["ex"][0] == "local:2"
    again = fetch_tcia(settings, store, COLLECTION, modalities=["SEG"], referenced_ct=True, executor="local:2")
    assert again.fetched == 0 and again.skipped == 2 * len(cohort.seg)
    assert _state(store)[1] == n_inst


def test_executor_task_failure_is_recorded_and_rerun_completes(settings, store, server, cohort):
    victim = cohort.ct["R01-002"]
    server.faults.add("status", "getImage", match={"SeriesInstanceUID": victim}, times=-1, status=500)
    summary = fetch_tcia(settings, store, COLLECTION, workers=2, executor="local:2")
    _assert_clean_failure(settings, store, summary, victim, ["500"])
    _rerun_completes(settings, store, server, len(cohort.image_counts) - 1, cohort)


def test_dask_executor_gives_the_same_store_rows(settings, store, server, cohort, tmp_path):
    """`--executor dask-local:2` (a Dask LocalCluster) downloads the same series into the same rows."""
    pytest.importorskip("distributed")
    from radiogenomics.config import Settings
    from radiogenomics.store import Store

    local = fetch_tcia(settings, store, COLLECTION, modalities=["SEG"], referenced_ct=True, workers=2)
    assert local.failed == []
    other = Settings.from_env(tcia_url=settings.tcia_url, data_dir=tmp_path / "data_dask", store=tmp_path / "dask.duckdb")
    with Store.open(other.store) as dstore:
        summary = fetch_tcia(other, dstore, COLLECTION, modalities=["SEG"], referenced_ct=True, workers=2,
                             executor="dask-local:2")
        assert summary.failed == [] and summary.fetched == local.fetched
        cols = "series_uid, patient_id, study_uid, modality, image_count, status, referenced_series_uid, file_size"
        pairs = [(s.query(f"SELECT {cols} FROM series ORDER BY series_uid"),
                  s.query("SELECT sop_instance_uid, series_uid, patient_id, instance_number, file_size, md5 "
                          "FROM instances ORDER BY sop_instance_uid")) for s in (store, dstore)]
    for a, b in zip(*pairs):
        assert len(a) > 0
        a = a.reset_index(drop=True)
        b = b.reset_index(drop=True)
        assert a.equals(b), (a, b)
