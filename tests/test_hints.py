"""Every `rg ...` fix hint in the package names a real command and real options; store misses exit 11."""

from __future__ import annotations

import fnmatch
import io
import re
import shlex
import tokenize
from pathlib import Path

import pytest
import typer

import radiogenomics
from radiogenomics.cli import app, main
from radiogenomics.exceptions import NotFoundError, NotInStoreError

PACKAGE = Path(radiogenomics.__file__).parent
_BACKTICK = re.compile(r"`(rg(?: [^`]*)?)`")
# an unquoted hint inside a message: "(rg fetch clinical)", "run rg de first"
_BARE = re.compile(r"(?:(?<=\()|(?<=\brun )|(?<=\buse )|(?<=\bwith )|(?<=\bor ))"
                   r"(rg(?: +(?:--?[A-Za-z][\w-]*|[a-z][\w|*-]*))+)")


def _strings(path: Path) -> list[str]:
    """String literals (and f-string parts) of one source file."""
    out = []
    with open(path, "rb") as handle:
        for tok in tokenize.tokenize(handle.readline):
            if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                out.append(tok.string)
    return out


def collect_hints() -> list[tuple[str, str]]:
    """(file, hint) for every `rg ...` mention in the package's strings."""
    hints = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for text in _strings(path):
            text = text.replace('\\"', '"')
            found = [m.group(1) for m in _BACKTICK.finditer(text)]
            stripped = _BACKTICK.sub(" ", text)
            found += [m.group(1) for m in _BARE.finditer(stripped)]
            hints += [(str(path.relative_to(PACKAGE)), h.strip()) for h in found]
    return hints


def _placeholder(token: str) -> bool:
    return token in ("...", "") or token[0] in "<{[" or token.isupper() or "{" in token


def _option_names(command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(getattr(param, "opts", ()))
        names.update(getattr(param, "secondary_opts", ()))
    return names


def _takes_value(command, option: str) -> bool:
    """False for flags and counters of ``command`` (and for options it does not have)."""
    for param in command.params:
        if option in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            return not (getattr(param, "is_flag", False) or getattr(param, "count", False))
    return True


def check_hint(hint: str, root) -> str | None:
    """None when ``hint`` names real commands and options, else what is wrong."""
    try:
        tokens = shlex.split(hint)
    except ValueError:
        tokens = hint.split()
    tokens = tokens[1:]  # "rg"
    command, path = root, ["rg"]
    global_opts = _option_names(root) | {"-vv"}  # -v counts
    while tokens and hasattr(command, "commands"):
        token = tokens[0]
        if token.startswith("-"):
            # options of the group itself (rg groups --model ...) or the global ones
            if token.split("=")[0] not in _option_names(command) | global_opts:
                return f"{' '.join(path)} has no option {token}"
            takes_value = "=" not in token and _takes_value(command, token) and _takes_value(root, token)
            tokens = tokens[2:] if takes_value else tokens[1:]
            continue
        if _placeholder(token):
            return None
        names = token.split("|")
        matched = []
        for name in names:
            hits = fnmatch.filter(command.commands, name)
            if not hits:
                return f"{' '.join(path)} has no command {name!r}"
            matched += hits
        command = command.commands[matched[0]]
        path.append(matched[0])
        tokens = tokens[1:]
    options = _option_names(command) | global_opts
    for token in tokens:
        if token.startswith("-") and len(token) > 1 and not token[1:2].isdigit():
            if token.split("=")[0] not in options:
                return f"{' '.join(path)} has no option {token}"
    return None


def test_every_rg_hint_names_a_real_command_and_option():
    root = typer.main.get_command(app)
    hints = collect_hints()
    assert len(hints) > 50  # the collector sees the package's hints
    wrong = [(f, h, why) for f, h in hints if (why := check_hint(h, root))]
    assert not wrong, "\n".join(f"{f}: `{h}`: {why}" for f, h, why in wrong)


def test_the_checker_rejects_wrong_hints():
    root = typer.main.get_command(app)
    assert check_hint("rg radscore groups", root) == "rg radscore has no command 'groups'"
    assert check_hint("rg import expression", root) == "rg import has no command 'expression'"
    assert check_hint("rg groups --modle X", root) == "rg groups has no option --modle"
    assert check_hint("rg groups import --model X", root) == "rg groups import has no option --model"
    assert check_hint("rg groups --clinical egfr --method levels", root) is None
    assert check_hint("rg groups --model MODEL_ID --grouping {grouping}", root) is None
    assert check_hint("rg store features-*", root) is None
    assert check_hint("rg radscore fit|apply|export", root) is None


def test_not_in_store_has_its_own_exit_code(tmp_path, capsys):
    assert NotInStoreError.exit_code not in (NotFoundError.exit_code, 0, 1)
    assert not issubclass(NotInStoreError, NotFoundError)
    from radiogenomics.store import Store

    with Store.open(tmp_path / "rg.duckdb"):
        pass  # an existing store that lacks the grouping
    code = main(["--store", str(tmp_path / "rg.duckdb"), "associate", "-g", "nope"])
    err = capsys.readouterr().err
    assert code == NotInStoreError.exit_code == 11
    assert "no risk groups named 'nope'" in err and "`rg groups --model MODEL_ID --grouping nope`" in err


@pytest.mark.parametrize("doc", ["README.md"])
def test_exit_code_documented(doc):
    text = (PACKAGE.parent / doc).read_text()
    assert re.search(r"\|\s*11\s*\|.*NotInStoreError", text)
