"""Build clinical_input.csv (the R script's input) from the real TCIA clinical CSV.

Run from the repository root with ../shared present:
    .venv/bin/python tests/data/R/associate/make_input.py
Groups are assigned deterministically (row i of the Case-ID-sorted file -> high, middle,
low in turn); two extra columns with small, tie-free samples exercise the exact tests.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[3].parent / "shared/data/tcia/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
MISSING = {"Not Collected", "Not collected", "N/A", "Unknown", "Not Assessed", "Not Recorded In Database"}

raw = pd.read_csv(SRC, dtype=str, keep_default_na=False).sort_values("Case ID").reset_index(drop=True)
raw = raw.apply(lambda c: c.map(lambda v: np.nan if v.strip() in MISSING or v == "" else v))
out = pd.DataFrame({
    "case_id": raw["Case ID"],
    "grp": [("high", "middle", "low")[i % 3] for i in range(len(raw))],
    "age": pd.to_numeric(raw["Age at Histological Diagnosis"]),
    "weight_lbs": pd.to_numeric(raw["Weight (lbs)"]),
    "pack_years": pd.to_numeric(raw["Pack Years"]),
    "days_ct_to_surgery": pd.to_numeric(raw["Days between CT and surgery"]),
    "gender": raw["Gender"],
    "smoking_status": raw["Smoking status"],
    "histology": raw["Histology "].str.strip(),
    "t_stage": raw["Pathological T stage"],
    "n_stage": raw["Pathological N stage"],
    "pleural_invasion": raw["Pleural invasion (elastic, visceral, or parietal)"],
    "lymphovascular_invasion": raw["Lymphovascular invasion"],
})
rng = np.random.default_rng(7)
small = np.full(len(out), np.nan)
cat = np.full(len(out), None, dtype=object)
idx = {g: np.flatnonzero(out["grp"] == g) for g in ("high", "middle", "low")}
small[idx["high"][:8]] = rng.normal(1.0, 1.0, 8).round(6)
small[idx["low"][:7]] = rng.normal(0.0, 1.0, 7).round(6)
small[idx["middle"][:6]] = rng.normal(0.5, 1.0, 6).round(6)
cat[idx["high"][:10]] = ["A"] * 8 + ["B"] * 2
cat[idx["low"][:10]] = ["A"] * 3 + ["B"] * 7
cat[idx["middle"][:6]] = ["A"] * 3 + ["B"] * 3
out["small_exact"] = small
out["small_binary"] = cat
out.to_csv(HERE / "clinical_input.csv", index=False)
print(f"wrote {len(out)} rows to {HERE / 'clinical_input.csv'}")
