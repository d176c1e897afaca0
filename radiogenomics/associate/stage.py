"""Association stages on the store: risk groups vs clinical variables and immune scores.

Both read ``risk_groups`` (one grouping), compare the requested groups (high vs low by
default; the middle group is ignored, as the reference study did) and replace the
grouping's rows of one family in ``associations``, all with the run's ``run_id``.  Three or
more groups get the omnibus test (Kruskal-Wallis, chi-square) and the pairwise contrasts
with their own BH FDR (:func:`.compare.compare_groups`).

Families written:

* ``clinical``: the clinical table plus derived indices (see :mod:`.indices`); an index
  or default variable the cohort lacks gets a row with ``test = 'not_available'`` and a
  note naming what is missing (listed, not invented).
* ``immune:<dataset_id>``: every ``(method, score)`` of ``immune_scores`` for the
  dataset, as variable ``<method>:<score>``, with Mann-Whitney and KS tests; the
  deconvolution's goodness-of-fit columns (``P-value, Correlation, RMSE, nu``) are
  diagnostics, not scores, and stay out of the tests (and of the BH family).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from ..clinical.table import flatten_extra
from ..exceptions import InputError, NotInStoreError
from ..store import tables
from ..store.session import StoreSession, reading
from .compare import ASSOCIATION_COLUMNS, compare_groups
from .indices import derived_indices

log = logging.getLogger(__name__)

# per-sample fit diagnostics of deconvolve(), not cell-type scores: not compared between groups
DECONVOLUTION_DIAGNOSTICS = ("P-value", "Correlation", "RMSE", "nu")

#: continuous clinical variables tested when present (the study's list where the cohort has it)
CONTINUOUS_VARIABLES = (
    "age", "weight_lbs", "pack_years", "wbc", "neutrophils", "monocytes", "lymphocytes", "platelets",
    "albumin", "tumor_diameter", "ki67", "nodes_positive", "nlr", "plr", "sii", "pni", "lnr", "lodds",
)
#: categorical clinical variables tested when present; the first available of each tuple is used
CATEGORICAL_VARIABLES = (
    ("gender",), ("smoking_status",), ("histology",), ("t_stage_group", "t_stage"), ("n_stage",),
    ("m_stage",), ("grade", "grade_text"), ("lymphovascular_invasion",), ("pleural_invasion",), ("egfr",),
    ("kras",), ("alk",), ("tumor_location",), ("pct_gg",), ("recurrence",), ("adjuvant_treatment",),
)
_ALWAYS_REPORTED = ("age", "t_stage", "n_stage", "grade")


def _load_groups(store: Any, grouping: str, groups: Sequence[str]) -> pd.DataFrame:
    return tables.risk_groups(store, grouping, groups)[["patient_id", "grp"]]


@contextlib.contextmanager
def _maybe_run(store: Any, run: Any, command: str, params: dict) -> Iterator[Any]:
    if run is not None:
        yield run
    else:
        with store.run(command, params) as new_run:
            yield new_run


def _write(store: Any, rows: pd.DataFrame, grouping: str, family_sql: str, family_params: list, run_id: str) -> None:
    out = rows.copy()
    out["n_per_group"] = out["n_per_group"].map(lambda d: json.dumps(d, sort_keys=True) if isinstance(d, dict)
                                                else d)
    store.replace("associations", out[ASSOCIATION_COLUMNS], f"grouping = ? AND {family_sql}",
                  [grouping, *family_params], run_id=run_id)


def _not_available(grouping: str, family: str, variable: str, note: str, label: str) -> dict:
    return {"grouping": grouping, "family": family, "variable": variable, "test": "not_available",
            "statistic": None, "p": None, "fdr": None, "n_per_group": None, "effect_size": None,
            "effect_name": None, "groups": label, "note": note}


def _expand_extra(clinical: pd.DataFrame) -> pd.DataFrame:
    """Known continuous variables kept in a raw ``extra`` JSON column, as numeric columns.

    Frames read through :func:`radiogenomics.store.tables.clinical` are flattened already;
    this covers a raw frame passed to :func:`clinical_association_table`.
    """
    if "extra" not in clinical.columns:
        return clinical
    flat = flatten_extra(clinical)
    out = clinical.copy()
    for name in CONTINUOUS_VARIABLES:
        if name in flat.columns and name not in clinical.columns:
            out[name] = pd.to_numeric(flat[name], errors="coerce")
    return out


def clinical_association_table(clinical: pd.DataFrame, risk_groups: pd.DataFrame, grouping: str,
                               groups: Sequence[str] = ("high", "low"),
                               variables: Sequence[str] | None = None) -> pd.DataFrame:
    """Clinical comparisons for one grouping (no store access).

    Parameters
    ----------
    clinical : DataFrame
        The ``clinical`` view (one row per ``patient_id``).
    risk_groups : DataFrame
        ``patient_id, grp``.
    grouping : str
        Name written to the rows.
    groups : sequence of str
        Groups compared (others ignored).
    variables : sequence of str, optional
        Columns to test; default: the study's variables the cohort has.

    Returns
    -------
    DataFrame
        ``ASSOCIATION_COLUMNS`` rows, including ``not_available`` rows.
    """
    table, missing = derived_indices(_expand_extra(clinical))
    data = table.merge(risk_groups[["patient_id", "grp"]], on="patient_id", how="inner")
    if data.empty:
        raise InputError(f"no patient of grouping {grouping!r} has a clinical row; load the clinical data first")
    label = ",".join(groups)
    kinds: dict[str, str] = {}
    absent: list[str] = []
    if variables is None:
        for var in CONTINUOUS_VARIABLES:
            if var in data.columns and pd.to_numeric(data[var], errors="coerce").notna().any():
                kinds[var] = "continuous"
            elif var in _ALWAYS_REPORTED:
                absent.append(var)
        for options in CATEGORICAL_VARIABLES:
            found = next((v for v in options if v in data.columns and data[v].notna().any()), None)
            if found:
                kinds[found] = "categorical"
            elif options[-1] in _ALWAYS_REPORTED:
                absent.append(options[-1])
    else:
        unknown = [v for v in variables if v not in data.columns]
        if unknown:
            raise InputError(f"clinical variables {unknown} are not columns of the clinical table "
                             f"(columns: {sorted(c for c in data.columns if c != 'extra')})")
        kinds = {v: ("continuous" if pd.api.types.is_numeric_dtype(data[v]) and data[v].nunique() > 2
                     else "categorical") for v in variables}
    # booleans (recurrence) as text so they are categorical levels
    for var, kind in kinds.items():
        if kind == "categorical":
            data[var] = data[var].map(lambda v: None if pd.isna(v) else str(v))
    rows = compare_groups(data, "grp", list(kinds), kinds, groups=groups, family="clinical", grouping=grouping,
                          pairwise=True)
    extra_rows = [_not_available(grouping, "clinical", msg.split(":")[0].lower(), msg, label)
                  for msg in missing if variables is None]
    extra_rows += [_not_available(grouping, "clinical", v, f"{v}: no values in this cohort", label) for v in absent]
    if extra_rows:
        rows = pd.DataFrame(rows.to_dict("records") + extra_rows, columns=ASSOCIATION_COLUMNS)
    return rows


def associate_clinical(store: Any, grouping: str, groups: Sequence[str] = ("high", "low"), run: Any = None,
                       variables: Sequence[str] | None = None) -> pd.DataFrame:
    """Compare clinical variables and derived indices between risk groups; write ``associations``.

    Parameters
    ----------
    store : Store or path
        Open read-write store, or a store path (opened read-only to read, read-write
        only to write).
    grouping : str
        Name in ``risk_groups``.
    groups : sequence of str
        Groups compared (default high vs low; the middle group is ignored).
    run : Run, optional
        An open run (``store.run(...)``) whose run_id the rows carry; a new run
        ``associate clinical`` is recorded when omitted.
    variables : sequence of str, optional
        Clinical columns to test instead of the default list.

    Returns
    -------
    DataFrame
        The rows written (family ``clinical``), including ``not_available`` rows for
        indices/variables the cohort lacks.
    """
    groups = tuple(groups)
    with reading(store) as st:
        rg = _load_groups(st, grouping, groups)
        clinical = tables.clinical(st)
    if clinical.empty:
        raise NotInStoreError("the clinical table is empty; load it first (rg fetch clinical)")
    rows = clinical_association_table(clinical, rg, grouping, groups, variables)
    with StoreSession(store).open() as st, \
            _maybe_run(st, run, "associate clinical", {"grouping": grouping, "groups": list(groups)}) as r:
        _write(st, rows, grouping, "family = ?", ["clinical"], r.run_id)
        rows = rows.assign(run_id=r.run_id)
    log.info("clinical associations for %s: %d rows", grouping, len(rows))
    return rows


def associate_scores(store: Any, grouping: str, dataset_id: str, groups: Sequence[str] = ("high", "low"),
                     run: Any = None, methods: Sequence[str] | None = None, ks: bool = True) -> pd.DataFrame:
    """Compare immune scores (ESTIMATE, IPS, deconvolution) between risk groups.

    Parameters
    ----------
    store : Store or path
        Open read-write store, or a store path (opened only to read, then to write).
    grouping : str
        Name in ``risk_groups``.
    dataset_id : str
        Expression dataset whose ``immune_scores`` are compared.
    groups : sequence of str
        Groups compared (default high vs low).
    run : Run, optional
        Open run for the run_id; a new ``associate immune`` run otherwise.
    methods : sequence of str, optional
        Restrict to these ``immune_scores.method`` values.
    ks : bool
        Also run the Kolmogorov-Smirnov test (the study's test for IPS).

    Returns
    -------
    DataFrame
        The rows written: family ``immune:<dataset_id>``, variable ``<method>:<score>``,
        tests ``mann-whitney`` (``kruskal`` for 3+ groups) and ``ks``.
    """
    groups = tuple(groups)
    with reading(store) as st:
        rg = _load_groups(st, grouping, groups)
        scores = tables.immune_scores(st, dataset_id, methods)
    diagnostic = (scores["method"] == "deconvolution") & scores["score"].isin(DECONVOLUTION_DIAGNOSTICS)
    scores = scores[~diagnostic].copy()
    if scores.empty:
        raise NotInStoreError(f"no immune scores for dataset {dataset_id!r}"
                            + (f" and methods {list(methods)}" if methods else "")
                            + "; compute them first (rg immune, or rg associate --what immune)")
    scores["variable"] = scores["method"] + ":" + scores["score"]
    wide = scores.pivot_table(index="patient_id", columns="variable", values="value", aggfunc="first")
    data = wide.reset_index().merge(rg, on="patient_id", how="inner")
    if data.empty:
        raise InputError(f"no patient of grouping {grouping!r} has immune scores in dataset {dataset_id!r}")
    variables = sorted(wide.columns)
    family = f"immune:{dataset_id}"
    rows = compare_groups(data, "grp", variables, "continuous", groups=groups, ks=ks, family=family,
                          grouping=grouping, pairwise=True)
    params = {"grouping": grouping, "dataset_id": dataset_id, "groups": list(groups), "ks": ks}
    with StoreSession(store).open() as st, _maybe_run(st, run, "associate immune", params) as r:
        _write(st, rows, grouping, "family = ?", [family], r.run_id)
        rows = rows.assign(run_id=r.run_id)
    log.info("immune associations for %s / %s: %d rows", grouping, dataset_id, len(rows))
    return rows


__all__ = ["associate_clinical", "associate_scores", "clinical_association_table"]
