"""The clinical table's ``extra`` JSON, flattened once, and name lookup in clinical frames.

``core.clinical`` keeps the typed columns of the NSCLC Radiogenomics layout; source
columns it does not know are kept per patient in ``extra`` (a JSON object).  Every
reader gets them as ordinary columns through :func:`flatten_extra`:

* the column name is :func:`column_key` of the source key (lower case, runs of
  characters other than letters and digits become ``_``): ``"Positive nodes"`` ->
  ``positive_nodes``, ``"%GG"`` -> ``gg``;
* a typed column of the same name wins (the ``extra`` value is dropped);
* a flattened column whose every present value is a number becomes float, else
  it stays text.

:func:`resolve_column` finds a user-given name (``--endpoint "Positive nodes"``) in
such a frame: the exact name first, then its :func:`column_key`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

__all__ = ["column_key", "flatten_extra", "resolve_column"]

_NON_WORD = re.compile(r"[^0-9a-z]+")


def column_key(name: Any) -> str:
    """Normalised column name of an ``extra`` key: lower case, other characters -> ``_``."""
    return _NON_WORD.sub("_", str(name).strip().lower()).strip("_")


def _parse(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            obj = json.loads(value)
        except ValueError:
            return {}
        return obj if isinstance(obj, dict) else {}
    return {}


def flatten_extra(clinical: pd.DataFrame, keep_extra: bool = False) -> pd.DataFrame:
    """``clinical`` with the keys of its ``extra`` JSON column as columns (see module docstring).

    Parameters
    ----------
    clinical
        One row per patient, optionally with an ``extra`` column (JSON text or dict).
    keep_extra
        Keep the raw ``extra`` column as well.

    Returns
    -------
    DataFrame
        Same index and rows; typed columns unchanged.
    """
    if "extra" not in clinical.columns:
        return clinical.copy()
    records = [_parse(v) for v in clinical["extra"]]
    out = clinical if keep_extra else clinical.drop(columns="extra")
    out = out.copy()
    if not any(records):
        return out
    wide = pd.DataFrame.from_records(records, index=clinical.index)
    taken = set(out.columns)
    columns: dict[str, pd.Series] = {}
    for key in wide.columns:
        name = column_key(key)
        if not name or name in taken or name in columns:
            continue  # a typed column (or an earlier spelling of the key) wins
        values = wide[key]
        numeric = pd.to_numeric(values, errors="coerce")
        present = values.notna() & values.map(lambda v: str(v).strip() != "")
        columns[name] = numeric.astype(float) if numeric[present].notna().all() else values
    if columns:
        out = pd.concat([out, pd.DataFrame(columns, index=clinical.index)], axis=1)
    return out


def resolve_column(frame: pd.DataFrame, name: str) -> str | None:
    """The column of ``frame`` meaning ``name``: exact, else by :func:`column_key`; None if absent."""
    if name in frame.columns:
        return name
    key = column_key(name)
    if key in frame.columns:
        return key
    by_key = {column_key(c): c for c in frame.columns}
    return by_key.get(key)
