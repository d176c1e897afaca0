"""Wall time of the radiogenomic map at full size: 1,000 imaging features x 20,000 genes x 130 patients.

Skipped unless RG_BENCHMARKS=1; writes reports/benchmarks/map.json. The minimum of 5 runs is
quoted (with the load average); the result is checked in the same run against scipy's
``spearmanr`` on random pairs, so a fast wrong map cannot pass.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1", reason="benchmarks run only with RG_BENCHMARKS=1")]

REPO = Path(__file__).resolve().parents[2]
N_PATIENTS, N_FEATURES, N_GENES, RUNS = 130, 1000, 20000, 5


def test_bench_map():
    from scipy.stats import spearmanr

    from radiogenomics.associate.rgmap import spearman_matrix

    rng = np.random.default_rng(0)
    latent = rng.normal(size=(N_PATIENTS, 20))
    x = latent @ rng.normal(size=(20, N_FEATURES)) + rng.normal(size=(N_PATIENTS, N_FEATURES))
    y = latent @ rng.normal(size=(20, N_GENES)) + 2 * rng.normal(size=(N_PATIENTS, N_GENES))
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        rho, p, n = spearman_matrix(x, y)
        times.append(time.perf_counter() - t0)
    picks = rng.integers(0, [N_FEATURES, N_GENES], size=(200, 2))
    ref = np.array([spearmanr(x[:, i], y[:, j]) for i, j in picks])
    err_rho = float(np.max(np.abs(rho[picks[:, 0], picks[:, 1]] - ref[:, 0])))
    err_p = float(np.max(np.abs(p[picks[:, 0], picks[:, 1]] - ref[:, 1]) / np.maximum(ref[:, 1], 1e-300)))
    payload = {
        "name": "radiogenomic_map",
        "input": {"patients": N_PATIENTS, "imaging_features": N_FEATURES, "genes": N_GENES,
                  "pairs": N_FEATURES * N_GENES},
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_1m": os.getloadavg()[0]},
        "seconds_min": round(min(times), 3), "seconds_all": [round(t, 3) for t in times], "runs": RUNS,
        "agreement_vs_scipy_spearmanr_200_pairs": {"max_abs_rho_diff": err_rho, "max_rel_p_diff": err_p},
    }
    out = REPO / "reports" / "benchmarks" / "map.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2))
    assert err_rho < 1e-10 and err_p < 1e-6
    assert min(times) < 60, f"the map took {min(times):.1f}s"
