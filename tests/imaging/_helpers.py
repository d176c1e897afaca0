"""Helpers of the imaging tests: the lung2 crop, small synthetic patients, fast parameters."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import SimpleITK as sitk

CT_DATA = Path(__file__).resolve().parent.parent / "data" / "ct"
LUNG2_IMAGE = CT_DATA / "lung2_crop_image.nrrd"
LUNG2_MASK = CT_DATA / "lung2_crop_label.nrrd"
ALL_CLASSES = {name: None for name in ("shape", "firstorder", "glcm", "glrlm", "glszm", "ngtdm", "gldm")}

#: a few quick features where feature count is not the point
FAST_PARAMS = {"imageType": {"Original": {}},
               "featureClass": {"shape": ["VoxelVolume", "Sphericity"], "firstorder": ["Mean", "Energy", "Skewness"],
                                "glcm": ["Contrast", "Idm"]},
               "setting": {"binWidth": 25, "label": 1}}


def lung2_expected() -> tuple[dict, dict[str, float]]:
    """(settings, {feature: expected value}) of pyradiomics' lung2 baseline."""
    with open(CT_DATA / "lung2_expected.csv", newline="") as handle:
        rows = {r["feature"]: r["lung2"] for r in csv.DictReader(handle)}
    settings = ast.literal_eval(rows.pop("diagnostics_Configuration_Settings"))
    return settings, {k: float(v) for k, v in rows.items()}


def synthetic_case(seed: int, shape=(8, 24, 24), spacing=(1.0, 1.0, 2.0), radius=6.0):
    """A small CT-like volume (HU, int16) with a textured spherical lesion and its mask; (z, y, x) arrays."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    centre = np.array(shape) / 2.0 + rng.uniform(-1, 1, 3)
    dist = np.sqrt(((z - centre[0]) * spacing[2]) ** 2 + ((y - centre[1]) * spacing[1]) ** 2
                   + ((x - centre[2]) * spacing[0]) ** 2)
    r = radius + seed % 3
    mask = dist <= r
    volume = rng.normal(-800, 40, shape)
    volume[mask] = rng.normal(20 + 15 * seed, 30 + 10 * seed, int(mask.sum()))
    return np.rint(volume).astype(np.int16), mask


def to_image(array: np.ndarray, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def write_case(folder: Path, seed: int, **kwargs) -> tuple[Path, Path]:
    volume, mask = synthetic_case(seed, **kwargs)
    folder.mkdir(parents=True, exist_ok=True)
    image_path, mask_path = folder / f"img_{seed}.nrrd", folder / f"mask_{seed}.nrrd"
    sitk.WriteImage(to_image(volume), str(image_path), useCompression=True)
    sitk.WriteImage(to_image(mask.astype(np.uint8)), str(mask_path), useCompression=True)
    return image_path, mask_path


def sql_from_another_process(store_path, sql: str) -> tuple[int, str, str]:
    """Run `rg sql` in a separate process without waiting for a lock: (exit code, stdout, stderr)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "radiogenomics", "--store", str(store_path), "sql", sql,
                          "-f", "csv", "--wait", "0"], capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr
