"""HttpClient: timeouts, retries, backoff with jitter, Retry-After, clean downloads."""

from __future__ import annotations

import email.utils
import time

import pytest

from radiogenomics.connectors.http import HttpClient, parse_retry_after
from radiogenomics.testing.nbia_server import FaultPlan, LocalNBIAServer
from radiogenomics.exceptions import ChecksumError, ConnectorError, DownloadError, NotFoundError


@pytest.fixture
def blob(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 800)  # 200 kB
    return path


def _client(waits, retries=3, timeout=2.0):
    return HttpClient(timeout=timeout, retries=retries, backoff=0.05, max_wait=10, sleep=waits.append)


def test_parse_retry_after():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(when) <= 31


def test_backoff_is_exponential_with_jitter_and_capped():
    client = HttpClient(backoff=1.0, max_wait=5.0)
    draws = [client._wait_for(k, None) for k in range(6) for _ in range(50)]
    assert all(0 <= w <= 5.0 for w in draws)
    assert max(client._wait_for(0, None) for _ in range(200)) <= 1.0
    assert client._wait_for(0, 3.0) >= 3.0 and client._wait_for(0, 99.0) == 5.0


def test_5xx_burst_then_success_and_404_not_retried(blob, tmp_path):
    plan = FaultPlan().add("status", "blob.bin", status=500, times=2)
    waits: list[float] = []
    with LocalNBIAServer(files={"/blob.bin": blob}, faults=plan) as srv:
        client = _client(waits)
        got = client.download(srv.file_url("/blob.bin"), tmp_path / "out" / "b.bin")
        assert got.path.read_bytes() == blob.read_bytes() and len(waits) == 2
        with pytest.raises(NotFoundError, match="404"):
            client.get_text(srv.url + "/nothing")
        assert len([r for r in srv.log if r[1] == "/nothing"]) == 1


def test_exhausted_retries_leave_nothing(blob, tmp_path):
    plan = FaultPlan().add("drop", "blob.bin", times=-1)
    waits: list[float] = []
    with LocalNBIAServer(files={"/blob.bin": blob}, faults=plan) as srv:
        with pytest.raises(DownloadError, match="failed after 3 attempts"):
            _client(waits, retries=2).download(srv.file_url("/blob.bin"), tmp_path / "b.bin", resume=False)
    assert list(tmp_path.glob("b.bin*")) == []
    assert len(waits) == 2


def test_resume_with_range_after_drop(blob, tmp_path):
    plan = FaultPlan().add("drop", "blob.bin", times=1, fraction=0.6)
    with LocalNBIAServer(files={"/blob.bin": blob}, faults=plan) as srv:
        got = _client([]).download(srv.file_url("/blob.bin"), tmp_path / "b.bin", resume=True)
        statuses = [(r[3], "Range" in r[2]) for r in srv.log]
    assert got.path.read_bytes() == blob.read_bytes()
    assert statuses == [(200, False), (206, True)]


def test_checksum_mismatch_removes_file(blob, tmp_path):
    with LocalNBIAServer(files={"/blob.bin": blob}) as srv:
        with pytest.raises(ChecksumError, match="md5"):
            _client([]).download(srv.file_url("/blob.bin"), tmp_path / "b.bin", md5="0" * 32)
        with pytest.raises(ChecksumError, match="size"):
            _client([]).download(srv.file_url("/blob.bin"), tmp_path / "c.bin", expected_size=3)
    assert list(tmp_path.glob("b.bin*")) == [] and list(tmp_path.glob("c.bin*")) == []


def test_slow_body_hits_read_timeout(blob, tmp_path):
    plan = FaultPlan().add("slow", "blob.bin", times=-1, delay=1.0, fraction=0.5)
    with LocalNBIAServer(files={"/blob.bin": blob}, faults=plan) as srv:
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match="(?i)timed? ?out"):
            _client([], retries=1, timeout=0.3).download(srv.file_url("/blob.bin"), tmp_path / "b.bin", resume=False)
        assert time.monotonic() - t0 < 3


def test_client_error_is_not_retried(tmp_path):
    plan = FaultPlan().add("status", "x", status=403, times=-1)
    waits: list[float] = []
    with LocalNBIAServer(faults=plan) as srv:
        with pytest.raises(ConnectorError, match="403"):
            _client(waits).get_json(srv.url + "/x")
    assert waits == []
