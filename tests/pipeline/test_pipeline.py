"""The pipeline runner: order, skipping unchanged steps, reruns downstream, ranges, failures, runs rows."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from radiogenomics.exceptions import PipelineError
from radiogenomics.pipeline import load_pipeline, run_pipeline
from radiogenomics.store import Store

YAML = """
name: toy
vars:
  n: "3"
  src: ${pipeline_dir}/input.txt
steps:
  - name: a
    stage: fake-a
    args: ["${src}"]
    params: {count: "${n}", flag: true}
  - name: b
    stage: fake-b
  - name: c
    stage: fake-c
    after: [a]
"""


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "input.txt").write_text("one")
    path = tmp_path / "toy.yaml"
    path.write_text(YAML)
    calls: list[tuple[str, list[str]]] = []

    def fake(name):
        def run(argv, ctx):
            calls.append((name, argv))
            with Store.open(ctx.store_path) as store, store.run(f"fake {name}", {"argv": argv}):
                pass
            return 0
        return run

    executors = {s: fake(s) for s in ("fake-a", "fake-b", "fake-c")}
    return tmp_path, path, calls, executors


def test_runs_in_order_then_skips_unchanged(setup):
    tmp, path, calls, ex = setup
    store = tmp / "rg.duckdb"
    pipe = load_pipeline(path)
    assert pipe.steps[0].argv() == ["fake-a", str(tmp / "input.txt"), "--count", "3", "--flag"]
    first = run_pipeline(pipe, store, executors=ex)
    assert [c[0] for c in calls] == ["fake-a", "fake-b", "fake-c"]
    assert [s.status for s in first.steps] == ["ok", "ok", "ok"]
    second = run_pipeline(load_pipeline(path), store, executors=ex)
    assert [s.status for s in second.steps] == ["skipped"] * 3 and len(calls) == 3
    with Store.open(store, read_only=True) as st:
        runs = st.query("SELECT * FROM runs WHERE command LIKE 'rg run toy:%' ORDER BY started_at")
        steps = st.query("SELECT * FROM core.pipeline_steps WHERE pipeline = 'toy'")
    assert len(runs) == 3 and set(runs.status) == {"ok"}
    params = json.loads(runs.parameters.iloc[0])
    assert params["step"] == "a" and len(params["stage_runs"]) == 1
    # the input file's checksum is recorded with the step's run
    assert str(tmp / "input.txt") in json.loads(runs.input_checksums.iloc[0])
    assert set(steps.step) == {"a", "b", "c"}


def test_changed_input_reruns_step_and_downstream(setup):
    tmp, path, calls, ex = setup
    store = tmp / "rg.duckdb"
    run_pipeline(load_pipeline(path), store, executors=ex)
    calls.clear()
    (tmp / "input.txt").write_text("two")
    result = run_pipeline(load_pipeline(path), store, executors=ex)
    assert [s.status for s in result.steps] == ["ok", "ok", "ok"]
    calls.clear()
    # a changed parameter of b only: c depends on a only, so it is skipped
    result = run_pipeline(load_pipeline(path, overrides={"n": "3"}), store, executors=ex)
    assert [s.status for s in result.steps] == ["skipped"] * 3
    text = path.read_text().replace("stage: fake-b", "stage: fake-b\n    params: {x: 1}")
    path.write_text(text)
    result = run_pipeline(load_pipeline(path), store, executors=ex)
    assert [s.status for s in result.steps] == ["skipped", "ok", "skipped"]


def test_from_until_and_force(setup):
    tmp, path, calls, ex = setup
    store = tmp / "rg.duckdb"
    result = run_pipeline(load_pipeline(path), store, executors=ex, until_step="a")
    assert [s.status for s in result.steps] == ["ok", "not-selected", "not-selected"]
    result = run_pipeline(load_pipeline(path), store, executors=ex, from_step="b", until_step="b")
    assert [s.status for s in result.steps] == ["not-selected", "ok", "not-selected"]
    result = run_pipeline(load_pipeline(path), store, executors=ex, from_step="a", force=True)
    assert [s.status for s in result.steps] == ["ok", "ok", "ok"]
    with pytest.raises(PipelineError, match="no step 'zz'"):
        run_pipeline(load_pipeline(path), store, executors=ex, from_step="zz")


def test_failure_stops_and_is_recorded_then_resumes(setup):
    tmp, path, calls, ex = setup
    store = tmp / "rg.duckdb"
    from radiogenomics.exceptions import ModelError

    def boom(argv, ctx):
        raise ModelError("too few events")

    bad = {**ex, "fake-b": boom}
    with pytest.raises(PipelineError, match="step b .*too few events"):
        run_pipeline(load_pipeline(path), store, executors=bad)
    with Store.open(store, read_only=True) as st:
        steps = st.query("SELECT step, status FROM core.pipeline_steps").set_index("step")["status"]
        failed = st.query("SELECT error FROM runs WHERE command = 'rg run toy:b'")
    assert steps["a"] == "ok" and steps["b"] == "failed" and "c" not in steps
    assert "too few events" in failed.error.iloc[0]
    calls.clear()
    result = run_pipeline(load_pipeline(path), store, executors=ex)
    assert [s.status for s in result.steps] == ["skipped", "ok", "ok"]


def test_optional_step_and_unknown_stage(setup, tmp_path):
    tmp, path, calls, ex = setup
    path.write_text(textwrap.dedent("""
        name: opt
        steps:
          - {name: missing, stage: no-such-command, optional: true}
          - {name: b, stage: fake-b}
    """))
    result = run_pipeline(load_pipeline(path), tmp / "rg.duckdb", executors=ex)
    assert [s.status for s in result.steps] == ["unavailable", "ok"]
    assert "not an rg command" in result.steps[0].message
    path.write_text("name: x\nsteps:\n  - {name: m, stage: no-such-command}\n")
    with pytest.raises(PipelineError, match="not an rg command"):
        run_pipeline(load_pipeline(path), tmp / "rg.duckdb", executors=ex)


@pytest.mark.parametrize("text, message", [
    ("steps: []", "non-empty list"),
    ("steps:\n  - {name: a}", "`stage`"),
    ("steps:\n  - {name: a, stage: x}\n  - {name: a, stage: y}", "used twice"),
    ("steps:\n  - {name: a, stage: x, bogus: 1}", "unknown keys"),
    ("steps:\n  - {name: a, stage: x, args: ['${nope}']}", "unknown variable"),
    ("steps:\n  - {name: a, stage: x, after: [b]}", "not earlier steps"),
])
def test_bad_pipeline_files(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PipelineError, match=message):
        load_pipeline(path)


def test_cli_stage_runs_in_process(tmp_path):
    """A real rg command as a step (rg sql on the pipeline's store)."""
    path = tmp_path / "p.yaml"
    path.write_text("name: sql\nsteps:\n  - name: q\n    stage: sql\n    args: ['SELECT 1 AS x']\n")
    result = run_pipeline(load_pipeline(path), tmp_path / "rg.duckdb")
    assert [s.status for s in result.steps] == ["ok"]


def test_shipped_pipelines_parse_and_name_real_commands():
    """Every step of the shipped pipelines is an existing rg command with existing options."""
    from pathlib import Path

    import typer

    from radiogenomics.cli import app

    root = Path(__file__).resolve().parents[2] / "pipelines"
    command = typer.main.get_command(app)
    for name in ("demo.yaml", "nsclc_radiogenomics.yaml"):
        urls = {"tcia_url": "http://127.0.0.1:9/nbia", "geo_url": "http://127.0.0.1:9"} if name == "demo.yaml" else {}
        pipe = load_pipeline(root / name, overrides=urls,
                             builtins={"home": "/h", "store": "/h/rg.duckdb", "data_dir": "/h/data"})
        assert len(pipe.steps) >= 10
        for step in pipe.steps:
            cmd = command
            for part in step.stage.split():
                cmd = cmd.get_command(None, part)
                assert cmd is not None, f"{name}: step {step.name}: no rg command {step.stage!r}"
            options = {opt for p in cmd.params for opt in p.opts}
            for flag in [a for a in step.argv() if a.startswith("--")]:
                assert flag in options, f"{name}: step {step.name}: `rg {step.stage}` has no option {flag}"


def test_rg_run_command(tmp_path, capsys):
    from radiogenomics.cli import main

    path = tmp_path / "p.yaml"
    path.write_text("name: cli\nvars: {q: 'SELECT 1'}\nsteps:\n"
                    "  - {name: one, stage: sql, args: ['${q}']}\n  - {name: two, stage: store info}\n")
    assert main(["run", str(path), "--until", "one"]) == 0
    out = capsys.readouterr().out
    assert "one" in out and "not-selected" in out
    assert main(["run", str(path)]) == 0
    assert "skipped" in capsys.readouterr().out  # step one unchanged
    assert main(["run", str(path), "--set", "q=SELECT 2"]) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out
    assert main(["run", str(path), "--set", "bad"]) == 2  # usage error: not NAME=VALUE


def test_optional_step_with_internal_error_is_skipped(setup):
    tmp, path, calls, ex = setup
    path.write_text("name: bug\nsteps:\n  - {name: a, stage: fake-a, optional: true}\n  - {name: b, stage: fake-b}\n")

    def buggy(argv, ctx):
        raise ZeroDivisionError("division by zero")

    result = run_pipeline(load_pipeline(path), tmp / "rg.duckdb", executors={**ex, "fake-a": buggy})
    assert [s.status for s in result.steps] == ["failed", "ok"]
    assert "ZeroDivisionError" in result.steps[0].message
    path.write_text("name: bug2\nsteps:\n  - {name: a, stage: fake-a}\n")
    with pytest.raises(ZeroDivisionError):
        run_pipeline(load_pipeline(path), tmp / "rg.duckdb", executors={**ex, "fake-a": buggy})
    with Store.open(tmp / "rg.duckdb", read_only=True) as st:
        assert st.query("SELECT status FROM pipeline_steps WHERE pipeline = 'bug2'")["status"].tolist() == ["failed"]


def test_output_folder_is_not_an_input(setup):
    tmp, path, calls, ex = setup
    out = tmp / "report"

    def writes(argv, ctx):
        out.mkdir(exist_ok=True)
        (out / f"r{len(list(out.iterdir()))}.html").write_text("x")
        return 0

    path.write_text(f"name: rep\nsteps:\n  - {{name: r, stage: fake-r, params: {{out: '{out}'}}}}\n")
    first = run_pipeline(load_pipeline(path), tmp / "rg.duckdb", executors={"fake-r": writes})
    second = run_pipeline(load_pipeline(path), tmp / "rg.duckdb", executors={"fake-r": writes})
    assert first.steps[0].status == "ok" and second.steps[0].status == "skipped"


def test_when_condition_turns_a_step_off(tmp_path):
    """`when:` empty after substitution -> the step is reported "off" and not run; set -> it runs."""
    path = tmp_path / "w.yaml"
    path.write_text(textwrap.dedent("""
        name: w
        vars: {extra: ""}
        steps:
          - name: a
            stage: fake-a
          - name: ext
            stage: fake-b
            when: "${extra}"
            params: {patients: "@${extra}"}
    """))
    calls: list[list[str]] = []

    def fake(argv, ctx):
        calls.append(argv)
        return 0

    ex = {"fake-a": fake, "fake-b": fake}
    result = run_pipeline(load_pipeline(path), tmp_path / "rg.duckdb", executors=ex)
    assert [s.status for s in result.steps] == ["ok", "off"] and result.ok
    assert calls == [["fake-a"]]
    result = run_pipeline(load_pipeline(path, overrides={"extra": "ids.txt"}), tmp_path / "rg.duckdb", executors=ex)
    assert [s.status for s in result.steps] == ["skipped", "ok"]
    assert calls[-1] == ["fake-b", "--patients", "@ids.txt"]


def test_nsclc_pipeline_has_external_application_step():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "pipelines"
    builtins = {"home": "/h", "store": "/h/rg.duckdb", "data_dir": "/h/data"}
    pipe = load_pipeline(root / "nsclc_radiogenomics.yaml", builtins=builtins)
    ext = pipe.steps[pipe.index("external")]
    assert ext.stage == "radscore apply" and not ext.enabled  # no external list by default
    assert pipe.index("radscore") < pipe.index("external") < pipe.index("groups_ranks")
    pipe = load_pipeline(root / "nsclc_radiogenomics.yaml", overrides={"external_list": "ext.txt"}, builtins=builtins)
    ext = pipe.steps[pipe.index("external")]
    assert ext.enabled and ext.argv()[-4:] == ["--patients", "@ext.txt", "--cohort", "external"]
