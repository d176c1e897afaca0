"""`rg import images`, `rg features`, `rg stability`, `rg rois` end to end through the CLI."""

from __future__ import annotations

import yaml

from radiogenomics.cli import main
from radiogenomics.store import Store

from ._helpers import FAST_PARAMS, write_case


def test_cli_import_features_stability(tmp_path, store_path, capsys):
    params = tmp_path / "fast.yaml"
    params.write_text(yaml.safe_dump(FAST_PARAMS))
    base = ["--store", str(store_path), "--data-dir", str(tmp_path / "data")]
    for seed in range(3):
        image, mask = write_case(tmp_path / f"P{seed}", seed)
        assert main([*base, "import", "images", "--patient", f"P{seed}", "--image", str(image),
                     "--mask", str(mask)]) == 0
    assert "imported P2 ROI tumor" in capsys.readouterr().out

    assert main([*base, "-q", "rois", "--ring-mm", "2"]) == 0
    assert "3 ROIs ok" in capsys.readouterr().out

    assert main([*base, "-q", "features", "--params", str(params), "--roi", "tumor", "-j", "1"]) == 0
    assert "3 ROIs computed, 0 cached" in capsys.readouterr().out
    assert main([*base, "-q", "features", "--params", str(params), "--roi", "tumor", "-j", "1"]) == 0
    assert "0 ROIs computed, 3 cached" in capsys.readouterr().out

    assert main([*base, "-q", "stability", "--params", str(params), "--perturbations", "erode,dilate",
                 "-j", "1"]) == 0
    assert "of 7 features with ICC(3,1) > 0.9 over 3 patients x 3 raters" in capsys.readouterr().out
    with Store.open(store_path, read_only=True) as store:
        assert store.query("SELECT count(DISTINCT roi) AS n FROM rois").n.iloc[0] == 2
        assert store.query("SELECT count(*) AS n FROM feature_stability").n.iloc[0] == 7


def test_cli_errors_are_one_line(tmp_path, store_path, capsys):
    base = ["--store", str(store_path)]
    image, mask = write_case(tmp_path, 0)
    assert main([*base, "import", "images", "--patient", "P", "--image", str(image),
                 "--mask", str(tmp_path / "missing.nrrd")]) == 6
    err = capsys.readouterr().err
    assert err.startswith("error: mask file") and err.count("\n") == 1
    assert main([*base, "features"]) == 6
    assert "run `rg rois`" in capsys.readouterr().err
    assert main([*base, "stability", "--perturbations", "spin"]) == 2
    assert "unknown mask perturbation" in capsys.readouterr().err
