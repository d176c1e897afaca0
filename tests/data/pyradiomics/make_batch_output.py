"""Produce batch_output.csv: a real pyradiomics batch run (pyradiomics 3.0.1) on three synthetic CT/mask pairs.

    python make_batch_output.py && pyradiomics batch.csv --param batch_params.yaml -o out.csv -f csv
    sed -e "s#$PWD/#/archive/nsclc/#g" out.csv > batch_output.csv

The image paths are rewritten to /archive/nsclc/... (the files are not shipped; the importer
only reads the table).
"""

import os

import numpy as np
import SimpleITK as sitk

rng = np.random.default_rng(3)
rows = ["Patient,Image,Mask"]
for i in range(3):
    arr = rng.normal(40 + 10 * i, 15, size=(12, 24, 24)).astype(np.int16)
    m = np.zeros_like(arr, dtype=np.uint8)
    m[3:9, 6:16 + i, 7:17] = 1
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.8, 0.8, 2.5))
    msk = sitk.GetImageFromArray(m)
    msk.CopyInformation(img)
    pid = f"R01-{i:03d}"
    os.makedirs(f"data/{pid}", exist_ok=True)
    sitk.WriteImage(img, f"data/{pid}/{pid}_ct.nrrd")
    sitk.WriteImage(msk, f"data/{pid}/{pid}_mask.nrrd")
    rows.append(f"{pid},data/{pid}/{pid}_ct.nrrd,data/{pid}/{pid}_mask.nrrd")
with open("batch.csv", "w") as fh:
    fh.write("\n".join(rows) + "\n")
