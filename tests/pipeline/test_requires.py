"""`requires:` stops a pipeline before any step with one line saying how to run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import PipelineError
from radiogenomics.pipeline import load_pipeline

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "demo.yaml"


def test_rg_run_demo_pipeline_alone_says_to_use_rg_demo(tmp_path, capsys):
    store = tmp_path / "new" / "rg.duckdb"
    code = main(["--store", str(store), "--data-dir", str(tmp_path / "data"), "run", str(DEMO)])
    captured = capsys.readouterr()
    assert code not in (0, 70)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "rg demo" in lines[0] and "tcia_url" in lines[0], captured.err
    assert "Traceback" not in captured.err and "imaging" not in captured.out  # no step ran
    assert not store.exists() and not (tmp_path / "new").exists()


def test_requires_passes_when_set_and_is_validated(tmp_path):
    pipe = load_pipeline(DEMO, overrides={"tcia_url": "http://127.0.0.1:9/x", "geo_url": "http://127.0.0.1:9"},
                         builtins={"home": "/h", "store": "/h/rg.duckdb", "data_dir": "/h/data"})
    assert pipe.steps[0].env["RG_TCIA_URL"] == "http://127.0.0.1:9/x"
    half = load_pipeline(DEMO, overrides={"tcia_url": "http://127.0.0.1:9/x"},
                         builtins={"home": "/h", "store": "/h/rg.duckdb", "data_dir": "/h/data"})
    needs = {s.name: s.missing for s in half.steps if s.missing}
    assert list(needs) == ["expression"] and "geo_url" in needs["expression"]  # only the step that uses it
    from radiogenomics.pipeline import run_pipeline

    with pytest.raises(PipelineError, match="rg demo"):  # stops before any step
        run_pipeline(half, tmp_path / "rg.duckdb", until_step="expression")
    assert not (tmp_path / "rg.duckdb").exists()
    bad = tmp_path / "p.yaml"
    bad.write_text("requires: [x]\nsteps:\n  - {name: one, stage: store info}\n")
    with pytest.raises(PipelineError, match="requires"):
        load_pipeline(bad)
