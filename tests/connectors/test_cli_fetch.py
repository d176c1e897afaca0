"""The `rg fetch` / `rg import` commands end to end against the local server."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiogenomics.cli import main
from radiogenomics.testing.nbia_server import FaultPlan, LocalNBIAServer, write_geo_series
from radiogenomics.store import Store

from tests.connectors.test_clinical import HEADER, ROWS


def _env(monkeypatch, tmp_path, srv, clinical_path=None):
    monkeypatch.setenv("RG_TCIA_URL", srv.url_tcia)
    monkeypatch.setenv("RG_GEO_URL", srv.url_geo)
    monkeypatch.setenv("RG_STORE", str(tmp_path / "rg.duckdb"))
    monkeypatch.setenv("RG_DATA_DIR", str(tmp_path / "data"))
    if clinical_path:
        monkeypatch.setenv("RG_CLINICAL_URL", srv.file_url("/clinical.csv"))


def test_fetch_tcia_cli_failure_exit_code_then_rerun(cohort, fast_http, monkeypatch, tmp_path, capsys):
    victim = cohort.seg["R01-001"]
    plan = FaultPlan().add("corrupt", "getImage", match={"SeriesInstanceUID": victim}, times=-1)
    with LocalNBIAServer(cohort.root, collection="SYNTH", faults=plan) as srv:
        _env(monkeypatch, tmp_path, srv)
        code = main(["-q", "fetch", "tcia", "-c", "SYNTH", "-m", "SEG", "--referenced-ct"])
        out = capsys.readouterr()
        assert code == 5
        assert f"failed {victim}" in out.out and "rerun" in out.err
        srv.faults.clear()
        assert main(["-q", "fetch", "tcia", "-c", "SYNTH", "-m", "SEG", "--referenced-ct"]) == 0
        assert "fetched 2, skipped 2" in capsys.readouterr().out
        assert main(["-q", "fetch", "tcia", "-c", "NOPE"]) == 5
        assert "no series for collection 'NOPE'" in capsys.readouterr().err
    with Store.open(tmp_path / "rg.duckdb", read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM series WHERE status='complete'")["n"][0] == 4


def test_fetch_nsclc_radiogenomics_from_catalog(cohort, fast_http, monkeypatch, tmp_path, capsys):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n")
    samples = [dict(gsm="GSM1", title="R01-001", characteristics={"histology": "Adenocarcinoma"}),
               dict(gsm="GSM2", title="R01-002", characteristics={"histology": "Squamous"})]
    expr = pd.DataFrame(np.arange(20.0).reshape(10, 2) * 13.5, index=[f"G{i}" for i in range(10)],
                        columns=["R01-002", "R01-001"])
    write_geo_series(tmp_path / "geo", "GSE103584", samples, expression=expr,
                     expression_name="GSE103584_R01_NSCLC_RNAseq.txt.gz")
    with LocalNBIAServer(cohort.root, collection="NSCLC Radiogenomics", geo_root=tmp_path / "geo",
                         files={"/clinical.csv": clinical}) as srv:
        _env(monkeypatch, tmp_path, srv, clinical)
        code = main(["-q", "fetch", "nsclc-radiogenomics"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "loaded 4 clinical rows" in out and "fetched 4" in out and "Bakr" in out
    with Store.open(tmp_path / "rg.duckdb", read_only=True) as store:
        pairs = store.query("""
            SELECT s.patient_id, c.series_uid AS ct FROM series s JOIN series c ON c.series_uid = s.referenced_series_uid
            WHERE s.modality = 'SEG' AND s.status = 'complete' AND c.status = 'complete' ORDER BY 1""")
        assert dict(zip(pairs["patient_id"], pairs["ct"])) == {p: cohort.ct[p] for p in cohort.seg}
        joined = store.query("SELECT e.patient_id, count(*) AS n FROM expression e JOIN clinical USING (patient_id) "
                             "GROUP BY 1 ORDER BY 1")
        assert joined["patient_id"].tolist() == ["R01-001", "R01-002"] and (joined["n"] == 10).all()
        runs = store.query("SELECT command, status FROM runs ORDER BY started_at")
        assert runs["command"].tolist() == ["fetch clinical", "fetch tcia", "fetch geo"]
        assert (runs["status"] == "ok").all()


def test_fetch_nsclc_radiogenomics_executor_option(cohort, fast_http, monkeypatch, tmp_path, capsys):
    """--executor reaches the per-series downloads; a rerun on another executor adds no rows."""
    with LocalNBIAServer(cohort.root, collection="NSCLC Radiogenomics") as srv:
        _env(monkeypatch, tmp_path, srv)
        argv = ["-q", "fetch", "nsclc-radiogenomics", "--skip", "clinical", "--skip", "geo"]
        assert main(argv + ["--executor", "local:2"]) == 0
        assert "fetched 4" in capsys.readouterr().out
        assert main(argv) == 0
        assert "fetched 0, skipped 4" in capsys.readouterr().out
    with Store.open(tmp_path / "rg.duckdb", read_only=True) as store:
        ex = store.query("SELECT parameters->>'executor' AS ex FROM runs ORDER BY started_at")["ex"].tolist()
        assert ex == ["local:2", "local"]
        inst = store.query("SELECT count(*) AS n, count(DISTINCT sop_instance_uid) AS d FROM instances")
        expected = sum(cohort.image_counts[u] for u in list(cohort.seg.values()) + [cohort.ct[p] for p in cohort.seg])
        assert inst["n"][0] == inst["d"][0] == expected


def test_import_and_clinical_commands(cohort, fast_http, monkeypatch, tmp_path, capsys):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n")
    with LocalNBIAServer(cohort.root, collection="SYNTH") as srv:
        _env(monkeypatch, tmp_path, srv)
        assert main(["-q", "fetch", "clinical", "--file", str(clinical)]) == 0
        assert "loaded 4 clinical rows" in capsys.readouterr().out
        manifest = tmp_path / "m.tcia"
        manifest.write_text("ListOfSeriesToDownload=\n" + "\n".join(sorted(cohort.image_counts)) + "\n")
        assert main(["-q", "import", "manifest", str(manifest)]) == 0
        assert f"fetched {len(cohort.image_counts)}" in capsys.readouterr().out
    assert main(["-q", "import", "nbia", str(tmp_path)]) == 3
    assert "no metadata.csv" in capsys.readouterr().err


def test_clinical_url_comes_from_the_catalog_unless_overridden(monkeypatch):
    from radiogenomics.config import Settings
    from radiogenomics.connectors.collection import clinical_source, load_entry

    entry = dict(load_entry("nsclc-radiogenomics"))
    entry["clinical"] = {**entry["clinical"], "url": "https://example.invalid/other.csv"}
    monkeypatch.delenv("RG_CLINICAL_URL", raising=False)
    assert clinical_source(Settings.from_env(), entry) == "https://example.invalid/other.csv"
    monkeypatch.setenv("RG_CLINICAL_URL", "http://127.0.0.1:1/c.csv")
    assert clinical_source(Settings.from_env(), entry) == "http://127.0.0.1:1/c.csv"
