"""Groupings that do not come from a Rad-score: a clinical column, a SQL predicate, a file.

Each entry reads what it needs, builds the grouping with a pure function of
:mod:`.groups`, refuses a grouping with fewer than two non-empty levels
(:func:`.groups.require_levels`) and replaces the grouping's rows of ``risk_groups`` in one
transaction.  The source is recorded twice: in ``risk_groups.method``
(``clinical:levels``, ``clinical:threshold``, ``clinical:quantiles``, ``sql``, ``file``) and
in full in the run's ``parameters`` (the column and cut points, the predicate, the file and
its SHA-256 in ``input_checksums``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..result import StageResult, stage_entry
from .groups import groups_by_levels, groups_by_quantiles, groups_by_thresholds, require_levels

log = logging.getLogger(__name__)

__all__ = ["groups_from_clinical", "groups_from_predicate", "import_groups", "read_group_file", "run_groups",
           "run_groups_import"]

#: accepted names of the group column of an imported file (first match wins)
GROUP_COLUMNS = ("group", "grp", "risk_group")
_FORBIDDEN_SQL = re.compile(r";|--|/\*")


def _open(store, read_only: bool):
    """Read from an open store or a path opened read-only; write holding the lock only for the write."""
    from ..store.session import StoreSession, reading

    return reading(store) if read_only else StoreSession(store).open()


# --------------------------------------------------------------------------- reading
def _clinical_column(store, column: str, patients: Sequence[str] | None = None) -> pd.Series:
    """One clinical column (typed, or a key of ``clinical.extra``) per patient, from the read layer."""
    from ..store import tables

    frame = tables.clinical(store, columns=[column], patients=patients)
    if frame.empty:
        raise InputError("the clinical table has no patient" + (" among the given ones" if patients is not None else "")
                         + "; load it first (`rg fetch clinical`)")
    return frame.set_index("patient_id").iloc[:, 0]


def read_group_file(path: str | Path) -> pd.DataFrame:
    """Read a ``patient_id,group`` CSV or TSV (delimiter sniffed; header required).

    Returns
    -------
    DataFrame
        ``patient_id, grp, line`` (``line`` = 1-based line in the file), ids and groups stripped.

    Raises
    ------
    InputError
        Missing file, no ``patient_id`` or group column, an empty group, or a patient listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"group file {path} does not exist")
    text = path.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text.strip() else ""
    if not first:
        raise InputError(f"group file {path} is empty; expected a header `patient_id,group` and one row per patient")
    delimiter = "\t" if "\t" in first else ("," if "," in first else (";" if ";" in first else ","))
    frame = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    cols = {c.strip().lower(): c for c in frame.columns}
    if "patient_id" not in cols:
        raise InputError(f"group file {path} has no `patient_id` column (columns: {list(frame.columns)}); "
                         "the header must be `patient_id,group`")
    gcol = next((cols[c] for c in GROUP_COLUMNS if c in cols), None)
    if gcol is None:
        raise InputError(f"group file {path} has no group column (one of {', '.join(GROUP_COLUMNS)}; "
                         f"columns: {list(frame.columns)})")
    out = pd.DataFrame({"patient_id": frame[cols["patient_id"]].str.strip(), "grp": frame[gcol].str.strip(),
                        "line": np.arange(len(frame)) + 2})
    blank_id = out[out["patient_id"] == ""]
    if len(blank_id):
        raise InputError(f"group file {path}: empty patient_id on line(s) {blank_id['line'].tolist()[:10]}")
    blank = out[out["grp"] == ""]
    if len(blank):
        raise InputError(f"group file {path}: patient(s) {blank['patient_id'].tolist()[:10]} have an empty group "
                         f"(line(s) {blank['line'].tolist()[:10]}); give every listed patient a group or drop the row")
    dup = out[out["patient_id"].duplicated(keep=False)]
    if len(dup):
        first_dups = dup.groupby("patient_id")["line"].apply(list).head(5).to_dict()
        raise InputError(f"group file {path}: patient(s) listed more than once (patient: lines) {first_dups}; "
                         "each patient belongs to one group")
    return out


# --------------------------------------------------------------------------- writing
def _write(store, grouping: str, groups: pd.Series, method: str, params: dict, command: str,
           score: pd.Series | None = None, inputs: dict[str, str] | None = None,
           failures: Sequence[tuple[str, str]] = ()) -> dict:
    rows = pd.DataFrame({"grouping": grouping, "patient_id": groups.index.astype(str),
                         "grp": groups.astype(str).to_numpy(), "model_id": None,
                         "score": score.reindex(groups.index).to_numpy(float) if score is not None else np.nan,
                         "method": method})
    with _open(store, False) as st, st.run(command, params, inputs=inputs) as run:
        for patient, reason in failures:
            run.record_failure("groups", patient, reason, item=grouping)
        st.replace("risk_groups", rows, "grouping = ?", [grouping], run_id=run.run_id)
        run_id = run.run_id
    counts = groups.astype(str).value_counts().sort_index().to_dict()
    log.info("grouping %s (%s): %s", grouping, method, counts)
    return {"run_id": run_id, "grouping": grouping, "counts": counts, "n_failed": len(failures)}


def _check_name(grouping: str | None, default: str) -> str:
    name = (grouping or default).strip()
    if not name:
        raise InputError("--grouping must not be empty")
    return name


# --------------------------------------------------------------------------- entries
def groups_from_clinical(store, column: str, method: str = "levels", *, thresholds: Sequence[float] | None = None,
                         quantiles: Sequence[float] | None = None, levels: Sequence[str] | None = None,
                         labels: Sequence[str] | None = None, grouping: str | None = None,
                         patients: Sequence[str] | None = None) -> dict:
    """``rg groups --clinical COLUMN``: a grouping from one clinical column.

    Parameters
    ----------
    column
        A column of ``clinical`` or a key of its ``extra`` JSON.
    method
        ``levels`` (each distinct value a group, optionally only ``levels``), ``threshold``
        (numeric split at ``thresholds``: above = upper group) or ``quantiles`` (numeric split
        at sample quantiles, R type 7).
    labels
        Group names from highest to lowest for ``threshold`` / ``quantiles``.
    grouping
        Name (default ``clinical:<column>``).
    patients
        Only these patients.

    Returns
    -------
    dict
        ``run_id, grouping, counts``.
    """
    with _open(store, True) as st:
        values = _clinical_column(st, column, patients)
    score = None
    if method == "levels":
        if thresholds or quantiles:
            raise InputError("--thresholds / --quantiles need --method threshold / quantiles")
        g = groups_by_levels(values, levels)
    elif method in ("threshold", "quantiles"):
        present = values.dropna()
        numeric = pd.to_numeric(present, errors="coerce")
        bad = numeric[numeric.isna()].index
        if len(bad):
            examples = {p: present[p] for p in list(bad)[:5]}
            raise InputError(f"clinical column {column!r} is not numeric for {len(bad)} patient(s) (e.g. {examples}); "
                             "use --method levels for a categorical column")
        score = numeric.astype(float)
        if method == "threshold":
            if not thresholds:
                raise InputError("--method threshold needs --thresholds (e.g. 65)")
            g = groups_by_thresholds(score, thresholds, labels)
        else:
            if not quantiles:
                raise InputError("--method quantiles needs --quantiles (e.g. 0.5 or 0.333,0.667)")
            g = groups_by_quantiles(score, quantiles, labels)
    else:
        raise InputError(f"unknown --method {method!r} for a clinical grouping; use levels, threshold or quantiles")
    require_levels(g, f"clinical column {column!r} ({method})")
    name = _check_name(grouping, f"clinical:{column}")
    params = dict(source="clinical", column=column, method=method, thresholds=list(thresholds or []) or None,
                  quantiles=list(quantiles or []) or None, levels=list(levels) if levels else None,
                  labels=list(labels) if labels else None, grouping=name,
                  patients=list(patients) if patients is not None else None)
    return _write(store, name, g, f"clinical:{method}", params, "rg groups", score=score)


def groups_from_predicate(store, where: str, *, labels: Sequence[str] = ("yes", "no"),
                          grouping: str | None = None) -> dict:
    """``rg groups --where PREDICATE``: patients for whom a SQL predicate is true vs false.

    The predicate is evaluated once per patient (every ``patient_id`` of ``patients`` or
    ``clinical``) over the patient's ``clinical`` row, whose columns can be named directly;
    any other view is reached by a subquery, e.g.
    ``patient_id IN (SELECT patient_id FROM radscores WHERE score > 0)``.  Patients for whom
    it is NULL (a missing value) are left out.  The store is opened read-only for it.

    Parameters
    ----------
    labels
        Names of the true and the false group.
    """
    if not where or not where.strip():
        raise InputError("--where needs a SQL predicate, e.g. \"egfr = 'Mutant'\"")
    if _FORBIDDEN_SQL.search(where):
        raise InputError(f"--where must be a single SQL predicate without ';' or comments, got {where!r}")
    labels = tuple(labels)
    if len(labels) != 2 or labels[0] == labels[1] or not all(str(x).strip() for x in labels):
        raise InputError(f"--labels needs two different names (true group, false group), got {list(labels)}")
    sql = ("WITH ids AS (SELECT patient_id FROM patients UNION SELECT patient_id FROM clinical) "
           f"SELECT ids.patient_id, ({where})::BOOLEAN AS hit FROM ids LEFT JOIN clinical USING (patient_id) "
           "ORDER BY ids.patient_id")
    with _open(store, True) as st:
        try:
            frame = st.query(sql)
        except Exception as exc:  # noqa: BLE001 - DuckDB parser/binder errors name the problem
            raise InputError(f"--where {where!r} is not a valid predicate over `clinical` (plus subqueries over "
                             f"the views): {str(exc).splitlines()[0]}") from exc
    if frame.empty:
        raise InputError("the store has no patients; load the cohort first (`rg fetch ...`)")
    undecided = int(frame["hit"].isna().sum())
    if undecided:
        log.info("--where is NULL (unknown) for %d patient(s); they are left out", undecided)
    frame = frame.dropna(subset=["hit"]).set_index("patient_id")
    g = pd.Series(np.where(frame["hit"].astype(bool), labels[0], labels[1]), index=frame.index, name="grp")
    require_levels(g, f"--where {where!r}")
    name = _check_name(grouping, "sql")
    params = dict(source="sql", where=where, labels=list(labels), grouping=name, n_undecided=undecided)
    return _write(store, name, g, "sql", params, "rg groups")


def import_groups(store, path: str | Path, grouping: str) -> dict:
    """``rg groups import FILE --grouping NAME``: a grouping from a ``patient_id,group`` CSV/TSV.

    Ids are resolved as ``patient_id`` or through ``id_crosswalk``
    (:func:`radiogenomics.store.patients.resolve_patient_ids`); a row whose patient is not
    in the store is recorded in ``failures`` (stage ``groups``) and skipped, the rest is
    imported.  File problems (see :func:`read_group_file`) stop the import before anything
    is written.
    """
    from ..store import sha256_file
    from ..store.patients import resolve_patient_ids

    if not grouping or not str(grouping).strip():
        raise InputError("rg groups import needs --grouping NAME")
    rows = read_group_file(path)
    with _open(store, True) as st:
        res = resolve_patient_ids(st, rows["patient_id"].tolist())
    known = rows[rows["patient_id"].isin(list(res.mapping))].copy()
    known["patient_id"] = known["patient_id"].map(res.mapping)
    twice = known[known["patient_id"].duplicated(keep=False)]
    if len(twice):
        raise InputError(f"group file {path}: lines {twice['line'].tolist()[:10]} name the same store patient(s) "
                         f"{sorted(set(twice['patient_id']))[:5]} through different ids")
    failures = [(sid, f"{Path(path).name} line {line}: {res.reason(sid)}")
                for sid, line in rows.loc[~rows["patient_id"].isin(list(res.mapping)), ["patient_id", "line"]]
                .itertuples(index=False)]
    if known.empty:
        raise InputError(f"none of the {len(rows)} patient(s) of {path} is in the store (e.g. "
                         f"{rows['patient_id'].tolist()[:3]}); load the cohort first or fix the ids")
    g = known.set_index("patient_id")["grp"]
    require_levels(g, f"group file {path}")
    params = dict(source="file", file=str(Path(path).resolve()), grouping=grouping, n_rows=len(rows),
                  n_unknown=len(failures))
    return _write(store, grouping, g, "file", params, "rg groups import",
                  inputs={Path(path).name: sha256_file(path)}, failures=failures)


@stage_entry
def run_groups(store, *, model: str | None = None, clinical: str | None = None, where: str | None = None,
               method: str | None = None, ranks: Sequence[int] | None = None,
               quantiles: Sequence[float] | None = None, thresholds: Sequence[float] | None = None,
               levels: Sequence[str] | None = None, labels: Sequence[str] | None = None,
               grouping: str | None = None, cohort: str | None = None, cutoff: float | None = None,
               patients: Sequence[str] | None = None, dataset: str | None = None) -> StageResult:
    """``rg groups``: a grouping from exactly one source (the entry the CLI and the pipeline call).

    ``model`` -> :func:`radiogenomics.models.workflow.make_groups` (``method`` cutoff by
    default); ``clinical`` -> :func:`groups_from_clinical` (levels by default); ``where`` ->
    :func:`groups_from_predicate`.  Options of another source are refused rather than ignored.
    The ``summary`` is the writer's dict (``run_id, grouping, counts``).
    """
    sources = [name for name, v in (("--model", model), ("--clinical", clinical), ("--where", where)) if v]
    if len(sources) != 1:
        raise InputError("rg groups needs exactly one source: --model ID, --clinical COLUMN, --where PREDICATE "
                         "(or `rg groups import FILE --grouping NAME`)"
                         + (f"; got {', '.join(sources)}" if sources else ""))
    if model:
        from .workflow import make_groups

        misplaced = [n for n, v in (("--thresholds", thresholds), ("--levels", levels), ("--labels", labels))
                     if v is not None]
        if misplaced:
            raise InputError(f"{', '.join(misplaced)} apply to --clinical / --where groupings only")
        # no ranks: make_groups uses the study's 36/32/32
        res = make_groups(store, model, method or "cutoff", ranks=ranks, quantiles=quantiles, grouping=grouping,
                          cohort=cohort, cutoff=cutoff, patients=patients, dataset=dataset)
    else:
        misplaced = [n for n, v in (("--ranks", ranks), ("--cohort", cohort), ("--cutoff", cutoff),
                                    ("--dataset", dataset)) if v is not None]
        if misplaced:
            raise InputError(f"{', '.join(misplaced)} apply to --model groupings only")
        if clinical:
            res = groups_from_clinical(store, clinical, method or "levels", thresholds=thresholds,
                                       quantiles=quantiles, levels=levels, labels=labels, grouping=grouping,
                                       patients=patients)
        else:
            unused = [n for n, v in (("--method", method), ("--quantiles", quantiles), ("--thresholds", thresholds),
                                     ("--levels", levels), ("--patients", patients)) if v is not None]
            if unused:
                raise InputError(f"{', '.join(unused)} do not apply to --where (put conditions in the predicate)")
            res = groups_from_predicate(store, where, labels=labels or ("yes", "no"), grouping=grouping)
    return StageResult("groups", run_ids=[res["run_id"]], counts=dict(res["counts"]), summary=res)


@stage_entry
def run_groups_import(store, file: str | Path, *, grouping: str) -> StageResult:
    """``rg groups import``: :func:`import_groups` as a stage (rows of unknown patients are failures)."""
    res = import_groups(store, file, grouping)
    return StageResult("groups import", run_ids=[res["run_id"]], counts=dict(res["counts"]),
                       partial=bool(res["n_failed"]), summary=res)
