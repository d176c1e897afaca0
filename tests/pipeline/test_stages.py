"""The stage registry: library functions with the command line's options, exact run linking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from radiogenomics.exceptions import PipelineError
from radiogenomics.pipeline import Step, load_pipeline, run_pipeline
from radiogenomics.pipeline.stages import StageCall, get_stage, run_stage, stage_names
from radiogenomics.result import StageResult
from radiogenomics.store import Store


def _cli_commands():
    """(path, click command) of every rg leaf command."""
    import typer

    from radiogenomics.cli import app

    def walk(cmd, path):
        sub = getattr(cmd, "commands", None)
        if sub:
            if path and getattr(cmd, "invoke_without_command", False):
                yield " ".join(path), cmd  # a group that is also a command (rg groups --model ...)
            for name, child in sub.items():
                yield from walk(child, path + [name])
        else:
            yield " ".join(path), cmd

    return list(walk(typer.main.get_command(app), []))


def _normalise(value):
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value] or None
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def test_every_rg_command_is_a_stage_except_run_and_demo():
    commands = {path for path, _ in _cli_commands()}
    missing = commands - set(stage_names()) - {"run", "demo"}
    assert not missing, (f"rg commands without a pipeline stage: {sorted(missing)}; register each in "
                         "radiogenomics/pipeline/stages.py (@stage) calling the same library function as the CLI")
    assert set(stage_names()) <= commands


@pytest.mark.parametrize("path, command", [c for c in _cli_commands() if c[0] not in ("run", "demo")],
                         ids=lambda c: c if isinstance(c, str) else "")
def test_stage_options_and_defaults_match_the_command_line(path, command):
    """Same option names and defaults as `rg <path>`, so a pipeline step means what the command means."""
    stage = get_stage(path)
    cli_options, cli_args = {}, {}
    for param in command.params:
        if param.param_type_name == "argument":
            cli_args[param.name] = param.default
            continue
        for opt in list(param.opts) + list(param.secondary_opts):
            if opt.startswith("--"):
                cli_options[opt[2:]] = (param, opt in param.secondary_opts)
    ours = {(o.flag or key).replace("_", "-"): o for key, o in stage.options.items()}
    assert set(ours) == set(cli_options), (
        f"`rg {path}` and its stage in radiogenomics/pipeline/stages.py differ: options only on the command line "
        f"{sorted(set(cli_options) - set(ours))}, only in the stage {sorted(set(ours) - set(cli_options))}; "
        "give the stage the same options and defaults")
    assert list(stage.arguments) == list(cli_args), path
    for flag, (param, secondary) in cli_options.items():
        default = ours[flag].default
        if getattr(param, "is_flag", False) and param.secondary_opts:
            # --a/--b: the stage has one flag per side; the side set by default is True there
            expected = (param.default is False) if secondary else (param.default is True)
            if param.default is None:
                expected = False
            assert bool(default) == expected, (path, flag)
            continue
        if getattr(param, "envvar", None):
            # default from the environment (RG_EXECUTOR), else the command line's default
            from radiogenomics.pipeline.stages import _executor

            call = StageCall(stage=path, store=None, settings=None, env={})
            assert default is None and _executor(call, default) == param.default, (path, flag)
            continue
        if param.required:
            assert default is not None and default.__class__ is object, (path, flag)
            continue
        assert _normalise(default) == _normalise(param.default), (path, flag, default, param.default)
    for name, default in cli_args.items():
        ours_default = stage.arguments[name].default
        if default is None:
            assert ours_default.__class__ is object, (path, name)  # required
        else:
            assert ours_default == default, (path, name)


def test_unknown_option_missing_required_and_bad_values(tmp_path):
    store = tmp_path / "rg.duckdb"
    with pytest.raises(PipelineError, match="no such option --nope"):
        run_stage("sql", store, ["SELECT 1"], {"nope": 1})
    with pytest.raises(PipelineError, match="QUERY is required"):
        run_stage("sql", store)
    with pytest.raises(PipelineError, match="--limit"):
        run_stage("sql", store, ["SELECT 1"], {"limit": "many"})
    groups_file = tmp_path / "groups.csv"
    groups_file.write_text("patient_id,group\nP1,a\n")
    with pytest.raises(PipelineError, match="--grouping is required"):
        run_stage("groups import", store, [str(groups_file)])
    with pytest.raises(PipelineError, match="no stage"):
        run_stage("no such", store)


def test_step_env_becomes_settings_not_the_environment(tmp_path):
    step = Step(name="x", stage="fetch geo", args=["GSE1"], env={"RG_GEO_URL": "http://127.0.0.1:9/", "RG_WORKERS": "3"})
    before = dict(os.environ)
    call = StageCall.for_step(step, tmp_path / "rg.duckdb", tmp_path / "data")
    assert call.settings.geo_url == "http://127.0.0.1:9" and call.settings.workers == 3
    assert call.settings.store == tmp_path / "rg.duckdb" and call.settings.data_dir == tmp_path / "data"
    assert dict(os.environ) == before
    with pytest.raises(PipelineError, match="RG_HTTP_SOMETHING"):
        StageCall.for_step(Step(name="y", stage="sql", env={"RG_HTTP_SOMETHING": "1"}), tmp_path / "rg.duckdb")


def test_a_real_stage_returns_its_run_and_the_step_records_exactly_it(tmp_path):
    store = tmp_path / "rg.duckdb"
    path = tmp_path / "p.yaml"
    path.write_text(f"name: pq\nsteps:\n  - name: move\n    stage: store features-to-parquet\n"
                    f"    params: {{location: '{tmp_path / 'pq'}', buckets: 4}}\n")
    result = run_pipeline(load_pipeline(path), store)
    assert [s.status for s in result.steps] == ["ok"]
    with Store.open(store, read_only=True) as st:
        inner = st.query("SELECT run_id FROM runs WHERE command = 'store features-to-parquet'")["run_id"].tolist()
        step = st.query("SELECT parameters FROM runs WHERE command = 'rg run pq:move'")
    assert len(inner) == 1
    assert json.loads(step.parameters.iloc[0])["stage_runs"] == inner == result.steps[0].stage_runs


def test_a_run_started_by_another_process_is_not_linked(tmp_path):
    """The old runner linked every run started after the step began; now only the stage's own."""
    store = tmp_path / "rg.duckdb"
    other = textwrap.dedent(f"""
        from radiogenomics.store import Store
        with Store.open({str(store)!r}) as s, s.run('someone else'):
            pass
    """)

    def busy_neighbour(argv, ctx):
        subprocess.run([sys.executable, "-c", other], check=True, timeout=120)
        return run_stage("store features-to-parquet", ctx.store_path, [],
                         {"location": str(tmp_path / "pq"), "buckets": 2})

    def legacy(argv, ctx):  # embedding code returning an exit code: its in-process runs are linked
        subprocess.run([sys.executable, "-c", other], check=True, timeout=120)
        with Store.open(ctx.store_path) as st, st.run("legacy own run"):
            pass
        return 0

    path = tmp_path / "p.yaml"
    path.write_text("name: n\nsteps:\n  - {name: a, stage: fake-a}\n  - {name: b, stage: fake-b}\n")
    result = run_pipeline(load_pipeline(path), store, executors={"fake-a": busy_neighbour, "fake-b": legacy})
    with Store.open(store, read_only=True) as st:
        runs = st.query("SELECT run_id, command FROM runs").set_index("command")["run_id"]
        steps = st.query("SELECT command, parameters FROM runs WHERE command LIKE 'rg run n:%' ORDER BY command")
    linked = [json.loads(p)["stage_runs"] for p in steps.parameters]
    assert linked == [[runs["store features-to-parquet"]], [runs["legacy own run"]]]
    assert len(runs[runs.index == "someone else"]) == 2
    assert [s.stage_runs for s in result.steps] == linked


def test_stage_result_of_a_failing_step_keeps_the_failed_run(tmp_path):
    store = tmp_path / "rg.duckdb"
    path = tmp_path / "p.yaml"
    path.write_text("name: f\nsteps:\n  - {name: g, stage: groups, params: {model: nope}}\n")
    with pytest.raises(PipelineError, match="step g"):
        run_pipeline(load_pipeline(path), store)
    with Store.open(store, read_only=True) as st:
        row = st.query("SELECT status, error FROM runs WHERE command = 'rg run f:g'")
    assert row.status.iloc[0] == "failed" and "nope" in row.error.iloc[0]
