"""Issue 17 campaign: kill -9 / SIGTERM at random moments, concurrent runs, bad inputs.

Run from the repository root (no network: a local NBIA server on 127.0.0.1)::

    PYTHONPATH=$PWD python reports/campaigns/issue17_campaign.py [--seed 17] [--out reports/campaigns/issue17.json]

Each trial is classified:

* ``clean``       the run (or its recovery run) ends with everything stored once and
                  the expected exit code / one-line message;
* ``lost``        something that should be stored is missing after recovery, a
                  file registered ``ok`` is empty/unreadable, or a run failed because
                  of another run;
* ``duplicated``  a row or a series folder is stored twice;
* ``other``       anything else unexpected (workers outliving their parent, a run left
                  ``running``, an internal error / traceback, a wrong exit code).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

RG = [sys.executable, "-c", "import sys; from radiogenomics.cli import main; sys.exit(main(sys.argv[1:]))"]
COLLECTION = "CAMPAIGN"


# ---------------------------------------------------------------------------- fixtures
def make_cohort(root: Path, n: int = 5) -> dict[str, int]:
    from radiogenomics.synth.dicom import write_ct_series, write_seg

    rng = np.random.default_rng(1)
    counts = {}
    for k in range(n):
        pid = f"C-{k:03d}"
        vol = rng.integers(-1000, 300, size=(10 + k, 32, 32)).astype(np.int16)
        ct = write_ct_series(vol, (1.0, 1.0, 2.0), root / pid / "ct", pid)
        mask = np.zeros(vol.shape, bool)
        mask[2:7, 8:20, 8:20] = True
        seg = write_seg({"tumor": mask}, ct, root / pid / "seg" / "seg.dcm")
        import pydicom

        counts[str(pydicom.dcmread(ct[0], stop_before_pixels=True).SeriesInstanceUID)] = len(ct)
        counts[str(pydicom.dcmread(seg, stop_before_pixels=True).SeriesInstanceUID)] = 1
    return counts


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run(args, env, timeout=600, cwd=None):
    return subprocess.run(RG + args, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def store_state(store: Path) -> dict:
    from radiogenomics.store import Store

    with Store.open(store, read_only=True, wait=60) as st:
        q = lambda sql: st.query(sql)  # noqa: E731
        return dict(
            series=q("SELECT series_uid, status, path, image_count FROM series"),
            inst=q("SELECT count(*) AS n, count(DISTINCT sop_instance_uid) AS d FROM instances").iloc[0].to_dict(),
            runs=q("SELECT command, status FROM runs"),
            rois=q("SELECT patient_id, roi, reader, status, mask_path FROM rois"),
            feats=q("SELECT patient_id, roi, count(*) AS n, count(DISTINCT feature) AS d FROM features GROUP BY 1, 2"),
            failures=q("SELECT * FROM failures"),
        )


# ---------------------------------------------------------------------------- scenarios
def fetch_kill(rng, base: Path, cohort: Path, counts: dict, url_env: dict, sig: int) -> str:
    """Kill `rg fetch tcia` at a random moment, rerun, check the store and the folders."""
    work = Path(tempfile.mkdtemp(dir=base))
    env = dict(os.environ, **url_env, RG_STORE=str(work / "rg.duckdb"), RG_DATA_DIR=str(work / "data"))
    proc = subprocess.Popen(RG + ["-q", "fetch", "tcia", "-c", COLLECTION, "-w", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(rng.uniform(0.3, 6.0))
    os.kill(proc.pid, sig)
    proc.wait(timeout=120)
    again = run(["-q", "fetch", "tcia", "-c", COLLECTION, "-w", "2"], env)
    if again.returncode != 0:
        return "lost"
    state = store_state(work / "rg.duckdb")
    series = state["series"]
    if set(series.series_uid) != set(counts) or not (series.status == "complete").all():
        return "lost"
    if state["inst"]["n"] != state["inst"]["d"]:
        return "duplicated"
    if state["inst"]["n"] != sum(counts.values()):
        return "lost"
    folders = [p for p in (work / "data" / "tcia" / COLLECTION).glob("*/*") if p.is_dir()]
    if len(folders) != len(counts):
        return "duplicated" if len(folders) > len(counts) else "lost"
    if (state["runs"].status == "running").any():
        return "other"
    return "clean"


def features_kill(rng, base: Path, seed_store: Path, sig: int) -> str:
    """Kill `rg features -j 2`: workers must die with it, the run shows interrupted, a rerun completes."""
    work = Path(tempfile.mkdtemp(dir=base))
    shutil.copytree(seed_store.parent, work / "s")
    store = work / "s" / seed_store.name
    env = dict(os.environ, RG_STORE=str(store), RG_DATA_DIR=str(work / "s" / "data"))
    proc = subprocess.Popen(RG + ["-q", "features", "-j", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = children(proc.pid)
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 3.0))
    os.kill(proc.pid, sig)
    proc.wait(timeout=120)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    if any(alive(w) for w in workers):
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
        return "other"
    state = store_state(store)  # opening it marks the dead run
    if (state["runs"].status == "running").any():
        return "other"
    again = run(["-q", "features", "-j", "2"], env)
    if again.returncode != 0:
        return "lost"
    state = store_state(store)
    ok = state["rois"][state["rois"].status == "ok"]
    got = set(zip(state["feats"].patient_id, state["feats"].roi))
    if set(zip(ok.patient_id, ok.roi)) - got:
        return "lost"
    if (state["feats"].n != state["feats"].d).any():
        return "duplicated"
    return "clean"


def two_fetches(base: Path, counts: dict, url_env: dict) -> str:
    work = Path(tempfile.mkdtemp(dir=base))
    env = dict(os.environ, **url_env, RG_STORE=str(work / "rg.duckdb"), RG_DATA_DIR=str(work / "data"))
    procs = [subprocess.Popen(RG + ["-q", "fetch", "tcia", "-c", COLLECTION, "-w", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    codes = [p.wait(timeout=600) for p in procs]
    if any(codes):
        return "lost"
    state = store_state(work / "rg.duckdb")
    if state["inst"]["n"] != state["inst"]["d"]:
        return "duplicated"
    if not (state["series"].status == "complete").all() or len(state["series"]) != len(counts) \
            or not state["failures"].empty:
        return "lost"
    return "clean"


def two_rois(base: Path, seed_store: Path) -> str:
    work = Path(tempfile.mkdtemp(dir=base))
    shutil.copytree(seed_store.parent, work / "s")
    store = work / "s" / seed_store.name
    env = dict(os.environ, RG_STORE=str(store), RG_DATA_DIR=str(work / "s" / "data"))
    procs = [subprocess.Popen(RG + ["-q", "rois", "-j", "1"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    if any(p.returncode for p in procs) or any("0 failed" not in o for o, _ in outs):
        return "lost"
    state = store_state(store)
    rois = state["rois"]
    if rois.duplicated(["patient_id", "roi", "reader"]).any():
        return "duplicated"
    if not (rois.status == "ok").all() or not state["failures"].empty:
        return "lost"
    for path in rois.mask_path:
        if not Path(path).is_file() or Path(path).stat().st_size == 0:
            return "lost"
    return "clean"


def bad_inputs(base: Path) -> list[tuple[str, str]]:
    """Each bad input: exit code not 0/70, one line on stderr starting with 'error:'."""
    work = Path(tempfile.mkdtemp(dir=base))
    env = dict(os.environ, RG_STORE=str(work / "rg.duckdb"), RG_DATA_DIR=str(work / "data"),
               RG_TCIA_URL="http://127.0.0.1:9", RG_RETRIES="0", RG_TIMEOUT="1")
    run(["store", "info", "--migrate"], env)
    img = work / "img.nrrd"
    import SimpleITK as sitk

    arr = np.zeros((4, 8, 8), np.int16)
    arr[1:3, 2:6, 2:6] = 1
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(img))
    csvs = {"empty.csv": "", "header.csv": "Case ID,Age\n", "blank_id.csv": "Case ID,Age\n,4\n",
            "ctrl.csv": 'Case ID,Age\n"A\x01B",4\n', "long.csv": "Case ID,Age\n" + "x" * 5000 + ",4\n",
            "date.csv": "Case ID,Date of Death\nA,notadate\n", "binary.csv": "\x00\x01\x02"}
    for name, text in csvs.items():
        (work / name).write_text(text)
    trunc = work / "trunc.duckdb"
    run(["--store", str(trunc), "store", "info", "--migrate"], env)
    os.truncate(trunc, 4096)
    notdb = work / "notdb.duckdb"
    notdb.write_text("hello")
    cases = [(f"clinical {n}", ["fetch", "clinical", "--file", str(work / n)]) for n in csvs]
    cases += [
        ("import images empty id", ["import", "images", "-p", "", "--image", str(img), "--mask", str(img)]),
        ("import images tab id", ["import", "images", "-p", "a\tb", "--image", str(img), "--mask", str(img)]),
        ("import images 5000 id", ["import", "images", "-p", "x" * 5000, "--image", str(img), "--mask", str(img)]),
        ("import images missing file", ["import", "images", "-p", "A", "--image", str(work / "no.nrrd"),
                                        "--mask", str(img)]),
        ("import images text as image", ["import", "images", "-p", "A", "--image", str(work / "empty.csv"),
                                         "--mask", str(img)]),
        ("store info truncated", ["--store", str(trunc), "store", "info"]),
        ("store info not duckdb", ["--store", str(notdb), "store", "info"]),
        ("sql on folder store", ["--store", str(work), "sql", "SELECT 1"]),
        ("features no rois", ["features"]),
        ("rois no segs", ["rois"]),
        ("fetch tcia unreachable", ["fetch", "tcia", "-c", "X"]),
        ("import nbia no metadata", ["import", "nbia", str(work)]),
        ("features bad params", ["features", "--params", str(work / "empty.csv")]),
        ("read-only data dir", ["--data-dir", "/proc/rg-data", "fetch", "clinical", "--file", str(work / "empty.csv")]),
    ]
    out = []
    for label, args in cases:
        res = run(args, env, timeout=120)
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        bad = res.returncode in (0, 70) or "Traceback" in res.stderr or "internal error" in res.stderr
        clear = bool(lines) and lines[-1].startswith("error:")
        out.append((label, "clean" if (not bad and clear) else f"other (exit {res.returncode}: {res.stderr.strip()[-200:]})"))
    return out


def seed_rois_store(base: Path, counts: dict, url_env: dict) -> Path:
    work = base / "seed"
    env = dict(os.environ, **url_env, RG_STORE=str(work / "rg.duckdb"), RG_DATA_DIR=str(work / "data"))
    res = run(["-q", "fetch", "tcia", "-c", COLLECTION], env)
    assert res.returncode == 0, res.stderr
    return work / "rg.duckdb"


def seed_features_store(base: Path, seed: Path) -> Path:
    work = base / "seed_feat"
    shutil.copytree(seed.parent, work)
    env = dict(os.environ, RG_STORE=str(work / seed.name), RG_DATA_DIR=str(work / "data"))
    res = run(["-q", "rois", "-j", "1"], env)
    assert res.returncode == 0, res.stderr + res.stdout
    return work / seed.name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--fetch-kills", type=int, default=8)
    parser.add_argument("--feature-kills", type=int, default=6)
    parser.add_argument("--concurrent", type=int, default=3)
    parser.add_argument("--out", default="reports/campaigns/issue17.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    from radiogenomics.testing.nbia_server import FaultPlan, LocalNBIAServer

    base = Path(tempfile.mkdtemp(prefix="rg-campaign-"))
    results: dict[str, list[str]] = {}
    details: dict[str, list] = {}
    t0 = time.monotonic()
    try:
        counts = make_cohort(base / "cohort")
        with LocalNBIAServer(base / "cohort", collection=COLLECTION) as srv:
            url_env = {"RG_TCIA_URL": srv.url_tcia, "RG_TIMEOUT": "30"}
            seed = seed_rois_store(base, counts, url_env)
            feat_seed = seed_features_store(base, seed)
            # slow bodies so kills land mid-download and the two fetches overlap
            srv.faults = FaultPlan().add("slow", "getImage", times=-1, delay=0.5, fraction=0.5)
            for k in range(args.fetch_kills):
                sig = signal.SIGKILL if k % 2 == 0 else signal.SIGTERM
                results.setdefault("kill fetch tcia", []).append(fetch_kill(rng, base, base / "cohort", counts,
                                                                            url_env, sig))
            for _ in range(args.concurrent):
                results.setdefault("two fetch tcia, one data folder", []).append(two_fetches(base, counts, url_env))
            srv.faults = FaultPlan()
            for _ in range(args.concurrent):
                results.setdefault("two rois, one store", []).append(two_rois(base, seed))
            for k in range(args.feature_kills):
                sig = signal.SIGKILL if k % 2 == 0 else signal.SIGTERM
                results.setdefault("kill features -j 2", []).append(features_kill(rng, base, feat_seed, sig))
        bad = bad_inputs(base)
        results["bad inputs"] = [r for _, r in bad]
        details["bad inputs"] = bad
    finally:
        shutil.rmtree(base, ignore_errors=True)
    summary = {}
    for name, outcomes in results.items():
        c = Counter(o.split(" ")[0] for o in outcomes)
        summary[name] = dict(tried=len(outcomes), clean=c["clean"], lost=c["lost"], duplicated=c["duplicated"],
                             other=c["other"])
    total = Counter()
    for row in summary.values():
        total.update(row)
    summary["total"] = dict(total)
    report = dict(seed=args.seed, seconds=round(time.monotonic() - t0, 1), summary=summary,
                  outcomes=results, details=details)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    width = max(len(k) for k in summary)
    print(f"{'scenario':<{width}}  tried clean lost dup other")
    for name, row in summary.items():
        print(f"{name:<{width}}  {row['tried']:>5} {row['clean']:>5} {row['lost']:>4} {row['duplicated']:>3} {row['other']:>5}")


if __name__ == "__main__":
    main()
