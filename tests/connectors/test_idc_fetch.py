"""`rg fetch idc` end to end: moto's S3 server on loopback behind a fault-injecting proxy,
a small index in idc-index-data's schema, DICOM CT + original and AIMI-like multi-segment SEGs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from radiogenomics.config import Settings
from radiogenomics.connectors.http import HttpClient
from radiogenomics.connectors.idc import PublicBucket, fetch_idc, parse_list_objects
from radiogenomics.exceptions import ConfigError, ConnectorError
from radiogenomics.store import Store

from tests.connectors import _idc

LUNG = ("39607008", "SCT", "Lung")
NODULE = ("27925004", "SCT", "Nodule")
AIMI = dict(analysis_result_id="bamf_aimi_annotations", license_short_name="CC BY 4.0",
            source_doi="10.5281/zenodo.8345959")


@dataclass
class World:
    root: Path
    index: Path
    rows: list[dict]
    ct: dict[str, str] = field(default_factory=dict)        # patient -> referenced CT uid
    fusion: dict[str, str] = field(default_factory=dict)    # patient -> never-referenced CT uid
    original: dict[str, str] = field(default_factory=dict)  # patient -> original SEG uid
    ai: dict[str, str] = field(default_factory=dict)        # patient -> AIMI SEG uid
    uuid: dict[str, str] = field(default_factory=dict)      # series uid -> bucket prefix
    files: dict[str, int] = field(default_factory=dict)     # series uid -> number of files
    moto_url: str = ""


def _uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    from radiogenomics.synth.dicom import write_ct_series, write_seg

    root = tmp_path_factory.mktemp("idc")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    s3.create_bucket(Bucket=_idc.BUCKET, ACL="public-read")
    rng = np.random.default_rng(16)
    rows: list[dict] = []
    w = World(root, root / "index" / "idc_index.parquet", rows, moto_url=url)

    def add(series: _idc.IdcSeries, extra=None) -> str:
        uid = str(series.row["SeriesInstanceUID"])
        _idc.upload(s3, series, extra)
        rows.append(series.row)
        w.uuid[uid] = series.uuid
        w.files[uid] = len(series.files) + len(extra or {})
        return uid

    for k, pid in enumerate(["R01-001", "AMC-001", "R01-002"]):
        nz = 6 + k
        # AMC-001's slices are larger than one read chunk (32 kB), so a dropped one resumes with Range
        side = 192 if pid == "AMC-001" else 16
        vol = rng.integers(-1000, 300, size=(nz, side, side)).astype(np.int16)
        ct = write_ct_series(vol, (0.8, 0.8, 2.5), root / pid / "ct", pid, study_date="19940102")
        _idc.add_scanner_tags(ct, "LightSpeed16" if pid == "AMC-001" else "Discovery STE",
                              ["B30f", "3"] if pid == "AMC-001" else "LUNG")
        w.ct[pid] = add(_idc.series_row(ct))
        fusion = write_ct_series(vol, (0.8, 0.8, 2.5), root / pid / "fusion", pid, description="CT FUSION",
                                 series_number=5)
        w.fusion[pid] = add(_idc.series_row(fusion))
        nodule = np.zeros(vol.shape, bool)
        nodule[2:5, 5:10, 5:10] = True
        if pid == "R01-002":  # another tumour: bigger, brighter
            nodule[1:6, 3:12, 4:12] = True
            vol[nodule] += 400
        lung = np.zeros(vol.shape, bool)
        lung[1:nz - 1, 2:14, 2:14] = True
        lung &= ~nodule
        seg = _idc.write_aimi_seg({"Lung": (lung, LUNG), "Nodule": (nodule, NODULE)}, ct,
                                  root / pid / "aimi" / "seg.dcm", "AIMI lung and nodule AI segmentation")
        w.ai[pid] = add(_idc.series_row([seg], **AIMI))
        if pid.startswith("R01"):
            original_mask = nodule.copy()
            original_mask[3, 4, 4:10] = True  # the reader drew a little more than the model
            seg = write_seg({"tumor": original_mask}, ct, root / pid / "seg" / "seg.dcm")
            w.original[pid] = add(_idc.series_row([seg]))
    _idc.write_index(rows, w.index)
    yield w
    server.stop()


@pytest.fixture
def proxy(world):
    with _idc.S3Proxy(world.moto_url) as p:
        yield p


@pytest.fixture
def settings(world, proxy, tmp_path) -> Settings:
    return Settings.from_env({}, idc_endpoint=proxy.url, idc_index=world.index, data_dir=tmp_path / "data",
                             store=tmp_path / "rg.duckdb", home=tmp_path)


def _http(waits: list[float] | None = None, retries: int = 4) -> HttpClient:
    return HttpClient(timeout=5, retries=retries, backoff=0.0, max_wait=30,
                      sleep=(waits.append if waits is not None else (lambda s: None)))


def _series(settings: Settings):
    with Store.open(settings.store, read_only=True) as store:
        return store.query("SELECT * FROM series ORDER BY series_uid").set_index("series_uid")


def test_fetch_segs_with_referenced_ct_through_faults(world, proxy, settings):
    """Throttling, 5xx, 429 + Retry-After, a dropped connection and a truncated object are all retried."""
    ai_key, orig_key = world.uuid[world.ai["R01-001"]], world.uuid[world.original["R01-001"]]
    ct_key = world.uuid[world.ct["AMC-001"]]
    proxy.faults += [
        _idc.Fault("status", "list", times=2, status=503),                          # SlowDown on listing
        _idc.Fault("status", ai_key, times=1, status=429, retry_after="7"),          # throttled GET
        _idc.Fault("status", orig_key, times=1, status=500),
        _idc.Fault("drop", ct_key, times=1),                                         # connection dropped mid-body
        _idc.Fault("truncate", world.uuid[world.ct["R01-001"]], times=1),            # short object
    ]
    waits: list[float] = []
    summary = fetch_idc(settings, settings.store, "nsclc_radiogenomics", modalities=["SEG"], referenced_ct=True,
                        workers=3, http=_http(waits))
    assert summary.failed == []
    expected = set(world.ai.values()) | set(world.original.values()) | set(world.ct.values())
    assert sorted(summary.fetched_uids) == sorted(expected)
    assert all(f.times == 0 for f in proxy.faults)
    assert 7.0 in waits                                            # Retry-After honoured
    assert all(e["anonymous"] for e in proxy.log)                  # unsigned requests only
    # the dropped object was resumed with a Range request
    ranged = [e for e in proxy.gets() if ct_key in e["path"] and e["range"]]
    assert ranged and ranged[0]["range"] != "bytes=0-"
    series = _series(settings)
    assert world.fusion["R01-001"] not in series.index and world.fusion["AMC-001"] not in series.index
    assert (series.status == "complete").all() and (series.source == "IDC").all()
    ai = series.loc[world.ai["R01-001"]]
    assert ai.license == "CC BY 4.0" and ai.doi == "10.5281/zenodo.8345959"
    assert ai.segmentation_source == "ai" and ai.analysis_result_id == "bamf_aimi_annotations"
    assert ai.referenced_series_uid == world.ct["R01-001"] and ai.collection == "NSCLC Radiogenomics"
    orig = series.loc[world.original["R01-001"]]
    assert orig.segmentation_source == "original" and orig.license == "CC BY 3.0"
    assert orig.doi == "10.7937/k9/tcia.2017.7hs46erv"
    ct = series.loc[world.ct["R01-001"]]
    assert ct.manufacturer_model == "Discovery STE" and ct.convolution_kernel == "LUNG"
    assert ct.slice_thickness == pytest.approx(2.5) and ct.manufacturer == "GE MEDICAL SYSTEMS"
    assert series.loc[world.ct["AMC-001"]].convolution_kernel == "B30f\\3"
    assert Path(ct.path) == settings.data_dir / "tcia" / "NSCLC Radiogenomics" / "R01-001" / world.ct["R01-001"]
    assert len(list(Path(ct.path).iterdir())) == world.files[world.ct["R01-001"]]
    assert not any((settings.data_dir / "tcia" / ".partial").iterdir())
    with Store.open(settings.store, read_only=True) as store:
        n_inst = store.query("SELECT count(*) AS n FROM instances")["n"][0]
        patients = store.query("SELECT patient_id, source FROM patients ORDER BY 1")
    assert n_inst == sum(world.files[u] for u in series.index)
    assert patients.to_dict("list") == {"patient_id": ["AMC-001", "R01-001", "R01-002"], "source": ["idc"] * 3}

    # a rerun lists and downloads nothing
    before = len(proxy.log)
    again = fetch_idc(settings, settings.store, "nsclc_radiogenomics", modalities=["SEG"], referenced_ct=True,
                      http=_http())
    assert again.fetched == 0 and again.failed == [] and again.skipped == len(expected)
    assert proxy.log[before:] == []


def test_segmentation_filter_and_patient(world, proxy, settings):
    summary = fetch_idc(settings, settings.store, "NSCLC Radiogenomics", patients=["R01-001"], modalities=["SEG"],
                        segmentation="original", http=_http())
    assert summary.fetched_uids == [world.original["R01-001"]]
    assert set(_series(settings).index) == {world.original["R01-001"]}


def test_persistent_faults_leave_nothing_and_are_recorded(world, proxy, settings):
    bad = world.uuid[world.ct["R01-001"]]
    corrupt = world.uuid[world.ct["AMC-001"]]
    proxy.faults += [_idc.Fault("status", bad, times=-1, status=503),
                     _idc.Fault("corrupt", corrupt, times=-1)]
    summary = fetch_idc(settings, settings.store, "nsclc_radiogenomics", modalities=["CT"], workers=2,
                        http=_http(retries=2))
    failed = dict(summary.failed)
    assert set(failed) == {world.ct["R01-001"], world.ct["AMC-001"]}
    assert "503" in failed[world.ct["R01-001"]] and "md5" in failed[world.ct["AMC-001"]]
    assert set(summary.fetched_uids) == set(world.fusion.values()) | {world.ct["R01-002"]}
    series = _series(settings)
    assert series.loc[world.ct["R01-001"], "status"] == "failed" and series.loc[world.ct["R01-001"], "path"] is None
    assert not (settings.data_dir / "tcia" / "NSCLC Radiogenomics" / "R01-001" / world.ct["R01-001"]).exists()
    assert not any((settings.data_dir / "tcia" / ".partial").iterdir())
    with Store.open(settings.store, read_only=True) as store:
        fails = store.query("SELECT stage, patient_id, item FROM failures ORDER BY item")
    assert set(fails.stage) == {"fetch_idc"} and set(fails["item"]) == set(failed)
    # the faults gone, a rerun fetches exactly the two failed series
    proxy.faults.clear()
    start = len(proxy.log)
    again = fetch_idc(settings, settings.store, "nsclc_radiogenomics", modalities=["CT"], http=_http())
    assert sorted(again.fetched_uids) == sorted(failed) and again.skipped == 4
    fetched_prefixes = {e["path"].split("/")[2] for e in proxy.log[start:] if e["kind"] == "get"}
    assert fetched_prefixes == {world.uuid[u] for u in failed}


def test_count_mismatch_and_bad_objects_fail_verification(world, proxy, settings, tmp_path):
    """Index instanceCount differs from the bucket; a non-DICOM object; a repeated SOP instance."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=world.moto_url, region_name="us-east-1", aws_access_key_id="t",
                      aws_secret_access_key="t")
    ct_files = sorted((world.root / "R01-001" / "ct").iterdir())
    short = _idc.series_row(ct_files, instance_count=len(ct_files) + 1)         # index says one more
    import pydicom

    def copy_series(uid: str) -> list[Path]:
        out = []
        for path in ct_files[:2]:
            ds = pydicom.dcmread(path)
            ds.SeriesInstanceUID = uid
            target = tmp_path / uid / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(target)
            out.append(target)
        return out

    junk = _idc.series_row(copy_series("1.2.3.4.5.1"), instance_count=3)
    dup = _idc.series_row(copy_series("1.2.3.4.5.2"), instance_count=3)
    _idc.upload(s3, short)
    _idc.upload(s3, junk, {"notdicom.dcm": b"this is not DICOM" * 40})
    _idc.upload(s3, dup, {"again.dcm": dup.files[0].read_bytes()})
    index = _idc.write_index([short.row, junk.row, dup.row], tmp_path / "bad" / "idc_index.parquet")
    summary = fetch_idc(settings, settings.store, "nsclc_radiogenomics", http=_http(), index=index)
    reasons = " | ".join(r for _, r in summary.failed)
    assert summary.fetched == 0 and len(summary.failed) == 3
    assert "holds 6 objects but the index lists 7 instances" in reasons
    assert "not a readable DICOM file" in reasons
    assert "repeated SOPInstanceUIDs" in reasons
    assert not any((settings.data_dir / "tcia" / ".partial").iterdir())


def test_cli_dry_run_and_fetch(world, proxy, monkeypatch, tmp_path, capsys):
    from radiogenomics.cli import main

    monkeypatch.setenv("RG_IDC_ENDPOINT", proxy.url)
    monkeypatch.setenv("RG_IDC_INDEX", str(world.index))
    monkeypatch.setenv("RG_STORE", str(tmp_path / "rg.duckdb"))
    monkeypatch.setenv("RG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RG_HTTP_BACKOFF", "0")
    assert main(["fetch", "idc", "--collection", "nsclc_radiogenomics", "--modality", "SEG", "--segmentation",
                 "ai", "--referenced-ct", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 series, 3 patients" in out and "CC BY 4.0" in out and "10.5281/zenodo.8345959" in out
    assert world.ai["AMC-001"] in out and world.original["R01-001"] not in out
    assert proxy.log == [] and not (tmp_path / "rg.duckdb").exists()
    proxy.faults.append(_idc.Fault("status", world.uuid[world.ai["AMC-001"]], times=-1, status=500))
    code = main(["-q", "fetch", "idc", "--collection", "nsclc_radiogenomics", "--patient", "AMC-001",
                 "--modality", "SEG", "--referenced-ct", "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 5 and f"failed {world.ai['AMC-001']}" in captured.out and "rerun" in captured.err
    proxy.faults.clear()
    assert main(["-q", "fetch", "idc", "--collection", "nsclc_radiogenomics", "--patient", "AMC-001",
                 "--modality", "SEG", "--referenced-ct"]) == 0
    assert "fetched 2, skipped 0" in capsys.readouterr().out
    assert main(["-q", "fetch", "idc", "--collection", "nsclc_radiogenomics", "--segmentation", "some"]) != 0


def test_listing_parser_and_endpoint_checks():
    xml = ("<?xml version='1.0'?><ListBucketResult xmlns='http://s3.amazonaws.com/doc/2006-03-01/'>"
           "<IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken>"
           "<Contents><Key>a/1.dcm</Key><Size>10</Size><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Contents>"
           "<Contents><Key>a/2.dcm</Key><Size>12</Size><ETag>\"abc-2\"</ETag></Contents></ListBucketResult>")
    objects, token = parse_list_objects(xml)
    assert token == "tok" and [o.size for o in objects] == [10, 12]
    assert objects[0].md5 == "0123456789abcdef0123456789abcdef" and objects[1].md5 is None
    with pytest.raises(ConnectorError, match="AccessDenied"):
        parse_list_objects("<Error><Code>AccessDenied</Code></Error>")
    with pytest.raises(ConnectorError, match="did not answer XML"):
        parse_list_objects("<html")
    with pytest.raises(ConfigError, match="RG_IDC_ENDPOINT"):
        PublicBucket("s3.amazonaws.com", _http())


def test_listing_pages(world, proxy):
    bucket = PublicBucket(proxy.url, _http())
    prefix = world.uuid[world.ct["R01-001"]] + "/"
    objects = bucket.list_objects(_idc.BUCKET, prefix, page_size=2)
    assert len(objects) == world.files[world.ct["R01-001"]]
    assert len([e for e in proxy.lists() if "continuation-token" in e["path"]]) == 2


def test_rois_from_original_and_aimi_segs(world, proxy, settings):
    """Lung + nodule AIMI segments map to `lung` and `tumor`; original and AI tumour masks are both kept."""
    import SimpleITK as sitk

    from radiogenomics.imaging.rois import build_rois

    fetch_idc(settings, settings.store, "nsclc_radiogenomics", patients=["R01-001"], modalities=["SEG"],
              referenced_ct=True, http=_http())
    summary = build_rois(settings, settings.store, ring_mm=None)
    assert summary.failures == []
    with Store.open(settings.store, read_only=True) as store:
        rois = store.query("SELECT roi, reader, segmentation_source, seg_series_uid, ct_series_uid, voxels, mask_path "
                           "FROM rois ORDER BY roi, reader")
    got = {(r.roi, r.reader): r for r in rois.itertuples()}
    assert set(got) == {("tumor", "default"), ("tumor", "ai"), ("lung", "default")}
    assert got[("tumor", "default")].segmentation_source == "original"
    assert got[("tumor", "default")].seg_series_uid == world.original["R01-001"]
    assert got[("tumor", "ai")].segmentation_source == "ai" and got[("tumor", "ai")].seg_series_uid == world.ai["R01-001"]
    assert got[("lung", "default")].segmentation_source == "ai"
    assert {r.ct_series_uid for r in rois.itertuples()} == {world.ct["R01-001"]}
    # the masks are the segments: nodule 3x5x5 voxels, the original 6 more, the lung box minus the nodule
    assert got[("tumor", "ai")].voxels == 75 and got[("tumor", "default")].voxels == 75 + 6
    lung = sitk.GetArrayFromImage(sitk.ReadImage(got[("lung", "default")].mask_path)).astype(bool)
    nodule = sitk.GetArrayFromImage(sitk.ReadImage(got[("tumor", "ai")].mask_path)).astype(bool)
    assert lung.sum() == 4 * 12 * 12 - 75 and not (lung & nodule).any()


def test_segment_names_from_labels_and_codes():
    from radiogenomics.imaging.rois import name_segments

    assert name_segments(["Lung", "Nodule"]) == ["lung", "tumor"]
    assert name_segments(["Segment_1", "Segment_2"], ["Lung", "Neoplasm"]) == ["lung", "tumor"]
    assert name_segments(["Left lung", "Right Lung", "FDG avid tumor", "lymph node 4R"]) == \
        ["lung_left", "lung_right", "tumor", "node_1"]
    assert name_segments(["lung nodule", "GTV", "whatever"]) == ["tumor", "tumor_2", "tumor_3"]


def test_stability_between_original_and_ai_masks(world, proxy, settings):
    """`rg stability` by readers: ICC between the original (reader default) and the AI (reader ai) masks."""
    from radiogenomics.imaging.rois import build_rois
    from radiogenomics.imaging.stability import run_stability

    fetch_idc(settings, settings.store, "nsclc_radiogenomics", patients=["R01-001", "R01-002"], modalities=["SEG"],
              referenced_ct=True, http=_http())
    build_rois(settings, settings.store, ring_mm=None)
    params = {"setting": {"binWidth": 25, "force2D": False}, "imageType": {"Original": {}},
              "featureClass": {"firstorder": ["Mean", "Energy"], "shape": ["VoxelVolume"]}}
    run_stability(settings.store, settings=settings, params=params, roi="tumor", method="readers")
    with Store.open(settings.store, read_only=True) as store:
        stab = store.query("SELECT feature, method, n_patients, n_raters, icc31 FROM feature_stability ORDER BY feature")
    assert set(stab.method) == {"readers"} and set(stab.n_raters) == {2} and set(stab.n_patients) == {2}
    assert len(stab) == 3 and stab.icc31.notna().all()


def test_killed_process_leaves_nothing_complete_and_rerun_finishes(world, proxy, settings):
    """A real `rg fetch idc` killed mid-object: nothing half-registered; the rerun completes and cleans up."""
    import os
    import signal
    import subprocess
    import sys

    victim = world.ct["AMC-001"]
    proxy.faults.append(_idc.Fault("slow", world.uuid[victim], times=1, delay=30))
    env = dict(os.environ, RG_IDC_ENDPOINT=proxy.url, RG_IDC_INDEX=str(world.index),
               RG_DATA_DIR=str(settings.data_dir), RG_STORE=str(settings.store), RG_TIMEOUT="60")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from radiogenomics.cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "-q", "fetch", "idc", "--collection",
                             "nsclc_radiogenomics", "--modality", "CT", "--workers", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proxy.slow_started.wait(60), proc.stderr.read().decode() if proc.poll() is not None else "no request"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert any((settings.data_dir / "tcia" / ".partial").iterdir())   # the killed run's work folder
    with Store.open(settings.store) as store:
        row = store.query("SELECT status FROM core.series WHERE series_uid = ?", [victim])
        assert row.empty or row["status"][0] != "complete"
        assert store.query("SELECT count(*) AS n FROM core.instances WHERE series_uid = ?", [victim])["n"][0] == 0
    summary = fetch_idc(settings, settings.store, "nsclc_radiogenomics", modalities=["CT"], http=_http())
    assert summary.failed == [] and victim in summary.fetched_uids
    series = _series(settings)
    assert (series.status == "complete").all() and len(series) == len(world.ct) + len(world.fusion)
    assert not any((settings.data_dir / "tcia" / ".partial").iterdir())


def test_wrong_bucket_names_the_endpoint(world, proxy, settings, tmp_path):
    ct_files = sorted((world.root / "R01-001" / "ct").iterdir())
    row = _idc.series_row(ct_files).row
    row["series_aws_url"] = "s3://no-such-bucket/0000/*"
    index = _idc.write_index([row], tmp_path / "nobucket" / "idc_index.parquet")
    summary = fetch_idc(settings, settings.store, "nsclc_radiogenomics", http=_http(), index=index)
    (uid, reason), = summary.failed
    assert uid == row["SeriesInstanceUID"] and "404" in reason and f"RG_IDC_ENDPOINT={proxy.url}" in reason
