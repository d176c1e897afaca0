"""GEO series: series matrix -> ``samples``; expression table -> ``expression`` (long).

Files come from ``<RG_GEO_URL>/geo/series/<stub>/<GSE>/`` (stub: GSE103584 ->
GSE103nnn, GSE1 -> GSEnnn): ``matrix/<GSE>[-GPLxxx]_series_matrix.txt.gz`` (one per
platform) and ``suppl/<file>`` (listed in ``suppl/filelist.txt``).  They are cached
in ``<data-dir>/geo/<GSE>/``.

Samples are keyed by GSM with title, platform and the ``!Sample_characteristics_ch1``
``key: value`` pairs.  Expression values are kept exactly as given (NA -> NULL);
each dataset records its scale (``counts``, ``log2``, ``fpkm``, ``tpm`` or
``other``) and whether the values are counts.  The expression comes from the series
matrix table when it has rows, else from the supplementary table(s) (``--file`` to
choose).  Columns are matched to samples by GSM accession or by sample title; each
sample's ``patient_id`` is its ``patient``/``case id``/``subject`` characteristic
or else its title, resolved through the id crosswalk (for GSE103584 the title is
the TCIA Case ID, e.g. ``R01-034``).  Crosswalk rows: ``geo_gsm`` (GSM -> patient)
and ``geo_title`` (title -> patient).  One dataset per platform: ``<GSE>``, or
``<GSE>-<GPL>`` for multi-platform series (``<GSE>:<file stem>`` when several
supplementary files are loaded).
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import Settings, stage_settings
from ..exceptions import DataQualityWarning, InputError, NotFoundError, ParseError
from ..result import StageResult, stage_entry
from .http import HttpClient
from .storeio import RunRecorder, StoreLike, StoreSession

log = logging.getLogger(__name__)

_GSE = re.compile(r"^GSE[0-9]+$")
_TABULAR = (".txt.gz", ".tsv.gz", ".csv.gz", ".txt", ".tsv", ".csv", ".tab.gz", ".tab")
_PATIENT_KEYS = ("patient id", "patient", "case id", "case", "subject id", "subject", "individual", "donor id", "donor")


def geo_stub(gse: str) -> str:
    """GEO folder stub: GSE103584 -> GSE103nnn, GSE1 -> GSEnnn."""
    digits = gse[3:]
    return "GSE" + (digits[:-3] if len(digits) > 3 else "") + "nnn"


def geo_series_url(base: str, gse: str) -> str:
    """Folder URL of a series, e.g. ``.../geo/series/GSE103nnn/GSE103584``."""
    return f"{base.rstrip('/')}/geo/series/{geo_stub(gse)}/{gse}"


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")  # type: ignore[return-value]
    return open(path, "r", encoding="utf-8", errors="replace")


def _unquote(cell: str) -> str:
    cell = cell.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        cell = cell[1:-1]
    return cell


# ---------------------------------------------------------------------------- parsers


def parse_series_matrix(path: str | Path) -> tuple[dict[str, list[str]], pd.DataFrame]:
    """Parse the header of a GEO series matrix.

    Returns
    -------
    series_meta : dict
        ``!Series_*`` key (without the prefix) -> list of values (repeated lines append).
    samples : DataFrame
        One row per sample: ``sample_id`` (GSM), ``title``, ``platform``,
        ``characteristics`` (dict key -> value from the ``key: value`` cells of
        ``!Sample_characteristics_ch1``), ``source_name``, ``data_processing``
        (all lines joined by `` | ``).

    Raises
    ------
    ParseError
        No ``!Sample_geo_accession`` line, or sample lines of unequal length.
    """
    path = Path(path)
    meta: dict[str, list[str]] = {}
    sample_lines: dict[str, list[list[str]]] = {}
    try:
        with _open_text(path) as handle:
            for line in handle:
                if line.startswith("!series_matrix_table_begin"):
                    break
                if line.startswith("!Series_"):
                    key, _, rest = line.rstrip("\n").partition("\t")
                    meta.setdefault(key[len("!Series_"):], []).extend(_unquote(c) for c in rest.split("\t"))
                elif line.startswith("!Sample_"):
                    key, _, rest = line.rstrip("\n").partition("\t")
                    sample_lines.setdefault(key[len("!Sample_"):], []).append([_unquote(c) for c in rest.split("\t")])
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ParseError(f"cannot read series matrix {path}: {exc}") from exc
    if "geo_accession" not in sample_lines:
        raise ParseError(f"{path} has no !Sample_geo_accession line; is it a GEO series matrix?")
    gsms = sample_lines["geo_accession"][0]
    n = len(gsms)
    for key, lines in sample_lines.items():
        for cells in lines:
            if len(cells) != n:
                raise ParseError(f"{path}: !Sample_{key} has {len(cells)} cells for {n} samples")

    def first(key: str) -> list[str]:
        return sample_lines.get(key, [[""] * n])[0]

    chars: list[dict[str, str]] = [{} for _ in range(n)]
    for k, cells in enumerate(sample_lines.get("characteristics_ch1", [])):
        for i, cell in enumerate(cells):
            if not cell:
                continue
            if ":" in cell:
                key, _, value = cell.partition(":")
                chars[i][key.strip()] = value.strip()
            else:
                chars[i][f"characteristics_{k + 1}"] = cell.strip()
    samples = pd.DataFrame({
        "sample_id": gsms, "title": first("title"), "platform": first("platform_id"),
        "characteristics": chars, "source_name": first("source_name_ch1"),
        "data_processing": [" | ".join(lines[i] for lines in sample_lines.get("data_processing", []) if lines[i])
                            for i in range(n)],
    })
    return meta, samples


def parse_series_matrix_table(path: str | Path) -> pd.DataFrame | None:
    """The ``!series_matrix_table`` block as a DataFrame (ID_REF x GSM), None when empty."""
    path = Path(path)
    lines: list[str] = []
    inside = False
    with _open_text(path) as handle:
        for line in handle:
            if line.startswith("!series_matrix_table_begin"):
                inside = True
                continue
            if line.startswith("!series_matrix_table_end"):
                break
            if inside:
                lines.append(line)
    if len(lines) <= 1:
        return None
    frame = pd.read_csv(io.StringIO("".join(lines)), sep="\t", index_col=0, na_values=["NA", "null", "", "NaN"])
    frame.columns = [_unquote(str(c)) for c in frame.columns]
    frame.index = [_unquote(str(i)) for i in frame.index]
    return _numeric(frame, path)


def _numeric(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    for col in frame.columns:
        if frame[col].dtype == object:
            conv = pd.to_numeric(frame[col], errors="coerce")
            bad = frame[col].notna() & conv.isna()
            if bad.any():
                value = frame.loc[bad, col].iloc[0]
                raise ParseError(f"{path}: column {col!r} holds a non-numeric value {value!r} "
                                 f"(gene {frame.index[bad.values][0]!r})")
            frame[col] = conv
    return frame.astype(float)


def parse_expression_table(path: str | Path) -> pd.DataFrame:
    """Read a genes x samples expression table (tab or comma separated, gz or plain).

    The first column holds the gene identifiers (its header cell may be empty); the
    other header cells are sample names.  ``NA``/``null``/empty become NaN.  Rows
    repeating a gene keep the first occurrence (with a :class:`DataQualityWarning`).

    Returns
    -------
    DataFrame
        float values, index = genes, columns = samples as in the header.

    Raises
    ------
    ParseError
        Unreadable file, fewer than two columns, or non-numeric values (the message
        names the column and the gene).
    """
    path = Path(path)
    try:
        with _open_text(path) as handle:
            head = handle.readline()
            sep = "\t" if "\t" in head else ","
            handle.seek(0)
            frame = pd.read_csv(handle, sep=sep, index_col=0, na_values=["NA", "null", "", "NaN", "nan"],
                                keep_default_na=False, low_memory=False)
    except (OSError, EOFError, gzip.BadGzipFile, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot read expression table {path}: {exc}") from exc
    if frame.shape[1] < 1:
        raise ParseError(f"{path} has no sample columns; expected a gene column then one column per sample")
    frame.columns = [_unquote(str(c)) for c in frame.columns]
    frame.index = pd.Index([_unquote(str(i)) for i in frame.index], name=None)
    frame = frame[frame.index.notna() & (frame.index != "") & (frame.index != "nan")]
    dup = frame.index.duplicated(keep="first")
    if dup.any():
        warnings.warn(f"{path}: {int(dup.sum())} repeated gene rows dropped (first kept), e.g. {frame.index[dup][0]!r}",
                      DataQualityWarning, stacklevel=2)
        frame = frame[~dup]
    return _numeric(frame, path)


def detect_scale(values: np.ndarray, hints: str = "") -> tuple[str, bool]:
    """Guess the scale of expression values: (``counts``|``log2``|``fpkm``|``tpm``|``other``, is_counts).

    Non-negative whole numbers are counts; values with negatives or a maximum below 50
    are log-scale; otherwise the processing text / file name decides FPKM/RPKM vs TPM.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "other", False
    if finite.min() >= 0 and np.all(np.equal(np.mod(finite, 1), 0)) and finite.max() > 50:
        return "counts", True
    if finite.min() < 0 or finite.max() < 50:
        return "log2", False
    low = hints.lower()
    if "tpm" in low:
        return "tpm", False
    if "fpkm" in low or "rpkm" in low or "cufflinks" in low:
        return "fpkm", False
    return "other", False


# ---------------------------------------------------------------------------- fetching


@dataclass
class GeoSummary:
    """Outcome of a GEO fetch."""

    gse: str
    datasets: list[str] = field(default_factory=list)
    samples: int = 0
    mapped: int = 0
    genes: int = 0
    values: int = 0
    files: list[str] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)
    scales: dict[str, str] = field(default_factory=dict)
    run_id: str = ""

    def text(self) -> str:
        scale = ", ".join(f"{d}: {s}" for d, s in self.scales.items())
        out = (f"{self.gse}: {self.samples} samples, {self.mapped} with expression; {self.genes} genes, "
               f"{self.values} values; datasets {self.datasets} ({scale})")
        if self.unmapped_columns:
            out += f"\n  columns matching no sample (skipped): {self.unmapped_columns[:10]}"
        return out


def _listing(http: HttpClient, url: str) -> list[str]:
    text = http.get_text(url + "/")
    names = re.findall(r'href="([^"?/][^"]*)"', text)
    return [n.rstrip("/").rsplit("/", 1)[-1] for n in names]


def _cached_download(http: HttpClient, url: str, dest: Path, size: int | None = None) -> Path:
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        return dest
    # the listed size only validates the cache: completeness is checked against Content-Length
    got = http.download(url, dest, resume=True)
    if size is not None and got.size != size:
        log.warning("%s: %d bytes downloaded but filelist.txt lists %d", url, got.size, size)
    return got.path


def _filelist(http: HttpClient, series_url: str) -> dict[str, int | None]:
    try:
        text = http.get_text(f"{series_url}/suppl/filelist.txt")
    except NotFoundError:
        try:
            return {n: None for n in _listing(http, f"{series_url}/suppl") if n != "filelist.txt"}
        except NotFoundError:
            return {}
    out: dict[str, int | None] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) >= 2 and cells[0].strip() == "File":
            size = None
            if len(cells) >= 4:
                try:
                    size = int(cells[3])
                except ValueError:
                    size = None
            out[cells[1].strip()] = size
    return out


def _resolve_patient(store: Any, candidates: list[str]) -> dict[str, str]:
    """candidate id -> patient_id, preferring ids known from clinical / TCIA / earlier loads."""
    found: dict[str, str] = {}
    if not candidates:
        return {}
    from ..store.tables import crosswalk

    rows = crosswalk(store, candidates)
    for source in ("clinical", "tcia", "geo_title", "import"):
        for k, v in zip(rows.loc[rows["source"] == source, "source_id"], rows.loc[rows["source"] == source, "patient_id"]):
            found.setdefault(k, v)
    return {c: found.get(c, c) for c in candidates}


def _patient_candidate(title: str, chars: dict[str, str]) -> str:
    lower = {k.lower(): v for k, v in chars.items()}
    for key in _PATIENT_KEYS:
        if lower.get(key):
            return str(lower[key]).strip()
    return title.strip()


def fetch_geo(settings: Settings, store: StoreLike, gse: str, files: Sequence[str] | None = None,
              http: HttpClient | None = None) -> GeoSummary:
    """Download a GEO series and load its samples and expression into the store.

    Parameters
    ----------
    settings
        ``geo_url`` (host), ``data_dir`` (cache), ``timeout``, ``retries``.
    store
        Open read-write store, or its path (opened only to read ids and to write).
    gse
        Accession, e.g. ``"GSE103584"``.
    files
        Supplementary files to load as expression tables (names in ``suppl/``);
        default: the series matrix table if it has rows, else the first tabular
        supplementary file whose columns match the samples.

    Returns
    -------
    GeoSummary

    Raises
    ------
    InputError
        ``gse`` is not an accession.
    NotFoundError
        The series does not exist, or it has no expression table.
    """
    gse = gse.strip().upper()
    if not _GSE.match(gse):
        raise InputError(f"{gse!r} is not a GEO series accession (expected GSE followed by digits, e.g. GSE103584)")
    http = http or HttpClient.from_settings(settings)
    url = geo_series_url(settings.geo_url, gse)
    cache = Path(settings.data_dir) / "geo" / gse
    # ---- series matrix files (one per platform)
    try:
        names = [n for n in _listing(http, f"{url}/matrix") if re.match(rf"^{gse}(-GPL[0-9]+)?_series_matrix\.txt(\.gz)?$", n)]
    except NotFoundError:
        raise NotFoundError(f"GEO series {gse} does not exist at {url} (no matrix folder); check the accession") from None
    if not names:
        names = [f"{gse}_series_matrix.txt.gz"]
    matrices = []
    for name in sorted(set(names)):
        path = _cached_download(http, f"{url}/matrix/{name}", cache / "matrix" / name)
        meta, samples = parse_series_matrix(path)
        matrices.append((name, path, meta, samples))
    samples = pd.concat([m[3] for m in matrices], ignore_index=True).drop_duplicates("sample_id")
    meta = matrices[0][2]
    multi_platform = samples["platform"].nunique() > 1
    title_to_gsm = dict(zip(samples["title"], samples["sample_id"]))
    gsm_platform = dict(zip(samples["sample_id"], samples["platform"]))
    hints_base = " ".join(samples["data_processing"].astype(str).unique()[:5]) + " " + " ".join(meta.get("summary", [])[:1])

    # ---- expression tables: (dataset_id, source_file, genes x GSM frame)
    tables: list[tuple[str, str, pd.DataFrame, Path]] = []
    unmapped: list[str] = []

    def to_gsm(frame: pd.DataFrame) -> pd.DataFrame:
        rename = {}
        for col in frame.columns:
            if col in gsm_platform:
                rename[col] = col
            elif col in title_to_gsm:
                rename[col] = title_to_gsm[col]
            else:
                unmapped.append(col)
        return frame[list(rename)].rename(columns=rename)

    def add_tables(frame: pd.DataFrame, source: str, label: str | None, path: Path) -> None:
        for platform, cols in pd.Series(frame.columns, index=frame.columns).groupby(
                lambda c: gsm_platform.get(c, "")).groups.items():
            dataset = gse if not multi_platform else f"{gse}-{platform}"
            if label:
                dataset = f"{dataset}:{label}"
            tables.append((dataset, source, frame[list(cols)], path))

    if not files:
        for name, path, _, _ in matrices:
            table = parse_series_matrix_table(path)
            if table is not None and table.shape[0] > 0:
                mapped = to_gsm(table)
                if mapped.shape[1]:
                    add_tables(mapped, name, None, path)
    suppl: dict[str, int | None] = {}
    skipped: dict[str, str] = {}  # supplementary file -> why it is not an expression table
    if not tables:
        suppl = _filelist(http, url)
        if files:
            missing = [f for f in files if f not in suppl]
            if missing and suppl:
                raise NotFoundError(f"{gse} has no supplementary file(s) {missing}; available: {sorted(suppl)[:10]}")
            candidates = list(files)
        else:
            candidates = [n for n in suppl if n.lower().endswith(_TABULAR) and "filelist" not in n.lower()]
        several = bool(files) and len(files) > 1
        for name in candidates:
            path = _cached_download(http, f"{url}/suppl/{name}", cache / "suppl" / name, suppl.get(name))
            try:
                frame = parse_expression_table(path)
            except ParseError as exc:
                if files:
                    raise
                log.info("supplementary file %s is not an expression table; skipped (%s)", name, exc)
                skipped[name] = str(exc)
                continue
            mapped = to_gsm(frame)
            if mapped.shape[1] == 0:
                if files:
                    raise ParseError(f"{path}: no column matches a sample of {gse} (by GSM accession or sample title)")
                continue
            add_tables(mapped, name, re.sub(r"(\.(txt|tsv|csv|tab))?(\.gz)?$", "", name) if several else None, path)
            if not files:
                break
    if not tables:
        why = "".join(f"; {name} was not read: {reason}" for name, reason in list(skipped.items())[:3])
        raise NotFoundError(f"{gse} has no expression table: its series matrix has no rows and no supplementary "
                            f"file is a genes x samples table (files: {sorted(suppl)[:10]}){why}; "
                            "fix the file or pass --file NAME")

    # ---- patients
    candidates = {row.sample_id: _patient_candidate(row.title, row.characteristics) for row in samples.itertuples()}
    session = StoreSession(store)
    with session.reading() as st:
        resolved = _resolve_patient(st, list(dict.fromkeys(candidates.values())))
    gsm_patient = {gsm: resolved[c] for gsm, c in candidates.items()}
    samples = samples.assign(patient_id=samples["sample_id"].map(gsm_patient))

    summary = GeoSummary(gse=gse, samples=len(samples), unmapped_columns=sorted(set(unmapped)))
    dataset_rows, long_frames = [], []
    from ..store import sha256_file

    for index, (dataset, source, frame, path) in enumerate(tables):
        # a sample column with no value at all is no expression profile: not loaded, not counted
        empty = [c for c in frame.columns if frame[c].isna().all()]
        if empty:
            warnings.warn(f"{gse} {source}: {len(empty)} sample column(s) hold only NA and are not loaded: "
                          f"{[f'{c} (patient {gsm_patient.get(c, c)})' for c in empty[:5]]}", DataQualityWarning,
                          stacklevel=2)
            frame = frame.drop(columns=empty)
            tables[index] = (dataset, source, frame, path)
            if frame.shape[1] == 0:
                raise ParseError(f"{path}: every sample column holds only NA; no expression to load")
        scale, is_counts = detect_scale(frame.to_numpy(dtype=float), hints_base + " " + source)
        platform = ",".join(sorted({gsm_platform[c] for c in frame.columns}))
        frame = frame.rename(columns=gsm_patient)
        if frame.columns.duplicated().any():
            dups = sorted(set(frame.columns[frame.columns.duplicated()]))
            warnings.warn(f"{gse} {source}: several samples map to patients {dups[:5]}; the first is kept",
                          DataQualityWarning, stacklevel=2)
            frame = frame.loc[:, ~frame.columns.duplicated()]
        long = frame.rename_axis("gene").reset_index().melt(id_vars="gene", var_name="patient_id", value_name="value")
        long.insert(0, "dataset_id", dataset)
        long_frames.append(long)
        dataset_rows.append(dict(dataset_id=dataset, source="geo", accession=gse, platform=platform, scale=scale,
                                 is_counts=is_counts, description=(meta.get("title") or [""])[0],
                                 source_file=f"{url}/{'matrix' if source.endswith('series_matrix.txt.gz') else 'suppl'}/{source}",
                                 source_sha256=sha256_file(path), n_samples=frame.shape[1], n_genes=frame.shape[0]))
        summary.datasets.append(dataset)
        summary.scales[dataset] = scale
        summary.genes = max(summary.genes, frame.shape[0])
        summary.files.append(source)
    expr = pd.concat(long_frames, ignore_index=True)
    summary.values = int(len(expr))
    with_expr = {p for f in long_frames for p in f["patient_id"].unique()}
    summary.mapped = int(samples["patient_id"].isin(with_expr).sum())
    sample_rows = samples[["sample_id", "patient_id", "title", "platform", "characteristics"]].copy()
    first_dataset = {}
    for dataset, _, frame, _ in tables:
        for gsm in frame.columns:
            first_dataset.setdefault(gsm, dataset)
    sample_rows["dataset_id"] = sample_rows["sample_id"].map(first_dataset).fillna(
        sample_rows["platform"].map(lambda p: gse if not multi_platform else f"{gse}-{p}"))

    from .series_io import ensure_patients

    inputs = {p.name: sha256_file(p) for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".part")}
    params = {"gse": gse, "files": list(files or []), "geo_url": settings.geo_url}
    with RunRecorder(session, "fetch geo", params, inputs) as run, session.open() as store:
        summary.run_id = run.run_id
        unchanged = _unchanged_datasets(store, dataset_rows, expr)
        with store.transaction():
            for dataset in summary.datasets:
                if dataset not in unchanged:
                    store.delete("expression", "dataset_id = ?", [dataset])
                store.delete("samples", "dataset_id = ?", [dataset])
            store.upsert("datasets", pd.DataFrame(dataset_rows), run_id=run.run_id)
            ensure_patients(store, sorted(set(gsm_patient.values())), None, "geo", run.run_id)
            store.add_crosswalk("geo_gsm", gsm_patient, run.run_id)
            store.add_crosswalk("geo_title", dict(zip(samples["title"], samples["patient_id"])), run.run_id)
            store.upsert("samples", sample_rows, run_id=run.run_id)
            _insert_expression(store, expr[~expr["dataset_id"].isin(unchanged)], run.run_id)
    return summary


def _unchanged_datasets(store: Any, dataset_rows: list[dict[str, Any]], expr: pd.DataFrame) -> set[str]:
    """Datasets already loaded from a file with the same checksum and the same row count.

    Rewriting millions of expression rows is slow in DuckDB (index maintenance on
    delete), so a rerun on unchanged input keeps them.
    """
    out = set()
    counts = expr.groupby("dataset_id").size().to_dict()
    for row in dataset_rows:
        old = store.query("SELECT d.source_sha256, (SELECT count(*) FROM core.expression e WHERE e.dataset_id = d.dataset_id) AS n "
                          "FROM core.datasets d WHERE d.dataset_id = ?", [row["dataset_id"]])
        if len(old) and old.iloc[0]["source_sha256"] == row["source_sha256"] and int(old.iloc[0]["n"]) == counts.get(row["dataset_id"], -1):
            out.add(row["dataset_id"])
    return out


def _insert_expression(store: Any, expr: pd.DataFrame, run_id: str) -> None:
    """Bulk insert (the rows of these datasets were deleted just before, in the same transaction)."""
    frame = expr[["dataset_id", "patient_id", "gene", "value"]].copy()
    frame["run_id"] = run_id
    dup = frame.duplicated(["dataset_id", "patient_id", "gene"])
    if dup.any():
        frame = frame[~dup]
    name = "_rg_expr_insert"
    store.con.register(name, frame)
    try:
        store.execute(f"INSERT INTO core.expression (dataset_id, patient_id, gene, value, run_id) "
                      f"SELECT dataset_id, patient_id, gene, CASE WHEN isnan(value) THEN NULL ELSE value END, run_id FROM {name}")
    finally:
        store.con.unregister(name)


@stage_entry
def run_fetch_geo(store: StoreLike, gse: str, *, files: Sequence[str] | None = None, http: HttpClient | None = None,
                  settings: Settings | None = None) -> StageResult:
    """``rg fetch geo``: :func:`fetch_geo` as a stage; the ``summary`` is the :class:`GeoSummary`."""
    settings = stage_settings(settings)
    settings.ensure_dirs()
    summary = fetch_geo(settings, store, gse, files=files, http=http)
    return StageResult("fetch geo", run_ids=[summary.run_id] if summary.run_id else [],
                       counts={"samples": summary.samples, "mapped": summary.mapped, "genes": summary.genes},
                       summary=summary)
