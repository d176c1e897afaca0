"""Imaging arm: CT series / DICOM SEG / RTSTRUCT -> ROIs -> pyradiomics features -> stability.

Public API (each name is imported from its module on first use, so ``rg features``
does not load the stability or DICOM code, and pyradiomics itself is imported only
when features are computed):

- :func:`extract_features` — features of one image + mask (paths or SimpleITK images)
- :func:`run_features` — all ROIs in the store, parallel over patients, cached
- :func:`build_rois`, :func:`import_images` — ROI files and ``rois`` rows
- :func:`run_stability`, :func:`stable_features`, :func:`icc` — feature stability
- :func:`read_ct_series`, :func:`read_seg`, :func:`read_rtstruct` — DICOM to volumes
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "features": ["FeatureParams", "FeatureRunSummary", "extract_features", "feature_matrix", "load_params",
                 "params_hash", "run_features"],
    "rois": ["RoiRunSummary", "build_rois", "derive_ring", "import_images", "mask_problem", "name_segments",
             "ring_mask"],
    "stability": ["ICCResult", "StabilitySummary", "icc", "icc_table", "perturb_mask", "run_stability",
                  "stable_features"],
    "volumes": ["CTVolume", "Segment", "image_sha1", "read_ct_series", "read_image", "read_rtstruct", "read_seg",
                "write_image"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .features import (FeatureParams, FeatureRunSummary, extract_features, feature_matrix, load_params,
                           params_hash, run_features)
    from .rois import (RoiRunSummary, build_rois, derive_ring, import_images, mask_problem, name_segments,
                       ring_mask)
    from .stability import (ICCResult, StabilitySummary, icc, icc_table, perturb_mask, run_stability,
                            stable_features)
    from .volumes import (CTVolume, Segment, image_sha1, read_ct_series, read_image, read_rtstruct, read_seg,
                          write_image)
