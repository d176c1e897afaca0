"""Regenerate the lung2 test fixture from ../shared/data/ct (run from the repository root).

Crops pyradiomics' lung2 CT and mask around the mask with a margin of 11 voxels on every
side (>= padDistance 5 of the baseline settings + the coif1 wavelet's support of 6), so
original and wavelet features equal those of the full volume, and copies the expected
values of the 107 original features (column lung2 of pyradiomics' baseline CSVs).
"""

import csv
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

MARGIN = 11
SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/ct")
OUT = Path(__file__).resolve().parent

image = sitk.ReadImage(str(SRC / "lung2_image.nrrd"))
mask = sitk.ReadImage(str(SRC / "lung2_label.nrrd"))
zz, yy, xx = np.nonzero(sitk.GetArrayViewFromImage(mask))
size = image.GetSize()
lo = [max(0, int(a.min()) - MARGIN) for a in (xx, yy, zz)]
hi = [min(n - 1, int(a.max()) + MARGIN) for a, n in zip((xx, yy, zz), size)]
extent = [h - l + 1 for l, h in zip(lo, hi)]
sitk.WriteImage(sitk.RegionOfInterest(image, extent, lo), str(OUT / "lung2_crop_image.nrrd"), useCompression=True)
sitk.WriteImage(sitk.Cast(sitk.RegionOfInterest(mask, extent, lo), sitk.sitkUInt8),
                str(OUT / "lung2_crop_label.nrrd"), useCompression=True)

rows = []
for path in sorted((SRC / "pyradiomics_baseline").glob("baseline_*.csv")):
    with open(path, newline="") as handle:
        table = list(csv.reader(handle))
    if "lung2" not in table[0]:
        continue
    col = table[0].index("lung2")
    for row in table[1:]:
        if row[0].startswith("original_") or row[0] == "diagnostics_Configuration_Settings":
            rows.append((row[0], row[col]))
with open(OUT / "lung2_expected.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["feature", "lung2"])
    seen = set()
    for name, value in rows:
        if name not in seen:
            seen.add(name)
            writer.writerow([name, value])
print("crop index", lo, "size", extent, "expected values", len(seen))
