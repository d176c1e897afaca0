"""Help text: no value-type tags on flags, no default swallowed by rich markup."""

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
