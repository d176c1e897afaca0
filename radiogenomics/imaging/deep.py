"""2.5D deep features: the largest tumour slice and its neighbours through a ResNet (optional extra).

Seeds 002/004: patches around the tumour on the axial slice with the largest
cross-section and its neighbours (default 160 x 160 mm, resampled to 160 x 160
pixels) pass through an ImageNet-pretrained CNN; the penultimate-layer
embeddings of the slices are pooled per patient (attention-free multi-instance
pooling: mean, max or both) and stored as features with ROI ``deep``.

The network is a ResNet-18 written here in plain torch with torchvision's
parameter names, so a torchvision ``resnet18`` ImageNet ``state_dict`` file
loads as is.  Weights are never downloaded: pass a local file (``weights=`` or
``RG_DEEP_WEIGHTS``).  torch is optional: ``pip install 'radiogenomics[deep]'``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..exceptions import ImagingError, InputError, OptionalDependencyError
from ..result import StageResult, stage_entry

log = logging.getLogger(__name__)

__all__ = ["DeepParams", "DeepComputation", "build_resnet", "load_torch", "load_weights", "extract_patches",
           "embed_patches", "pool_embeddings", "deep_features", "compute_deep_features", "write_deep_features",
           "run_deep_features", "INSTALL_HINT"]

INSTALL_HINT = ("deep features need PyTorch: pip install 'radiogenomics[deep]' "
                "(CPU-only: pip install torch --index-url https://download.pytorch.org/whl/cpu)")
#: ImageNet normalisation of torchvision's pretrained models
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_torch():
    """Import torch or raise :class:`OptionalDependencyError` with the install command."""
    try:
        import torch
    except ImportError as exc:
        raise OptionalDependencyError(INSTALL_HINT) from exc
    return torch


@dataclass(frozen=True)
class DeepParams:
    """Settings of the 2.5D deep features (hashed into ``params_hash``)."""

    arch: str = "resnet18"
    neighbours: int = 2            # slices on each side of the largest one
    crop_mm: float = 160.0         # physical side of the square patch
    pixels: int = 160              # patch side after resampling
    window: tuple[float, float] = (-1000.0, 400.0)  # HU window mapped to [0, 1]
    pooling: str = "mean"          # mean | max | meanmax
    weights_sha256: str = "random"

    def __post_init__(self) -> None:
        # checked here so a bad option fails at once, not once per patient
        if self.arch not in ("resnet18", "resnet34"):
            raise InputError(f"unknown architecture {self.arch!r}; choose resnet18 or resnet34")
        if int(self.neighbours) != self.neighbours or self.neighbours < 0:
            raise InputError(f"--neighbours must be a whole number >= 0, got {self.neighbours}")
        if not self.crop_mm > 0:
            raise InputError(f"--crop-mm must be > 0 mm, got {self.crop_mm}")
        if int(self.pixels) != self.pixels or self.pixels < 1:
            raise InputError(f"--pixels must be a whole number >= 1, got {self.pixels}")
        if self.pooling not in ("mean", "max", "meanmax"):
            raise InputError(f"unknown pooling {self.pooling!r}; choose mean, max or meanmax")
        if len(self.window) != 2 or not self.window[0] < self.window[1]:
            raise InputError(f"the HU window must be (low, high) with low < high, got {self.window}")

    def hash(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return "deep-" + hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- network
def build_resnet(arch: str = "resnet18", widths: Sequence[int] | None = None, seed: int | None = 0):
    """A torchvision-compatible ResNet (BasicBlock) without its classification head.

    Parameters
    ----------
    arch
        ``resnet18`` (2-2-2-2 blocks) or ``resnet34`` (3-4-6-3).
    widths
        Channels of the stem and four stages; default ``(64, 64, 128, 256, 512)``
        (torchvision's).  Small widths give a tiny network for tests.
    seed
        Seed of the random initialisation (before any weights are loaded).

    Returns
    -------
    torch.nn.Module
        ``forward(x: (N, 3, H, W)) -> (N, widths[-1])`` embeddings (global average pool).
    """
    torch = load_torch()
    nn = torch.nn
    layers = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}.get(arch)
    if layers is None:
        raise InputError(f"unknown architecture {arch!r}; choose resnet18 or resnet34")
    w = tuple(widths) if widths is not None else (64, 64, 128, 256, 512)
    if len(w) != 5:
        raise InputError("widths needs 5 values (stem + 4 stages)")

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, w[0], 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(w[0])
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = w[0]
            for i, (n_blocks, cout) in enumerate(zip(layers, w[1:])):
                stride = 1 if i == 0 else 2
                blocks = [BasicBlock(cin, cout, stride)] + [BasicBlock(cout, cout, 1) for _ in range(n_blocks - 1)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                cin = cout
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.out_features = cin

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return torch.flatten(self.avgpool(x), 1)

    if seed is not None:
        torch.manual_seed(seed)
    net = ResNet()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net.eval()


def load_weights(net, path: str | os.PathLike[str]) -> str:
    """Load a local ``state_dict`` file (torchvision names; the ``fc`` head is ignored).

    Returns the file's sha256.  Raises :class:`InputError` when the file is missing or
    does not fit the network.
    """
    torch = load_torch()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"deep-feature weights {p} not found; pass a local state_dict file with --weights "
                         "or RG_DEEP_WEIGHTS (weights are never downloaded)")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
        raise InputError(f"cannot read weights {p}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch: another architecture or width
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise InputError(f"weights {p} do not fit the network ({first}); expected a torchvision "
                         "resnet state_dict matching --arch") from exc
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise InputError(f"weights {p} do not fit the network: missing {missing[:3]}, unexpected "
                         f"{list(unexpected)[:3]} (expected a torchvision resnet state_dict)")
    from ..store import sha256_file

    return sha256_file(p)


# ---------------------------------------------------------------- patches
def extract_patches(image: np.ndarray, mask: np.ndarray, spacing: Sequence[float], params: DeepParams = DeepParams()
                    ) -> np.ndarray:
    """2D patches around the tumour: the largest axial slice and ``params.neighbours`` on each side.

    Parameters
    ----------
    image, mask
        Arrays ``(z, y, x)`` in HU and boolean.
    spacing
        Voxel spacing ``(sx, sy, sz)`` in mm (SimpleITK order).
    params
        Crop size (mm), output pixels and HU window.

    Returns
    -------
    ndarray, shape (n_slices, pixels, pixels)
        Windowed intensities in [0, 1], centred on the tumour centroid of the largest
        slice; outside the image is air (0).
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask).astype(bool)
    if image.shape != mask.shape or image.ndim != 3:
        raise ImagingError(f"image {image.shape} and mask {mask.shape} must be 3-D arrays of the same shape")
    areas = mask.sum(axis=(1, 2))
    if areas.max() == 0:
        raise ImagingError("the mask is empty")
    z0 = int(np.argmax(areas))
    cy, cx = ndimage.center_of_mass(mask[z0])
    sx, sy = float(spacing[0]), float(spacing[1])
    lo, hi = params.window
    # sample a pixels x pixels grid spanning crop_mm around the centroid (linear interpolation)
    offs = (np.arange(params.pixels) + 0.5) * (params.crop_mm / params.pixels) - params.crop_mm / 2.0
    rows = cy + offs / sy
    cols = cx + offs / sx
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    patches = []
    for z in range(z0 - params.neighbours, z0 + params.neighbours + 1):
        zc = min(max(z, 0), image.shape[0] - 1)  # repeat the edge slice near the volume's ends
        sl = np.clip((image[zc] - lo) / (hi - lo), 0.0, 1.0)
        patches.append(ndimage.map_coordinates(sl, [rr, cc], order=1, mode="constant", cval=0.0))
    return np.stack(patches).astype(np.float32)


def embed_patches(net, patches: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Embeddings ``(n_slices, d)`` of grey patches (replicated to 3 channels, ImageNet-normalised)."""
    torch = load_torch()
    x = torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))[:, None].repeat(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (x - mean) / std
    out = []
    net.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(net(x[i:i + batch_size]).cpu().numpy())
    return np.concatenate(out).astype(float)


def pool_embeddings(emb: np.ndarray, pooling: str = "mean") -> tuple[np.ndarray, list[str]]:
    """Attention-free multi-instance pooling of slice embeddings into one patient vector."""
    d = emb.shape[1]
    if pooling == "mean":
        return emb.mean(axis=0), [f"deep_mean_{i:04d}" for i in range(d)]
    if pooling == "max":
        return emb.max(axis=0), [f"deep_max_{i:04d}" for i in range(d)]
    if pooling == "meanmax":
        return (np.concatenate([emb.mean(axis=0), emb.max(axis=0)]),
                [f"deep_mean_{i:04d}" for i in range(d)] + [f"deep_max_{i:04d}" for i in range(d)])
    raise InputError(f"unknown pooling {pooling!r}; choose mean, max or meanmax")


def deep_features(net, image: np.ndarray, mask: np.ndarray, spacing: Sequence[float],
                  params: DeepParams = DeepParams()) -> pd.Series:
    """Pooled deep features of one patient (index = feature names)."""
    emb = embed_patches(net, extract_patches(image, mask, spacing, params))
    values, names = pool_embeddings(emb, params.pooling)
    return pd.Series(values, index=names)


def _read_volume(path: str) -> tuple[np.ndarray, tuple[float, ...]]:
    import SimpleITK as sitk

    p = Path(path)
    if p.is_dir():
        reader = sitk.ImageSeriesReader()
        files = reader.GetGDCMSeriesFileNames(str(p))
        if not files:
            raise ImagingError(f"no DICOM series in {p}")
        reader.SetFileNames(files)
        img = reader.Execute()
    else:
        if not p.exists():
            raise ImagingError(f"file {p} not found")
        img = sitk.ReadImage(str(p))
    return sitk.GetArrayFromImage(img), tuple(img.GetSpacing())


@dataclass
class DeepComputation:
    """Deep features computed for the patients of one ROI, ready to be written."""

    params: DeepParams
    roi: str
    features: pd.DataFrame          # long: patient_id, roi='deep', feature, params_hash, value, image/mask sha1
    failed: list[tuple[str, str]]   # (patient_id, reason)
    weights_path: str = ""

    @property
    def params_hash(self) -> str:
        return self.params.hash()


_NET_CACHE: dict[tuple, Any] = {}


def _worker_net(arch: str, widths: tuple[int, ...] | None, seed: int, weights: str | None):
    """The network of a worker process, built once per process and reused for its patients."""
    key = (arch, widths, seed, weights)
    if key not in _NET_CACHE:
        torch = load_torch()
        torch.set_num_threads(1)  # one process per core: no oversubscription
        net = build_resnet(arch, widths=widths, seed=seed)
        if weights:
            load_weights(net, weights)
        _NET_CACHE[key] = net
    return _NET_CACHE[key]


def _patient_deep_features(net, image_path: str, mask_path: str, params: DeepParams) -> pd.Series:
    """Read one patient's ROI, embed its slices and pool them."""
    image, spacing = _read_volume(image_path)
    mask, _ = _read_volume(mask_path)
    return deep_features(net, image, mask > 0, spacing, params)


def _deep_worker(task: dict[str, Any]) -> pd.Series:
    """Per-patient task for an executor (never touches the store)."""
    net = _worker_net(task["arch"], task["widths"], task["seed"], task["weights"])
    return _patient_deep_features(net, task["image_path"], task["mask_path"], task["params"])


def compute_deep_features(store, weights: str | os.PathLike[str] | None = None, roi: str = "tumor",
                          params: DeepParams | None = None, random_init: bool = False, seed: int = 0,
                          net=None, progress: Callable[[int, int], None] | None = None,
                          workers: int = 1, executor: str = "local",
                          widths: Sequence[int] | None = None) -> DeepComputation:
    """Compute 2.5D deep features for every patient with an ``ok`` ROI (reads the store only).

    Parameters
    ----------
    store
        Open :class:`~radiogenomics.store.Store` (read-only is enough).
    weights
        Local ``state_dict`` file of an ImageNet-pretrained torchvision ResNet (default:
        env ``RG_DEEP_WEIGHTS``).
    roi
        ROI whose mask locates the tumour (``rois`` view, status ``ok``; reader
        ``default`` preferred).
    params
        :class:`DeepParams`; ``weights_sha256`` is filled in here.
    random_init
        Allow a randomly initialised network when no weights are given (tests only:
        the features are then meaningless).
    net
        A ready network (overrides ``weights``/``random_init``; used by tests; in-process only).
    progress
        Called with (done, total) after each patient.
    workers, executor
        ``executor="local"`` with ``workers=1`` runs in this process; otherwise each patient
        is a task of :func:`radiogenomics.executor.get_executor` (process pool or Dask),
        every worker building the same network once (same weights file or seed).
    widths
        Channel widths of the ResNet (default: torchvision's); small ones for tests.
    """
    params = params or DeepParams()
    load_torch()
    weights = weights or os.environ.get("RG_DEEP_WEIGHTS")
    distributed = (executor or "local") != "local" or int(workers) > 1
    if distributed and net is not None:
        raise InputError("a ready network object cannot be shipped to worker processes; pass weights "
                         "(or random_init) instead of net, or use executor='local' with workers=1")
    if net is None:
        net = build_resnet(params.arch, widths=widths, seed=seed)
        if weights:
            sha = load_weights(net, weights)
        elif random_init:
            log.warning("randomly initialised network: the deep features carry no ImageNet knowledge (testing only)")
            sha = f"random-seed{seed}"
        else:
            raise InputError("no CNN weights: pass --weights FILE (a torchvision resnet18 ImageNet state_dict) "
                             "or set RG_DEEP_WEIGHTS; weights are never downloaded")
    else:
        sha = params.weights_sha256 if params.weights_sha256 != "random" else "custom-net"
        weights = None
    params = DeepParams(**{**asdict(params), "weights_sha256": sha})
    phash = params.hash()
    from ..store.tables import usable_rois

    rois = usable_rois(store, [roi], readers=None)[["patient_id", "image_path", "mask_path", "image_sha1",
                                                    "mask_sha1"]]
    if rois.empty:
        raise InputError(f"no patient has an ROI named {roi!r} with status ok; run rg rois / rg import images first")
    rows, failed = [], []
    rois = rois.drop_duplicates("patient_id")
    by_patient = {r.patient_id: r for r in rois.itertuples(index=False)}

    def keep(patient_id: str, feats: pd.Series) -> None:
        r = by_patient[patient_id]
        rows.append(pd.DataFrame({"patient_id": patient_id, "roi": "deep", "feature": feats.index,
                                  "params_hash": phash, "value": feats.to_numpy(dtype=float),
                                  "image_sha1": r.image_sha1, "mask_sha1": r.mask_sha1}))

    if distributed:
        from ..executor import get_executor

        tasks = [dict(arch=params.arch, widths=tuple(widths) if widths else None, seed=seed,
                      weights=str(weights) if weights else None, params=params,
                      image_path=r.image_path, mask_path=r.mask_path) for r in by_patient.values()]
        with get_executor(executor, max(1, int(workers))) as pool:
            for i, result in enumerate(pool.map_unordered(_deep_worker, tasks, keys=list(by_patient))):
                if result.ok:
                    keep(result.key, result.value)
                else:
                    failed.append((result.key, f"{type(result.error).__name__}: {result.error}"))
                if progress:
                    progress(i + 1, len(by_patient))
    else:
        for i, r in enumerate(by_patient.values()):
            try:
                feats = _patient_deep_features(net, r.image_path, r.mask_path, params)
            except (ImagingError, RuntimeError, OSError, ValueError) as exc:
                failed.append((r.patient_id, f"{type(exc).__name__}: {exc}"))
            else:
                keep(r.patient_id, feats)
            if progress:
                progress(i + 1, len(by_patient))
    # tasks finish in any order: store rows in patient order whichever executor ran
    rows.sort(key=lambda frame: frame["patient_id"].iloc[0])
    failed.sort()
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return DeepComputation(params=params, roi=roi, features=frame, failed=failed, weights_path=str(weights or ""))


def write_deep_features(store, comp: DeepComputation) -> dict[str, Any]:
    """Store computed deep features (one run; per-patient failures recorded)."""
    phash = comp.params_hash
    with store.run("deep-features", {**asdict(comp.params), "roi": comp.roi}) as run:
        for pid, reason in comp.failed:
            run.record_failure("deep-features", pid, reason, item=comp.roi)
        n = 0
        with store.transaction():
            store.upsert("feature_params", pd.DataFrame([{"params_hash": phash,
                                                          "params_yaml": json.dumps(asdict(comp.params), sort_keys=True),
                                                          "source_path": comp.weights_path}]), run_id=run.run_id)
            if not comp.features.empty:
                n = store.upsert("features", comp.features, run_id=run.run_id)
        run_id = run.run_id
    patients = int(comp.features["patient_id"].nunique()) if not comp.features.empty else 0
    return {"run_id": run_id, "params_hash": phash, "patients": patients, "failed": len(comp.failed), "features": n}


@stage_entry
def run_deep_features(store, *, weights: str | os.PathLike[str] | None = None, roi: str = "tumor",
                      params: DeepParams | None = None, arch: str = "resnet18", neighbours: int = 2,
                      crop_mm: float = 160.0, pixels: int = 160, pooling: str = "mean",
                      random_init: bool = False, seed: int = 0,
                      net=None, progress: Callable[[int, int], None] | None = None,
                      workers: int = 1, executor: str = "local",
                      widths: Sequence[int] | None = None) -> StageResult:
    """``rg deep-features``: :func:`compute_deep_features` then :func:`write_deep_features`.

    ``store`` is an open read-write store or a store path (opened read-only to compute,
    read-write only to write).  ``params`` (a :class:`DeepParams`) or the options ``arch,
    neighbours, crop_mm, pixels, pooling`` it is built from (``params`` wins).  Without torch
    installed it raises at once, naming the extra to install.  The result's ``summary`` is the
    writer's dict ``run_id, params_hash, patients, failed, features``.
    """
    from ..store.session import StoreSession, reading

    if net is None:
        load_torch()  # explains how to install torch before anything else
    if params is None:
        params = DeepParams(arch=arch, neighbours=neighbours, crop_mm=crop_mm, pixels=pixels, pooling=pooling)

    with reading(store) as st:
        comp = compute_deep_features(st, weights, roi, params, random_init, seed, net, progress,
                                     workers=workers, executor=executor, widths=widths)
    with StoreSession(store).open() as st:
        out = write_deep_features(st, comp)
    return StageResult("deep-features", run_ids=[out["run_id"]],
                       counts={"patients": out["patients"], "failed": out["failed"], "features": out["features"]},
                       summary=out)
