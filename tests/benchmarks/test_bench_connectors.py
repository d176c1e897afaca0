"""Throughput of the connectors against the local NBIA/GEO server.

* TCIA: ``fetch_tcia`` (stream, unpack, verify every file, atomic move, store rows) vs a
  bare reference measured in the same run: ``requests.get`` into memory +
  ``zipfile.extractall`` + ``pydicom.dcmread`` of every file (no verification, no store).
* GEO: ``parse_expression_table`` vs plain ``pandas.read_csv`` of the same gzipped table.

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/connectors.json.
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1", reason="benchmarks run only with RG_BENCHMARKS=1")]

REPO = Path(__file__).resolve().parents[2]


def test_bench_connectors(tmp_path):
    import pydicom
    import requests

    from radiogenomics.config import Settings
    from radiogenomics.connectors.geo import parse_expression_table
    from radiogenomics.testing.nbia_server import LocalNBIAServer
    from radiogenomics.connectors.tcia import fetch_tcia
    from radiogenomics.store import Store
    from radiogenomics.synth.dicom import write_ct_series

    rng = np.random.default_rng(0)
    n_series, nz, size = 8, 40, 128
    for k in range(n_series):
        vol = rng.integers(-1000, 400, size=(nz, size, size)).astype(np.int16)
        write_ct_series(vol, (0.8, 0.8, 2.5), tmp_path / "src" / f"P{k:02d}", f"P{k:02d}")
    total_bytes = sum(p.stat().st_size for p in (tmp_path / "src").rglob("*.dcm"))

    with LocalNBIAServer(tmp_path / "src", collection="BENCH") as srv:
        settings = Settings.from_env(tcia_url=srv.url_tcia, data_dir=tmp_path / "data", store=tmp_path / "rg.duckdb")
        t0 = time.perf_counter()
        with Store.open(settings.store) as store:
            summary = fetch_tcia(settings, store, "BENCH", workers=2)
        rg_s = time.perf_counter() - t0
        assert summary.fetched == n_series and not summary.failed

        t0 = time.perf_counter()
        for uid in srv.series:
            body = requests.get(f"{srv.url_tcia}/getImage", params={"SeriesInstanceUID": uid}, timeout=60).content
            out = tmp_path / "ref" / uid
            zipfile.ZipFile(io.BytesIO(body)).extractall(out)
            for f in out.glob("*.dcm"):
                pydicom.dcmread(f)
        ref_s = time.perf_counter() - t0

    genes, samples = 20000, 130
    frame = pd.DataFrame(rng.gamma(1.0, 20.0, size=(genes, samples)).round(4),
                         index=[f"G{i}" for i in range(genes)], columns=[f"R01-{i:03d}" for i in range(samples)])
    path = tmp_path / "expr.txt.gz"
    frame.to_csv(path, sep="\t", na_rep="NA", index_label="")
    t0 = time.perf_counter()
    parsed = parse_expression_table(path)
    parse_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pd.read_csv(path, sep="\t", index_col=0)
    pandas_s = time.perf_counter() - t0
    assert parsed.shape == (genes, samples)

    report = {
        "name": "connectors",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor(), "cpus": os.cpu_count()},
        "tcia_series": n_series, "tcia_instances": n_series * nz, "tcia_mb": total_bytes / 1e6,
        "fetch_tcia_seconds": rg_s,
        "reference_requests_zip_pydicom_seconds": ref_s,
        "ratio_fetch_over_reference": rg_s / ref_s,
        "fetch_tcia_mb_per_s": total_bytes / 1e6 / rg_s,
        "expression_shape": [genes, samples],
        "parse_expression_table_seconds": parse_s,
        "pandas_read_csv_seconds": pandas_s,
        "ratio_parse_over_pandas": parse_s / pandas_s,
    }
    out_dir = REPO / "reports" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "connectors.json").write_text(json.dumps(report, indent=2))
