"""Speed of `run_features` (851 features) per patient, with 1 and 2 workers, vs pyradiomics alone.

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/features.json.  Input: the
committed lung2 crop (real CT, 24,644-voxel tumour), registered as N patients.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1",
                                 reason="benchmarks run only with RG_BENCHMARKS=1")]

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "tests" / "data" / "ct" / "lung2_crop_image.nrrd"
MASK = REPO / "tests" / "data" / "ct" / "lung2_crop_label.nrrd"
N_PATIENTS = 6


def test_bench_features(tmp_path):
    from radiomics import featureextractor

    from radiogenomics.config import Settings
    from radiogenomics.imaging import import_images, run_features
    from radiogenomics.imaging.features import default_params_path
    from radiogenomics.store import Store

    params = default_params_path()
    # reference: pyradiomics' extractor alone, same input, same parameter file
    extractor = featureextractor.RadiomicsFeatureExtractor(str(params))
    extractor.execute(str(IMAGE), str(MASK))  # warm-up (imports, wavelet plans)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(3):
        result = extractor.execute(str(IMAGE), str(MASK))
    ref_s = (time.perf_counter() - t0) / 3
    ref_cpu = (time.process_time() - c0) / 3
    n_features = sum(not k.startswith("diagnostics_") for k in result)

    cli_s = None
    cli = shutil.which("pyradiomics") or str(Path(sys.executable).parent / "pyradiomics")
    if Path(cli).exists():
        t0 = time.perf_counter()
        out = subprocess.run([cli, str(IMAGE), str(MASK), "--param", str(params), "-o", str(tmp_path / "cli.csv"),
                              "-f", "csv"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            cli_s = time.perf_counter() - t0

    store_path = tmp_path / "rg.duckdb"
    settings = Settings.from_env(store=store_path)
    timings = {}
    with Store.open(store_path) as store:
        for i in range(N_PATIENTS):
            import_images(store, f"B{i}", IMAGE, MASK)
        cpu = {}
        for workers in (1, 2):
            store.execute("DELETE FROM core.features")
            before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
            summary = run_features(settings, store, workers=workers)
            after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
            cpu[workers] = sum((a.ru_utime + a.ru_stime) - (b.ru_utime + b.ru_stime) for a, b in zip(after, before))
            assert summary.computed == N_PATIENTS and summary.n_features == 851
            timings[workers] = summary.seconds
        rerun = run_features(settings, store, workers=1)
        assert rerun.computed == 0

    per_patient_1 = timings[1] / N_PATIENTS
    report = {
        "benchmark": "features",
        "input": "lung2 crop (109x88x33 voxels, 0.63x0.63x5 mm, 24,644-voxel tumour), default_851.yaml",
        "patients": N_PATIENTS,
        "n_features": n_features,
        "seconds_per_patient_1_worker": round(per_patient_1, 3),
        "seconds_per_patient_2_workers": round(timings[2] / N_PATIENTS, 3),
        "speedup_2_workers": round(timings[1] / timings[2], 2),
        "cpu_seconds_per_patient_1_worker": round(cpu[1] / N_PATIENTS, 3),
        "cpu_seconds_per_patient_2_workers": round(cpu[2] / N_PATIENTS, 3),
        "cached_rerun_seconds": round(rerun.seconds, 3),
        "reference_pyradiomics_extractor_seconds": round(ref_s, 3),
        "reference_pyradiomics_cli_seconds": round(cli_s, 3) if cli_s else None,
        "reference_pyradiomics_extractor_cpu_seconds": round(ref_cpu, 3),
        "ratio_vs_pyradiomics_extractor": round(per_patient_1 / ref_s, 2),
        "cpu_ratio_vs_pyradiomics_extractor": round(cpu[1] / N_PATIENTS / ref_cpu, 2),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)},
        "note": "the machine is shared with other jobs; speed-up is bounded by the 2 cores and their load",
    }
    out_dir = REPO / "reports" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "features.json").write_text(json.dumps(report, indent=2) + "\n")
    assert report["ratio_vs_pyradiomics_extractor"] < 3.0
