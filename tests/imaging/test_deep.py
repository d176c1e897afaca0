"""2.5D deep features with a small randomly initialised ResNet (skipped without torch)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from radiogenomics.cli import main
from radiogenomics.exceptions import InputError, OptionalDependencyError
from radiogenomics.imaging import deep
from radiogenomics.store import Store

TINY = (4, 4, 8, 8, 8)


def test_without_torch_the_command_explains_how_to_install(monkeypatch, capsys, store_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(OptionalDependencyError, match=r"pip install 'radiogenomics\[deep\]'"):
        deep.load_torch()
    code = main(["--store", str(store_path), "deep-features", "--random-init"])
    assert code == OptionalDependencyError.exit_code
    assert "radiogenomics[deep]" in capsys.readouterr().err


def _phantom(spacing=(1.0, 1.0, 2.0), shape=(20, 80, 80), centre=(10, 40, 30), radius_mm=12.0):
    z, y, x = np.indices(shape).astype(float)
    sx, sy, sz = spacing
    d = np.sqrt(((z - centre[0]) * sz) ** 2 + ((y - centre[1]) * sy) ** 2 + ((x - centre[2]) * sx) ** 2)
    mask = d <= radius_mm
    image = np.full(shape, -800.0)
    image[mask] = 40.0
    return image, mask


def test_patches_are_centred_on_the_largest_slice_and_mm_aware():
    pytest.importorskip("torch")
    params = deep.DeepParams(neighbours=1, crop_mm=40.0, pixels=20)
    image, mask = _phantom()
    patches = deep.extract_patches(image, mask, (1.0, 1.0, 2.0), params)
    assert patches.shape == (3, 20, 20) and patches.dtype == np.float32
    lo, hi = params.window
    tumour = (40.0 - lo) / (hi - lo)
    assert patches[1, 10, 10] == pytest.approx(tumour, abs=1e-6)      # centroid is tumour
    assert patches[1, 0, 0] == pytest.approx((-800.0 - lo) / (hi - lo), abs=1e-6)
    # the same physical phantom at half the pixel spacing gives (nearly) the same patch
    fine, fmask = _phantom(spacing=(0.5, 0.5, 2.0), shape=(20, 160, 160), centre=(10, 80, 60))
    fpatch = deep.extract_patches(fine, fmask, (0.5, 0.5, 2.0), params)
    assert np.mean(np.abs(fpatch[1] - patches[1])) < 0.05
    with pytest.raises(Exception, match="empty"):
        deep.extract_patches(image, np.zeros_like(mask), (1, 1, 2), params)


def test_resnet_embeddings_pooling_and_weight_loading(tmp_path):
    torch = pytest.importorskip("torch")
    net = deep.build_resnet(widths=TINY, seed=1)
    image, mask = _phantom()
    params = deep.DeepParams(neighbours=2, crop_mm=60.0, pixels=32, pooling="meanmax")
    feats = deep.deep_features(net, image, mask, (1.0, 1.0, 2.0), params)
    assert len(feats) == 16 and feats.index[0] == "deep_mean_0000" and feats.index[-1] == "deep_max_0007"
    assert np.isfinite(feats).all()
    emb = deep.embed_patches(net, deep.extract_patches(image, mask, (1.0, 1.0, 2.0), params))
    np.testing.assert_allclose(feats.iloc[:8], emb.mean(axis=0))
    # a torchvision-style state_dict (with a classification head) loads into a fresh network
    state = dict(net.state_dict())
    state["fc.weight"] = torch.zeros(10, 8)
    state["fc.bias"] = torch.zeros(10)
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    other = deep.build_resnet(widths=TINY, seed=99)
    sha = deep.load_weights(other, path)
    assert len(sha) == 64
    np.testing.assert_allclose(deep.deep_features(other, image, mask, (1.0, 1.0, 2.0), params), feats, rtol=1e-5)
    with pytest.raises(InputError, match="do not fit"):
        deep.load_weights(deep.build_resnet(widths=(4, 4, 8, 8, 16)), path)
    with pytest.raises(InputError, match="never downloaded"):
        deep.load_weights(other, tmp_path / "missing.pth")


def _phantom_rois(tmp_path, n=3) -> list[dict]:
    """`rois` rows of n phantom patients written as NRRD image + mask pairs."""
    import SimpleITK as sitk

    rows = []
    for i in range(n):
        image, mask = _phantom(centre=(10, 40, 30 + 5 * i))
        img = sitk.GetImageFromArray(image.astype(np.int16))
        img.SetSpacing((1.0, 1.0, 2.0))
        msk = sitk.GetImageFromArray(mask.astype(np.uint8))
        msk.CopyInformation(img)
        ip, mp = tmp_path / f"P{i}_ct.nrrd", tmp_path / f"P{i}_mask.nrrd"
        sitk.WriteImage(img, str(ip))
        sitk.WriteImage(msk, str(mp))
        rows.append(dict(patient_id=f"P{i}", roi="tumor", image_path=str(ip), mask_path=str(mp),
                         image_sha1=f"i{i}", mask_sha1=f"m{i}", status="ok", reader="default"))
    return rows


def test_run_deep_features_stores_roi_deep(store_path, tmp_path):
    pytest.importorskip("torch")
    rows = _phantom_rois(tmp_path)
    rows.append(dict(patient_id="P9", roi="tumor", image_path=str(tmp_path / "gone.nrrd"),
                     mask_path=str(tmp_path / "gone_mask.nrrd"), status="ok", reader="default"))
    net = deep.build_resnet(widths=TINY, seed=0)
    params = deep.DeepParams(neighbours=1, crop_mm=60.0, pixels=32)
    with Store.open(store_path) as store:
        store.upsert("rois", pd.DataFrame(rows), run_id="test")
        out = deep.run_deep_features(store, params=params, net=net).summary
        feats = store.query("SELECT * FROM features WHERE roi = 'deep'")
        failures = store.query("SELECT * FROM failures")
        run = store.query("SELECT status FROM runs WHERE command = 'deep-features'")
    assert out["patients"] == 3 and out["failed"] == 1
    assert len(feats) == 3 * 8 and set(feats["params_hash"]) == {out["params_hash"]}
    assert feats["run_id"].notna().all() and set(feats["image_sha1"]) == {"i0", "i1", "i2"}
    assert failures["patient_id"].tolist() == ["P9"] and run["status"].tolist() == ["partial"]
    with Store.open(store_path) as store, pytest.raises(InputError, match="no CNN weights"):
        deep.run_deep_features(store, params=params)


def test_help_names_the_extra_and_the_weights_variable(capsys):
    """rich markup must not swallow the `[deep]` of the install hint."""
    assert main(["deep-features", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "pip install 'radiogenomics[deep]'" in out
    assert "$RG_DEEP_WEIGHTS" in out


@pytest.mark.parametrize("kwargs, match", [
    (dict(neighbours=-1), "--neighbours"), (dict(crop_mm=0.0), "--crop-mm"), (dict(pixels=0), "--pixels"),
    (dict(pooling="median"), "unknown pooling"), (dict(arch="vgg"), "unknown architecture"),
    (dict(window=(400.0, -1000.0)), "HU window")])
def test_bad_deep_params_fail_at_once(kwargs, match):
    with pytest.raises(InputError, match=match):
        deep.DeepParams(**kwargs)


def test_cli_bad_option_is_one_clear_line(store_path, capsys):
    pytest.importorskip("torch")
    code = main(["--store", str(store_path), "deep-features", "--random-init", "--pixels", "0"])
    err = capsys.readouterr().err
    assert code == InputError.exit_code and "--pixels must be" in err and "internal error" not in err


def test_process_pool_executor_gives_the_same_deep_features(store_path, tmp_path):
    """Each worker builds the same seeded network once; rows equal the in-process run's."""
    pytest.importorskip("torch")
    rows = _phantom_rois(tmp_path)
    params = deep.DeepParams(neighbours=1, crop_mm=60.0, pixels=32)
    with Store.open(store_path) as store:
        store.upsert("rois", pd.DataFrame(rows), run_id="test")
        here = deep.compute_deep_features(store, params=params, random_init=True, seed=3, widths=TINY)
        pooled = deep.compute_deep_features(store, params=params, random_init=True, seed=3, widths=TINY,
                                            workers=2, executor="local:2")
        with pytest.raises(InputError, match="cannot be shipped"):
            deep.compute_deep_features(store, params=params, net=deep.build_resnet(widths=TINY), executor="local:2")
    assert here.failed == pooled.failed == []
    pd.testing.assert_frame_equal(here.features, pooled.features, rtol=1e-6)


def test_cli_error_before_any_patient_is_one_line(tmp_path, capsys):
    """No progress bar before the first patient: a missing torch (or an empty store) prints alone."""
    code = main(["--store", str(tmp_path / "rg.duckdb"), "deep-features", "--random-init"])
    err = capsys.readouterr().err
    assert code not in (0, 70) and "internal error" not in err, err
    assert len(err.strip().splitlines()) == 1, err
