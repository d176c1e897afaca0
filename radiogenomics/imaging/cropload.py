"""Image loading for pyradiomics that resamples a crop around the ROI instead of the whole CT.

pyradiomics' ``loadImage`` B-spline-resamples the image onto a grid that only covers the
ROI's bounding box plus ``padDistance``, but ITK computes the B-spline coefficients of
the *whole* input first (three recursive passes over a 512 x 512 x n volume) and
pyradiomics' diagnostics hash the full volumes with ``sitk.Hash``.  That is most of a
full-image extraction.  :class:`CroppingLoader` gives pyradiomics the same resampled
image and mask from a crop:

* the resampling grid is computed by pyradiomics itself (``resampleImage``) from the
  *full* mask, so origin, size and spacing are exactly those of a full-image run;
* only the image is cropped: the crop covers the grid plus a margin in which the
  B-spline prefilter's influence decays (``|pole| ** margin * 4 * max|HU|`` below 1e-10);
  the mask is resampled (nearest neighbour, no prefilter) from the full mask;
* the resampled voxels are cast to the image's integer pixel type, as in pyradiomics.
  A crop value can differ from the full-image value by far less than 1e-7, so the cast
  can only differ when a value lies within that of a rounding boundary (an integer or a
  half-integer).  The loader checks for such voxels and then resamples the full image,
  so the result is the full-image result in every case, not just in the likely ones;
* the original-image diagnostics are computed with numpy (``hashlib.sha1`` of the voxel
  buffer is ``sitk.Hash``), with pyradiomics' keys and values.

Settings the crop cannot reproduce (normalisation over the whole image, floating-point
images, other interpolators, masks not on the image grid, no resampling) use
pyradiomics' own loader unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from contextlib import contextmanager
from typing import Any

import numpy as np
import SimpleITK as sitk

log = logging.getLogger(__name__)

#: largest pole magnitude of the B-spline prefilter of each order (0: no prefilter)
_POLES = {0: 0.0, 1: 0.0, 2: 3.0 - math.sqrt(8.0), 3: 2.0 - math.sqrt(3.0), 4: 0.361341225900220177,
          5: 0.430575347099973791}
#: bound on the crop's effect on a resampled value before the cast (HU)
COEFFICIENT_TOLERANCE = 1e-10
#: a resampled value this close to an integer or half-integer is a possible cast tie
TIE_DISTANCE = 1e-7
_INTEGER_TYPES = {sitk.sitkInt8, sitk.sitkUInt8, sitk.sitkInt16, sitk.sitkUInt16, sitk.sitkInt32,
                  sitk.sitkUInt32, sitk.sitkInt64, sitk.sitkUInt64}


def _interpolator_order(value: Any) -> int | None:
    """B-spline order of a pyradiomics ``interpolator`` setting (NN/linear: 0/1); None when unsupported."""
    if isinstance(value, str):
        value = getattr(sitk, value, None)
    orders = {sitk.sitkNearestNeighbor: 0, sitk.sitkLinear: 1, sitk.sitkBSpline: 3}
    for order in range(1, 6):
        name = f"sitkBSpline{order}"
        if hasattr(sitk, name):
            orders[getattr(sitk, name)] = order
    return orders.get(value)


def prefilter_margin(order: int, max_abs: float, tolerance: float = COEFFICIENT_TOLERANCE) -> int:
    """Input voxels beyond an interpolation point after which the crop border no longer matters.

    The B-spline prefilter is a recursive filter with pole ``z``: starting it at the crop
    border instead of the image border changes a coefficient ``d`` voxels further in by at
    most ``|z|**d`` times ``4 * max|value|``.  The margin makes that at most ``tolerance``.
    """
    pole = _POLES[order]
    base = order // 2 + 2  # half the spline's support, plus one for rounding of the grid
    if pole == 0.0 or max_abs == 0.0:
        return base
    return base + max(0, math.ceil(math.log(tolerance / (4.0 * max_abs)) / math.log(pole)))


def unsupported(image: Any, mask: Any, settings: dict) -> str | None:
    """Why the crop cannot reproduce pyradiomics' loader for these inputs (None: it can)."""
    if not isinstance(image, sitk.Image) or not isinstance(mask, sitk.Image):
        return "image or mask given as a path"
    if image.GetDimension() != 3 or mask.GetDimension() != 3 or mask.GetNumberOfComponentsPerPixel() != 1:
        return "not a 3-D scalar image and mask"
    if image.GetPixelID() not in _INTEGER_TYPES or mask.GetPixelID() not in _INTEGER_TYPES:
        return "floating-point image or mask"
    if settings.get("normalize") or settings.get("voxelBased"):
        return "normalisation or voxel-based extraction uses the whole image"
    if settings.get("interpolator") is None or settings.get("resampledPixelSpacing") is None:
        return "no resampling"
    if _interpolator_order(settings.get("interpolator")) is None:
        return f"interpolator {settings.get('interpolator')}"
    if (image.GetSize() != mask.GetSize() or image.GetSpacing() != mask.GetSpacing()
            or image.GetOrigin() != mask.GetOrigin() or image.GetDirection() != mask.GetDirection()):
        return "mask not on the image grid"
    spacing = np.asarray(settings["resampledPixelSpacing"], dtype=float)
    if spacing.shape != (3,):
        return "resampledPixelSpacing is not 3-D"
    spacing = np.where(spacing == 0, mask.GetSpacing(), spacing)
    if np.allclose(image.GetSpacing(), spacing):
        return "image already at the resampled spacing"
    return None


def _bounding_box(roi: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Lower and upper (inclusive) ``(z, y, x)`` indices of the True voxels; None when there are none."""
    lo, hi = [], []
    for axis in range(3):
        hit = np.flatnonzero(roi.any(axis=tuple(a for a in range(3) if a != axis)))
        if hit.size == 0:
            return None
        lo.append(hit[0])
        hi.append(hit[-1])
    return np.asarray(lo), np.asarray(hi)


def crop_region(image: sitk.Image, mask: sitk.Image, settings: dict) -> tuple[list[int], list[int]] | None:
    """``(index, size)`` in ``(x, y, z)`` of the crop that reproduces a full-image resampling.

    None when the label is absent (pyradiomics' own loader then raises its error).
    """
    label = settings.get("label", 1)
    labels = sitk.GetArrayViewFromImage(mask)
    box = _bounding_box(labels == label)
    if box is None:
        return None
    lo_zyx, hi_zyx = box
    values = sitk.GetArrayViewFromImage(image)
    max_abs = float(max(abs(int(values.min())), abs(int(values.max()))))
    order = _interpolator_order(settings.get("interpolator"))
    margin = prefilter_margin(order, max_abs)
    in_spacing = np.asarray(image.GetSpacing(), dtype=float)
    out_spacing = np.asarray(settings["resampledPixelSpacing"], dtype=float)
    out_spacing = np.where(out_spacing == 0, in_spacing, out_spacing)
    # the grid reaches padDistance output voxels beyond the ROI, plus rounding and half-voxel offsets
    grid_mm = (float(settings.get("padDistance", 5)) + 2.0) * np.maximum(out_spacing, in_spacing)
    reach = np.ceil(grid_mm / in_spacing).astype(int) + 2 + margin  # (x, y, z)
    size = np.asarray(image.GetSize())
    lo = np.maximum(lo_zyx[::-1] - reach, 0)
    hi = np.minimum(hi_zyx[::-1] + reach, size - 1)
    return [int(v) for v in lo], [int(v) for v in hi - lo + 1]


def _sha1(array: np.ndarray, dtype: str | None = None) -> str:
    """``sitk.Hash`` of an image with voxels ``array`` (SHA-1 of its buffer) without ITK's slow filter.

    ``dtype``: hash the voxels as this type (what ``sitk.Cast`` would make), slab by slab.
    """
    digest = hashlib.sha1()
    if dtype is None:
        digest.update(np.ascontiguousarray(array).data)
    else:
        for k in range(0, array.shape[0], 8):
            digest.update(np.ascontiguousarray(array[k:k + 8].astype(dtype)).data)
    return digest.hexdigest()


def original_diagnostics(info: Any, image: sitk.Image, mask: sitk.Image, label: int, index: list[int],
                         size: list[int]) -> None:
    """pyradiomics' ``Image-original_*`` and ``Mask-original_*`` diagnostics, from the crop where possible.

    Same keys and values as ``GeneralInfo.addImageElements(image)`` and
    ``GeneralInfo.addMaskElements(None, getMask(mask), label)``: the mask hash is that of
    the UInt32 mask pyradiomics makes; the bounding box, voxel count, connected volumes
    and centre of mass of the ROI are the crop's shifted by its index (the crop holds the
    whole ROI with a margin); the centre comes from exact integer sums, so it is the same
    float.
    """
    p = info.generalInfo_prefix
    values = sitk.GetArrayViewFromImage(image)
    info.generalInfo[p + "Image-original_Hash"] = _sha1(values)
    info.generalInfo[p + "Image-original_Dimensionality"] = "%iD" % image.GetDimension()
    info.generalInfo[p + "Image-original_Spacing"] = image.GetSpacing()
    info.generalInfo[p + "Image-original_Size"] = image.GetSize()
    info.generalInfo[p + "Image-original_Mean"] = np.mean(values, dtype=np.float64)
    info.generalInfo[p + "Image-original_Minimum"] = np.float64(values.min())
    info.generalInfo[p + "Image-original_Maximum"] = np.float64(values.max())

    info.generalInfo[p + "Mask-original_Hash"] = _sha1(sitk.GetArrayViewFromImage(mask), "<u4")
    info.generalInfo[p + "Mask-original_Spacing"] = mask.GetSpacing()
    info.generalInfo[p + "Mask-original_Size"] = mask.GetSize()
    crop = sitk.RegionOfInterest(mask, size, index) == label
    roi = sitk.GetArrayViewFromImage(crop).astype(bool)
    zyx = np.nonzero(roi)
    n = int(zyx[0].size)
    lo = [int(zyx[a].min()) + index[2 - a] for a in range(3)]
    hi = [int(zyx[a].max()) + index[2 - a] for a in range(3)]
    info.generalInfo[p + "Mask-original_BoundingBox"] = (lo[2], lo[1], lo[0], hi[2] - lo[2] + 1, hi[1] - lo[1] + 1,
                                                          hi[0] - lo[0] + 1)
    info.generalInfo[p + "Mask-original_VoxelNum"] = n
    components = sitk.ConnectedComponentImageFilter()
    components.FullyConnectedOn()
    components.Execute(crop)
    info.generalInfo[p + "Mask-original_VolumeNum"] = components.GetObjectCount()
    # mean of integer coordinates: an exact integer sum divided once, as numpy's mean does
    centre = tuple(np.float64((int(zyx[a].sum(dtype=np.int64)) + n * index[2 - a]) / n) for a in (2, 1, 0))
    info.generalInfo[p + "Mask-original_CenterOfMassIndex"] = centre
    info.generalInfo[p + "Mask-original_CenterOfMass"] = mask.TransformContinuousIndexToPhysicalPoint(centre)


def _resample(image: sitk.Image, grid: sitk.Image, interpolator: int, pixel_type: int) -> sitk.Image:
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(grid)
    resampler.SetOutputPixelType(pixel_type)
    resampler.SetInterpolator(interpolator)
    return resampler.Execute(image)


def _truncating_cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.trunc(np.clip(values, info.min, info.max)).astype(dtype)


_CAST_TRUNCATES: bool | None = None


def itk_cast_truncates() -> bool:
    """Whether ITK's resampler casts a real value to an integer voxel by truncation (checked once)."""
    global _CAST_TRUNCATES
    if _CAST_TRUNCATES is None:
        rng = np.random.default_rng(0)
        probe = sitk.GetImageFromArray(rng.integers(-2000, 2000, size=(6, 7, 8)).astype(np.int16))
        grid = sitk.Image([11, 9, 7], sitk.sitkInt16)
        grid.SetSpacing((0.63, 0.71, 0.77))
        grid.SetOrigin((0.3, 0.2, 0.1))
        real = sitk.GetArrayFromImage(_resample(probe, grid, sitk.sitkBSpline, sitk.sitkFloat64))
        cast = sitk.GetArrayFromImage(_resample(probe, grid, sitk.sitkBSpline, sitk.sitkInt16))
        _CAST_TRUNCATES = bool(np.array_equal(_truncating_cast(real, np.dtype(np.int16)), cast))
    return _CAST_TRUNCATES


def load_cropped(image: sitk.Image, mask: sitk.Image, info: Any = None, **settings: Any
                 ) -> tuple[sitk.Image, sitk.Image] | None:
    """pyradiomics' loaded image and mask (resampled, cropped) computed from a crop of the image.

    Returns None when pyradiomics' own loader must be used (see :func:`unsupported`).
    """
    from radiomics import imageoperations

    if unsupported(image, mask, settings):
        return None
    region = crop_region(image, mask, settings)
    if region is None:
        return None
    index, size = region
    label = settings.get("label", 1)
    if info is not None:
        original_diagnostics(info, image, mask, label, index, size)
    crop = sitk.RegionOfInterest(image, size, index)
    # pyradiomics' own grid from the full mask (exactly a full-image run's origin, size and
    # spacing) and its nearest-neighbour mask; the image is interpolated below
    grid, resampled_mask = imageoperations.resampleImage(crop, mask, **dict(settings, interpolator=sitk.sitkNearestNeighbor))
    resampled_mask = sitk.Cast(resampled_mask, sitk.sitkUInt32)  # pyradiomics' getMask type, cast after NN: same
    interpolator = settings.get("interpolator")
    if isinstance(interpolator, str):
        interpolator = getattr(sitk, interpolator)
    pixel_type = image.GetPixelID()
    if interpolator == sitk.sitkNearestNeighbor:
        resampled_image = grid
    else:
        real = _resample(crop, grid, interpolator, sitk.sitkFloat64)
        values = sitk.GetArrayViewFromImage(real)
        twice = 2.0 * values
        ties = int(np.count_nonzero(np.abs(twice - np.rint(twice)) <= 2.0 * TIE_DISTANCE))
        if ties:  # the crop cannot promise the full image's cast here
            log.debug("%d resampled voxels lie on a rounding boundary; resampling the full image", ties)
            resampled_image = _resample(image, grid, interpolator, pixel_type)
        elif itk_cast_truncates():
            resampled_image = sitk.GetImageFromArray(
                _truncating_cast(values, sitk.GetArrayViewFromImage(grid).dtype))
            resampled_image.CopyInformation(grid)
        else:  # pragma: no cover - an ITK that rounds: let it cast
            resampled_image = _resample(crop, grid, interpolator, pixel_type)
    if info is not None:
        info.addImageElements(resampled_image, "interpolated")
        info.addMaskElements(resampled_image, resampled_mask, label, "interpolated")
    return resampled_image, resampled_mask


_EDGES_LOCK = threading.Lock()
_EDGES_USERS = 0
_ORIGINAL_EDGES = None


def _edges_from_extremes(parameterValues, **kwargs):  # noqa: N803 - pyradiomics' signature
    """pyradiomics' ``getBinEdges`` given only the minimum and maximum of the values.

    pyradiomics takes them with Python's ``min``/``max`` (a Python loop over every ROI
    voxel, for every image type and feature class); both of its binnings (fixed width
    and ``numpy.histogram`` bin count) depend on the values only through these two, so
    the result is the same array.  NaN values (whose min/max depend on order) go to
    pyradiomics' own function.
    """
    values = np.asarray(parameterValues)
    if values.size == 0 or (values.dtype.kind == "f" and np.isnan(values).any()):
        return _ORIGINAL_EDGES(parameterValues, **kwargs)
    return _ORIGINAL_EDGES(np.array([values.min(), values.max()], dtype=values.dtype), **kwargs)


@contextmanager
def _fast_bin_edges():
    """Use :func:`_edges_from_extremes` inside the block (reference counted across threads)."""
    global _EDGES_USERS, _ORIGINAL_EDGES
    from radiomics import imageoperations

    with _EDGES_LOCK:
        if _EDGES_USERS == 0:
            _ORIGINAL_EDGES = imageoperations.getBinEdges
            imageoperations.getBinEdges = _edges_from_extremes
        _EDGES_USERS += 1
    try:
        yield
    finally:
        with _EDGES_LOCK:
            _EDGES_USERS -= 1
            if _EDGES_USERS == 0:
                imageoperations.getBinEdges = _ORIGINAL_EDGES


def cropping_extractor_class():
    """A ``RadiomicsFeatureExtractor`` that loads images with :func:`load_cropped` when it can.

    Its ``execute`` also bins with :func:`_edges_from_extremes` and runs with one BLAS
    thread (the GLCM's MCC takes eigenvalues of many small matrices, where BLAS threads
    only contend; on a loaded 2-core machine they made it ten times slower).
    """
    from radiomics import featureextractor

    from .._threads import one_blas_thread

    class CroppingExtractor(featureextractor.RadiomicsFeatureExtractor):
        """pyradiomics' extractor; images are resampled from a crop around the ROI (same values)."""

        def execute(self, *args, **kwargs):
            with one_blas_thread(), _fast_bin_edges():
                return super().execute(*args, **kwargs)

        def loadImage(self, ImageFilePath, MaskFilePath, generalInfo=None, **kwargs):  # noqa: N802, N803
            loaded = load_cropped(ImageFilePath, MaskFilePath, generalInfo, **kwargs)
            if loaded is None:
                return featureextractor.RadiomicsFeatureExtractor.loadImage(ImageFilePath, MaskFilePath,
                                                                            generalInfo, **kwargs)
            return loaded

    return CroppingExtractor
