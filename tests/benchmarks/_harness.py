"""Shared machinery of the side-by-side benchmarks (Python vs R) under tests/benchmarks/.

Rules every comparison follows (so a ratio cannot flatter us):

* both tools get the same full-size input (written once, read by both before timing);
* both run warm: R in ONE persistent process (:class:`RSession`, timed in R around the
  call), Python in this process; one untimed warm-up call each;
* cold start is reported too: a fresh process that loads the libraries, reads the input
  and makes the call once (:func:`cold_python`, :meth:`RSession.cold`);
* the two tools alternate, the order flipped on each repeat; the minimum of >= 5 runs is
  quoted as the ratio python / R;
* the results of both are compared in the same run (the comparison is stored with the times);
* the load average (start and end) and both BLAS libraries are recorded.

Benchmarks run only with ``RG_BENCHMARKS=1`` and write ``reports/benchmarks/<name>.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
REPORTS = REPO / "reports" / "benchmarks"
R_WORKER = Path(__file__).resolve().parent / "r_session.R"
MIN_RUNS = 5

requires_benchmarks = pytest.mark.skipif(os.environ.get("RG_BENCHMARKS") != "1",
                                         reason="benchmarks run only with RG_BENCHMARKS=1")
requires_r = pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")


class RError(RuntimeError):
    """R code sent to the persistent session failed."""


class RSession:
    """One persistent ``Rscript`` process that evaluates code sent over a pipe.

    ``run(code)`` returns the seconds R measured around the evaluation (Sys.time before and
    after ``eval``), so the pipe is not charged to R.  Printed output is kept in ``last_output``.
    """

    def __init__(self, preamble: str = "") -> None:
        self._stderr = tempfile.TemporaryFile()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(["Rscript", "--vanilla", str(R_WORKER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1)
        self.last_output = ""
        self.run("invisible(NULL)")
        self.startup_seconds = time.perf_counter() - t0
        self.preamble_seconds = self.run(preamble) if preamble else 0.0

    def run(self, code: str) -> float:
        lines = code.strip("\n").splitlines() or ["invisible(NULL)"]
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{len(lines)}\n" + "\n".join(lines) + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self._stderr.seek(0)
                raise RError("R session ended: " + self._stderr.read().decode(errors="replace")[-2000:])
            if line.startswith("@@RG@@ "):
                break
            out.append(line)
        self.last_output = "".join(out).strip()
        status, _, rest = line[len("@@RG@@ "):].strip().partition(" ")
        if status != "OK":
            raise RError(f"R failed: {rest}\ncode:\n{code}")
        return float(rest)

    def value(self, expr: str) -> str:
        """The value of an R expression as text (numbers with 17 significant digits)."""
        self.run(f"v <- ({expr}); cat(if (is.numeric(v)) sprintf('%.17g', v) else as.character(v), sep = '\\n')")
        return self.last_output

    def blas(self) -> dict[str, Any]:
        """R's version, BLAS and LAPACK libraries (sessionInfo / La_library)."""
        return {"version": self.value("R.version.string"),
                "blas": self.value("sessionInfo()$BLAS"),
                "lapack": self.value("La_library()"),
                "lapack_version": self.value("La_version()")}

    def package_versions(self, packages: list[str]) -> dict[str, str]:
        return {p: self.value(f"as.character(packageVersion('{p}'))") for p in packages}

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
        self._stderr.close()

    def __enter__(self) -> "RSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cold_r(code: str) -> float:
    """Wall seconds of a fresh ``Rscript`` running ``code`` (library loads, input read, one call)."""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(code)
    try:
        t0 = time.perf_counter()
        out = subprocess.run(["Rscript", "--vanilla", fh.name], capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
    finally:
        os.unlink(fh.name)
    if out.returncode != 0:
        raise RError(f"cold R run failed: {out.stderr[-2000:]}")
    return elapsed


def cold_python(code: str) -> float:
    """Wall seconds of a fresh Python interpreter running ``code`` (imports, input read, one call)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"cold Python run failed: {out.stderr[-2000:]}")
    return elapsed


def _perf(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(python: Callable[[], Any], r_code: str, session: RSession, runs: int = MIN_RUNS,
              variants: dict[str, Callable[[], Any]] | None = None) -> dict[str, Any]:
    """Warm timings of a Python call and an R call, alternating with the order flipped each repeat.

    One untimed warm-up call of each comes first.  ``variants`` are further Python calls
    (e.g. with two workers) timed in the same rotation against the same R runs.  Returns the
    minimum and all runs of each.
    """
    if runs < MIN_RUNS:
        raise ValueError(f"at least {MIN_RUNS} runs")
    calls: dict[str, Callable[[], Any]] = {"python": python, **(variants or {})}
    for fn in calls.values():
        fn()
    session.run(r_code)
    times: dict[str, list[float]] = {name: [] for name in calls}
    r_times: list[float] = []
    for rep in range(runs):
        if rep % 2 == 0:
            for name, fn in calls.items():
                times[name].append(_perf(fn))
            r_times.append(session.run(r_code))
        else:
            r_times.append(session.run(r_code))
            for name, fn in reversed(list(calls.items())):
                times[name].append(_perf(fn))
    r_min = min(r_times)
    out: dict[str, Any] = {"python_s": round(min(times["python"]), 5), "r_s": round(r_min, 5),
                           "ratio_python_over_r": round(min(times["python"]) / r_min, 3), "runs": runs,
                           "python_all_s": [round(t, 5) for t in times["python"]],
                           "r_all_s": [round(t, 5) for t in r_times],
                           "order": "alternating, python first on even repeats, R first on odd ones; one warm-up each"}
    for name in calls:
        if name != "python":
            out[name] = {"python_s": round(min(times[name]), 5), "ratio_python_over_r": round(min(times[name]) / r_min, 3),
                         "python_all_s": [round(t, 5) for t in times[name]]}
    return out


def alternate_commands(python_cmd: list[str], r_cmd: list[str], runs: int = MIN_RUNS,
                       env: dict[str, str] | None = None) -> dict[str, Any]:
    """Whole-command wall times of two fresh processes, alternating with the order flipped each repeat."""
    def once(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        elapsed = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {out.stderr[-2000:]}")
        return elapsed

    py_times: list[float] = []
    r_times: list[float] = []
    for rep in range(runs):
        if rep % 2 == 0:
            py_times.append(once(python_cmd))
            r_times.append(once(r_cmd))
        else:
            r_times.append(once(r_cmd))
            py_times.append(once(python_cmd))
    py_min, r_min = min(py_times), min(r_times)
    return {"python_s": round(py_min, 4), "r_s": round(r_min, 4), "ratio_python_over_r": round(py_min / r_min, 3),
            "runs": runs, "python_all_s": [round(t, 4) for t in py_times], "r_all_s": [round(t, 4) for t in r_times],
            "order": "alternating, python first on even repeats, R first on odd ones; every run a fresh process"}


def python_blas() -> list[dict[str, Any]]:
    """numpy/scipy's BLAS as threadpoolctl sees it."""
    from threadpoolctl import threadpool_info

    return [{k: info.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "filepath")}
            for info in threadpool_info()]


def machine() -> dict[str, Any]:
    import numpy

    return {"platform": platform.platform(), "python": platform.python_version(), "numpy": numpy.__version__,
            "cpus": os.cpu_count(), "load_average_start": [round(v, 2) for v in os.getloadavg()]}


def write_report(name: str, report: dict[str, Any]) -> Path:
    """Write ``reports/benchmarks/<name>.json`` with the end load average and a UTC timestamp added."""
    report = dict(report)
    report.setdefault("machine", machine())
    report["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    report["measured_utc"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{name}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
