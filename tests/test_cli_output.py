"""CLI output: help without flag type tags or swallowed defaults; warnings as one human line."""

from __future__ import annotations

import re

import typer

from radiogenomics.cli import app, main


def _paths(command, path=()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, path + (name,))


def test_help_has_no_flag_type_tags_and_no_stray_dots(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    root = typer.main.get_command(app)
    checked = 0
    for path in _paths(root):
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert "<bool>" not in out, (path, out)
        # a "[default: ...]" written into a help string is read as rich markup and vanishes
        assert not re.search(r"\S \.\s*(│|$)", out, re.MULTILINE), (path, out)
        checked += 1
    assert checked >= 20
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "$RG_HOME/rg.duckdb" in out and "-v" in out and "[default: 0]" not in out


def test_warnings_are_one_human_line(capsys):
    import warnings

    from radiogenomics.cli import _configure_logging, _state
    from radiogenomics.exceptions import DataQualityWarning
    saved = warnings.showwarning
    try:
        _state.set_state(None)
        _configure_logging(0, False)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = __import__("radiogenomics.cli", fromlist=["_show_warning"])._show_warning
            warnings.warn("IPS: 28 gene(s) missing\nfrom the data: HLA-F", DataQualityWarning, stacklevel=1)
            warnings.warn("old behaviour", FutureWarning, stacklevel=1)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert lines == ["warning: IPS: 28 gene(s) missing from the data: HLA-F",
                         "warning: FutureWarning: old behaviour"], err
        assert ".py" not in err
    finally:
        warnings.showwarning = saved


def test_group_sizes_are_logged_as_plain_ints(caplog):
    import logging

    import numpy as np
    import pandas as pd

    from radiogenomics.models.groups import groups_by_ranks

    scores = pd.Series(np.linspace(-1, 1, 60), index=[f"P{i}" for i in range(60)])
    with caplog.at_level(logging.INFO, logger="radiogenomics"):
        groups_by_ranks(scores, [36, 32, 32])
    text = caplog.text
    assert "rescaled to [22, 19, 19]" in text and "np.int64" not in text
