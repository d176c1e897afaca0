"""The NSCLC Radiogenomics clinical CSV (TCIA) as a typed ``clinical`` table.

Cleaning rules
--------------
* Column names are stripped (``"Histology "`` -> ``"Histology"``) and matched
  case-insensitively.
* Every missing-value code becomes NULL: ``Not Collected`` / ``Not collected``,
  ``N/A``, ``NA``, ``Unknown``, ``Not Assessed``, ``Not Recorded In Database``,
  ``Not Recorded``, ``Not Available``, empty strings.
* Dates (``M/D/YYYY``, shifted into the 1990s by TCIA) become DATE.
* The seven ``Tumor Location (choice=...)`` checkbox columns are folded into
  ``tumor_location``: the checked locations joined by ``;`` in the order RUL, RML,
  RLL, LUL, LLL, L Lingula (NULL when none, or only "Unknown", is checked).
* ``t_stage`` / ``n_stage`` / ``m_stage``: AJCC notation (``T1a``, ``T2b``, ``Tis``,
  ``N0``, ``M1b``); ``t_stage_group`` is the main T category (``T1`` ... ``T4``, ``Tis``).
* ``grade``: ``G1``, ``G2``, ``G3``; the mixed categories "Type I: Well to
  moderately differentiated" -> ``G1-G2`` and "Type II: Moderately to poorly
  differentiated" -> ``G2-G3``; the source text is kept in ``grade_text``.
* ``recurrence``: BOOLEAN (yes/no); yes/no fields otherwise normalised to ``Yes``/``No``.
* ``cohort``: the Case ID prefix (``R01`` or ``AMC``).

Derived survival (days; event flags 1 = event, 0 = censored)
------------------------------------------------------------
* ``os_days``: from ``CT Date`` to ``Date of Death`` when Survival Status is Dead
  (``os_event = 1``), else to ``Date of Last Known Alive`` (``os_event = 0``).
  NULL when the needed dates are missing.
* ``dfs_days``: from ``CT Date`` to the first of recurrence (``Date of Recurrence``
  when Recurrence is yes) and death (``dfs_event = 1``), else to ``Date of Last
  Known Alive`` (``dfs_event = 0``).  NULL when Recurrence is unknown and the
  patient is alive, or when Recurrence is yes without a date.
* ``time_to_death_days`` is the source column as given (the source counts it from
  surgery for most patients, not from the CT date).
Negative intervals are kept, with a :class:`DataQualityWarning`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Settings
from ..ids import check_patient_id
from ..exceptions import InputError, DataQualityWarning, ParseError

log = logging.getLogger(__name__)

MISSING_CODES = frozenset(s.lower() for s in (
    "Not Collected", "Not collected", "N/A", "NA", "Unknown", "Not Assessed", "Not Recorded In Database",
    "Not Recorded", "Not Available", "NaN", "null", "None", ""))

LOCATIONS = ("RUL", "RML", "RLL", "LUL", "LLL", "L Lingula")

#: source column (stripped, lower-case) -> clinical column
COLUMN_MAP = {
    "case id": "case_id",
    "patient affiliation": "affiliation",
    "age at histological diagnosis": "age",
    "weight (lbs)": "weight_lbs",
    "gender": "gender",
    "ethnicity": "ethnicity",
    "smoking status": "smoking_status",
    "pack years": "pack_years",
    "quit smoking year": "quit_smoking_year",
    "%gg": "pct_gg",
    "histology": "histology",
    "pathological t stage": "t_stage",
    "pathological n stage": "n_stage",
    "pathological m stage": "m_stage",
    "histopathological grade": "grade_text",
    "lymphovascular invasion": "lymphovascular_invasion",
    "pleural invasion (elastic, visceral, or parietal)": "pleural_invasion",
    "egfr mutation status": "egfr",
    "kras mutation status": "kras",
    "alk translocation status": "alk",
    "adjuvant treatment": "adjuvant_treatment",
    "chemotherapy": "chemotherapy",
    "radiation": "radiation",
    "recurrence": "recurrence",
    "recurrence location": "recurrence_location",
    "date of recurrence": "date_recurrence",
    "date of last known alive": "date_last_alive",
    "survival status": "survival_status",
    "date of death": "date_death",
    "time to death (days)": "time_to_death_days",
    "ct date": "ct_date",
    "days between ct and surgery": "days_ct_to_surgery",
    "pet date": "pet_date",
}
_NUMERIC = ("age", "weight_lbs", "pack_years", "time_to_death_days", "days_ct_to_surgery")
_DATES = ("date_recurrence", "date_last_alive", "date_death", "ct_date", "pet_date")
_YESNO = ("adjuvant_treatment", "chemotherapy", "radiation", "pleural_invasion")

#: columns of ``core.clinical`` this parser fills (in order)
CLINICAL_COLUMNS = [
    "patient_id", "case_id", "cohort", "affiliation", "age", "weight_lbs", "gender", "ethnicity",
    "smoking_status", "pack_years", "quit_smoking_year", "pct_gg", "tumor_location", "histology",
    "t_stage", "t_stage_group", "n_stage", "m_stage", "grade", "grade_text", "lymphovascular_invasion",
    "pleural_invasion", "egfr", "kras", "alk", "adjuvant_treatment", "chemotherapy", "radiation",
    "recurrence", "recurrence_location", "date_recurrence", "date_last_alive", "survival_status",
    "date_death", "time_to_death_days", "ct_date", "days_ct_to_surgery", "pet_date", "os_days",
    "os_event", "dfs_days", "dfs_event", "extra",
]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip().lower() in MISSING_CODES


def _clean(value: Any) -> str | None:
    return None if _is_missing(value) else str(value).strip()


def _date(value: Any, column: str, case: str, path: Path) -> _dt.date | None:
    text = _clean(value)
    if text is None:
        return None
    for fmt in ("%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y", "%m/%d/%y"):
        try:
            return _dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ParseError(f"{path}: {column} of {case} is {text!r}, not a date (expected M/D/YYYY)")


def _number(value: Any, column: str, case: str, path: Path) -> float | None:
    text = _clean(value)
    if text is None:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        raise ParseError(f"{path}: {column} of {case} is {text!r}, not a number") from None


def _stage(value: Any, letter: str) -> str | None:
    text = _clean(value)
    if text is None:
        return None
    t = text.strip().replace(" ", "")
    match = re.match(rf"^(?:p|c|yp)?{letter}(is|x|[0-4])([a-c]?)", t, re.IGNORECASE)
    if not match:
        return text
    core = match.group(1).lower()
    return f"{letter}{'is' if core == 'is' else core.upper() if core == 'x' else core}{match.group(2).lower()}"


def _grade(text: str | None) -> str | None:
    if text is None:
        return None
    low = text.lower()
    if "well to moderately" in low or "type i:" in low:
        return "G1-G2"
    if "moderately to poorly" in low or "type ii:" in low:
        return "G2-G3"
    match = re.match(r"^\s*g\s*([1-4x])", low)
    if match:
        return f"G{match.group(1).upper()}"
    if "poorly" in low:
        return "G3"
    if "moderately" in low:
        return "G2"
    if "well" in low:
        return "G1"
    return text


def _yes_no(value: Any) -> str | None:
    text = _clean(value)
    if text is None:
        return None
    return {"yes": "Yes", "y": "Yes", "no": "No", "n": "No"}.get(text.lower(), text)


def parse_clinical_csv(path: str | Path) -> pd.DataFrame:
    """Parse the NSCLC Radiogenomics clinical CSV into the typed ``clinical`` layout.

    See the module docstring for every cleaning rule and the survival definitions.

    Parameters
    ----------
    path
        The CSV (e.g. ``NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv``).

    Returns
    -------
    DataFrame
        One row per Case ID with the columns :data:`CLINICAL_COLUMNS`;
        ``patient_id`` is the Case ID.  Unknown source columns are kept in ``extra``
        (a dict of column -> text).

    Raises
    ------
    ParseError
        No ``Case ID`` column, repeated or empty Case IDs, unparsable dates/numbers
        (the message names the column and the case).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ParseError(f"clinical CSV {path} is empty; give the TCIA clinical CSV (a header with 'Case ID' "
                         "and one row per patient)") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot read clinical CSV {path}: {exc}") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    lower = {c.lower(): c for c in raw.columns}
    if "case id" not in lower:
        raise ParseError(f"{path} has no 'Case ID' column (columns: {list(raw.columns)[:6]}...); is it the TCIA clinical CSV?")
    loc_cols = {}
    for col in raw.columns:
        match = re.match(r"^tumou?r location \(choice=(.+)\)$", col, re.IGNORECASE)
        if match:
            loc_cols[match.group(1).strip()] = col
    if raw.empty:
        raise ParseError(f"clinical CSV {path} has a header but no rows; is it the complete file?")
    rows = []
    warned: list[str] = []
    for number, rec in enumerate(raw.to_dict("records"), start=2):
        case = str(rec[lower["case id"]]).strip()
        if not case:
            raise ParseError(f"{path}: a row has an empty Case ID (line {number})")
        try:
            check_patient_id(case, f"{path}, Case ID on line {number}")
        except InputError as exc:
            raise ParseError(str(exc)) from None
        out: dict[str, Any] = {c: None for c in CLINICAL_COLUMNS}
        extra: dict[str, Any] = {}
        for col, value in rec.items():
            key = col.lower()
            if key in COLUMN_MAP:
                out[COLUMN_MAP[key]] = value
            elif col not in loc_cols.values():
                if not _is_missing(value):
                    extra[col] = str(value).strip()
        out["case_id"] = case
        out["patient_id"] = case
        out["cohort"] = case.split("-", 1)[0] if "-" in case else None
        for col in ("affiliation", "gender", "ethnicity", "smoking_status", "pct_gg", "histology",
                    "lymphovascular_invasion", "egfr", "kras", "alk", "recurrence_location", "survival_status"):
            out[col] = _clean(out[col])
        for col in _NUMERIC:
            out[col] = _number(out[col], col, case, path)
        quit_year = _number(out["quit_smoking_year"], "quit_smoking_year", case, path)
        out["quit_smoking_year"] = int(quit_year) if quit_year is not None else None
        for col in _DATES:
            out[col] = _date(out[col], col, case, path)
        for col in _YESNO:
            out[col] = _yes_no(out[col])
        rec_text = _clean(out["recurrence"])
        out["recurrence"] = None if rec_text is None else {"yes": True, "no": False}.get(rec_text.lower())
        if rec_text is not None and out["recurrence"] is None:
            raise ParseError(f"{path}: Recurrence of {case} is {rec_text!r}; expected yes/no")
        if out["survival_status"]:
            out["survival_status"] = out["survival_status"].capitalize()
        out["t_stage"] = _stage(out["t_stage"], "T")
        out["n_stage"] = _stage(out["n_stage"], "N")
        out["m_stage"] = _stage(out["m_stage"], "M")
        t = out["t_stage"]
        out["t_stage_group"] = (t[:3] if t and t.startswith("Tis") else t[:2]) if t else None
        out["grade_text"] = _clean(out["grade_text"])
        out["grade"] = _grade(out["grade_text"])
        checked = [name for name in LOCATIONS if name in loc_cols
                   and str(rec[loc_cols[name]]).strip().lower() in ("checked", "yes", "1", "true")]
        checked += [name for name in loc_cols if name not in LOCATIONS and name.lower() != "unknown"
                    and str(rec[loc_cols[name]]).strip().lower() in ("checked", "yes", "1", "true")]
        out["tumor_location"] = ";".join(checked) if checked else None
        _derive_survival(out, warned)
        out["extra"] = extra or None
        rows.append(out)
    frame = pd.DataFrame(rows, columns=CLINICAL_COLUMNS)
    dup = frame["patient_id"][frame["patient_id"].duplicated()].tolist()
    if dup:
        raise ParseError(f"{path}: Case ID {dup[0]} appears more than once")
    if warned:
        warnings.warn(f"{path}: negative survival intervals (kept) for {warned[:5]}", DataQualityWarning, stacklevel=2)
    for col in ("os_event", "dfs_event", "quit_smoking_year"):
        frame[col] = frame[col].astype("Int64")
    return frame


def _days(start: _dt.date | None, end: _dt.date | None) -> float | None:
    if start is None or end is None:
        return None
    return float((end - start).days)


def _derive_survival(out: dict[str, Any], warned: list[str]) -> None:
    ct = out["ct_date"]
    dead = (out["survival_status"] or "").lower() == "dead"
    alive = (out["survival_status"] or "").lower() == "alive"
    if dead and out["date_death"] is not None:
        out["os_days"], out["os_event"] = _days(ct, out["date_death"]), 1
    elif alive and out["date_last_alive"] is not None:
        out["os_days"], out["os_event"] = _days(ct, out["date_last_alive"]), 0
    if out["os_days"] is None:
        out["os_event"] = None
    candidates = []
    if out["recurrence"] is True and out["date_recurrence"] is not None:
        candidates.append(out["date_recurrence"])
    if dead and out["date_death"] is not None:
        candidates.append(out["date_death"])
    if candidates and not (out["recurrence"] is True and out["date_recurrence"] is None):
        out["dfs_days"], out["dfs_event"] = _days(ct, min(candidates)), 1
    elif out["recurrence"] is False and not dead and out["date_last_alive"] is not None:
        out["dfs_days"], out["dfs_event"] = _days(ct, out["date_last_alive"]), 0
    if out["dfs_days"] is None:
        out["dfs_event"] = None
    for key in ("os_days", "dfs_days"):
        if out[key] is not None and out[key] < 0:
            warned.append(f"{out['case_id']}:{key}")


@dataclass
class ClinicalSummary:
    """Outcome of a clinical load."""

    rows: int
    source: str
    sha256: str
    run_id: str
    os_events: int
    dfs_events: int

    def text(self) -> str:
        return (f"loaded {self.rows} clinical rows from {self.source} "
                f"({self.os_events} deaths, {self.dfs_events} DFS events)")


def load_clinical(settings: Settings, store: Any, source: str | Path | None = None,
                  collection: str | None = "NSCLC Radiogenomics", http: Any = None) -> ClinicalSummary:
    """Download (if a URL) and parse the clinical CSV, then replace the store's rows.

    Parameters
    ----------
    settings
        ``clinical_url`` is the default source; downloads go to ``<data-dir>/clinical/``.
    store
        Open read-write store, or its path (opened only to write).
    source
        Local path or http(s) URL; default ``settings.clinical_url``.
    collection
        Collection recorded for new patients.

    Returns
    -------
    ClinicalSummary
    """
    from ..store import sha256_file
    from .series_io import ensure_patients
    from .storeio import RunRecorder, StoreSession

    src = str(source) if source is not None else settings.clinical_url
    if re.match(r"^https?://", src):
        from .http import HttpClient

        client = http or HttpClient.from_settings(settings)
        name = src.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "clinical.csv"
        path = client.download(src, Path(settings.data_dir) / "clinical" / name, resume=False).path
    else:
        path = Path(src).expanduser()
        if not path.is_file():
            raise ParseError(f"clinical file {path} does not exist; pass --file PATH or set RG_CLINICAL_URL")
    frame = parse_clinical_csv(path)
    digest = sha256_file(path)
    session = StoreSession(store)
    ids = frame["patient_id"].tolist()
    rows = frame.assign(extra=frame["extra"].map(lambda d: json.dumps(d, sort_keys=True) if d else None))
    params = {"source": src, "collection": collection}
    with RunRecorder(session, "fetch clinical", params, {path.name: digest}) as run, \
            session.open() as st, st.transaction():
        st.delete("clinical", "patient_id IN (SELECT unnest(?))", [ids])
        st.upsert("clinical", rows, run_id=run.run_id)
        ensure_patients(st, ids, collection, "clinical", run.run_id)
        st.add_crosswalk("clinical", {p: p for p in ids}, run.run_id)
    return ClinicalSummary(rows=len(frame), source=src, sha256=digest, run_id=run.run_id,
                           os_events=int(frame["os_event"].fillna(0).sum()),
                           dfs_events=int(frame["dfs_event"].fillna(0).sum()))
