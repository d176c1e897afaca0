"""A synthetic radiogenomics cohort in the real source formats, with planted effects.

``make_cohort`` writes, under ``out_dir``::

    tcia/metadata.csv                                   NBIA Data Retriever metadata
    tcia/<Collection>/<PatientID>/<study>/<series>/*.dcm  CT series + DICOM SEG (+ decoy PET/CT CT)
    geo/geo/series/<GSEnnn>/<GSE>/matrix/<GSE>_series_matrix.txt.gz
    geo/geo/series/<GSEnnn>/<GSE>/suppl/<GSE>_R01_NSCLC_RNAseq.txt.gz  (+ filelist.txt)
    clinical/<name>.csv                                 TCIA clinical CSV (40 columns)
    truth.json                                          the planted effects

``geo/`` mirrors the GEO FTP host (serve it as ``RG_GEO_URL``), ``tcia/`` is what the
NBIA Data Retriever leaves on disk.

The generative model (all per patient ``i``, ``risk_i ~ N(0, 1)``):

* imaging: a lung-like background with an irregular ellipsoidal tumour whose
  intra-tumour heterogeneity (sd of a spatially correlated HU pattern) is
  ``texture_sd_i = TEXTURE_BASE_HU * exp(TEXTURE_LOG_SLOPE * risk_i + N(0, TEXTURE_LOG_NOISE))``;
  tumour size and mean HU do not depend on risk, so the effect is in texture /
  first-order spread, not in shape.
* survival (days from surgery): death ~ Exp(rate ``BASE_DEATH_RATE * exp(BETA * risk)``),
  recurrence ~ Exp(rate ``BASE_RECURRENCE_RATE * exp(BETA * risk)``), censoring
  uniform in [CENSOR_MIN_DAYS, CENSOR_MAX_DAYS]; dates in the clinical CSV are
  consistent, so OS = death/last-alive - (CT date + days to surgery) and
  DFS = min(recurrence, death) - surgery recover these times exactly.
* expression (log2 scale before conversion to FPKM-like values): the genes of the
  ``UP_SETS`` Hallmark sets get ``+EXPR_SET_EFFECT * risk``; the immune genes
  (ESTIMATE ImmuneSignature and the positive-weight IPS genes: MHC and effector
  cells) get ``+EXPR_IMMUNE_EFFECT * immune_i`` with
  ``immune_i = -IMMUNE_RISK_CORR * risk_i + noise`` (lower in high risk).
* clinical: pathological T stage rises with risk (planted, weak); everything else
  is drawn independently of risk.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, InputError
from .dicom import SEG_MANUFACTURER_TAG, SEG_SERIES_DESCRIPTION, synth_uid, write_ct_series, write_seg

log = logging.getLogger(__name__)

# --- planted-effect constants (recorded in truth.json) -------------------------------
TEXTURE_BASE_HU = 50.0
TEXTURE_LOG_SLOPE = 0.8
TEXTURE_LOG_NOISE = 0.12
BETA = 1.0
BASE_DEATH_RATE = np.log(2) / (4.0 * 365.25)
BASE_RECURRENCE_RATE = np.log(2) / (3.0 * 365.25)
CENSOR_MIN_DAYS = 1.5 * 365.25
CENSOR_MAX_DAYS = 7.0 * 365.25
UP_SETS = (
    "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION",
    "HALLMARK_HYPOXIA",
    "HALLMARK_ANGIOGENESIS",
)
EXPR_SET_EFFECT = 0.6  # log2 units per sd of risk, for the genes of UP_SETS
EXPR_SET_FRACTION = 0.8  # share of a set's genes that carry the effect
EXPR_IMMUNE_EFFECT = 0.7  # log2 units per unit of the immune latent
IMMUNE_RISK_CORR = 0.8

CLINICAL_COLUMNS = [
    "Case ID", "Patient affiliation", "Age at Histological Diagnosis", "Weight (lbs)", "Gender",
    "Ethnicity", "Smoking status", "Pack Years", "Quit Smoking Year", "%GG",
    "Tumor Location (choice=RUL)", "Tumor Location (choice=RML)", "Tumor Location (choice=RLL)",
    "Tumor Location (choice=LUL)", "Tumor Location (choice=LLL)", "Tumor Location (choice=L Lingula)",
    "Tumor Location (choice=Unknown)", "Histology ", "Pathological T stage", "Pathological N stage",
    "Pathological M stage", "Histopathological Grade", "Lymphovascular invasion",
    "Pleural invasion (elastic, visceral, or parietal)", "EGFR mutation status", "KRAS mutation status",
    "ALK translocation status", "Adjuvant Treatment", "Chemotherapy", "Radiation", "Recurrence",
    "Recurrence Location", "Date of Recurrence", "Date of Last Known Alive", "Survival Status",
    "Date of Death", "Time to Death (days)", "CT Date", "Days between CT and surgery", "PET Date",
]
METADATA_COLUMNS = [
    "Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID", "Study UID",
    "Study Description", "Study Date", "Series Description", "Manufacturer", "Modality", "SOP Class Name",
    "SOP Class UID", "Number of Images", "File Size", "File Location", "Download Timestamp",
]
_LOCATIONS = ["RUL", "RML", "RLL", "LUL", "LLL", "L Lingula"]


@dataclass(frozen=True)
class ScannerProfile:
    """How one site's CT scanner renders the same anatomy.

    Attributes
    ----------
    site : str
        Site label (``development`` or ``external``).
    manufacturer, model, kernel : str
        DICOM Manufacturer, ManufacturerModelName and ConvolutionKernel of the CT series.
    slice_thickness : float or None
        Slice thickness / z spacing in mm; ``None`` keeps ``make_cohort``'s ``spacing``.
    hu_shift : float
        Offset added to every voxel (calibration difference between scanners).
    noise_scale : float
        Multiplier of the white scanner noise (a sharper kernel is noisier).
    """

    site: str
    manufacturer: str
    model: str
    kernel: str
    slice_thickness: float | None = None
    hu_shift: float = 0.0
    noise_scale: float = 1.0


#: the development (R01-like) site: the scanner profile every cohort before the external site had
DEVELOPMENT_SCANNER = ScannerProfile("development", "GE MEDICAL SYSTEMS", "LightSpeed VCT", "STANDARD")
#: the external (AMC-like) site: another vendor, a sharper kernel, thicker slices, a calibration offset
EXTERNAL_SCANNER = ScannerProfile("external", "SIEMENS", "SOMATOM Definition AS", "B70f", slice_thickness=2.5,
                                  hu_shift=15.0, noise_scale=1.3)
_T_STAGES = ["Tis", "T1a", "T1b", "T2a", "T2b", "T3", "T4"]


@dataclass
class CohortManifest:
    """Where ``make_cohort`` wrote everything, and the planted truth.

    Attributes
    ----------
    root : Path
        ``out_dir``.
    collection : str
        TCIA collection name (folder under ``tcia_dir``).
    tcia_dir : Path
        NBIA Data Retriever download folder (holds ``metadata.csv``).
    metadata_csv : Path
        The NBIA ``metadata.csv``.
    geo_root : Path
        Folder mirroring the GEO FTP host (``geo/series/...`` below it).
    gse : str
        Series accession.
    series_matrix : Path
        ``<GSE>_series_matrix.txt.gz``.
    expression_file : Path
        Supplementary expression table (``.txt.gz``).
    clinical_csv : Path
        TCIA-style clinical CSV.
    truth_json : Path
        Planted effects (see :func:`make_cohort`).
    patients : list of str
        All patient IDs (Case ID = TCIA PatientID = GEO sample title).
    rna_patients : list of str
        Patients with an expression profile.
    ct_series : dict
        patient -> CT SeriesInstanceUID the SEG references.
    seg_series : dict
        patient -> SEG SeriesInstanceUID.
    truth : dict
        The content of ``truth.json``.
    signature_file : Path
        Synthetic deconvolution signature in LM22's layout (``signature/synthetic_signature.txt``).
    """

    root: Path
    collection: str
    tcia_dir: Path
    metadata_csv: Path
    geo_root: Path
    gse: str
    series_matrix: Path
    expression_file: Path
    clinical_csv: Path
    truth_json: Path
    patients: list[str] = field(default_factory=list)
    rna_patients: list[str] = field(default_factory=list)
    ct_series: dict[str, str] = field(default_factory=dict)
    seg_series: dict[str, str] = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    signature_file: Path | None = None


# ------------------------------------------------------------------------------------
# gene universe


def _read_gmt(path: Path) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                sets[parts[0]] = [g for g in parts[2:] if g]
    if not sets:
        raise InputError(f"{path}: no gene sets found (expected GMT: name, description, genes..., tab separated)")
    return sets


def _locate(given: str | Path | None, *catalog_parts: str) -> Path:
    if given is not None:
        path = Path(given)
        if not path.exists():
            raise InputError(f"gene set file {path} does not exist")
        return path
    from ..catalog import catalog_file

    try:
        return catalog_file(*catalog_parts)
    except ConfigError as exc:
        raise ConfigError(
            f"{exc}; pass the file explicitly to make_cohort (hallmark_gmt=, estimate_gmt=, ips_genes=)"
        ) from None


def load_gene_sources(
    hallmark_gmt: str | Path | None = None,
    estimate_gmt: str | Path | None = None,
    ips_genes: str | Path | None = None,
) -> tuple[dict[str, list[str]], dict[str, list[str]], pd.DataFrame]:
    """Read the Hallmark, ESTIMATE and IPS gene lists (data catalog unless paths given).

    Returns
    -------
    (hallmark, estimate, ips)
        Two ``{set: genes}`` dicts and the IPS table (GENE, NAME, CLASS, WEIGHT).
    """
    hallmark = _read_gmt(_locate(hallmark_gmt, "genesets", "h.all.v7.0.symbols.gmt"))
    estimate = _read_gmt(_locate(estimate_gmt, "signatures", "estimate_SI_geneset.gmt"))
    ips_path = _locate(ips_genes, "signatures", "ips_genes.txt")
    ips = pd.read_csv(ips_path, sep="\t")
    missing = {"GENE", "CLASS", "WEIGHT"} - set(ips.columns)
    if missing:
        raise InputError(f"{ips_path}: missing columns {sorted(missing)} (expected GENE, NAME, CLASS, WEIGHT)")
    return hallmark, estimate, ips


# ------------------------------------------------------------------------------------
# imaging


def _smooth_noise(rng: np.random.Generator, shape, sigma) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    field_ = gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="reflect")
    sd = field_.std()
    return field_ / sd if sd > 0 else field_


def _patient_volume(rng, shape, spacing, texture_sd, hu_shift: float = 0.0,
                    noise_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One CT volume (HU) and tumour mask on a (z, y, x) grid; ``hu_shift`` and ``noise_scale``
    render the same anatomy as another scanner would (the defaults are the development site)."""
    nz, ny, nx = shape
    sx, sy, sz = spacing
    zz, yy, xx = np.meshgrid(
        (np.arange(nz) - (nz - 1) / 2) * sz,
        (np.arange(ny) - (ny - 1) / 2) * sy,
        (np.arange(nx) - (nx - 1) / 2) * sx,
        indexing="ij",
    )
    extent = min(nz * sz, ny * sy, nx * sx)
    radii = rng.uniform(0.16, 0.27, size=3) * extent
    centre = rng.uniform(-0.06, 0.06, size=3) * extent
    r = np.sqrt(((zz - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2
                + ((xx - centre[2]) / radii[2]) ** 2)
    # lobulated surface: perturb the radius with smooth noise
    surface = 0.12 * _smooth_noise(rng, shape, sigma=(1.5, 3.0, 3.0))
    mask = r < 1.0 + surface
    # lung parenchyma with vessels-like smooth structure and scanner noise
    vol = -840.0 + 35.0 * _smooth_noise(rng, shape, sigma=(1.0, 2.0, 2.0)) \
        + 12.0 * noise_scale * rng.standard_normal(shape)
    tumour_mean = rng.normal(25.0, 8.0)
    pattern = _smooth_noise(rng, shape, sigma=(0.6, 1.0, 1.0))
    tumour = tumour_mean + texture_sd * pattern + 8.0 * noise_scale * rng.standard_normal(shape)
    vol = np.where(mask, tumour, vol) + hu_shift
    return np.rint(np.clip(vol, -1024, 3000)).astype(np.int16), mask


def _human_size(nbytes: int) -> str:
    """NBIA metadata.csv sizes: '3.91 MB', '739.00 KB'."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{nbytes} B"


def _study_folder(study_date: date, description: str, study_uid: str) -> str:
    return f"{study_date:%m-%d-%Y}-NA-{description}-{study_uid[-5:]}"


def _series_folder(number: int, description: str, series_uid: str) -> str:
    return f"{number}.000000-{description}-{series_uid[-5:]}"


@dataclass(frozen=True)
class _ImagingJob:
    seed: int
    index: int
    patient_id: str
    tcia_dir: str
    collection: str
    shape: tuple
    spacing: tuple
    texture_sd: float
    ct_date: date
    maker: str
    decoy: bool
    scanner: ScannerProfile = DEVELOPMENT_SCANNER


def _write_patient_imaging(job: _ImagingJob) -> dict:
    """CT series + SEG (+ decoy PET/CT CT) of one patient; metadata.csv rows (top-level: picklable)."""
    seed, i, pid, shape, spacing = job.seed, job.index, job.patient_id, job.shape, job.spacing
    tcia_dir = Path(job.tcia_dir)
    prng = np.random.default_rng([seed, i])
    scanner = job.scanner
    volume, mask = _patient_volume(prng, shape, spacing, job.texture_sd, scanner.hu_shift, scanner.noise_scale)
    ct_date = job.ct_date
    study_uid = synth_uid("demo-study", seed, pid)
    ct_uid = synth_uid("demo-ct", seed, pid)
    seg_uid = synth_uid("demo-seg", seed, pid)
    study_desc = "CT CHEST WO" if i % 2 == 0 else "CT Thorax"
    ct_desc = "THORAX 1.0 B45f" if i % 3 else "1.25mm"
    study_dir = tcia_dir / job.collection / pid / _study_folder(ct_date, study_desc, study_uid)
    ct_dir = study_dir / _series_folder(3, ct_desc, ct_uid)
    origin = (-0.5 * shape[2] * spacing[0], -0.5 * shape[1] * spacing[1], -100.0 - shape[0] * spacing[2])
    files = write_ct_series(
        volume, spacing, ct_dir, pid, origin=origin, study_uid=study_uid, series_uid=ct_uid,
        description=study_desc, manufacturer=scanner.manufacturer, study_date=f"{ct_date:%Y%m%d}",
        series_description=ct_desc, series_number=3, manufacturer_model=scanner.model,
        convolution_kernel=scanner.kernel,
    )
    maker = job.maker
    seg_desc = SEG_SERIES_DESCRIPTION[maker]
    seg_dir = study_dir / _series_folder(1000, seg_desc, seg_uid)
    seg_path = write_seg({"Neoplasm" if maker == "3D Slicer" else "tumor": mask}, files,
                         seg_dir / "1-1.dcm", manufacturer=maker, series_uid=seg_uid)
    common = {"Collection": job.collection, "3rd Party Analysis": "null",
              "Data Description URI": "https://doi.org/10.0000/SYNTH.DEMO", "Subject ID": pid,
              "Study UID": study_uid, "Study Description": study_desc, "Study Date": f"{ct_date:%m-%d-%Y}"}
    entries = [
        (common, ct_uid, ct_desc, scanner.manufacturer, "CT", "CT Image Storage", "1.2.840.10008.5.1.4.1.1.2",
         files, ct_dir),
        (common, seg_uid, seg_desc, SEG_MANUFACTURER_TAG[maker], "SEG", "Segmentation Storage",
         "1.2.840.10008.5.1.4.1.1.66.4", [seg_path], seg_dir),
    ]
    if job.decoy:
        # PET/CT study with a low-dose fusion CT that must never be paired with the SEG
        pet_date = ct_date + timedelta(days=int(prng.integers(5, 40)))
        pet_study = synth_uid("demo-petct", seed, pid)
        fusion_uid = synth_uid("demo-fusion", seed, pid)
        pet_dir = tcia_dir / job.collection / pid / _study_folder(pet_date, "PETCT Lung Cancer", pet_study)
        fusion_dir = pet_dir / _series_folder(2, "CT FUSION", fusion_uid)
        small = np.ascontiguousarray(volume[::3, ::2, ::2])
        fusion_files = write_ct_series(
            small, (spacing[0] * 2, spacing[1] * 2, spacing[2] * 3), fusion_dir, pid, origin=origin,
            study_uid=pet_study, series_uid=fusion_uid, description="PETCT Lung Cancer",
            manufacturer="GE MEDICAL SYSTEMS", study_date=f"{pet_date:%Y%m%d}",
            series_description="CT FUSION", series_number=2,
        )
        pet_common = dict(common, **{"Study UID": pet_study, "Study Description": "PETCT Lung Cancer",
                                     "Study Date": f"{pet_date:%m-%d-%Y}"})
        entries.append((pet_common, fusion_uid, "CT FUSION", "GE MEDICAL SYSTEMS", "CT", "CT Image Storage",
                        "1.2.840.10008.5.1.4.1.1.2", fusion_files, fusion_dir))
    rows = [{
        "Series UID": uid, **base, "Series Description": desc, "Manufacturer": manu,
        "Modality": modality, "SOP Class Name": sop_name, "SOP Class UID": sop_uid,
        "Number of Images": len(fl), "File Size": _human_size(sum(p.stat().st_size for p in fl)),
        "File Location": "./" + folder.relative_to(tcia_dir).as_posix(),
    } for base, uid, desc, manu, modality, sop_name, sop_uid, fl, folder in entries]
    return {"ct_series": ct_uid, "seg_series": seg_uid, "tumour_voxels": int(mask.sum()), "rows": rows}


# ------------------------------------------------------------------------------------
# clinical


def _mdy(d: date) -> str:
    return f"{d.month}/{d.day}/{d.year}"


def _clinical_row(rng, pid, risk, ct_date: date, surgery_gap, surv, collected: bool) -> dict:
    nc = "Not Collected"
    loc = rng.choice(_LOCATIONS, p=[0.37, 0.09, 0.14, 0.22, 0.16, 0.02])
    smoking = rng.choice(["Former", "Nonsmoker", "Current"], p=[0.62, 0.23, 0.15])
    histology = rng.choice(
        ["Adenocarcinoma", "Squamous cell carcinoma", "NSCLC NOS (not otherwise specified)"], p=[0.8, 0.17, 0.03]
    )
    # planted: T stage index rises with risk
    t_idx = int(np.clip(np.round(2.6 + 1.1 * risk + rng.normal(0, 1.0)), 0, len(_T_STAGES) - 1))
    n_stage = rng.choice(["N0", "N1", "N2"], p=[0.75, 0.12, 0.13])
    surgery = ct_date + timedelta(days=int(surgery_gap))
    row = {
        "Case ID": pid,
        "Patient affiliation": rng.choice(["Stanford", "VA"], p=[0.55, 0.45]),
        "Age at Histological Diagnosis": str(int(np.clip(rng.normal(68, 9), 35, 89))),
        "Weight (lbs)": f"{rng.normal(175, 35):.3f}".rstrip("0").rstrip(".") if rng.random() < 0.75 else nc,
        "Gender": rng.choice(["Male", "Female"], p=[0.64, 0.36]),
        "Ethnicity": rng.choice(["Caucasian", "Asian", "African-American", "Hispanic/Latino"],
                                p=[0.75, 0.15, 0.05, 0.05]),
        "Smoking status": smoking,
        "Pack Years": "N/A" if smoking == "Nonsmoker" else (str(int(rng.integers(5, 80))) if rng.random() < 0.93
                                                           else nc),
        "Quit Smoking Year": str(int(ct_date.year - rng.integers(1, 40))) if smoking == "Former" else "N/A",
        "%GG": rng.choice(["0%", ">0 - 25%", "25 - 50%", "50 - 75%", "Not Assessed"], p=[0.5, 0.2, 0.05, 0.05, 0.2]),
    }
    for name in _LOCATIONS:
        row[f"Tumor Location (choice={name})"] = "Checked" if name == loc else "Unchecked"
    row["Tumor Location (choice=Unknown)"] = "Unchecked"
    row["Histology "] = histology
    if collected:
        row.update({
            "Pathological T stage": _T_STAGES[t_idx],
            "Pathological N stage": n_stage,
            "Pathological M stage": "M0" if rng.random() < 0.97 else "M1b",
            "Histopathological Grade": rng.choice(
                ["G1 Well differentiated", "G2 Moderately differentiated", "G3 Poorly differentiated",
                 "Other, Type I: Well to moderately differentiated",
                 "Other, Type II: Moderately to poorly differentiated"], p=[0.2, 0.45, 0.22, 0.06, 0.07]),
            "Lymphovascular invasion": rng.choice(["Absent", "Present"], p=[0.85, 0.15]),
            "Pleural invasion (elastic, visceral, or parietal)": rng.choice(["No", "Yes"], p=[0.73, 0.27]),
        })
    else:
        for col in ("Pathological T stage", "Pathological N stage", "Pathological M stage",
                    "Histopathological Grade", "Lymphovascular invasion"):
            row[col] = nc
        row["Pleural invasion (elastic, visceral, or parietal)"] = "Not collected"
    row["EGFR mutation status"] = rng.choice(["Wildtype", "Mutant", "Unknown"], p=[0.65, 0.2, 0.15])
    row["KRAS mutation status"] = rng.choice(["Wildtype", "Mutant", "Unknown", "Not collected"],
                                             p=[0.63, 0.18, 0.16, 0.03])
    row["ALK translocation status"] = rng.choice(["Wildtype", "Unknown", "Translocated"], p=[0.78, 0.2, 0.02])
    adjuvant = rng.random() < 0.23
    row["Adjuvant Treatment"] = "Yes" if adjuvant else "No"
    row["Chemotherapy"] = "Yes" if adjuvant else "No"
    row["Radiation"] = "Yes" if adjuvant and rng.random() < 0.3 else "No"
    if surv["recurrence"]:
        row["Recurrence"] = "yes"
        row["Recurrence Location"] = rng.choice(["distant", "regional", "local"], p=[0.68, 0.19, 0.13])
        row["Date of Recurrence"] = _mdy(surgery + timedelta(days=int(surv["recurrence_days"])))
    else:
        row["Recurrence"] = "no"
        row["Recurrence Location"] = "N/A"
        row["Date of Recurrence"] = "N/A"
    end = surgery + timedelta(days=int(surv["os_days"]))
    row["Date of Last Known Alive"] = _mdy(end)
    if surv["os_event"]:
        row["Survival Status"] = "Dead"
        row["Date of Death"] = _mdy(end)
        row["Time to Death (days)"] = str(int(surv["os_days"]))
    else:
        row["Survival Status"] = "Alive"
        row["Date of Death"] = "N/A"
        row["Time to Death (days)"] = "N/A"
    row["CT Date"] = _mdy(ct_date)
    row["Days between CT and surgery"] = str(int(surgery_gap))
    row["PET Date"] = _mdy(ct_date + timedelta(days=int(rng.integers(-20, 20)))) if collected else nc
    return row


def _simulate_survival(rng, risk: np.ndarray) -> list[dict]:
    """Integer-day survival per patient; DFS event = recurrence or death."""
    n = len(risk)
    death = rng.exponential(1.0 / (BASE_DEATH_RATE * np.exp(BETA * risk)))
    recur = rng.exponential(1.0 / (BASE_RECURRENCE_RATE * np.exp(BETA * risk)))
    censor = rng.uniform(CENSOR_MIN_DAYS, CENSOR_MAX_DAYS, size=n)
    out = []
    for i in range(n):
        d, r_, c = (max(1, int(np.ceil(v))) for v in (death[i], recur[i], censor[i]))
        os_days, os_event = (d, 1) if d <= c else (c, 0)
        recurrence = r_ < os_days
        dfs_days = r_ if recurrence else os_days
        dfs_event = 1 if (recurrence or os_event) else 0
        out.append({"os_days": os_days, "os_event": os_event, "recurrence": bool(recurrence),
                    "recurrence_days": r_ if recurrence else None, "dfs_days": dfs_days, "dfs_event": dfs_event})
    return out


# ------------------------------------------------------------------------------------
# GEO


def _q(v) -> str:
    return '"' + str(v).replace('"', "'") + '"'


def _write_series_matrix(path: Path, gse: str, titles: list[str], gsms: list[str], chars: list[list[str]],
                         supp_url: str) -> None:
    n = len(titles)
    lines = [
        f'!Series_title\t"Synthetic radiogenomics demo cohort ({gse})"',
        f"!Series_geo_accession\t{_q(gse)}",
        '!Series_status\t"Public on Jan 01 2020"',
        '!Series_submission_date\t"Jan 01 2020"',
        '!Series_last_update_date\t"Jan 01 2020"',
        '!Series_summary\t"Synthetic RNA-seq (FPKM-like) generated by radiogenomics.synth with planted effects."',
        '!Series_overall_design\t"Tumour RNA-seq of a synthetic NSCLC cohort; sample titles are the TCIA Case IDs."',
        '!Series_type\t"Expression profiling by high throughput sequencing"',
        '!Series_contributor\t"Synthetic,,Demo"',
        "!Series_sample_id\t" + _q(" ".join(gsms) + " "),
        f"!Series_supplementary_file\t{_q(supp_url)}",
        '!Series_platform_id\t"GPL16791"',
        '!Series_platform_taxid\t"9606"',
        '!Series_sample_taxid\t"9606"',
        "",
    ]

    def row(key: str, values) -> str:
        return key + "\t" + "\t".join(_q(v) for v in values)

    lines.append(row("!Sample_title", titles))
    lines.append(row("!Sample_geo_accession", gsms))
    lines.append(row("!Sample_status", ["Public on Jan 01 2020"] * n))
    lines.append(row("!Sample_submission_date", ["Jan 01 2020"] * n))
    lines.append(row("!Sample_last_update_date", ["Jan 01 2020"] * n))
    lines.append(row("!Sample_type", ["SRA"] * n))
    lines.append(row("!Sample_channel_count", ["1"] * n))
    lines.append(row("!Sample_source_name_ch1", ["Non-Small Cell Lung Cancer"] * n))
    lines.append(row("!Sample_organism_ch1", ["Homo sapiens"] * n))
    for k in range(len(chars[0])):
        lines.append(row("!Sample_characteristics_ch1", [c[k] for c in chars]))
    lines.append(row("!Sample_molecule_ch1", ["total RNA"] * n))
    lines.append(row("!Sample_taxid_ch1", ["9606"] * n))
    lines.append(row("!Sample_data_processing", ["Cufflinks-like FPKM (synthetic)"] * n))
    lines.append(row("!Sample_platform_id", ["GPL16791"] * n))
    lines.append(row("!Sample_data_row_count", ["0"] * n))
    lines.append(row("!Sample_instrument_model", ["Illumina HiSeq 2500"] * n))
    lines.append(row("!Sample_library_strategy", ["RNA-Seq"] * n))
    lines.append(row("!Sample_supplementary_file_1", ["NONE"] * n))
    lines.append("!series_matrix_table_begin")
    lines.append('"ID_REF"\t' + "\t".join(_q(g) for g in gsms))
    lines.append("!series_matrix_table_end")
    # mtime=0 keeps the gzip bytes reproducible for a seed
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode("utf-8"))


def _expression(rng, patients_rna, risk_rna, immune_rna, hallmark, estimate, ips, n_genes, na_fraction):
    """log2 expression with planted effects -> FPKM-like DataFrame (genes x patients) and gene lists."""
    set_genes = set().union(*hallmark.values(), *estimate.values(), set(ips["GENE"]))
    fillers = [f"LOC{100130000 + k}" for k in range(max(0, n_genes - len(set_genes)))]
    genes = sorted(set_genes) + fillers
    g_index = {g: k for k, g in enumerate(genes)}
    n_g, n_p = len(genes), len(patients_rna)

    mu = rng.normal(2.5, 2.2, size=n_g)
    sd = rng.uniform(0.25, 0.7, size=n_g)
    log2 = mu[:, None] + sd[:, None] * rng.standard_normal((n_g, n_p))

    up_genes: list[str] = []
    for name in UP_SETS:
        if name not in hallmark:
            raise InputError(f"Hallmark GMT lacks {name}; use MSigDB Hallmark v7.0 symbols")
        members = sorted(hallmark[name])
        chosen = [g for g in members if rng.random() < EXPR_SET_FRACTION]
        up_genes.extend(chosen)
    up_genes = sorted(set(up_genes))
    immune_genes = set(estimate.get("ImmuneSignature", []))
    immune_genes |= set(ips.loc[ips["WEIGHT"] > 0, "GENE"])
    immune_genes = sorted(immune_genes)

    r = np.asarray(risk_rna)[None, :]
    im = np.asarray(immune_rna)[None, :]
    up_idx = [g_index[g] for g in up_genes]
    imm_idx = [g_index[g] for g in immune_genes]
    log2[up_idx] += EXPR_SET_EFFECT * r
    log2[imm_idx] += EXPR_IMMUNE_EFFECT * im
    fpkm = np.clip(2.0 ** log2 - 1.0, 0.0, None)
    values = pd.DataFrame(fpkm, index=genes, columns=patients_rna)
    if na_fraction > 0:
        values = values.mask(rng.random(values.shape) < na_fraction)
    return values, up_genes, immune_genes


SIGNATURE_MARKERS = 40  # marker genes per synthetic cell type
SIGNATURE_NAME = "synthetic_signature.txt"


def _signature(rng, values: pd.DataFrame, up_genes: list[str], immune_genes: list[str],
               estimate: dict[str, list[str]]) -> pd.DataFrame:
    """A synthetic cell-type signature (genes x cell types, linear scale) for the demo's deconvolution.

    CIBERSORT's LM22 cannot be shipped, so the demo deconvolves with a matrix of its own:
    four disjoint marker sets (immune genes, ESTIMATE stromal genes, the planted tumour
    genes, filler genes), each 4x the gene's cohort mean in its own cell type and 0.25x in
    the others.  The immune fraction therefore falls with risk, as the immune genes do.
    """
    mean = values.mean(axis=1, skipna=True)
    stromal = [g for g in estimate.get("StromalSignature", []) if g not in set(immune_genes) | set(up_genes)]
    taken = set(immune_genes) | set(up_genes) | set(stromal)
    fillers = [g for g in values.index if g not in taken and g.startswith("LOC")]
    pools = {"Immune_cells": immune_genes, "Stromal_cells": stromal,
             "Tumour_cells": [g for g in up_genes if g not in set(immune_genes)], "Epithelial_cells": fillers}
    markers: dict[str, list[str]] = {}
    for cell, pool in pools.items():
        pool = [g for g in pool if g in mean.index and np.isfinite(mean[g]) and mean[g] > 0]
        k = min(SIGNATURE_MARKERS, len(pool))
        markers[cell] = sorted(rng.choice(pool, size=k, replace=False).tolist()) if k else []
    genes = [g for cell in markers for g in markers[cell]]
    sig = pd.DataFrame(0.25, index=genes, columns=list(markers), dtype=float)
    for cell, gs in markers.items():
        sig.loc[gs, cell] = 4.0
    sig = sig.mul(mean.loc[genes], axis=0)
    sig.index.name = "GeneSymbol"
    return sig


def _write_expression(path: Path, values: pd.DataFrame) -> None:
    """Tab separated, first header cell empty, decimals as Cufflinks writes them, NA for missing."""
    lines = ["\t" + "\t".join(values.columns)]
    arr = values.to_numpy()
    for gene, row in zip(values.index, arr):
        cells = ["NA" if np.isnan(v) else f"{v:.6g}" for v in row]
        lines.append(gene + "\t" + "\t".join(cells))
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode("ascii"))


# ------------------------------------------------------------------------------------


def _draw_site(rng: np.random.Generator, n: int, rna_fraction: float, not_collected_fraction: float,
               decoy_fraction: float, epad_fraction: float, *, standardise: bool) -> dict:
    """Per-patient latent values and design choices of one site, from that site's own stream."""
    risk = rng.standard_normal(n)
    if standardise and n > 1:
        risk = (risk - risk.mean()) / risk.std()
    texture_sd = TEXTURE_BASE_HU * np.exp(TEXTURE_LOG_SLOPE * risk + rng.normal(0, TEXTURE_LOG_NOISE, n))
    immune = -IMMUNE_RISK_CORR * risk + np.sqrt(1 - IMMUNE_RISK_CORR**2) * rng.standard_normal(n)
    survival = _simulate_survival(rng, risk)
    has_rna = rng.random(n) < rna_fraction
    if has_rna.sum() < min(6, n):
        has_rna[: min(6, n)] = True
    collected = rng.random(n) >= not_collected_fraction
    decoy = rng.random(n) < decoy_fraction
    makers = np.where(rng.random(n) < epad_fraction, "ePAD", "3D Slicer")
    ct_dates = [date(1990, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 6 * 365, n)]
    surgery_gap = rng.integers(1, 60, n)
    return {"risk": risk, "texture_sd": texture_sd, "immune": immune, "survival": survival, "has_rna": has_rna,
            "collected": collected, "decoy": decoy, "makers": makers, "ct_dates": ct_dates,
            "surgery_gap": surgery_gap}


def make_cohort(
    out_dir: str | Path,
    n_patients: int = 60,
    seed: int = 0,
    *,
    collection: str = "NSCLC Radiogenomics Demo",
    gse: str = "GSE900001",
    shape: tuple[int, int, int] = (24, 48, 48),
    spacing: tuple[float, float, float] = (1.0, 1.0, 2.0),
    n_genes: int = 5000,
    rna_fraction: float = 0.9,
    na_fraction: float = 0.001,
    not_collected_fraction: float = 0.1,
    decoy_fraction: float = 0.25,
    epad_fraction: float = 1 / 3,
    clinical_name: str = "DEMO_DATA_LABELS-shifted.csv",
    hallmark_gmt: str | Path | None = None,
    estimate_gmt: str | Path | None = None,
    ips_genes: str | Path | None = None,
    workers: int = 1,
    n_external: int = 0,
    external_scanner: ScannerProfile = EXTERNAL_SCANNER,
) -> CohortManifest:
    """Write a synthetic cohort in the real source formats with planted effects.

    Parameters
    ----------
    out_dir : path
        Output folder (created; existing files of the same names are overwritten).
    n_patients : int
        Number of patients (IDs ``R01-001`` ...); at least 6.
    seed : int
        Everything (values, UIDs, file bytes) is a function of the seed.
    collection : str
        TCIA collection name written into metadata.csv and the folder layout.
    gse : str
        GEO series accession of the expression data (``GSE`` + digits).
    shape : (z, y, x)
        CT grid per patient.
    spacing : (sx, sy, sz)
        Voxel size in mm.
    n_genes : int
        Genes in the expression file; all genes of the Hallmark, ESTIMATE and IPS
        lists are always included, ``LOC...`` filler genes make up the rest.
    rna_fraction : float
        Share of patients with an expression profile (the rest only imaging + clinical).
    na_fraction : float
        Share of expression values written as ``NA``.
    not_collected_fraction : float
        Share of patients whose staging/grade columns are "Not Collected".
    decoy_fraction : float
        Share of patients that also get a PET/CT study with a "CT FUSION" CT series
        (no SEG): a reader must pair the SEG by its referenced series, not by modality.
    epad_fraction : float
        Share of SEGs written "ePAD"-style (the rest "3D Slicer"-style).
    clinical_name : str
        File name of the clinical CSV.
    hallmark_gmt, estimate_gmt, ips_genes : path, optional
        Gene set files; default: the data catalog.
    workers : int
        Processes writing the DICOM files (the output does not depend on it).
    n_external : int
        Patients of a genuinely external site (IDs ``AMC-001`` ...), generated apart from the
        ``n_patients`` development patients (their own random stream: risk, survival, clinical)
        and scanned with ``external_scanner`` (another vendor, kernel, slice thickness and an
        intensity offset), with the same planted biology. They are in every output file, like the
        real collection's AMC patients beside the R01 ones.
    external_scanner : ScannerProfile
        The external site's scanner (the development site uses :data:`DEVELOPMENT_SCANNER`).

    Returns
    -------
    CohortManifest
        Paths and the planted truth. ``truth.json`` holds: ``seed``, ``n_patients``,
        ``constants`` (the model constants above), ``imaging`` (feature family and
        mechanism), ``survival`` (model), ``expression`` (``up_sets``, ``up_genes``,
        ``immune_genes``, effect sizes), ``clinical`` (planted association), and
        ``patients``: one record per patient with ``risk``, ``texture_sd``,
        ``immune``, ``os_days``, ``os_event``, ``dfs_days``, ``dfs_event``,
        ``recurrence``, ``has_rna``, ``days_ct_to_surgery``, ``seg_maker``, ``decoy_petct``,
        ``tumour_voxels``, ``ct_series_uid``, ``seg_series_uid``. Survival days count from
        surgery (CT Date + Days between CT and surgery), as the TCIA "Time to Death (days)".
    """
    if n_patients < 6:
        raise InputError(f"make_cohort: n_patients must be at least 6, got {n_patients}")
    if n_external < 0:
        raise InputError(f"make_cohort: n_external must be 0 or more, got {n_external}")
    if not (gse.startswith("GSE") and gse[3:].isdigit()):
        raise InputError(f"make_cohort: gse must look like GSE123456, got {gse!r}")
    if len(shape) != 3 or min(shape) < 8:
        raise InputError(f"make_cohort: shape must be three sizes >= 8 (z, y, x), got {shape}")
    hallmark, estimate, ips = load_gene_sources(hallmark_gmt, estimate_gmt, ips_genes)

    root = Path(out_dir)
    tcia_dir = root / "tcia"
    stub = gse[:-3] + "nnn" if len(gse) > 6 else "GSEnnn"
    geo_root = root / "geo"
    geo_series = geo_root / "geo" / "series" / stub / gse
    clinical_dir = root / "clinical"
    for d in (tcia_dir, geo_series / "matrix", geo_series / "suppl", clinical_dir):
        d.mkdir(parents=True, exist_ok=True)

    dev = _draw_site(np.random.default_rng(seed), n_patients, rna_fraction, not_collected_fraction,
                     decoy_fraction, epad_fraction, standardise=True)
    # the external site has its own random stream: nothing about it is drawn from the development one
    ext = _draw_site(np.random.default_rng([seed, 7 * 10**6]), n_external, rna_fraction,
                     not_collected_fraction, decoy_fraction, epad_fraction, standardise=False)
    patients = [f"R01-{k + 1:03d}" for k in range(n_patients)] + [f"AMC-{k + 1:03d}" for k in range(n_external)]
    site = ["development"] * n_patients + ["external"] * n_external
    risk = np.concatenate([dev["risk"], ext["risk"]])
    texture_sd = np.concatenate([dev["texture_sd"], ext["texture_sd"]])
    immune = np.concatenate([dev["immune"], ext["immune"]])
    survival = dev["survival"] + ext["survival"]
    has_rna = np.concatenate([dev["has_rna"], ext["has_rna"]])
    collected = np.concatenate([dev["collected"], ext["collected"]])
    decoy = np.concatenate([dev["decoy"], ext["decoy"]])
    makers = np.concatenate([dev["makers"], ext["makers"]])
    ct_dates = dev["ct_dates"] + ext["ct_dates"]
    surgery_gap = np.concatenate([dev["surgery_gap"], ext["surgery_gap"]])
    scanners = {"development": DEVELOPMENT_SCANNER, "external": external_scanner}

    def grid(i: int) -> tuple[float, float, float]:
        thickness = scanners[site[i]].slice_thickness
        return (float(spacing[0]), float(spacing[1]), float(thickness if thickness else spacing[2]))

    # --- imaging -------------------------------------------------------------------
    meta_rows: list[dict] = []
    ct_series: dict[str, str] = {}
    seg_series: dict[str, str] = {}
    tumour_voxels: dict[str, int] = {}
    jobs = [
        _ImagingJob(seed=seed, index=i, patient_id=pid, tcia_dir=str(tcia_dir), collection=collection,
                    shape=tuple(shape), spacing=grid(i),
                    texture_sd=float(texture_sd[i]), ct_date=ct_dates[i], maker=str(makers[i]),
                    decoy=bool(decoy[i]), scanner=scanners[site[i]])
        for i, pid in enumerate(patients)
    ]
    results: dict[str, dict] = {}
    if workers > 1:
        from ..executor import get_executor

        with get_executor("local", workers=workers) as ex:
            for res in ex.map_unordered(_write_patient_imaging, jobs, keys=patients):
                if res.error is not None:
                    raise res.error
                results[res.key] = res.value
    else:
        results = {job.patient_id: _write_patient_imaging(job) for job in jobs}
    stamp = datetime(2022, 11, 19, 19, 0, 0)
    for pid in patients:
        res = results[pid]
        ct_series[pid], seg_series[pid] = res["ct_series"], res["seg_series"]
        tumour_voxels[pid] = res["tumour_voxels"]
        for row in res["rows"]:
            stamp += timedelta(seconds=2.5)
            meta_rows.append({**row, "Download Timestamp": stamp.isoformat(timespec="milliseconds")})
    metadata_csv = tcia_dir / "metadata.csv"
    pd.DataFrame(meta_rows, columns=METADATA_COLUMNS).to_csv(metadata_csv, index=False)

    # --- clinical ------------------------------------------------------------------
    crng = np.random.default_rng([seed, 10**6])
    rows = [_clinical_row(crng, pid, float(risk[i]), ct_dates[i], surgery_gap[i], survival[i], bool(collected[i]))
            for i, pid in enumerate(patients)]
    for i, row in enumerate(rows):
        if site[i] == "external":
            row["Patient affiliation"] = "AMC"
    clinical_csv = clinical_dir / clinical_name
    with open(clinical_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CLINICAL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    # --- GEO -----------------------------------------------------------------------
    grng = np.random.default_rng([seed, 2 * 10**6])
    rna_idx = np.flatnonzero(has_rna)
    rna_patients = [patients[k] for k in rna_idx]
    values, up_genes, immune_genes = _expression(
        grng, rna_patients, risk[rna_idx], immune[rna_idx], hallmark, estimate, ips, n_genes, na_fraction
    )
    matrix_order = [rna_patients[k] for k in grng.permutation(len(rna_patients))]
    file_order = [rna_patients[k] for k in grng.permutation(len(rna_patients))]
    gsm_base = 9_000_000 + (seed % 1000) * 1000
    gsms = [f"GSM{gsm_base + k}" for k in range(len(matrix_order))]
    by_pid = dict(zip(patients, rows))
    chars = [[
        "disease state: Non-Small Cell Lung Cancer (NSCLC)",
        f"histology: {by_pid[p]['Histology ']}",
        f"histopathological grade: {by_pid[p]['Histopathological Grade']}",
        f"gender: {by_pid[p]['Gender']}",
    ] for p in matrix_order]
    supp_name = f"{gse}_R01_NSCLC_RNAseq.txt.gz"
    supp_url = f"ftp://ftp.ncbi.nlm.nih.gov/geo/series/{stub}/{gse}/suppl/{supp_name}"
    series_matrix = geo_series / "matrix" / f"{gse}_series_matrix.txt.gz"
    _write_series_matrix(series_matrix, gse, matrix_order, gsms, chars, supp_url)
    expression_file = geo_series / "suppl" / supp_name
    _write_expression(expression_file, values[file_order])
    (geo_series / "suppl" / "filelist.txt").write_text(
        "#Archive/File\tName\tTime\tSize\tType\n"
        f"File\t{supp_name}\t01/01/2020 00:00:00\t{expression_file.stat().st_size}\tTXT\n",
        encoding="utf-8",
    )

    # --- deconvolution signature (LM22 layout; synthetic, so it can ship with the demo) ------
    signature_file = root / "signature" / SIGNATURE_NAME
    signature_file.parent.mkdir(parents=True, exist_ok=True)
    signature = _signature(np.random.default_rng([seed, 3 * 10**6]), values, up_genes, immune_genes, estimate)
    signature.to_csv(signature_file, sep="\t", float_format="%.6g")

    # --- truth ---------------------------------------------------------------------
    truth = {
        "seed": seed,
        "n_patients": n_patients,
        "n_external": n_external,
        "sites": {name: asdict(profile) | {"patients": site.count(name)} for name, profile in scanners.items()},
        "collection": collection,
        "gse": gse,
        "constants": {
            "TEXTURE_BASE_HU": TEXTURE_BASE_HU, "TEXTURE_LOG_SLOPE": TEXTURE_LOG_SLOPE,
            "TEXTURE_LOG_NOISE": TEXTURE_LOG_NOISE, "BETA": BETA,
            "BASE_DEATH_RATE_PER_DAY": float(BASE_DEATH_RATE),
            "BASE_RECURRENCE_RATE_PER_DAY": float(BASE_RECURRENCE_RATE),
            "CENSOR_DAYS": [CENSOR_MIN_DAYS, CENSOR_MAX_DAYS], "EXPR_SET_EFFECT": EXPR_SET_EFFECT,
            "EXPR_SET_FRACTION": EXPR_SET_FRACTION, "EXPR_IMMUNE_EFFECT": EXPR_IMMUNE_EFFECT,
            "IMMUNE_RISK_CORR": IMMUNE_RISK_CORR,
        },
        "imaging": {
            "feature_family": "texture",
            "mechanism": "intra-tumour HU heterogeneity sd = TEXTURE_BASE_HU * exp(TEXTURE_LOG_SLOPE * risk + noise)",
            "features_up_with_risk": [
                "original_firstorder_Variance", "original_firstorder_RobustMeanAbsoluteDeviation",
                "original_firstorder_Entropy", "original_glcm_Contrast", "original_glcm_DifferenceAverage",
                "original_glcm_JointEntropy", "original_glrlm_GrayLevelNonUniformityNormalized",
            ],
            "independent_of_risk": ["shape", "tumour mean HU"],
            "roi": "tumor",
        },
        "survival": {
            "model": "exponential hazards: rate = base * exp(BETA * risk), independent death and recurrence, "
                     "uniform censoring; days from surgery (CT Date + Days between CT and surgery)",
            "endpoints": {"os": "death", "dfs": "recurrence or death"},
            "hazard_increases_with": "risk",
        },
        "expression": {
            "dataset_accession": gse,
            "scale": "fpkm",
            "up_sets": list(UP_SETS),
            "down_sets": [],
            "up_genes": up_genes,
            "immune_genes_down": immune_genes,
            "immune_sources": ["ESTIMATE ImmuneSignature", "IPS genes with WEIGHT > 0 (MHC, EC)"],
            "immune_scores_lower_in_high_risk": ["ImmuneScore", "ESTIMATEScore", "IPS", "MHC", "EC"],
            "signature": {"file": f"signature/{SIGNATURE_NAME}", "cell_types": list(signature.columns),
                          "lower_in_high_risk": ["Immune_cells"], "higher_in_high_risk": ["Tumour_cells"]},
            "note": "Hallmark sets that share many genes with the immune genes (e.g. ALLOGRAFT_REJECTION, "
                    "INTERFERON_GAMMA_RESPONSE) come out lower in high risk as a consequence.",
        },
        "clinical": {"associated_with_risk": ["Pathological T stage"], "direction": "higher T in high risk"},
        "patients": {
            pid: {
                "site": site[i], "risk": float(risk[i]), "texture_sd": float(texture_sd[i]),
                "immune": float(immune[i]),
                "os_days": survival[i]["os_days"], "os_event": survival[i]["os_event"],
                "dfs_days": survival[i]["dfs_days"], "dfs_event": survival[i]["dfs_event"],
                "recurrence": survival[i]["recurrence"], "has_rna": bool(has_rna[i]),
                "days_ct_to_surgery": int(surgery_gap[i]),
                "seg_maker": str(makers[i]), "decoy_petct": bool(decoy[i]),
                "tumour_voxels": tumour_voxels[pid], "ct_series_uid": ct_series[pid],
                "seg_series_uid": seg_series[pid],
            }
            for i, pid in enumerate(patients)
        },
    }
    truth_json = root / "truth.json"
    truth_json.write_text(json.dumps(truth, indent=1), encoding="utf-8")
    log.info("synthetic cohort: %d development + %d external patients (%d with RNA) in %s", n_patients, n_external,
             len(rna_patients), root)
    return CohortManifest(
        root=root, collection=collection, tcia_dir=tcia_dir, metadata_csv=metadata_csv, geo_root=geo_root,
        gse=gse, series_matrix=series_matrix, expression_file=expression_file, clinical_csv=clinical_csv,
        truth_json=truth_json, patients=patients, rna_patients=rna_patients, ct_series=ct_series,
        seg_series=seg_series, truth=truth, signature_file=signature_file,
    )


def manifest_dict(manifest: CohortManifest) -> dict:
    """The manifest as JSON-ready dict (paths as strings, truth omitted)."""
    d = asdict(manifest)
    d.pop("truth")
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
