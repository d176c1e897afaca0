"""The synthetic cohort: real formats, consistent dates, planted effects, determinism."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from scipy.stats import spearmanr

from radiogenomics.exceptions import InputError
from radiogenomics.synth.cohort import CLINICAL_COLUMNS, METADATA_COLUMNS, make_cohort

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RG_SHARED_DIR", REPO.parent / "shared"))


def _gene_files() -> dict:
    """Gene sets from the data catalog, else ../shared; skip when neither has them."""
    from radiogenomics.catalog import catalog_dir

    names = {"hallmark_gmt": ("genesets", "h.all.v7.0.symbols.gmt"),
             "estimate_gmt": ("signatures", "estimate_SI_geneset.gmt"),
             "ips_genes": ("signatures", "ips_genes.txt")}
    out = {}
    for key, parts in names.items():
        for base in (catalog_dir(), SHARED / "data"):
            if base.joinpath(*parts).exists():
                out[key] = base.joinpath(*parts)
                break
        else:
            pytest.skip(f"gene set file {'/'.join(parts)} neither in data_catalog nor in shared")
    return out


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    return make_cohort(out, n_patients=36, seed=3, shape=(16, 36, 36), n_genes=4800, **_gene_files())


def _digest(root: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_deterministic_for_seed(tmp_path):
    genes = _gene_files()
    small = dict(n_patients=6, shape=(8, 16, 16), n_genes=10, **genes)
    a = make_cohort(tmp_path / "a", seed=1, **small)
    b = make_cohort(tmp_path / "b", seed=1, workers=2, **small)
    c = make_cohort(tmp_path / "c", seed=2, **small)
    assert _digest(a.root) == _digest(b.root)
    assert _digest(a.root) != _digest(c.root)
    assert a.truth == json.loads(a.truth_json.read_text())


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="n_patients"):
        make_cohort(tmp_path, n_patients=2)
    with pytest.raises(InputError, match="GSE"):
        make_cohort(tmp_path, gse="X1", **_gene_files())


def test_nbia_layout_and_metadata(cohort):
    meta = pd.read_csv(cohort.metadata_csv, dtype=str, keep_default_na=False)
    assert list(meta.columns) == METADATA_COLUMNS
    if (SHARED / "data/tcia/nbia_data_retriever_metadata.csv").exists():
        real = pd.read_csv(SHARED / "data/tcia/nbia_data_retriever_metadata.csv", nrows=1)
        assert list(real.columns) == METADATA_COLUMNS
    assert set(meta["Subject ID"]) == set(cohort.patients)
    assert meta["File Size"].str.fullmatch(r"\d+\.\d\d (KB|MB|GB)").all()
    assert meta["Study Date"].str.fullmatch(r"\d\d-\d\d-\d{4}").all()
    seg_rows = meta[meta["Modality"] == "SEG"]
    assert len(seg_rows) == len(cohort.patients)
    assert set(seg_rows["Manufacturer"]) <= {"3D Slicer Community", "Stanford University"}
    assert (meta["Series Description"] == "CT FUSION").any()  # decoy PET/CT CT series exist
    for _, row in meta.iterrows():
        folder = cohort.tcia_dir / row["File Location"]
        files = sorted(folder.glob("*.dcm"))
        assert len(files) == int(row["Number of Images"])
        assert folder.parent.parent.name == row["Subject ID"]
        assert folder.parent.parent.parent.name == cohort.collection
    # every SEG references the CT series next to it, not the decoy
    for _, row in seg_rows.iterrows():
        seg = pydicom.dcmread(next((cohort.tcia_dir / row["File Location"]).glob("*.dcm")))
        ref = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        assert ref == cohort.ct_series[row["Subject ID"]]
        ct_row = meta[meta["Series UID"] == ref].iloc[0]
        assert ct_row["Study UID"] == row["Study UID"] and ct_row["Series Description"] != "CT FUSION"


def test_clinical_csv_format_and_dates(cohort):
    with open(cohort.clinical_csv, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == CLINICAL_COLUMNS and len(header) == 40
    real_path = SHARED / "data/tcia/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
    clin = pd.read_csv(cohort.clinical_csv, dtype=str, keep_default_na=False)
    if real_path.exists():
        real = pd.read_csv(real_path, dtype=str, keep_default_na=False)
        assert list(real.columns) == header
        # every value code we write for coded columns occurs in the real file
        for col in ["Gender", "Smoking status", "Histology ", "Pathological T stage", "Pathological N stage",
                    "Histopathological Grade", "Recurrence", "Survival Status", "Recurrence Location",
                    "Tumor Location (choice=RUL)", "EGFR mutation status", "%GG"]:
            assert set(clin[col]) <= set(real[col]), col

    def d(s):
        return datetime.strptime(s, "%m/%d/%Y")

    truth = cohort.truth["patients"]
    for _, row in clin.iterrows():
        t = truth[row["Case ID"]]
        surgery = d(row["CT Date"]) + pd.Timedelta(days=int(row["Days between CT and surgery"]))
        assert (d(row["Date of Last Known Alive"]) - surgery).days == t["os_days"]
        assert (row["Survival Status"] == "Dead") == bool(t["os_event"])
        if t["os_event"]:
            assert int(row["Time to Death (days)"]) == t["os_days"]
            assert row["Date of Death"] == row["Date of Last Known Alive"]
        else:
            assert row["Date of Death"] == "N/A" and row["Time to Death (days)"] == "N/A"
        assert (row["Recurrence"] == "yes") == t["recurrence"]
        if t["recurrence"]:
            assert (d(row["Date of Recurrence"]) - surgery).days == t["dfs_days"]
        checked = [c for c in header if c.startswith("Tumor Location") and row[c] == "Checked"]
        assert len(checked) == 1
    n_dead = sum(t["os_event"] for t in truth.values())
    n_rec = sum(t["recurrence"] for t in truth.values())
    assert 0.2 * len(truth) <= n_dead <= 0.8 * len(truth) and n_rec >= 3


def _read_matrix(path):
    rows = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        key, *vals = line.split("\t")
        rows.setdefault(key, []).append([v.strip('"') for v in vals])
    return lines, rows


def test_geo_files(cohort):
    lines, rows = _read_matrix(cohort.series_matrix)
    assert cohort.series_matrix.name == f"{cohort.gse}_series_matrix.txt.gz"
    assert cohort.series_matrix.parent.parent.parent.name == cohort.gse[:-3] + "nnn"
    titles = rows["!Sample_title"][0]
    gsms = rows["!Sample_geo_accession"][0]
    assert sorted(titles) == sorted(cohort.rna_patients)
    assert all(g.startswith("GSM") for g in gsms) and len(set(gsms)) == len(gsms)
    keys = [c[0].split(": ")[0] for c in rows["!Sample_characteristics_ch1"]]
    assert keys == ["disease state", "histology", "histopathological grade", "gender"]
    begin = lines.index("!series_matrix_table_begin")
    assert lines[begin + 2] == "!series_matrix_table_end"
    assert rows["!Series_geo_accession"][0] == [cohort.gse]

    expr = pd.read_csv(cohort.expression_file, sep="\t", index_col=0)
    with gzip.open(cohort.expression_file, "rt") as fh:
        assert fh.readline().startswith("\t")
    assert sorted(expr.columns) == sorted(titles) and list(expr.columns) != titles
    assert expr.isna().to_numpy().any() and (expr.fillna(0).to_numpy() >= 0).all()
    genes = set(expr.index)
    assert set(cohort.truth["expression"]["up_genes"]) <= genes
    assert set(cohort.truth["expression"]["immune_genes_down"]) <= genes
    assert (cohort.expression_file.parent / "filelist.txt").read_text().count(cohort.expression_file.name) == 1


def test_planted_texture_effect(cohort):
    """Intra-tumour HU spread, read back from the DICOM files, follows the latent risk."""
    from radiogenomics.synth.dicom import _slice_key

    meta = pd.read_csv(cohort.metadata_csv, dtype=str, keep_default_na=False)
    risks, spreads, sizes = [], [], []
    for pid in cohort.patients:
        ct_row = meta[meta["Series UID"] == cohort.ct_series[pid]].iloc[0]
        seg_row = meta[meta["Series UID"] == cohort.seg_series[pid]].iloc[0]
        cts = sorted((pydicom.dcmread(p) for p in (cohort.tcia_dir / ct_row["File Location"]).glob("*.dcm")),
                     key=_slice_key)
        z_index = {round(float(ds.ImagePositionPatient[2]), 3): k for k, ds in enumerate(cts)}
        hu = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in cts])
        seg = pydicom.dcmread(next((cohort.tcia_dir / seg_row["File Location"]).glob("*.dcm")))
        mask = np.zeros(hu.shape, bool)
        pix = seg.pixel_array.reshape(-1, hu.shape[1], hu.shape[2])
        for i, fr in enumerate(seg.PerFrameFunctionalGroupsSequence):
            mask[z_index[round(float(fr.PlanePositionSequence[0].ImagePositionPatient[2]), 3)]] |= pix[i] > 0
        assert mask.sum() == cohort.truth["patients"][pid]["tumour_voxels"]
        risks.append(cohort.truth["patients"][pid]["risk"])
        spreads.append(hu[mask].std())
        sizes.append(mask.sum())
    assert spearmanr(risks, spreads)[0] > 0.8
    assert abs(spearmanr(risks, sizes)[0]) < 0.5


def test_planted_survival_effect(cohort):
    from sksurv.metrics import concordance_index_censored

    t = cohort.truth["patients"]
    risk = np.array([v["risk"] for v in t.values()])
    for days, event in (("os_days", "os_event"), ("dfs_days", "dfs_event")):
        c = concordance_index_censored(np.array([bool(v[event]) for v in t.values()]),
                                       np.array([v[days] for v in t.values()], float), risk)[0]
        assert c > 0.62, (days, c)


def test_planted_expression_effect(cohort):
    expr = np.log2(pd.read_csv(cohort.expression_file, sep="\t", index_col=0) + 1)
    z = expr.sub(expr.mean(axis=1), axis=0).div(expr.std(axis=1), axis=0)
    risk = pd.Series({p: cohort.truth["patients"][p]["risk"] for p in z.columns})
    up = z.loc[cohort.truth["expression"]["up_genes"]].mean()
    immune = z.loc[cohort.truth["expression"]["immune_genes_down"]].mean()
    filler = z.loc[[g for g in z.index if g.startswith("LOC")]].mean()
    assert spearmanr(risk, up[risk.index])[0] > 0.8
    assert spearmanr(risk, immune[risk.index])[0] < -0.5
    assert abs(spearmanr(risk, filler[risk.index])[0]) < 0.45


def test_clinical_connector_reads_it(cohort):
    """The project's clinical parser recovers the simulated outcomes (t0 = CT date or surgery)."""
    clinical = pytest.importorskip("radiogenomics.connectors.clinical")
    df = clinical.parse_clinical_csv(cohort.clinical_csv).set_index("patient_id")
    assert sorted(df.index) == sorted(cohort.patients)
    for pid, t in cohort.truth["patients"].items():
        row = df.loc[pid]
        assert int(row["os_event"]) == t["os_event"] and int(row["dfs_event"]) == t["dfs_event"]
        assert row["os_days"] in (t["os_days"], t["os_days"] + t["days_ct_to_surgery"])
        assert row["dfs_days"] in (t["dfs_days"], t["dfs_days"] + t["days_ct_to_surgery"])


def test_synthetic_signature_deconvolves_planted_immune_effect(cohort):
    """The shipped-with-the-demo signature (LM22 layout) reads back and recovers the planted immune / tumour shift."""
    from radiogenomics.omics import deconvolve, read_signature

    assert cohort.signature_file is not None and cohort.signature_file.exists()
    sig = read_signature(cohort.signature_file)
    assert list(sig.columns) == cohort.truth["expression"]["signature"]["cell_types"]
    assert sig.shape[1] == 4 and len(sig) >= 100 and not sig.index.has_duplicates
    expr = pd.read_csv(cohort.expression_file, sep="\t", index_col=0)
    fractions = deconvolve(expr, sig, perm=0)
    risk = pd.Series({p: cohort.truth["patients"][p]["risk"] for p in fractions.index})
    assert spearmanr(risk, fractions["Immune_cells"])[0] < -0.5
    assert spearmanr(risk, fractions["Tumour_cells"])[0] > 0.5
