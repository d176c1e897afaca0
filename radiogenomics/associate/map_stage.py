"""``rg map``: the radiogenomic map of a store (load -> compute -> write -> ``radiogenomic_map``).

Imaging variables: a Rad-score (``radscore:<model_id>``), the stable features of an ROI, or a
chosen list. Molecular variables: single-sample pathway scores (ssGSEA, GSVA convention) over
Hallmark or a GMT, the stored immune scores (``rg immune``: ESTIMATE, IPS, deconvolution) and,
optionally, every gene. See :mod:`radiogenomics.associate.rgmap` for the statistics.
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

import pandas as pd

from ..exceptions import InputError
from ..result import StageResult, stage_entry
from ..store import StoreLike, StoreSession, reading
from .rgmap import radiogenomic_map, top_pairs

log = logging.getLogger(__name__)

#: pairs whose per-patient values are stored (radiogenomic_map_values) for the report's scatter plots
TOP_VALUES = 6


def _imaging(st, model_id: str | None, features: str | None, roi: str, params_hash: str | None
             ) -> tuple[pd.DataFrame, dict[str, str]]:
    from ..store import tables

    frames, source = [], {}
    if model_id:
        s = tables.radscores(st, model_id).dropna()
        if s.empty:
            raise InputError(f"model {model_id!r} has no Rad-scores in the store; run `rg radscore fit` "
                             "(or `rg radscore apply`) first, or leave out --model")
        name = f"radscore:{model_id}"
        frames.append(s.rename(name).to_frame())
        source[name] = "radscore"
    if features and features != "none":
        if features in ("stable", "all"):
            # "stable": the read layer's policy (stable features when stability results exist)
            wide = tables.feature_matrix(st, roi, params_hash, stable_only=None if features == "stable" else False)
        else:
            wanted = [f.strip() for f in features.split(",") if f.strip()]
            wide = tables.feature_matrix(st, roi, params_hash, stable_only=False)
            unknown = [f for f in wanted if f not in wide.columns]
            if unknown:
                raise InputError(f"feature(s) {unknown[:5]} are not among the {wide.shape[1]} features of ROI "
                                 f"{roi!r} (params {wide.attrs.get('params_hash')}); list them with `rg sql \"SELECT DISTINCT feature FROM "
                                 f"features WHERE roi = '{roi}'\"`")
            used = wide.attrs.get("params_hash")
            wide = wide[wanted]
            wide.attrs["params_hash"] = used
        used = wide.attrs.get("params_hash")
        frames.append(wide)
        source.update({c: f"feature:{roi}:{used}" for c in wide.columns})
    if not frames:
        raise InputError("nothing on the imaging side: give --model (a Rad-score) and/or --features "
                         "(stable, all or a comma-separated list)")
    return pd.concat(frames, axis=1), source


def _molecular(st, dataset_id: str | None, pathways: str | None, immune: bool, genes: bool
               ) -> tuple[pd.DataFrame, dict[str, str], str | None]:
    from ..omics.expression import prepare_expression
    from ..omics.genesets import load_library
    from ..omics.ssgsea import ssgsea
    from ..store import tables

    frames, source = [], {}
    if dataset_id is None:
        known = tables.datasets(st)
        if len(known) > 1:
            raise InputError(f"the store has {len(known)} expression datasets ({', '.join(known)}); choose one "
                             "with --dataset")
        dataset_id = known[0] if known else None
    if (pathways and pathways != "none") or genes:
        if dataset_id is None:
            raise InputError("pathway and gene variables need expression: import it first (`rg fetch geo`)")
        expr = tables.expression(st, dataset_id)
        scale = str(tables.dataset_info(st, dataset_id).get("scale") or "other").lower()
        logx = prepare_expression(expr, scale, log_transform=True)
        if pathways and pathways != "none":
            label, sets = load_library(pathways)
            scores = ssgsea(logx, sets).T  # patients x sets
            frames.append(scores)
            source.update({c: f"ssgsea:{label}" for c in scores.columns})
        if genes:
            g = logx.T
            frames.append(g)
            source.update({c: "gene" for c in g.columns})
    if immune:
        imm = tables.immune_scores(st, dataset_id) if dataset_id else pd.DataFrame()
        if len(imm):
            imm = imm[imm["score"].notna()]
            imm["variable"] = imm["method"] + ":" + imm["score"]
            wide = imm.pivot_table(index="patient_id", columns="variable", values="value", aggfunc="first")
            wide.columns.name = None
            frames.append(wide)
            source.update({c: f"immune:{c.split(':', 1)[0]}" for c in wide.columns})
        else:
            log.info("no immune scores in the store (run `rg immune`): the map has pathways/genes only")
    if not frames:
        raise InputError("nothing on the molecular side: give --pathways (hallmark or a GMT), run `rg immune` for "
                         "immune scores, or add --genes")
    molecular = pd.concat(frames, axis=1)
    return molecular.loc[:, ~molecular.columns.duplicated()], source, dataset_id


def _covariates(st, names: Sequence[str]) -> pd.DataFrame | None:
    from ..store import tables

    if not names:
        return None
    frame = tables.clinical(st, list(names))
    return frame.set_index("patient_id") if "patient_id" in frame else frame


@stage_entry
def run_map(store: StoreLike, map_id: str = "default", *, model_id: str | None = None, features: str | None = "stable",
            roi: str = "tumor", params_hash: str | None = None, dataset_id: str | None = None,
            pathways: str | None = "hallmark", immune: bool = True, genes: bool = False,
            adjust: Sequence[str] = ()) -> StageResult:
    """``rg map``: Spearman (partial, given ``adjust``) map of imaging x molecular variables.

    Parameters
    ----------
    store
        An open store or a store path.
    map_id
        Name of the map in ``radiogenomic_map`` (a rerun replaces it).
    model_id
        Include this model's Rad-score as an imaging variable.
    features
        ``stable`` (features with ICC above threshold; all when no stability results exist: the read
        policy of ``rg radscore fit``), ``all``, ``none`` or a comma-separated list.
    pathways
        ``hallmark``, ``go_bp``, ... or a GMT path (single-sample ssGSEA scores), or ``none``.
    immune
        Include the stored immune scores (``rg immune``).
    genes
        Include every gene (log2 expression) as a molecular variable.
    adjust
        Clinical columns to adjust for (partial Spearman).

    Returns
    -------
    StageResult
        Counts ``pairs``, ``significant`` (FDR < 0.05), ``patients``; ``summary`` holds the top pairs.
    """
    with reading(store) as st:
        img, img_source = _imaging(st, model_id, features, roi, params_hash)
        mol, mol_source, dataset_id = _molecular(st, dataset_id, pathways, immune, genes)
        cov = _covariates(st, list(adjust))
    table, patients = radiogenomic_map(img, mol, cov, source=mol_source)
    table.insert(0, "map_id", map_id)
    table["imaging_source"] = table["imaging"].map(img_source)
    table["method"] = "partial spearman" if adjust else "spearman"
    table["covariates"] = ",".join(adjust)
    params = dict(map_id=map_id, model_id=model_id, features=features, roi=roi, params_hash=params_hash,
                  dataset_id=dataset_id, pathways=pathways, immune=immune, genes=genes, adjust=list(adjust),
                  n_imaging=int(img.shape[1]), n_molecular=int(mol.shape[1]), n_patients=len(patients))
    top = top_pairs(table)
    shown = sorted(set(top["imaging"].head(TOP_VALUES)) | set(top["molecular"].head(TOP_VALUES)))
    both = pd.concat([img, mol], axis=1)
    both = both.loc[:, ~both.columns.duplicated()]
    values = both.loc[both.index.intersection(patients), shown].rename_axis("patient_id").reset_index().melt(
        id_vars="patient_id", var_name="variable", value_name="value").dropna(subset=["value"])
    values.insert(0, "map_id", map_id)
    with StoreSession(store).open() as st, st.run("rg map", params) as run:
        with st.transaction():
            st.replace("radiogenomic_map_values", values, "map_id = ?", [map_id], run_id=run.run_id)
            st.replace("radiogenomic_map", table, "map_id = ?", [map_id], run_id=run.run_id)
            st.replace("radiogenomic_map_patients", pd.DataFrame({"map_id": map_id, "patient_id": patients}),
                       "map_id = ?", [map_id], run_id=run.run_id)
        run_id = run.run_id
    sig = table[table["fdr"] < 0.05]
    log.info("map %s: %d pairs over %d patients, %d with FDR < 0.05", map_id, len(table), len(patients), len(sig))
    return StageResult("map", run_ids=[run_id],
                       counts={"pairs": len(table), "significant": len(sig), "patients": len(patients),
                               "imaging": int(img.shape[1]), "molecular": int(mol.shape[1])},
                       summary={"map_id": map_id, "top": top, "run_id": run_id,
                                "parameters": json.loads(json.dumps(params, default=str))})
