"""Issue 17 (connectors): concurrent fetches, truncated DICOM at import, bad clinical/GEO inputs.

Each test reproduces a failure of the issue's campaign and shows the fix.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.config import Settings
from radiogenomics.connectors.clinical import load_clinical
from radiogenomics.connectors.geo import fetch_geo
from radiogenomics.testing.nbia_server import FaultPlan, LocalNBIAServer, write_geo_series
from radiogenomics.connectors.nbia_import import import_nbia
from radiogenomics.connectors.tcia import clean_partials, fetch_tcia, partial_dir
from radiogenomics.exceptions import DataQualityWarning, NotFoundError, ParseError
from radiogenomics.store import Store

from test_imports import _nbia_folder  # noqa: E402 - sibling test module (no package here)

COLLECTION = "SYNTH Radiogenomics"

RG = [sys.executable, "-c", "import sys; from radiogenomics.cli import main; sys.exit(main(sys.argv[1:]))"]


# ---------------------------------------------------------------------------- item 2
def test_two_fetches_on_one_data_folder_do_not_break_each_other(settings, server, cohort):
    """Campaign: 3 of 3 tries, both exit 5 with FileNotFoundError .partial/<uid>.zip.part."""
    # slow bodies so the two runs overlap on every series
    server.faults = FaultPlan().add("slow", "getImage", times=-1, delay=0.4, fraction=0.5)
    env = dict(os.environ, RG_TCIA_URL=settings.tcia_url, RG_DATA_DIR=str(settings.data_dir),
               RG_STORE=str(settings.store), RG_TIMEOUT="30")
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(RG + ["fetch", "tcia", "-c", COLLECTION, "-w", "2"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.2)
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, (out, err)
        assert "failed 0" in out
    with Store.open(settings.store, read_only=True) as store:
        series = store.query("SELECT series_uid, status FROM series")
        n_inst = store.query("SELECT count(*) AS n, count(DISTINCT sop_instance_uid) AS d FROM instances")
        failures = store.query("SELECT * FROM failures")
    assert set(series.series_uid) == set(cohort.image_counts) and (series.status == "complete").all()
    assert n_inst.n.iloc[0] == n_inst.d.iloc[0] == sum(cohort.image_counts.values())
    assert failures.empty
    # each series was downloaded once: the second run waited for the first one's lock and kept its folder
    downloads = [r[2]["SeriesInstanceUID"] for r in server.requests_for("getImage")]
    assert sorted(downloads) == sorted(cohort.image_counts)
    assert not [p for p in partial_dir(settings).iterdir()]


def test_partials_of_a_live_process_are_not_cleaned(settings, tmp_path):
    import socket

    root = partial_dir(settings)
    root.mkdir(parents=True)
    live = root / f"1.2.3~{socket.gethostname()}-{os.getpid()}-abcdef.zip.part"
    live.write_bytes(b"PK")
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
    dead = root / f"1.2.4~{socket.gethostname()}-{dead_pid}-abcdef"
    dead.mkdir()
    legacy = root / "1.2.5.zip"
    legacy.write_bytes(b"PK")
    assert clean_partials(settings) == 2
    assert live.exists() and not dead.exists() and not legacy.exists()


# ---------------------------------------------------------------------------- item 5
def test_import_nbia_refuses_a_truncated_dicom_file(cohort, store, settings, tmp_path):
    """Campaign: a file cut to 1000 of its bytes was accepted and the series marked complete."""
    root = _nbia_folder(cohort, tmp_path / "dl")
    ct_dir = sorted(root.rglob("*-ct-*"))[0]
    victim = sorted(ct_dir.iterdir())[2]
    data = victim.read_bytes()
    for cut in (1000, len(data) - 100):
        victim.write_bytes(data[:cut])
        summary = import_nbia(settings, store, root)
        assert len(summary.failed) == 1, summary.failed
        uid, reason = summary.failed[0]
        assert victim.name in reason and "truncated" in reason
        status = store.query("SELECT status FROM series WHERE series_uid = ?", [uid])
        assert status.empty or status.status.iloc[0] != "complete"
    victim.write_bytes(data)
    again = import_nbia(settings, store, root)
    assert again.failed == [] and store.query(
        "SELECT count(*) AS n FROM series WHERE status = 'complete'").n.iloc[0] == len(cohort.image_counts)


def test_fetch_refuses_a_truncated_dicom_inside_a_valid_zip(settings, store, server, cohort, tmp_path):
    """The same check protects fetch: a server sending a short DICOM member in a well-formed ZIP."""
    from radiogenomics.connectors.series_io import VerifyError, verify_series_folder

    folder = tmp_path / "series"
    folder.mkdir()
    src = sorted((cohort.root / "R01-001" / "ct").iterdir())
    for f in src:
        (folder / f.name).write_bytes(f.read_bytes())
    victim = folder / src[0].name
    victim.write_bytes(victim.read_bytes()[:-50])
    with pytest.raises(VerifyError, match="truncated"):
        verify_series_folder(folder, None, len(src))


# ---------------------------------------------------------------------------- item 7: clinical
@pytest.mark.parametrize("content, match", [("", "is empty"), ("Case ID,Age at Histological Diagnosis\n", "no rows"),
                                            ("Case ID,Age at Histological Diagnosis\n,50\n", "empty Case ID"),
                                            ("Case ID,Age at Histological Diagnosis\n\"R\x0101\",50\n",
                                             "control characters"),
                                            ("Case ID,Age at Histological Diagnosis\n" + "R" * 5000 + ",50\n",
                                             "5000 characters long")])
def test_bad_clinical_csv_is_one_clear_line(tmp_path, content, match, capsys):
    path = tmp_path / "clinical.csv"
    path.write_text(content)
    code = main(["--store", str(tmp_path / "rg.duckdb"), "fetch", "clinical", "--file", str(path)])
    err = capsys.readouterr().err
    assert code == ParseError.exit_code, err
    assert match in err and "internal error" not in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- item 7: GEO
def _samples(n):
    return [dict(gsm=f"GSM{100 + i}", title=f"P-{i:03d}", characteristics={"gender": "Male"}) for i in range(n)]


def _expr(titles, genes=20):
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.gamma(1.0, 25.0, size=(genes, len(titles))).round(4),
                        index=[f"G{i}" for i in range(genes)], columns=titles).astype(object)


def _fetch(geo_root, tmp_path):
    with LocalNBIAServer(geo_root=geo_root) as srv:
        settings = Settings.from_env(geo_url=srv.url_geo, data_dir=tmp_path / "data", store=tmp_path / "rg.duckdb")
        with Store.open(settings.store) as store:
            summary = fetch_geo(settings, store, "GSE5555")
            expr = store.query("SELECT * FROM expression")
        return summary, expr


def test_geo_table_with_one_non_numeric_cell_names_the_cell(tmp_path, fast_http):
    """Campaign: reported as 'has no expression table'.  Now the message names the cell."""
    samples = _samples(4)
    expr = _expr([s["title"] for s in samples])
    expr.loc["G7", "P-002"] = "12,5x"
    write_geo_series(tmp_path / "geo", "GSE5555", samples, expression=expr, expression_name="GSE5555_fpkm.txt.gz")
    with pytest.raises(NotFoundError) as info:
        _fetch(tmp_path / "geo", tmp_path)
    text = str(info.value)
    assert "GSE5555_fpkm.txt.gz" in text and "'P-002'" in text and "'12,5x'" in text and "'G7'" in text


def test_geo_all_na_sample_is_not_counted_with_expression(tmp_path, fast_http):
    samples = _samples(4)
    expr = _expr([s["title"] for s in samples])
    expr["P-001"] = np.nan
    write_geo_series(tmp_path / "geo", "GSE5555", samples, expression=expr, expression_name="GSE5555_fpkm.txt.gz")
    with pytest.warns(DataQualityWarning, match="only NA and are not loaded: \\['GSM101 \\(patient P-001\\)'\\]"):
        summary, stored = _fetch(tmp_path / "geo", tmp_path)
    assert summary.mapped == 3 and "3 with expression" in summary.text()
    assert "P-001" not in set(stored.patient_id) and len(stored) == 3 * 20


# ---------------------------------------------------------------------------- item 7: data folder
def _make_read_only(folder: Path) -> bool:
    """Make ``folder`` unwritable even for root (immutable flag); False when impossible here."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return True
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def _make_writable(folder: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o700)
    else:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)


def test_read_only_data_folder_is_a_clear_error(settings, server, cohort, tmp_path, capsys, monkeypatch):
    """Campaign: exit 70 (internal error).  Now one clear line naming the folder."""
    monkeypatch.setenv("RG_TCIA_URL", settings.tcia_url)  # the local server: tests never go online
    data = tmp_path / "ro"
    data.mkdir()
    if not _make_read_only(data):
        pytest.skip("cannot make a folder read-only here")
    try:
        code = main(["--store", str(tmp_path / "rg.duckdb"), "--data-dir", str(data), "fetch", "tcia",
                     "-c", COLLECTION])
    finally:
        _make_writable(data)
    err = capsys.readouterr().err
    assert code not in (0, 70) and "internal error" not in err, err
    assert "not writable" in err and str(data) in err and len(err.strip().splitlines()) == 1, err
    # and the library's own check, for a data folder made read-only after the CLI checked it
    ro = Settings.from_env(tcia_url=settings.tcia_url, data_dir=data, store=tmp_path / "rg2.duckdb")
    assert _make_read_only(data)
    try:
        summary = fetch_tcia(ro, ro.store, COLLECTION, workers=1)
    finally:
        _make_writable(data)
    assert len(summary.failed) == len(cohort.image_counts)
    assert all("not writable" in reason for _, reason in summary.failed), summary.failed
