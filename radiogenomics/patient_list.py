"""Patient lists given by users: ``--train FILE``, ``--patients a,b,c`` or ``--patients @FILE``.

The one file format
-------------------
A UTF-8 text file with either

* one patient id per line, optionally under a header line ``patient_id`` (also accepted:
  ``patient``, ``id``), or
* a table (comma- or tab-separated, decided by the first line) whose header has a
  ``patient_id`` column; the other columns are ignored.

Blank lines and lines starting with ``#`` are ignored, ids are stripped of surrounding
whitespace and quotes, and a repeated id is kept once (first occurrence).  A table without
a ``patient_id`` column, a row lacking the id, or a file naming no patient is an error
that names the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .exceptions import InputError

#: header names of a one-column list (lower case)
_SINGLE_HEADERS = ("patient_id", "patient", "id")


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def read_patient_list(path: str | os.PathLike[str], what: str = "patient list file") -> list[str]:
    """Patient ids of a file in the format described in this module's docstring.

    Parameters
    ----------
    path
        The file.
    what
        How error messages name the file (e.g. ``"training-patient file"``).

    Returns
    -------
    list of str
        The ids in file order, each once.

    Raises
    ------
    InputError
        The file is missing or unreadable, names no patient, is a table without a
        ``patient_id`` column, or has a row without an id.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p} not found; give one patient id per line or a CSV with a patient_id column")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {p}: {exc}; save it as UTF-8 text") from exc
    lines = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1)
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{what} {p} names no patient (one patient_id per line)")
    sep = "\t" if "\t" in lines[0][1] else ","
    header = [h.strip().strip('"').strip().lower() for h in lines[0][1].split(sep)]
    if len(header) > 1:
        if "patient_id" not in header:
            raise InputError(f"{what} {p}: line {lines[0][0]} has {len(header)} columns but none is named "
                             "patient_id; give one patient id per line or a table with a patient_id column")
        col = header.index("patient_id")
        ids = []
        for n, line in lines[1:]:
            cells = line.split(sep)
            value = cells[col].strip().strip('"').strip() if col < len(cells) else ""
            if not value:
                raise InputError(f"{what} {p}: line {n} has no patient_id; fill it or delete the line")
            ids.append(value)
    else:
        rows = lines[1:] if header[0] in _SINGLE_HEADERS else lines
        ids = [line.strip('"').strip() for _, line in rows]
    ids = [i for i in ids if i]
    if not ids:
        raise InputError(f"{what} {p} names no patient (one patient_id per line)")
    return _unique(ids)


def training_patients(train: Sequence[str] | None, train_file: str | os.PathLike[str] | None,
                      what: str = "training-patient file") -> Sequence[str] | None:
    """The training patients a stage was given: ``train`` as is, or read from ``train_file``.

    Parameters
    ----------
    train
        Training patient ids given as a list (``None`` when not given).
    train_file
        A patient-list file (``--train``; format: :func:`read_patient_list`), or ``None``.
    what
        How error messages name the file (e.g. ``"training-patient file"``).

    Returns
    -------
    sequence of str or None
        ``train`` unchanged when no file is given (``None`` when neither is), else the ids of the file.

    Raises
    ------
    InputError
        Both a list and a file are given, or the file cannot be read (see :func:`read_patient_list`).
    """
    if train_file is None:
        return train
    if train is not None:
        raise InputError("give the training patients as a list or as a file (--train), not both")
    return read_patient_list(train_file, what=what)


def parse_patient_ids(text: str | None, what: str = "patient list file") -> list[str] | None:
    """``"a,b,c"`` or ``"@FILE"`` (see :func:`read_patient_list`) -> ids; None when ``text`` is empty.

    Raises
    ------
    InputError
        ``@FILE`` that cannot be read (see :func:`read_patient_list`).
    """
    if not text:
        return None
    if text.startswith("@"):
        return read_patient_list(text[1:], what=what)
    ids = _unique([t.strip() for t in text.split(",") if t.strip()])
    return ids or None
