"""DuckDB schema: base tables in schema ``core``, the stable SQL interface as views in ``main``.

Migrations are applied in order on open; ``core.schema_version`` records each one.
Every base table has a primary key on its natural key so loads are upserts, and a
``run_id`` column naming the run that wrote the row.  The views are what users
query (``rg sql``) and are documented column by column in ``docs/sql.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


_V1 = r"""
CREATE SCHEMA IF NOT EXISTS core;

CREATE TABLE core.runs (
    run_id VARCHAR PRIMARY KEY,
    command VARCHAR NOT NULL,
    parameters JSON,
    package_versions JSON,
    input_checksums JSON,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,          -- running | ok | failed | partial | interrupted
    error VARCHAR
);

CREATE TABLE core.patients (
    patient_id VARCHAR PRIMARY KEY,
    collection VARCHAR,
    source VARCHAR,
    run_id VARCHAR
);

-- every source identifier (TCIA PatientID, GEO GSM, clinical Case ID, ...) -> patient_id
CREATE TABLE core.id_crosswalk (
    source VARCHAR NOT NULL,          -- tcia | geo_gsm | geo_title | clinical | import | ...
    source_id VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (source, source_id)
);

CREATE TABLE core.series (
    series_uid VARCHAR PRIMARY KEY,
    patient_id VARCHAR,
    study_uid VARCHAR,
    modality VARCHAR,
    description VARCHAR,
    image_count INTEGER,
    status VARCHAR,                   -- listed | complete | failed
    collection VARCHAR,
    study_date DATE,
    study_description VARCHAR,
    manufacturer VARCHAR,
    sop_class_uid VARCHAR,
    referenced_series_uid VARCHAR,    -- for SEG / RTSTRUCT: the CT series they annotate
    file_size BIGINT,
    path VARCHAR,
    md5_verified BOOLEAN,
    error VARCHAR,
    run_id VARCHAR
);

CREATE TABLE core.instances (
    sop_instance_uid VARCHAR PRIMARY KEY,
    series_uid VARCHAR NOT NULL,
    patient_id VARCHAR,
    sop_class_uid VARCHAR,
    instance_number INTEGER,
    path VARCHAR,
    file_size BIGINT,
    md5 VARCHAR,
    run_id VARCHAR
);

-- typed clinical table: the normalised NSCLC Radiogenomics / TCIA layout; columns
-- a cohort lacks stay NULL, unknown source columns are kept in `extra` (JSON)
CREATE TABLE core.clinical (
    patient_id VARCHAR PRIMARY KEY,
    case_id VARCHAR,
    cohort VARCHAR,
    affiliation VARCHAR,
    age DOUBLE,
    weight_lbs DOUBLE,
    gender VARCHAR,
    ethnicity VARCHAR,
    smoking_status VARCHAR,
    pack_years DOUBLE,
    quit_smoking_year INTEGER,
    pct_gg VARCHAR,
    tumor_location VARCHAR,
    histology VARCHAR,
    t_stage VARCHAR,
    t_stage_group VARCHAR,            -- T1..T4 / Tis (main T category)
    n_stage VARCHAR,
    m_stage VARCHAR,
    grade VARCHAR,                    -- G1, G2, G3, G1-G2, G2-G3
    grade_text VARCHAR,               -- the source's grade wording
    lymphovascular_invasion VARCHAR,
    pleural_invasion VARCHAR,
    egfr VARCHAR,
    kras VARCHAR,
    alk VARCHAR,
    adjuvant_treatment VARCHAR,
    chemotherapy VARCHAR,
    radiation VARCHAR,
    recurrence BOOLEAN,
    recurrence_location VARCHAR,
    date_recurrence DATE,
    date_last_alive DATE,
    survival_status VARCHAR,
    date_death DATE,
    time_to_death_days DOUBLE,
    ct_date DATE,
    days_ct_to_surgery DOUBLE,
    pet_date DATE,
    os_days DOUBLE,
    os_event INTEGER,
    dfs_days DOUBLE,
    dfs_event INTEGER,
    extra JSON,
    run_id VARCHAR
);

CREATE TABLE core.datasets (
    dataset_id VARCHAR PRIMARY KEY,
    source VARCHAR,                   -- geo | demo | file
    accession VARCHAR,
    platform VARCHAR,
    scale VARCHAR,                    -- fpkm | log2 | counts | other
    is_counts BOOLEAN,
    description VARCHAR,
    source_file VARCHAR,
    source_sha256 VARCHAR,            -- checksum of the file the values were read from
    n_samples INTEGER,
    n_genes INTEGER,
    run_id VARCHAR
);

CREATE TABLE core.samples (
    sample_id VARCHAR PRIMARY KEY,    -- GSM (or file column)
    dataset_id VARCHAR NOT NULL,
    patient_id VARCHAR,
    title VARCHAR,
    platform VARCHAR,
    characteristics JSON,             -- key/value from !Sample_characteristics_ch1
    run_id VARCHAR
);

CREATE TABLE core.expression (
    dataset_id VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    gene VARCHAR NOT NULL,
    value DOUBLE,                     -- as given by the source (NULL where NA)
    run_id VARCHAR,
    PRIMARY KEY (dataset_id, patient_id, gene)
);

-- images and masks ready for feature extraction (from DICOM or imported NRRD/NIfTI)
CREATE TABLE core.rois (
    patient_id VARCHAR NOT NULL,
    roi VARCHAR NOT NULL,             -- tumor, node_1, peritumoral_3mm, ...
    reader VARCHAR NOT NULL DEFAULT 'default',  -- repeated segmentations of one ROI
    image_path VARCHAR,
    mask_path VARCHAR,
    image_sha1 VARCHAR,
    mask_sha1 VARCHAR,
    source VARCHAR,                   -- seg | rtstruct | import | derived
    ct_series_uid VARCHAR,
    seg_series_uid VARCHAR,
    voxels BIGINT,
    volume_mm3 DOUBLE,
    status VARCHAR,                   -- ok | failed
    reason VARCHAR,
    run_id VARCHAR,
    PRIMARY KEY (patient_id, roi, reader)
);

CREATE TABLE core.features (
    patient_id VARCHAR NOT NULL,
    roi VARCHAR NOT NULL,
    feature VARCHAR NOT NULL,         -- exactly as pyradiomics names it
    params_hash VARCHAR NOT NULL,
    value DOUBLE,
    image_sha1 VARCHAR,
    mask_sha1 VARCHAR,
    run_id VARCHAR,
    PRIMARY KEY (patient_id, roi, feature, params_hash)
);

CREATE TABLE core.feature_diagnostics (
    patient_id VARCHAR NOT NULL,
    roi VARCHAR NOT NULL,
    params_hash VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR,
    run_id VARCHAR,
    PRIMARY KEY (patient_id, roi, params_hash, key)
);

CREATE TABLE core.feature_params (
    params_hash VARCHAR PRIMARY KEY,
    params_yaml VARCHAR,
    source_path VARCHAR,
    run_id VARCHAR
);

CREATE TABLE core.feature_stability (
    roi VARCHAR NOT NULL,
    feature VARCHAR NOT NULL,
    params_hash VARCHAR NOT NULL,
    method VARCHAR NOT NULL,          -- readers | perturbation
    icc31 DOUBLE,
    icc21 DOUBLE,
    n_patients INTEGER,
    n_raters INTEGER,
    stable BOOLEAN,
    threshold DOUBLE,
    run_id VARCHAR,
    PRIMARY KEY (roi, feature, params_hash, method)
);

-- per-patient (per-item) failures of any stage; the run goes on
CREATE TABLE core.failures (
    run_id VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    item VARCHAR NOT NULL,            -- series uid, roi, ... ('' when the patient as a whole)
    reason VARCHAR,
    failed_at TIMESTAMP,
    PRIMARY KEY (run_id, stage, patient_id, item)
);

CREATE TABLE core.models (
    model_id VARCHAR PRIMARY KEY,
    kind VARCHAR,                     -- radscore | classifier | ...
    endpoint VARCHAR,
    formula JSON,                     -- features, coefficients, means, sds, cutoff, ...
    cutoff DOUBLE,
    training_patients JSON,
    params_hash VARCHAR,
    created_at TIMESTAMP,
    run_id VARCHAR
);

CREATE TABLE core.radscores (
    model_id VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    score DOUBLE,
    cohort VARCHAR,                   -- train | validation | external
    run_id VARCHAR,
    PRIMARY KEY (model_id, patient_id)
);

CREATE TABLE core.risk_groups (
    grouping VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    grp VARCHAR NOT NULL,             -- high | low | middle | ...
    model_id VARCHAR,
    score DOUBLE,
    method VARCHAR,
    run_id VARCHAR,
    PRIMARY KEY (grouping, patient_id)
);

-- survival / model evidence in long form (KM, log-rank, Cox, C-index, AUC, ...)
CREATE TABLE core.model_results (
    analysis VARCHAR NOT NULL,        -- e.g. cox_uni:dfs, logrank:dfs, cindex, td_auc
    subject VARCHAR NOT NULL,         -- model_id or grouping the analysis is about
    term VARCHAR NOT NULL,            -- covariate, group, time point ... ('' if none)
    statistic VARCHAR NOT NULL,       -- coef, HR, HR_lower, p, chisq, auc, ...
    value DOUBLE,
    cohort VARCHAR NOT NULL DEFAULT '',
    run_id VARCHAR,
    PRIMARY KEY (analysis, subject, term, statistic, cohort)
);

CREATE TABLE core.de_results (
    grouping VARCHAR NOT NULL,
    dataset_id VARCHAR NOT NULL,
    method VARCHAR NOT NULL,          -- limma | deseq2
    contrast VARCHAR NOT NULL,        -- e.g. high-low
    gene VARCHAR NOT NULL,
    "baseMean" DOUBLE,
    "log2FoldChange" DOUBLE,
    "lfcSE" DOUBLE,
    stat DOUBLE,
    pvalue DOUBLE,
    padj DOUBLE,
    "logFC" DOUBLE,                   -- limma topTable columns (method limma)
    "AveExpr" DOUBLE,
    t DOUBLE,
    "P.Value" DOUBLE,
    "adj.P.Val" DOUBLE,
    "B" DOUBLE,
    direction VARCHAR,                -- up | down | ns (by the configured thresholds)
    run_id VARCHAR,
    PRIMARY KEY (grouping, dataset_id, method, contrast, gene)
);

CREATE TABLE core.gsea_results (
    grouping VARCHAR NOT NULL,
    dataset_id VARCHAR NOT NULL,
    method VARCHAR NOT NULL,          -- prerank | phenotype
    library VARCHAR NOT NULL,         -- e.g. hallmark_v7.0
    term VARCHAR NOT NULL,
    "ES" DOUBLE,
    "NES" DOUBLE,
    pvalue DOUBLE,
    fdr DOUBLE,
    fwer DOUBLE,
    set_size INTEGER,
    lead_genes VARCHAR,
    significant BOOLEAN,
    run_id VARCHAR,
    PRIMARY KEY (grouping, dataset_id, method, library, term)
);

CREATE TABLE core.ora_results (
    grouping VARCHAR NOT NULL,
    dataset_id VARCHAR NOT NULL,
    direction VARCHAR NOT NULL,       -- up | down
    library VARCHAR NOT NULL,
    term VARCHAR NOT NULL,
    overlap INTEGER,
    set_size INTEGER,
    n_query INTEGER,
    n_universe INTEGER,
    pvalue DOUBLE,
    padj DOUBLE,
    genes VARCHAR,
    run_id VARCHAR,
    PRIMARY KEY (grouping, dataset_id, direction, library, term)
);

CREATE TABLE core.immune_scores (
    dataset_id VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    method VARCHAR NOT NULL,          -- estimate | ips | deconvolution
    score VARCHAR NOT NULL,           -- StromalScore, ImmuneScore, ..., cell type
    value DOUBLE,
    run_id VARCHAR,
    PRIMARY KEY (dataset_id, patient_id, method, score)
);

CREATE TABLE core.associations (
    grouping VARCHAR NOT NULL,
    family VARCHAR NOT NULL,          -- clinical | immune | ...
    variable VARCHAR NOT NULL,
    test VARCHAR NOT NULL,            -- mann-whitney | kruskal | chi2 | fisher | ks | ...
    statistic DOUBLE,
    p DOUBLE,
    fdr DOUBLE,
    n_per_group JSON,
    effect_size DOUBLE,
    effect_name VARCHAR,
    groups VARCHAR,                   -- the groups compared, e.g. high,low
    note VARCHAR,
    run_id VARCHAR,
    PRIMARY KEY (grouping, family, variable, test)
);

-- pipeline steps (rg run) for resume: a finished step with the same input hash is skipped
CREATE TABLE core.pipeline_steps (
    pipeline VARCHAR NOT NULL,
    step VARCHAR NOT NULL,
    input_hash VARCHAR NOT NULL,
    status VARCHAR,
    run_id VARCHAR,
    finished_at TIMESTAMP,
    PRIMARY KEY (pipeline, step)
);

-- per-store settings, e.g. features_parquet = location of Parquet-backed features
CREATE TABLE core.store_settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR,
    run_id VARCHAR
);
"""

# v2: where each series came from (NBIA or IDC, licence, DOI), the scanner facts harmonisation
# needs (model, kernel, slice thickness) and, for SEGs, which segmentation it is (original / AI /
# corrected); rois record that segmentation source too.  Rows written before v2 came from NBIA.
_V2 = r"""
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS source VARCHAR;
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS license VARCHAR;
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS doi VARCHAR;
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS manufacturer_model VARCHAR;
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS convolution_kernel VARCHAR;
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS slice_thickness DOUBLE;
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS segmentation_source VARCHAR;
ALTER TABLE core.series ADD COLUMN IF NOT EXISTS analysis_result_id VARCHAR;
UPDATE core.series SET source = 'NBIA' WHERE source IS NULL;
ALTER TABLE core.rois ADD COLUMN IF NOT EXISTS segmentation_source VARCHAR;
"""

# v3: which process runs a stage: a run left 'running' by a process that is gone is
# marked 'interrupted' by the next rg command that opens the store
_V3_RUN_OWNER = r"""
ALTER TABLE core.runs ADD COLUMN IF NOT EXISTS pid INTEGER;
ALTER TABLE core.runs ADD COLUMN IF NOT EXISTS host VARCHAR;
"""

# the radiogenomic map (rg map): every imaging variable x every molecular variable, and the
# patients each map used
_RGMAP = r"""
CREATE TABLE IF NOT EXISTS core.radiogenomic_map (
    map_id VARCHAR NOT NULL,
    imaging VARCHAR NOT NULL,
    imaging_source VARCHAR,
    molecular VARCHAR NOT NULL,
    molecular_source VARCHAR,
    rho DOUBLE,
    p DOUBLE,
    fdr DOUBLE,
    n INTEGER,
    method VARCHAR,
    covariates VARCHAR,
    run_id VARCHAR,
    PRIMARY KEY (map_id, imaging, molecular)
);
CREATE TABLE IF NOT EXISTS core.radiogenomic_map_values (
    map_id VARCHAR NOT NULL,
    variable VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    value DOUBLE,
    run_id VARCHAR,
    PRIMARY KEY (map_id, variable, patient_id)
);
CREATE TABLE IF NOT EXISTS core.radiogenomic_map_patients (
    map_id VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (map_id, patient_id)
);
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema", _V1),
    Migration(2, "series source/licence/DOI, scanner model/kernel/slice thickness, segmentation source", _V2),
    Migration(3, "runs: pid and host of the process (interrupted runs)", _V3_RUN_OWNER),
    Migration(4, "radiogenomic map", _RGMAP),
]

#: the documented SQL interface; recreated after migrations
VIEWS: dict[str, str] = {
    "runs": "SELECT * FROM core.runs",  # run_id ... error, then pid, host (migration 3)
    "patients": "SELECT patient_id, collection, source, run_id FROM core.patients",
    "id_crosswalk": "SELECT source, source_id, patient_id, run_id FROM core.id_crosswalk",
    "series": "SELECT series_uid, patient_id, study_uid, modality, description, image_count, status, collection, study_date, study_description, manufacturer, sop_class_uid, referenced_series_uid, file_size, path, md5_verified, error, run_id, source, license, doi, manufacturer_model, convolution_kernel, slice_thickness, segmentation_source, analysis_result_id FROM core.series",
    "instances": "SELECT sop_instance_uid, series_uid, patient_id, sop_class_uid, instance_number, path, file_size, md5, run_id FROM core.instances",
    "clinical": "SELECT * FROM core.clinical",
    "datasets": "SELECT * FROM core.datasets",
    "samples": "SELECT sample_id, patient_id, dataset_id AS dataset, title, platform, characteristics, run_id FROM core.samples",
    "expression": "SELECT dataset_id AS dataset, patient_id, gene, value, run_id FROM core.expression",
    "rois": "SELECT * FROM core.rois",
    "features": "SELECT patient_id, roi, feature, value, params_hash, run_id, image_sha1, mask_sha1 FROM core.features",
    "feature_diagnostics": "SELECT * FROM core.feature_diagnostics",
    "feature_params": "SELECT params_hash, params_yaml, source_path, run_id FROM core.feature_params",
    "feature_stability": "SELECT * FROM core.feature_stability",
    "failures": "SELECT * FROM core.failures",
    "models": "SELECT * FROM core.models",
    "radscores": "SELECT model_id, patient_id, score, cohort, run_id FROM core.radscores",
    "risk_groups": "SELECT grouping, patient_id, grp, model_id, score, method, run_id FROM core.risk_groups",
    "model_results": "SELECT * FROM core.model_results",
    "de_results": "SELECT *, COALESCE(\"log2FoldChange\", \"logFC\") AS lfc, COALESCE(pvalue, \"P.Value\") AS p, COALESCE(padj, \"adj.P.Val\") AS p_adj FROM core.de_results",
    "gsea_results": "SELECT * FROM core.gsea_results",
    "ora_results": "SELECT * FROM core.ora_results",
    "immune_scores": "SELECT * FROM core.immune_scores",
    "associations": "SELECT * FROM core.associations",
    "radiogenomic_map": "SELECT map_id, imaging, imaging_source, molecular, molecular_source, rho, p, fdr, n, method, covariates, run_id FROM core.radiogenomic_map",
    "radiogenomic_map_patients": "SELECT map_id, patient_id, run_id FROM core.radiogenomic_map_patients",
    "radiogenomic_map_values": "SELECT map_id, variable, patient_id, value, run_id FROM core.radiogenomic_map_values",
    "pipeline_steps": "SELECT pipeline, step, input_hash, status, run_id, finished_at FROM core.pipeline_steps",
}

SCHEMA_VERSION = MIGRATIONS[-1].version

#: the command(s) whose runs write each view's rows (named when a user tries to write a view);
#: every view reads ``core.<same name>``
VIEW_OWNERS: dict[str, str] = {
    "runs": "every rg command (one row per run)",
    "patients": "`rg fetch` / `rg import`",
    "id_crosswalk": "`rg fetch` / `rg import`",
    "series": "`rg fetch tcia` / `rg import nbia`",
    "instances": "`rg fetch tcia` / `rg import nbia`",
    "clinical": "`rg fetch clinical`",
    "datasets": "`rg fetch geo`",
    "samples": "`rg fetch geo`",
    "expression": "`rg fetch geo`",
    "rois": "`rg rois` / `rg import images`",
    "features": "`rg features` / `rg deep-features`",
    "feature_diagnostics": "`rg features`",
    "feature_params": "`rg features`",
    "feature_stability": "`rg stability`",
    "failures": "every stage (per-patient failures of its run)",
    "models": "`rg radscore fit` / `rg classify`",
    "radscores": "`rg radscore fit` / `rg radscore apply`",
    "risk_groups": "`rg groups` (one grouping per --grouping name)",
    "model_results": "`rg survival` / `rg classify`",
    "de_results": "`rg de` / `rg associate`",
    "gsea_results": "`rg gsea` / `rg associate`",
    "ora_results": "`rg ora` / `rg associate`",
    "immune_scores": "`rg immune` / `rg associate`",
    "associations": "`rg associate`",
    "pipeline_steps": "`rg run`",
}
