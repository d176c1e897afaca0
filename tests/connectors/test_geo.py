"""GEO connector against a local GEO-like folder tree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics.config import Settings
from radiogenomics.connectors.geo import detect_scale, fetch_geo, geo_series_url, parse_expression_table
from radiogenomics.testing.nbia_server import FaultPlan, LocalNBIAServer, geo_stub, write_geo_series
from radiogenomics.exceptions import InputError, NotFoundError, ParseError
from radiogenomics.store import Store


def _samples(prefix: str, n: int, start: int = 100, platform_key: str | None = None):
    return [dict(gsm=f"GSM{start + i}", title=f"{prefix}-{i:03d}",
                 characteristics={"histology": "Adenocarcinoma" if i % 2 else "Squamous", "gender": "Male"})
            for i in range(n)]


def _expr(titles, genes=30, seed=0, counts=False):
    rng = np.random.default_rng(seed)
    values = rng.poisson(200, size=(genes, len(titles))) if counts else rng.gamma(1.0, 25.0, size=(genes, len(titles))).round(4)
    return pd.DataFrame(values, index=[f"G{i}" for i in range(genes)], columns=titles)


@pytest.fixture
def geo_root(tmp_path):
    return tmp_path / "geo"


def _run(geo_root, tmp_path, gse, files=None, faults=None):
    with LocalNBIAServer(geo_root=geo_root, faults=faults) as srv:
        settings = Settings.from_env(geo_url=srv.url_geo, data_dir=tmp_path / "data", store=tmp_path / "rg.duckdb")
        with Store.open(settings.store) as store:
            summary = fetch_geo(settings, store, gse, files=files)
            tables = {t: store.query(f"SELECT * FROM {t}") for t in ("datasets", "samples", "expression", "id_crosswalk")}
        return summary, tables, srv


def test_stub_and_url():
    assert geo_stub("GSE103584") == "GSE103nnn" and geo_stub("GSE1") == "GSEnnn" and geo_stub("GSE1234") == "GSE1nnn"
    assert geo_series_url("https://ftp.ncbi.nlm.nih.gov", "GSE103584") == \
        "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE103nnn/GSE103584"


def test_supplementary_table_by_title_rerun_no_duplicates(geo_root, tmp_path, fast_http):
    samples = _samples("P", 6)
    expr = _expr([s["title"] for s in samples][::-1])
    expr.iloc[0, 0] = np.nan
    write_geo_series(geo_root, "GSE5555", samples, expression=expr, expression_name="GSE5555_fpkm.txt.gz")
    summary, t, _ = _run(geo_root, tmp_path, "GSE5555")
    assert summary.mapped == 6 and summary.genes == 30 and summary.scales == {"GSE5555": "fpkm"}
    assert len(t["expression"]) == 180 and t["expression"]["value"].isna().sum() == 1
    assert set(t["samples"]["patient_id"]) == {s["title"] for s in samples}
    chars = t["samples"].set_index("sample_id").loc["GSM101", "characteristics"]
    assert '"histology": "Adenocarcinoma"' in chars
    summary2, t2, _ = _run(geo_root, tmp_path, "GSE5555")
    assert len(t2["expression"]) == 180 and len(t2["samples"]) == 6 and len(t2["id_crosswalk"]) == 12
    val = t2["expression"].set_index(["patient_id", "gene"]).loc[("P-003", "G4"), "value"]
    assert val == pytest.approx(expr.loc["G4", "P-003"])


def test_matrix_table_counts_with_gsm_columns(geo_root, tmp_path, fast_http):
    samples = _samples("S", 4)
    table = _expr([s["gsm"] for s in samples], counts=True)
    write_geo_series(geo_root, "GSE42", samples, matrix_table=table)
    summary, t, _ = _run(geo_root, tmp_path, "GSE42")
    ds = t["datasets"].iloc[0]
    assert ds["scale"] == "counts" and bool(ds["is_counts"]) and ds["n_samples"] == 4
    assert len(t["expression"]) == 120


def test_multi_platform_series(geo_root, tmp_path, fast_http):
    a, b = _samples("A", 3, 100), _samples("B", 2, 200)
    folder = write_geo_series(geo_root, "GSE7000", a + b, platform="GPL1",
                              expression=_expr([s["title"] for s in a + b]))
    # split the matrix into two platform files like GEO does
    (folder / "matrix" / "GSE7000_series_matrix.txt.gz").unlink()
    tmp = geo_root / "tmp"
    write_geo_series(tmp, "GSE7000", a, platform="GPL1")
    write_geo_series(tmp / "b", "GSE7000", b, platform="GPL2")
    (tmp / "series" / "GSE7nnn" / "GSE7000" / "matrix" / "GSE7000_series_matrix.txt.gz").rename(
        folder / "matrix" / "GSE7000-GPL1_series_matrix.txt.gz")
    (tmp / "b" / "series" / "GSE7nnn" / "GSE7000" / "matrix" / "GSE7000_series_matrix.txt.gz").rename(
        folder / "matrix" / "GSE7000-GPL2_series_matrix.txt.gz")
    summary, t, _ = _run(geo_root, tmp_path, "GSE7000")
    assert sorted(summary.datasets) == ["GSE7000-GPL1", "GSE7000-GPL2"]
    counts = t["expression"].groupby("dataset").size().to_dict()
    assert counts == {"GSE7000-GPL1": 90, "GSE7000-GPL2": 60}
    assert t["samples"].set_index("sample_id")["platform"].to_dict()["GSM200"] == "GPL2"


def test_missing_series_and_no_expression_are_clear_errors(geo_root, tmp_path, fast_http):
    write_geo_series(geo_root, "GSE9", _samples("X", 2))
    with pytest.raises(NotFoundError, match="GSE404 does not exist"):
        _run(geo_root, tmp_path, "GSE404")
    with pytest.raises(NotFoundError, match="GSE9 has no expression table"):
        _run(geo_root, tmp_path, "GSE9")
    with pytest.raises(InputError, match="not a GEO series accession"):
        _run(geo_root, tmp_path, "GDS12")
    with pytest.raises(NotFoundError, match="no supplementary file"):
        write_geo_series(geo_root, "GSE10", _samples("Y", 2), expression=_expr(["Y-000", "Y-001"]))
        _run(geo_root, tmp_path, "GSE10", files=["nope.txt.gz"])
    with Store.open(tmp_path / "rg.duckdb") as store:
        assert store.query("SELECT count(*) AS n FROM expression")["n"][0] == 0


def test_faults_during_geo_download_are_retried_and_resumed(geo_root, tmp_path, fast_http):
    samples = _samples("P", 5)
    write_geo_series(geo_root, "GSE77", samples, expression=_expr([s["title"] for s in samples], genes=6000),
                     expression_name="big.txt.gz")
    plan = FaultPlan().add("status", "big.txt.gz", status=503, times=1, retry_after=0) \
                      .add("drop", "big.txt.gz", times=1, fraction=0.5) \
                      .add("status", "filelist.txt", status=500, times=2)
    summary, t, srv = _run(geo_root, tmp_path, "GSE77", faults=plan)
    assert summary.mapped == 5 and len(t["expression"]) == 30000
    big = [r for r in srv.log if r[1].endswith("big.txt.gz")]
    assert [r[3] for r in big] == [503, 200, 206] and "Range" in big[2][2]
    assert not list((tmp_path / "data").rglob("*.part"))


def test_persistent_geo_failure_writes_nothing(geo_root, tmp_path, fast_http):
    from radiogenomics.exceptions import DownloadError

    samples = _samples("P", 3)
    write_geo_series(geo_root, "GSE78", samples, expression=_expr([s["title"] for s in samples]))
    plan = FaultPlan().add("status", "GSE78_expression.txt.gz", status=500, times=-1)
    with pytest.raises(DownloadError, match="500"):
        _run(geo_root, tmp_path, "GSE78", faults=plan)
    with Store.open(tmp_path / "rg.duckdb") as store:
        for table in ("samples", "expression", "datasets"):
            assert store.query(f"SELECT count(*) AS n FROM {table}")["n"][0] == 0
    summary, t, _ = _run(geo_root, tmp_path, "GSE78")
    assert len(t["expression"]) == 90


def test_expression_parser_errors_and_duplicates(tmp_path):
    from radiogenomics.exceptions import DataQualityWarning

    bad = tmp_path / "bad.txt"
    bad.write_text("\tA\tB\nG1\t1.0\toops\n")
    with pytest.raises(ParseError, match="column 'B'.*'oops'.*G1"):
        parse_expression_table(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text(",A,B\nG1,1,2\nG1,3,4\nG2,NA,5\n")
    with pytest.warns(DataQualityWarning, match="repeated gene"):
        frame = parse_expression_table(dup)
    assert frame.loc["G1", "A"] == 1 and np.isnan(frame.loc["G2", "A"])


def test_detect_scale():
    assert detect_scale(np.array([0.0, 10, 500]), "") == ("counts", True)
    assert detect_scale(np.array([-1.0, 3.2, 12.5]), "fpkm") == ("log2", False)
    assert detect_scale(np.array([0.5, 300.25]), "Cufflinks FPKM") == ("fpkm", False)
    assert detect_scale(np.array([0.5, 300.25]), "TPM from salmon") == ("tpm", False)
    assert detect_scale(np.array([0.5, 300.25]), "") == ("other", False)
