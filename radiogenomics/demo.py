"""``rg demo``: a synthetic cohort in the real source formats through the whole study.

1. :func:`radiogenomics.synth.cohort.make_cohort` writes DICOM CT + SEG in the NBIA
   layout, a GEO series matrix + supplementary FPKM table and a TCIA-style clinical CSV,
   with planted effects recorded in ``truth.json``.
2. A :class:`~radiogenomics.testing.nbia_server.LocalNBIAServer` on 127.0.0.1 serves
   the imaging like NBIA v4 and the expression like the GEO host, so the real connectors
   fetch them (``--offline`` registers the imaging folder with ``rg import nbia`` instead;
   GEO is still read from the 127.0.0.1 server).
3. ``pipelines/demo.yaml`` runs (``rg run`` semantics: resumable, every step a run).
4. The planted effects are checked against the results and the report is written with
   them on top (``reports/demo/report.html`` by default).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .exceptions import PipelineError, RGError

log = logging.getLogger(__name__)

DEMO_PIPELINE = "demo.yaml"
GROUPING = "demo"
MODEL = "demo-dfs"


def pipeline_file(name: str = DEMO_PIPELINE) -> Path:
    """A pipeline shipped in ``pipelines/`` (repository checkout or installed data)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "pipelines" / name, here / "pipelines" / name):
        if candidate.exists():
            return candidate
    raise PipelineError(f"pipeline file {name} not found next to the package ({here.parent / 'pipelines'})")


@dataclass
class DemoResult:
    """Outcome of ``rg demo``."""

    report: Path | None
    checks: pd.DataFrame
    steps: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        required = self.checks[self.checks["required"]] if len(self.checks) else self.checks
        return self.report is not None and not self.missing and bool(required["recovered"].all())

    def text(self) -> str:
        lines = [f"rg demo finished in {self.seconds:.0f}s"]
        for s in (x for x in self.steps if x.status != "not-selected"):
            lines.append(f"  {s.name:<12} {s.status:<12} {s.seconds:6.1f}s" + (f"  {s.message}" if s.message else ""))
        if len(self.checks):
            n = int(self.checks["recovered"].sum())
            lines.append(f"planted effects recovered: {n} of {len(self.checks)}")
            for r in self.checks.itertuples():
                lines.append(f"  [{'x' if r.recovered else ' '}] {r.effect}: {r.observed}")
        for m in self.missing:
            lines.append(f"  missing: {m}")
        lines.append(f"report: {self.report}" if self.report else "report: not written")
        return "\n".join(lines)


def _cohort(source: Path, n_patients: int, seed: int, workers: int):
    """Generate the cohort, or reuse one generated with the same size and seed."""
    from .synth.cohort import make_cohort

    truth = source / "truth.json"
    if truth.exists():
        with contextlib.suppress(ValueError, OSError):
            old = json.loads(truth.read_text())
            # a cohort written before the synthetic signature existed is regenerated
            if (old.get("n_patients") == n_patients and old.get("seed") == seed
                    and (source / "signature" / "synthetic_signature.txt").exists()):
                log.info("reusing the synthetic cohort in %s", source)
                return None, old
    if source.exists():
        shutil.rmtree(source)
    manifest = make_cohort(source, n_patients=n_patients, seed=seed, workers=workers)
    return manifest, manifest.truth


def _split_lists(source: Path, truth: dict, seed: int) -> tuple[Path, Path]:
    """Seeded development / external split: 25% external; 80% of the rest trains, 20% validates."""
    patients = sorted(truth["patients"])
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(patients))
    n_ext = max(3, round(0.25 * len(order)))
    external, development = order[:n_ext], order[n_ext:]
    train = development[: round(0.8 * len(development))]
    train_path, ext_path = source / "train_patients.txt", source / "external_patients.txt"
    train_path.write_text("\n".join(sorted(train)) + "\n")
    ext_path.write_text("\n".join(sorted(external)) + "\n")
    return train_path, ext_path


@contextlib.contextmanager
def _server(source: Path, truth: dict) -> Iterator[dict[str, str]]:
    # GEO has no offline import: even with --offline the expression comes from this
    # 127.0.0.1 server (no network either way)
    from .testing.nbia_server import LocalNBIAServer

    # make_cohort mirrors the GEO host under geo/ (geo/geo/series/...); the server serves its
    # geo_root at /geo/
    geo_root = source / "geo" / "geo" if (source / "geo" / "geo").is_dir() else source / "geo"
    with LocalNBIAServer(series_root=source / "tcia", collection=truth.get("collection", "SYNTH"),
                         geo_root=geo_root) as srv:
        yield {"tcia_url": srv.url_tcia, "geo_url": srv.url_geo}


def planted_checks(store, truth: dict, grouping: str = GROUPING, model_id: str = MODEL) -> pd.DataFrame:
    """Compare the study's results in the store with the planted truth of the synthetic cohort.

    Returns
    -------
    pandas.DataFrame
        ``effect, expected, observed, recovered, required`` per planted effect.
    """
    rows: list[dict[str, Any]] = []

    def add(effect: str, expected: str, observed: str, recovered: bool, required: bool = True) -> None:
        rows.append({"effect": effect, "expected": expected, "observed": observed, "recovered": bool(recovered),
                     "required": required})

    risk = pd.Series({p: v["risk"] for p, v in truth.get("patients", {}).items()}, name="risk")
    model = store.query("SELECT formula FROM models WHERE model_id = ?", [model_id])
    if len(model):
        formula = json.loads(model["formula"].iloc[0]) if isinstance(model["formula"].iloc[0], str) else model["formula"].iloc[0]
        coef = pd.Series(formula.get("coefficients", []), index=formula.get("features", []), dtype=float)
        texture = coef[~coef.index.str.contains("_shape_")].abs().sum()
        share = float(texture / coef.abs().sum()) if coef.abs().sum() > 0 else 0.0
        add("Rad-score built on texture / intensity features", "non-shape features carry most weight",
            f"{len(coef)} features, {share:.0%} of |coef| on non-shape features", share > 0.5)
        scores = store.query("SELECT patient_id, score FROM radscores WHERE model_id = ?", [model_id]).set_index("patient_id")["score"]
        joined = pd.concat([scores, risk], axis=1, join="inner").dropna()
        rho = float(joined.corr(method="spearman").iloc[0, 1]) if len(joined) > 3 else float("nan")
        add("Rad-score tracks the planted risk", "Spearman rho > 0.3", f"rho = {rho:.2f} (n = {len(joined)})", rho > 0.3)
    else:
        add("Rad-score model", "fitted", "no model in the store", False)
    lr = store.query("SELECT value FROM model_results WHERE subject = ? AND analysis = 'logrank:dfs' AND statistic = 'p' "
                     "AND cohort = ''", [grouping])
    hr = store.query("SELECT value FROM model_results WHERE subject = ? AND analysis = 'hr:dfs' AND statistic = 'HR' "
                     "AND term LIKE 'high%' AND cohort = ''", [grouping])
    if len(lr):
        p = float(lr["value"].iloc[0])
        hr_text = f", HR high vs low {float(hr['value'].iloc[0]):.2f}" if len(hr) else ""
        add("Higher Rad-score group has shorter DFS", "log-rank p < 0.05", f"p = {p:.2g}{hr_text}", p < 0.05)
    else:
        add("Higher Rad-score group has shorter DFS", "log-rank p < 0.05", "no log-rank result", False)
    gsea = store.query("SELECT term, \"NES\", fdr FROM gsea_results WHERE grouping = ?", [grouping])
    for term in truth.get("expression", {}).get("up_sets", []):
        row = gsea[gsea["term"] == term]
        if row.empty:
            add(f"{term} up in high risk", "NES > 0, FDR < 0.25", "not in the GSEA results", False)
        else:
            nes, fdr = float(row["NES"].iloc[0]), float(row["fdr"].iloc[0])
            add(f"{term} up in high risk", "NES > 0, FDR < 0.25", f"NES {nes:.2f}, FDR {fdr:.3g}", nes > 0 and fdr < 0.25)
    assoc = store.query("SELECT variable, test, p, effect_size, effect_name FROM associations WHERE grouping = ? "
                        "AND family LIKE 'immune:%' AND test IN ('mann-whitney', 'wilcoxon')", [grouping])
    imm = store.query("SELECT i.score, i.value, g.grp FROM immune_scores i JOIN risk_groups g USING (patient_id) "
                      "WHERE g.grouping = ? AND g.grp IN ('high', 'low')", [grouping])
    for score in ("ImmuneScore", "IPS"):
        sub = imm[imm["score"] == score]
        if sub.empty:
            add(f"{score} lower in high risk", "median high < low, p < 0.05", "no scores", False)
            continue
        med = sub.groupby("grp")["value"].median()
        p_row = assoc[assoc["variable"].str.endswith(":" + score)]
        p = float(p_row["p"].iloc[0]) if len(p_row) else float("nan")
        lower = med.get("high", np.nan) < med.get("low", np.nan)
        add(f"{score} lower in high risk", "median high < low, p < 0.05",
            f"median high {med.get('high', np.nan):.3g} vs low {med.get('low', np.nan):.3g}, p = {p:.2g}",
            bool(lower and p < 0.05), required=score == "ImmuneScore")
    cells = truth.get("expression", {}).get("signature", {}).get("lower_in_high_risk", [])
    for cell in cells:
        sub = store.query("SELECT i.value, g.grp FROM immune_scores i JOIN risk_groups g USING (patient_id) "
                          "WHERE g.grouping = ? AND g.grp IN ('high', 'low') AND i.method = 'deconvolution' "
                          "AND i.score = ?", [grouping, cell])
        if sub.empty:
            add(f"{cell} fraction lower in high risk (deconvolution)", "median high < low", "no deconvolution",
                False, required=False)
            continue
        med = sub.groupby("grp")["value"].median()
        add(f"{cell} fraction lower in high risk (deconvolution)", "median high < low",
            f"median high {med.get('high', np.nan):.2f} vs low {med.get('low', np.nan):.2f}",
            bool(med.get("high", np.nan) < med.get("low", np.nan)), required=False)
    de = store.query("SELECT gene, direction FROM de_results WHERE grouping = ?", [grouping])
    up_genes = set(truth.get("expression", {}).get("up_genes", []))
    if len(de) and up_genes:
        tested = de[de["gene"].isin(up_genes)]
        share_up = float((tested["direction"] == "up").mean()) if len(tested) else 0.0
        base = float((de["direction"] == "up").mean())
        add("Planted genes up-regulated in high risk", "share called up well above the background",
            f"{share_up:.0%} of {len(tested)} planted genes up vs {base:.0%} of all genes", share_up > 2 * base and share_up > 0.1)
    clin = store.query("SELECT variable, test, p FROM associations WHERE grouping = ? AND family = 'clinical' "
                       "AND variable IN ('t_stage_group', 't_stage')", [grouping])
    if len(clin):
        p = float(clin["p"].min())
        add("T stage higher in high risk (weak effect)", "p < 0.05 (not required: weak by design)", f"p = {p:.2g}",
            p < 0.05, required=False)
    return pd.DataFrame(rows, columns=["effect", "expected", "observed", "recovered", "required"])


def run_demo(settings, n_patients: int = 60, out_dir: str | Path | None = None, seed: int = 0, offline: bool = False,
             workers: int = 2, quiet: bool = True, permutations: int = 200) -> DemoResult:
    """Build the synthetic cohort, run ``pipelines/demo.yaml`` on it and write the report.

    Parameters
    ----------
    settings
        :class:`~radiogenomics.config.Settings`; the store and data folder are used as configured.
    n_patients
        Cohort size (>= 12).
    out_dir
        Report folder [default: ``reports/demo``].
    offline
        Register the imaging with ``rg import nbia`` instead of fetching it from the local NBIA server.

    Returns
    -------
    DemoResult
        The report path and the planted-effect checks; steps whose stage is not
        installed are listed in ``missing`` (the demo goes on without them).
    """
    from .pipeline import Step, load_pipeline, run_pipeline
    from .report import build_report
    from .store import Store, sha256_file

    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else Path("reports") / "demo"
    source = Path(settings.data_dir) / "demo" / "source"
    manifest, truth = _cohort(source, n_patients, seed, workers)
    train, external = _split_lists(source, truth, seed)
    log.info("synthetic cohort ready (%d patients) in %.0fs", n_patients, time.perf_counter() - t0)
    variables = {"cohort": str(source), "collection": truth.get("collection", "NSCLC Radiogenomics Demo"),
                 "gse": truth.get("gse", "GSE900001"), "train_list": str(train), "external_list": str(external),
                 "seed": str(seed), "workers": str(workers), "model": MODEL, "grouping": GROUPING,
                 "permutations": str(permutations), "out": str(out)}
    clinical = sorted((source / "clinical").glob("*.csv"))
    if clinical:
        variables["clinical_csv"] = str(clinical[0])
    builtins = {"home": str(settings.home), "store": str(settings.store), "data_dir": str(settings.data_dir)}
    missing: list[str] = []
    steps: list[Any] = []
    with _server(source, truth) as urls:
        spec = load_pipeline(pipeline_file(), overrides={**variables, **urls}, builtins=builtins)
        if offline:
            idx = spec.index("imaging")
            spec.steps[idx] = Step(name="imaging", stage="import nbia", args=[str(source / "tcia")],
                                   params={"workers": str(workers)})
        for step in spec.steps:
            # from here on a missing area must not stop the demo: log it and go on
            step.optional = step.name not in ("imaging", "expression", "clinical")
        result = run_pipeline(spec, settings.store, data_dir=settings.data_dir, until_step="associate", quiet=quiet)
        steps = result.steps
    for s in steps:
        if s.status in ("failed", "unavailable"):
            missing.append(f"step {s.name}: {s.message}")
            log.warning("demo step %s %s: %s", s.name, s.status, s.message)
    report = None
    checks = pd.DataFrame(columns=["effect", "expected", "observed", "recovered", "required"])
    try:
        with Store.open(settings.store) as store:
            checks = planted_checks(store, truth)
            with store.run("rg report", {"grouping": GROUPING, "out": str(out), "demo": True}) as run:
                res = build_report(store, GROUPING, out, title="rg demo: synthetic NSCLC radiogenomics study",
                                   checks=checks)
                checks.to_csv(out / "tables" / "planted_effects.csv", index=False)
                run.add_inputs({"truth.json": sha256_file(source / "truth.json")})
            report = res.html_path
    except RGError as exc:
        missing.append(f"report: {exc}")
        log.warning("demo report not written: %s", exc)
    return DemoResult(report=report, checks=checks, steps=steps, seconds=time.perf_counter() - t0, missing=missing)
