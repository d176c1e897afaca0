"""ComBat against R sva::ComBat on real data, and its train -> held-out application."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.exceptions import InputError
from radiogenomics.imaging.combat import ComBat

R = Path(__file__).resolve().parents[1] / "data" / "R"
SAMPLES = pd.read_csv(R / "omics" / "all_samples.csv", dtype=str).set_index("sample")


def _data() -> pd.DataFrame:
    expr = pd.read_csv(R / "omics" / "all_expr.csv.gz", index_col=0).iloc[:300][SAMPLES.index]
    return expr.T  # samples x features


def _ref(name: str) -> pd.DataFrame:
    return pd.read_csv(R / "combat" / name, index_col=0).T


@pytest.mark.parametrize("parametric, with_group, ref, rtol", [
    (True, True, "ref_combat_parametric_group.csv", 1e-9),
    (True, False, "ref_combat_parametric.csv", 1e-9),
    (False, True, "ref_combat_nonparametric_group.csv", 1e-9),
])
def test_combat_matches_sva(parametric, with_group, ref, rtol):
    X = _data()
    cov = SAMPLES[["group"]] if with_group else None
    ours = ComBat(parametric=parametric).fit_transform(X, SAMPLES["sex"], cov)
    expected = _ref(ref)
    expected.index = expected.index.astype(str).str.zfill(5)
    expected = expected.loc[ours.index, ours.columns]
    np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(), rtol=rtol, atol=1e-9)
    assert not np.allclose(ours.to_numpy(), X.to_numpy())  # it did adjust something


def test_fit_on_training_applies_unchanged_to_held_out():
    X = _data()
    train = X.index[::2]
    held = X.index[1::2]
    model = ComBat().fit(X.loc[train], SAMPLES["sex"], SAMPLES[["group"]])
    # the held-out patients never change the estimates: fitting on train only, transform is the same
    both = model.transform(X, SAMPLES["sex"], SAMPLES[["group"]])
    alone = model.transform(X.loc[held], SAMPLES["sex"], SAMPLES[["group"]])
    pd.testing.assert_frame_equal(both.loc[held], alone)
    # and on the training patients it is exactly the one-matrix ComBat of those patients
    direct = ComBat().fit_transform(X.loc[train], SAMPLES["sex"], SAMPLES[["group"]])
    pd.testing.assert_frame_equal(both.loc[train], direct)
    # a planted scanner offset is removed from held-out patients by estimates learned without them
    shifted = X.add(np.where(SAMPLES.loc[X.index, "sex"] == "M", 1.5, 0.0), axis=0)
    fixed = ComBat().fit(shifted.loc[train], SAMPLES["sex"], SAMPLES[["group"]]).transform(
        shifted.loc[held], SAMPLES["sex"], SAMPLES[["group"]])
    sex = SAMPLES.loc[held, "sex"]
    gap_before = (shifted.loc[held][sex == "M"].mean() - shifted.loc[held][sex == "F"].mean()).abs().mean()
    gap_after = (fixed[sex == "M"].mean() - fixed[sex == "F"].mean()).abs().mean()
    assert gap_before > 1.2 and gap_after < 0.4


def test_bad_inputs_are_refused_with_the_reason():
    X = _data().iloc[:, :20]
    with pytest.raises(InputError, match="no batch effect"):
        ComBat().fit(X, pd.Series("A", index=X.index))
    one = SAMPLES["sex"].copy()
    one.iloc[0] = "X"
    with pytest.raises(InputError, match="single training patient"):
        ComBat().fit(X, one)
    with pytest.raises(InputError, match="confounded"):
        ComBat().fit(X, SAMPLES["sex"], SAMPLES[["sex"]].rename(columns={"sex": "s"}))
    model = ComBat().fit(X, SAMPLES["sex"])
    other = SAMPLES["sex"].replace({"M": "Z"})
    with pytest.raises(InputError, match="not among the training patients' batches"):
        model.transform(X, other)
    gappy = X.copy()
    gappy.iloc[0, 0] = np.nan
    with pytest.raises(InputError, match="missing values"):
        ComBat().fit(gappy, SAMPLES["sex"])
