"""Fixtures of the imaging tests (helpers live in ``_helpers``)."""

from __future__ import annotations

import pytest

from ._helpers import ALL_CLASSES, lung2_expected


@pytest.fixture(scope="session")
def lung2_params() -> dict:
    """pyradiomics parameters of the lung2 baseline: its settings, Original image, all classes."""
    settings, _ = lung2_expected()
    return {"imageType": {"Original": {}}, "featureClass": dict(ALL_CLASSES), "setting": settings}
