"""Fixtures of the connector tests: a small synthetic cohort served by LocalNBIAServer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from radiogenomics.config import Settings
from radiogenomics.store import Store

COLLECTION = "SYNTH Radiogenomics"


@dataclass
class Cohort:
    root: Path
    ct: dict[str, str]          # patient -> CT series uid (the SEG'd one)
    fusion: dict[str, str]      # patient -> a second CT series (PET/CT fusion, never referenced)
    seg: dict[str, str]         # patient -> SEG series uid
    image_counts: dict[str, int]


def _uid_of(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Cohort:
    """R01-001 and R01-002: CT + SEG + a 'CT FUSION' series; AMC-001: CT only."""
    from radiogenomics.synth.dicom import write_ct_series, write_seg

    root = tmp_path_factory.mktemp("nbia_series")
    rng = np.random.default_rng(7)
    out = Cohort(root, {}, {}, {}, {})
    for k, pid in enumerate(["R01-001", "R01-002", "AMC-001"]):
        nz = 5 + k
        vol = rng.integers(-1000, 300, size=(nz, 12, 12)).astype(np.int16)
        ct = write_ct_series(vol, (1.0, 1.0, 2.0), root / pid / "ct", pid, study_date="19940102")
        out.ct[pid] = _uid_of(ct[0])
        out.image_counts[out.ct[pid]] = len(ct)
        if pid.startswith("R01"):
            fusion = write_ct_series(vol, (1.0, 1.0, 2.0), root / pid / "fusion", pid, description="CT FUSION",
                                     series_number=5)
            out.fusion[pid] = _uid_of(fusion[0])
            out.image_counts[out.fusion[pid]] = len(fusion)
            mask = np.zeros(vol.shape, bool)
            mask[1:3, 3:7, 3:7] = True
            seg = write_seg({"tumor": mask}, ct, root / pid / "seg" / "seg.dcm")
            out.seg[pid] = _uid_of(seg)
            out.image_counts[out.seg[pid]] = 1
    return out


@pytest.fixture
def fast_http(monkeypatch):
    """Short timeouts and backoff so fault tests run fast."""
    monkeypatch.setenv("RG_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("RG_HTTP_MAX_WAIT", "2")
    monkeypatch.setenv("RG_TIMEOUT", "2")
    monkeypatch.setenv("RG_RETRIES", "3")


@pytest.fixture
def server(cohort, fast_http):
    from radiogenomics.testing.nbia_server import LocalNBIAServer

    with LocalNBIAServer(cohort.root, collection=COLLECTION) as srv:
        yield srv


@pytest.fixture
def settings(server, tmp_path) -> Settings:
    return Settings.from_env(tcia_url=server.url_tcia, geo_url=server.url_geo, data_dir=tmp_path / "data",
                             store=tmp_path / "rg.duckdb")


@pytest.fixture
def store(settings):
    with Store.open(settings.store) as st:
        yield st
