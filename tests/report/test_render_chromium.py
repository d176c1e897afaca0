"""The report renders in headless Chromium: a non-blank page and every embedded figure decoded."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
                 if p and Path(p).exists()), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
         "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=90)


def test_report_renders_with_all_figures(built_report, tmp_path):
    result = built_report
    url = result.html_path.resolve().as_uri()
    dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    match = re.search(r'data-figures="(\d+)/(\d+)"', dom.stdout)
    assert match, "the report's load script did not run"
    loaded, total = map(int, match.groups())
    assert total == result.figures and total >= 15
    assert loaded == total, f"only {loaded} of {total} figures decoded"

    shot = tmp_path / "shot.png"
    run = _chromium(["--window-size=1200,2400", f"--screenshot={shot}", url], tmp_path)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    # not blank: many distinct colours and a substantial share of non-white pixels
    assert (pixels.reshape(-1, 3) < 0.95).any(axis=1).mean() > 0.05
    assert len(np.unique((pixels.reshape(-1, 3) * 255).astype(int), axis=0)) > 50
