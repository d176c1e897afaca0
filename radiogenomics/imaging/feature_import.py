"""``rg import features``: radiomic features computed elsewhere, stored like extracted ones.

Three layouts are read (:func:`read_feature_file`):

``pyradiomics``
    The CSV that ``pyradiomics input.csv -o out.csv -f csv`` (batch mode) writes: the input
    columns (``Image``, ``Mask``, any others such as ``Patient``), ``diagnostics_*`` columns
    and one column per feature (``<image type>_<class>_<name>``).  The patient is a named
    column (``patient_column``) or the first group (or the group named ``patient``) of a
    regular expression searched in the ``Image`` path (``patient_regex``).  The extraction
    settings come from ``diagnostics_Configuration_Settings`` and
    ``diagnostics_Configuration_EnabledImageTypes``; with the feature classes and names
    present they form a pyradiomics parameter dict whose hash
    (:func:`radiogenomics.imaging.features.params_hash`) is the rows' ``params_hash``.  The
    diagnostics are kept in ``feature_diagnostics``; pyradiomics' image and mask hashes
    become ``image_sha1`` / ``mask_sha1``.
``wide``
    CSV/TSV/Parquet with a patient column (``patient_id`` or ``patient_column``) and one
    numeric column per feature.
``long``
    CSV/TSV/Parquet with ``patient_id, feature, value`` (and optionally ``roi``).

For the plain layouts ``params_hash`` is the hash of a pyradiomics parameter file given
with ``params`` (so the rows join those ``rg features`` extracted with it), else of
``{"imported": {"features": [sorted names]}}``: files with the same feature set share it.

Bad files stop before anything is written, with the file, column, line and patient named:
no patient column, a patient (or patient + feature) given twice, a value that is not a
number (empty cells and ``NA``/``NaN`` are missing values), settings that differ between
rows.  A row whose patient is not in the store (see
:func:`radiogenomics.store.patients.resolve_patient_ids`), or for which pyradiomics wrote
no feature values, is recorded in ``failures`` (stage ``import_features``) and skipped.
All rows of an import are written in one transaction.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..result import StageResult, stage_entry

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "ParsedFeatures", "import_features", "read_feature_file"]

FORMATS = ("auto", "pyradiomics", "wide", "long")
STAGE = "import_features"
#: pyradiomics feature classes (column ``<image type>_<class>_<feature>``)
FEATURE_CLASSES = ("shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
_FEATURE_COLUMN = re.compile(r"^(?P<image>[A-Za-z0-9\-.]+)_(?P<cls>" + "|".join(FEATURE_CLASSES) + r")_(?P<name>\w+)$")
_NA_TOKENS = {"", "na", "nan", "null", "none", "n/a"}
_SETTINGS = "diagnostics_Configuration_Settings"
_IMAGE_TYPES = "diagnostics_Configuration_EnabledImageTypes"


@dataclass
class ParsedFeatures:
    """A feature file read and checked, not yet resolved against the store.

    ``values``: ``source_id, roi, feature, value, line``; ``diagnostics``: ``source_id, key,
    value``; ``hashes``: ``source_id, image_sha1, mask_sha1``; ``empty_rows``: source id ->
    line of rows without any feature value; ``params``: the pyradiomics parameter dict read
    from the diagnostics (pyradiomics layout) or None.
    """

    path: Path
    format: str
    values: pd.DataFrame
    diagnostics: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source_id", "key", "value"]))
    hashes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source_id", "image_sha1", "mask_sha1"]))
    empty_rows: dict[str, int] = field(default_factory=dict)
    params: dict | None = None


# --------------------------------------------------------------------------- reading
def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"feature file {path} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise InputError(f"feature file {path} is not a readable Parquet file: {exc}") from exc
        return frame
    first = path.open(encoding="utf-8-sig").readline()
    if not first.strip():
        raise InputError(f"feature file {path} is empty")
    sep = "\t" if "\t" in first else ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"feature file {path} is not a readable CSV/TSV: {str(exc).splitlines()[0]}") from exc


def _detect(frame: pd.DataFrame) -> str:
    cols = set(frame.columns)
    if {"Image", "Mask"} <= cols or any(str(c).startswith("diagnostics_") for c in cols):
        return "pyradiomics"
    if {"patient_id", "feature", "value"} <= cols and len(cols - {"patient_id", "feature", "value", "roi"}) == 0:
        return "long"
    return "wide"


def _numbers(raw: pd.Series, path: Path, column: str, ids: pd.Series, lines: np.ndarray) -> np.ndarray:
    """Float values of one column; empty/NA cells are NaN, anything else unparsable is an error."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(dtype=float)
    text = raw.astype(object)
    missing = text.isna() | text.map(lambda v: str(v).strip().lower() in _NA_TOKENS)
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = np.flatnonzero((values.isna() & ~missing).to_numpy())
    if bad.size:
        i = bad[0]
        raise InputError(f"feature file {path}: non-numeric value {str(text.iloc[i])!r} in column {column!r} for "
                         f"patient {ids.iloc[i]!r} (line {lines[i]}; {bad.size} such cell(s) in the column); fix the "
                         "value, leave the cell empty for a missing value, or drop the column if it is not a feature")
    return values.to_numpy(dtype=float)


def _patient_ids(frame: pd.DataFrame, path: Path, patient_column: str | None, patient_regex: str | None,
                 default: str | None) -> pd.Series:
    if patient_column and patient_regex:
        raise InputError("give --patient-column or --patient-regex, not both")
    if patient_regex:
        if "Image" not in frame.columns:
            raise InputError(f"feature file {path} has no `Image` column for --patient-regex")
        try:
            rx = re.compile(patient_regex)
        except re.error as exc:
            raise InputError(f"--patient-regex {patient_regex!r} is not a regular expression: {exc}") from exc
        if not rx.groups:
            raise InputError(f"--patient-regex {patient_regex!r} needs a group, e.g. '(R01-\\d+)'")

        def pick(path_text: str) -> str | None:
            m = rx.search(str(path_text))
            if m is None:
                return None
            return m.group("patient") if "patient" in rx.groupindex else m.group(1)

        ids = frame["Image"].map(pick)
        unmatched = np.flatnonzero(ids.isna().to_numpy())
        if unmatched.size:
            raise InputError(f"feature file {path}: --patient-regex {patient_regex!r} does not match the Image path "
                             f"{frame['Image'].iloc[unmatched[0]]!r} (line {unmatched[0] + 2}; {unmatched.size} "
                             "row(s) unmatched)")
        return ids.astype(str).str.strip()
    column = patient_column or default
    if column is None or column not in frame.columns:
        hint = ("pass --patient-column COLUMN or --patient-regex REGEX (over the Image path)"
                if default is None or patient_column is None else "pass --patient-column COLUMN")
        raise InputError(f"feature file {path} has no patient column {column or ''!r} (columns: "
                         f"{list(frame.columns)[:12]}{' ...' if frame.shape[1] > 12 else ''}); {hint}")
    ids = frame[column].astype(str).str.strip()
    blank = np.flatnonzero(((ids == "") | frame[column].isna()).to_numpy())
    if blank.size:
        raise InputError(f"feature file {path}: empty patient id in column {column!r} on line(s) "
                         f"{(blank[:10] + 2).tolist()}")
    return ids


def _check_unique(ids: pd.Series, path: Path, what: str = "patient") -> None:
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        lines = {k: (np.flatnonzero((ids == k).to_numpy()) + 2).tolist() for k in list(dict.fromkeys(dup))[:5]}
        raise InputError(f"feature file {path}: {what}(s) given more than once ({what}: lines) {lines}; "
                         "keep one row per patient (one file per ROI or reader)")


def _literal(text: str, path: Path, column: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise InputError(f"feature file {path}: {column} {text[:80]!r} is not the dict pyradiomics writes") from exc


def _pyradiomics(frame: pd.DataFrame, path: Path, roi: str, patient_column: str | None,
                 patient_regex: str | None) -> ParsedFeatures:
    ids = _patient_ids(frame, path, patient_column, patient_regex, "patient_id" if "patient_id" in frame else None)
    _check_unique(ids, path)
    lines = np.arange(len(frame)) + 2
    feature_cols = [c for c in frame.columns if _FEATURE_COLUMN.match(str(c))]
    if not feature_cols:
        raise InputError(f"feature file {path} has no pyradiomics feature column (<image type>_<class>_<name>, "
                         f"class one of {', '.join(FEATURE_CLASSES)})")
    diag_cols = [c for c in frame.columns if str(c).startswith("diagnostics_")]
    ignored = [c for c in frame.columns if c not in feature_cols and c not in diag_cols
               and c not in ("Image", "Mask", patient_column)]
    if ignored:
        log.info("pyradiomics input columns kept out of the features: %s", ignored)
    values = np.column_stack([_numbers(frame[c], path, c, ids, lines) for c in feature_cols])
    empty = np.isnan(values).all(axis=1)
    params = None
    if _SETTINGS in frame.columns:
        done = frame.loc[~empty]
        distinct = done[_SETTINGS].astype(str).unique()
        if len(distinct) > 1:
            raise InputError(f"feature file {path} mixes {len(distinct)} extraction settings in {_SETTINGS}; "
                             "import each setting's rows as a separate file")
        types = done[_IMAGE_TYPES].astype(str).unique() if _IMAGE_TYPES in frame.columns else []
        if len(types) > 1:
            raise InputError(f"feature file {path} mixes {len(types)} image-type sets in {_IMAGE_TYPES}; "
                             "import each set as a separate file")
        if len(distinct):
            classes: dict[str, list[str]] = {}
            for c in feature_cols:
                m = _FEATURE_COLUMN.match(str(c))
                classes.setdefault(m["cls"], []).append(m["name"])
            params = {"setting": _literal(distinct[0], path, _SETTINGS),
                      "imageType": _literal(types[0], path, _IMAGE_TYPES) if len(types) else {"Original": {}},
                      "featureClass": {k: sorted(set(v)) for k, v in sorted(classes.items())}}
    else:
        log.warning("%s has no %s column: the rows get the feature-set hash", path, _SETTINGS)
    keep = ~empty
    long = pd.DataFrame({
        "source_id": np.repeat(ids.to_numpy()[keep], len(feature_cols)),
        "roi": roi,
        "feature": np.tile(np.asarray(feature_cols, dtype=object), int(keep.sum())),
        "value": values[keep].ravel(),
        "line": np.repeat(lines[keep], len(feature_cols)),
    })
    diag = frame.loc[keep, diag_cols + [c for c in ("Image", "Mask") if c in frame.columns]].copy()
    diag.insert(0, "source_id", ids[keep].to_numpy())
    diag_long = diag.melt(id_vars="source_id", var_name="key", value_name="value")
    diag_long["value"] = diag_long["value"].astype(str)
    hashes = pd.DataFrame({"source_id": ids[keep].to_numpy(),
                           "image_sha1": frame.loc[keep, "diagnostics_Image-original_Hash"].to_numpy()
                           if "diagnostics_Image-original_Hash" in frame else None,
                           "mask_sha1": frame.loc[keep, "diagnostics_Mask-original_Hash"].to_numpy()
                           if "diagnostics_Mask-original_Hash" in frame else None})
    return ParsedFeatures(path, "pyradiomics", long, diag_long, hashes,
                          {ids.iloc[i]: int(lines[i]) for i in np.flatnonzero(empty)}, params)


def _wide(frame: pd.DataFrame, path: Path, roi: str, patient_column: str | None) -> ParsedFeatures:
    column = patient_column or "patient_id"
    ids = _patient_ids(frame, path, column, None, column)
    _check_unique(ids, path)
    lines = np.arange(len(frame)) + 2
    feature_cols = [c for c in frame.columns if c != column]
    if not feature_cols:
        raise InputError(f"feature file {path} has no feature column besides {column!r}")
    diag = [c for c in feature_cols if str(c).startswith("diagnostics_")]
    if diag:
        log.info("%d diagnostics_ column(s) of %s are not features and are skipped", len(diag), path)
        feature_cols = [c for c in feature_cols if c not in diag]
    values = np.column_stack([_numbers(frame[c], path, str(c), ids, lines) for c in feature_cols])
    long = pd.DataFrame({"source_id": np.repeat(ids.to_numpy(), len(feature_cols)), "roi": roi,
                         "feature": np.tile(np.asarray([str(c) for c in feature_cols], dtype=object), len(frame)),
                         "value": values.ravel(), "line": np.repeat(lines, len(feature_cols))})
    return ParsedFeatures(path, "wide", long)


def _long(frame: pd.DataFrame, path: Path, roi: str, patient_column: str | None) -> ParsedFeatures:
    column = patient_column or "patient_id"
    for needed in (column, "feature", "value"):
        if needed not in frame.columns:
            raise InputError(f"long feature file {path} has no {needed!r} column (columns: {list(frame.columns)}); "
                             "the layout is patient_id, feature, value [, roi]")
    ids = _patient_ids(frame, path, column, None, column)
    lines = np.arange(len(frame)) + 2
    rois = frame["roi"].astype(str).str.strip() if "roi" in frame.columns else pd.Series(roi, index=frame.index)
    features = frame["feature"].astype(str).str.strip()
    if (features == "").any():
        raise InputError(f"long feature file {path}: empty feature name on line(s) "
                         f"{(np.flatnonzero((features == '').to_numpy())[:10] + 2).tolist()}")
    key = ids + "\x1f" + rois + "\x1f" + features
    dup = key[key.duplicated(keep=False)]
    if len(dup):
        i = np.flatnonzero(key.duplicated(keep=False).to_numpy())
        raise InputError(f"long feature file {path}: patient {ids.iloc[i[0]]!r} has feature "
                         f"{features.iloc[i[0]]!r} more than once (lines {(i[:6] + 2).tolist()}); one value per "
                         "patient, ROI and feature")
    values = _numbers(frame["value"], path, "value", ids, lines)
    long = pd.DataFrame({"source_id": ids.to_numpy(), "roi": rois.to_numpy(), "feature": features.to_numpy(),
                         "value": values, "line": lines})
    long = long[~long["feature"].str.startswith("diagnostics_")]
    return ParsedFeatures(path, "long", long)


def read_feature_file(path: str | Path, fmt: str = "auto", *, roi: str = "tumor", patient_column: str | None = None,
                      patient_regex: str | None = None) -> ParsedFeatures:
    """Read and check a feature file (no store access).

    Parameters
    ----------
    fmt
        ``auto`` (pyradiomics when ``Image``/``Mask``/``diagnostics_*`` columns exist, long
        when the columns are ``patient_id, feature, value[, roi]``, else wide),
        ``pyradiomics``, ``wide`` or ``long``.
    roi
        ROI name of the rows (a long file's ``roi`` column wins).
    patient_column, patient_regex
        Where the patient id is (see the module docstring).

    Raises
    ------
    InputError
        Unreadable file, no patient column, duplicates, non-numeric values, mixed settings.
    """
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not roi or not str(roi).strip():
        raise InputError("--roi must not be empty")
    path = Path(path)
    frame = _read_table(path)
    if frame.empty:
        raise InputError(f"feature file {path} has a header but no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    kind = _detect(frame) if fmt == "auto" else fmt
    if patient_regex and kind != "pyradiomics":
        raise InputError("--patient-regex applies to pyradiomics batch output (it searches the Image path)")
    if kind == "pyradiomics":
        parsed = _pyradiomics(frame, path, roi, patient_column, patient_regex)
    elif kind == "wide":
        parsed = _wide(frame, path, roi, patient_column)
    else:
        parsed = _long(frame, path, roi, patient_column)
    if parsed.values.empty and not parsed.empty_rows:
        raise InputError(f"feature file {path} has no feature values")
    return parsed


# --------------------------------------------------------------------------- store
def _params_for(parsed: ParsedFeatures, params: str | Path | None) -> tuple[str, str, str]:
    """(params_hash, params_yaml, source) of the imported rows."""
    import yaml

    from .features import load_params, params_hash

    if params is not None:
        if parsed.format == "pyradiomics" and parsed.params is not None:
            raise InputError("--params is for plain tables; a pyradiomics batch file carries its own settings")
        p = load_params(params)
        return p.hash, p.yaml_text, p.source
    if parsed.params is not None:
        # round-trip through YAML so the hash is the one load_params() gives for the stored text
        text = yaml.safe_dump(parsed.params, sort_keys=True)
        return params_hash(yaml.safe_load(text)), text, f"{parsed.path} ({_SETTINGS})"
    names = sorted(parsed.values["feature"].unique())
    spec = {"imported": {"features": names}}
    text = yaml.safe_dump(spec, sort_keys=True)
    return params_hash(yaml.safe_load(text)), text, f"{parsed.path} (feature set)"


def import_features(store, path: str | Path, fmt: str = "auto", *, roi: str = "tumor",
                    patient_column: str | None = None, patient_regex: str | None = None,
                    params: str | Path | None = None) -> dict:
    """``rg import features FILE``: store a feature table made elsewhere in ``features``.

    Parameters
    ----------
    store
        Open read-write store or its path.
    path, fmt, roi, patient_column, patient_regex
        See :func:`read_feature_file`.
    params
        Plain layouts: the pyradiomics parameter file that produced the values (its hash
        becomes ``params_hash``, as with ``rg features --params``).

    Returns
    -------
    dict
        ``run_id, params_hash, format, n_patients, n_features, n_failed, roi``.

    Raises
    ------
    InputError
        A bad file (nothing written) or no row whose patient is in the store.
    """
    from ..store import sha256_file
    from ..store.patients import resolve_patient_ids

    parsed = read_feature_file(path, fmt, roi=roi, patient_column=patient_column, patient_regex=patient_regex)
    phash, yaml_text, source = _params_for(parsed, params)
    from ..store.session import StoreSession, reading

    session = StoreSession(store)
    all_ids = list(dict.fromkeys(list(parsed.values["source_id"].unique()) + list(parsed.empty_rows)))
    with reading(store) as st:
        res = resolve_patient_ids(st, all_ids)
    failures: list[tuple[str, str, str]] = []
    for sid, line in parsed.empty_rows.items():
        failures.append((res.mapping.get(sid, sid), roi,
                         f"{parsed.path.name} line {line}: pyradiomics wrote no feature value for this case "
                         "(its extraction failed); rerun it or extract with `rg features`"))
    lines = parsed.values.groupby("source_id")["line"].first()
    for sid in res.unknown:
        if sid in lines.index:
            failures.append((sid, roi, f"{parsed.path.name} line {lines[sid]}: {res.reason(sid)}"))
    values = parsed.values[parsed.values["source_id"].isin(list(res.mapping))].copy()
    if values.empty:
        raise InputError(f"no row of {path} can be imported: {len(res.unknown)} patient(s) unknown to the store "
                         f"(e.g. {res.unknown[:3]}), {len(parsed.empty_rows)} without values; load the cohort "
                         "first or fix the ids")
    values["patient_id"] = values["source_id"].map(res.mapping)
    per_source = values.drop_duplicates(["source_id", "roi"])
    twice = per_source[per_source.duplicated(["patient_id", "roi"], keep=False)]
    if len(twice):
        raise InputError(f"feature file {path}: ids {sorted(twice['source_id'])[:6]} are the same store patient(s) "
                         f"{sorted(set(twice['patient_id']))[:3]}; keep one row per patient")
    rows = values[["patient_id", "roi", "feature", "value"]].assign(params_hash=phash)
    if len(parsed.hashes):
        h = parsed.hashes.assign(patient_id=parsed.hashes["source_id"].map(res.mapping)).dropna(subset=["patient_id"])
        rows = rows.merge(h[["patient_id", "image_sha1", "mask_sha1"]], on="patient_id", how="left")
    diag = parsed.diagnostics
    if len(diag):
        diag = diag[diag["source_id"].isin(list(res.mapping))].assign(
            patient_id=lambda d: d["source_id"].map(res.mapping), roi=roi, params_hash=phash)
        diag = diag[["patient_id", "roi", "params_hash", "key", "value"]]
    run_params = dict(file=str(Path(path).resolve()), format=parsed.format, roi=roi, patient_column=patient_column,
                      patient_regex=patient_regex, params=str(params) if params else None, params_hash=phash,
                      params_source=source)
    inputs = {Path(path).name: sha256_file(path)}
    if params is not None and Path(params).is_file():
        inputs[f"params:{Path(params).name}"] = sha256_file(params)
    with session.open() as st, st.run("rg import features", run_params, inputs=inputs) as run:
        with st.transaction():
            st.upsert("feature_params", pd.DataFrame([dict(params_hash=phash, params_yaml=yaml_text,
                                                           source_path=source)]), run_id=run.run_id)
            st.upsert("features", rows, run_id=run.run_id)
            if len(diag):
                st.upsert("feature_diagnostics", diag, run_id=run.run_id)
            for patient, item, reason in failures:
                run.record_failure(STAGE, patient, reason, item=item, store=st)
        run_id = run.run_id
    summary = {"run_id": run_id, "params_hash": phash, "format": parsed.format, "roi": roi,
               "n_patients": int(rows["patient_id"].nunique()), "n_features": int(rows["feature"].nunique()),
               "n_failed": len(failures)}
    log.info("imported %s features: %s", parsed.format, json.dumps(summary))
    return summary


@stage_entry
def run_import_features(store, file: str | Path, *, format: str = "auto", roi: str = "tumor",  # noqa: A002
                        patient_column: str | None = None, patient_regex: str | None = None,
                        params: str | Path | None = None) -> StageResult:
    """``rg import features``: :func:`import_features` as a stage (``format`` is the ``--format``
    option); rows that could not be imported are failures and make the result ``partial``."""
    res = import_features(store, file, format, roi=roi, patient_column=patient_column, patient_regex=patient_regex,
                          params=params)
    return StageResult("import features", run_ids=[res["run_id"]],
                       counts={"patients": res["n_patients"], "features": res["n_features"],
                               "failed": res["n_failed"]}, partial=bool(res["n_failed"]), summary=res)
