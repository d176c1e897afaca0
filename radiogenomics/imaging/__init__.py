"""Imaging arm: CT series / DICOM SEG / RTSTRUCT -> ROIs -> pyradiomics features -> stability.

Public API (pyradiomics itself is imported only when features are computed):

- :func:`extract_features` — features of one image + mask (paths or SimpleITK images)
- :func:`run_features` — all ROIs in the store, parallel over patients, cached
- :func:`build_rois`, :func:`import_images` — ROI files and ``rois`` rows
- :func:`run_stability`, :func:`stable_features`, :func:`icc` — feature stability
- :func:`read_ct_series`, :func:`read_seg`, :func:`read_rtstruct` — DICOM to volumes
"""

from .features import (FeatureParams, FeatureRunSummary, extract_features, feature_matrix, load_params,
                       params_hash, run_features)
from .rois import (RoiRunSummary, build_rois, derive_ring, import_images, mask_problem, name_segments,
                   ring_mask)
from .stability import (ICCResult, StabilitySummary, icc, icc_table, perturb_mask, run_stability,
                        stable_features)
from .volumes import (CTVolume, Segment, image_sha1, read_ct_series, read_image, read_rtstruct, read_seg,
                      write_image)

__all__ = [
    "CTVolume", "FeatureParams", "FeatureRunSummary", "ICCResult", "RoiRunSummary", "Segment", "StabilitySummary",
    "build_rois", "derive_ring", "extract_features", "feature_matrix", "icc", "icc_table", "image_sha1",
    "import_images", "load_params", "mask_problem", "name_segments", "params_hash", "perturb_mask",
    "read_ct_series", "read_image", "read_rtstruct", "read_seg", "ring_mask", "run_features", "run_stability",
    "stable_features", "write_image",
]
