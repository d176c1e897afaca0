"""Real CT: pyradiomics' lung2 case (committed crop) against pyradiomics' published expected values."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml

from radiogenomics.catalog import catalog_file
from radiogenomics.imaging import extract_features, load_params

from ._helpers import LUNG2_IMAGE, LUNG2_MASK, lung2_expected


@pytest.fixture(scope="module")
def lung2_features(lung2_params):
    return extract_features(LUNG2_IMAGE, LUNG2_MASK, lung2_params)


def test_original_features_equal_pyradiomics_baseline(lung2_features):
    _, expected = lung2_expected()
    assert len(expected) == 107  # 14 shape + 18 + 24 + 16 + 16 + 5 + 14
    assert sorted(lung2_features.index) == sorted(expected)
    got = lung2_features[list(expected)].to_numpy()
    want = np.array(list(expected.values()))
    bad = [(k, w, g) for k, w, g in zip(expected, want, got) if not np.isclose(g, w, rtol=1e-4, atol=0)]
    assert not bad, bad[:5]


def test_shipped_lung2_params_file_matches_baseline_settings(lung2_features):
    settings, _ = lung2_expected()
    shipped = yaml.safe_load(catalog_file("pyradiomics", "lung2_baseline.yaml").read_text())
    assert shipped["setting"] == settings
    via_file = extract_features(LUNG2_IMAGE, LUNG2_MASK, catalog_file("pyradiomics", "lung2_baseline.yaml"))
    np.testing.assert_allclose(via_file[lung2_features.index], lung2_features, rtol=0, atol=0)


def test_default_params_give_851_features():
    params = load_params(None)
    assert set(params.params["imageType"]) == {"Original", "Wavelet"}
    assert params.params["setting"]["binWidth"] == 25
    assert params.params["setting"]["resampledPixelSpacing"] == [1, 1, 1]


@pytest.mark.slow
def test_default_851_features_on_lung2():
    features = extract_features(LUNG2_IMAGE, LUNG2_MASK)  # settings=None: the default parameter file
    assert len(features) == 851
    families = features.index.str.extract(r"^(original|wavelet-[LH]{3})_(\w+?)_")
    counts = families.groupby(0).size()
    assert counts["original"] == 107
    assert len(counts) == 9 and (counts.drop("original") == 93).all()
    assert np.isfinite(features).all()


def test_expected_values_copied_from_shared_baseline(shared_dir):
    """The committed expected values are exactly pyradiomics' column lung2 (when ../shared is present)."""
    _, committed = lung2_expected()
    seen = {}
    for path in sorted((shared_dir / "data" / "ct" / "pyradiomics_baseline").glob("baseline_*.csv")):
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        if "lung2" in rows[0]:
            col = rows[0].index("lung2")
            seen.update({r[0]: float(r[col]) for r in rows[1:] if r[0].startswith("original_")})
    assert seen == committed
