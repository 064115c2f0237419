"""User arrays: their checks, scaling to float, channel means, and batch gathering.

Every entry point that takes user arrays (``fit``, ``TrainedDANN.predict``)
checks them here, so bad input gets one clear ``ValueError`` that says what is
wrong and how to fix it before any compilation starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# How far float images may stray outside [0, 1] (rounding of the user's own scaling).
FLOAT_IMAGE_SLACK = 1e-3
# The alignment at which XLA's CPU client takes a host array in place (``device_put``
# without a copy); numpy's own large arrays start 16 bytes into a page.
DEVICE_ALIGNMENT = 64


def _describe_rank(rank: int | None) -> str:
    if rank is None:
        return "images of shape (N, H, W, C) or feature vectors of shape (N, D)"
    if rank == 4:
        return "images of shape (N, H, W, C)"
    return "feature vectors of shape (N, D)"


def _rank_hint(inputs: np.ndarray, rank: int) -> str:
    """How to fix images given without their batch or channel axis."""
    if rank != 4 or inputs.ndim != 3:
        return "."
    if inputs.shape[-1] in (1, 3):
        return (
            "; for one image add a batch axis with image[None] (grey images without a "
            "channel axis take one with images[..., None])."
        )
    return "; add a channel axis to grey images with images[..., None]."


def check_inputs(
    name: str,
    inputs: np.ndarray,
    *,
    network: str | None = None,
    rank: int | None = None,
    min_side: int = 1,
) -> None:
    """Raises ValueError unless ``inputs`` suit the network: rank, size, dtype, finite
    values, and, for images, floats in [0, 1] (uint8 in [0, 255] are scaled to it).

    Args:
      name: the argument's name, for the message.
      inputs: (N, ...) user inputs.
      network: a packaged network's name (for the message), None for a user's.
      rank: the rank the network takes, 4 (images) or 2 (vectors); None: either, as
        given. A packaged image network also takes 1 or 3 channels only.
      min_side: the smallest image side the network takes.
    """
    wanted = rank if rank is not None else (inputs.ndim if inputs.ndim in (2, 4) else 4)
    if inputs.dtype.kind not in "uif" or inputs.dtype == np.bool_:
        raise ValueError(
            f"{name} has dtype {inputs.dtype}; pass uint8 images in [0, 255] or floats, "
            f"e.g. {name}.astype(np.float32)."
        )
    if inputs.ndim != wanted:
        shown = f"model={network!r}" if network else "a user network"
        raise ValueError(
            f"{name} has shape {inputs.shape}, but {shown} takes "
            f"{_describe_rank(rank)}{_rank_hint(inputs, wanted)}"
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is empty: every domain needs at least one example.")
    if wanted == 4 and network:
        height, width, channels = inputs.shape[1:]
        if channels not in (1, 3):
            raise ValueError(
                f"{name} has {channels} channels (shape {inputs.shape}); the {network} network "
                "takes grey (C=1) or RGB (C=3) images in NHWC layout: move the channel axis "
                "last with np.moveaxis(images, 1, -1) if it comes first."
            )
        if min(height, width) < min_side:
            raise ValueError(
                f"{name} images are {height}x{width}; the {network} network needs at least "
                f"{min_side}x{min_side}: resize them first."
            )
    if inputs.dtype.kind == "f" and not np.isfinite(inputs).all():
        bad = int(np.size(inputs) - np.isfinite(inputs).sum())
        raise ValueError(
            f"{name} holds {bad} NaN or infinite values; drop or repair those examples, "
            "e.g. np.nan_to_num."
        )
    if wanted == 4 and inputs.dtype.kind == "f":
        low, high = float(inputs.min()), float(inputs.max())
        if low < -FLOAT_IMAGE_SLACK or high > 1 + FLOAT_IMAGE_SLACK:
            raise ValueError(
                f"{name} are float images with values in [{low:g}, {high:g}], but float images "
                "must lie in [0, 1] (uint8 images in [0, 255] are scaled to it, and the "
                f"per-channel mean is subtracted here): pass {name} / 255.0 for images in "
                "0..255, or uint8."
            )


def check_labels(labels: np.ndarray, num_examples: int, num_classes: int | None) -> int:
    """Raises ValueError unless ``labels`` are N integer class ids; returns the class count."""
    if labels.ndim != 1:
        raise ValueError(
            f"source_labels has shape {labels.shape}; pass one integer class id per "
            "image, shape (N,) (use labels.argmax(-1) for one-hot labels)."
        )
    if labels.shape[0] != num_examples:
        raise ValueError(
            f"source_images has {num_examples} examples but source_labels has "
            f"{labels.shape[0]}; pass one label per source image."
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"source_labels has dtype {labels.dtype}; class ids must be integers, "
            "e.g. labels.astype(np.int32)."
        )
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"source_labels range over [{low}, {high}], outside [0, {num_classes - 1}] for "
            f"{num_classes} classes; map them to 0..{num_classes - 1} or set num_classes."
        )
    return num_classes


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose data starts on a :data:`DEVICE_ALIGNMENT`
    boundary: on a CPU backend the device-resident input mode then uses it in place
    instead of holding a second copy of the dataset."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = np.empty(size + DEVICE_ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % DEVICE_ALIGNMENT
    return buffer[start : start + size].view(dtype).reshape(shape)


def check_same_feature_shape(source: np.ndarray, target: np.ndarray) -> None:
    """Raises ValueError unless both domains' examples have the same shape."""
    if source.shape[1:] != target.shape[1:]:
        hint = ""
        if source.ndim == 4 and {source.shape[-1], target.shape[-1]} == {1, 3}:
            hint = " Make grey images RGB with np.repeat(images, 3, axis=-1)."
        raise ValueError(
            f"source_images examples have shape {source.shape[1:]} but target_images "
            f"examples have {target.shape[1:]}; both domains must share one input shape." + hint
        )


def to_float(inputs: np.ndarray) -> np.ndarray:
    """uint8 images in [0, 255] to float32 in [0, 1]; other numbers to float32."""
    if inputs.dtype == np.uint8:
        return inputs.astype(np.float32) / 255.0
    return inputs.astype(np.float32)


def channel_mean(*domains: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Per-channel (last axis) mean over all examples of all domains, float32 (C,), of
    the values :func:`to_float` gives (uint8 scaled to [0, 1]). ``chunk`` examples at a
    time are made float, so that no float copy of a whole domain is made (100,000
    MNIST-M images: 235 MB as uint8, 941 MB as float32)."""
    total, count = 0.0, 0
    for domain in domains:
        axes = tuple(range(domain.ndim - 1))
        for start in range(0, len(domain), chunk):
            part = to_float(domain[start : start + chunk])
            total = total + part.sum(axis=axes, dtype=np.float64)
            count += part.size // part.shape[-1]
    return (total / count).astype(np.float32)


def gather_batch(data: Mapping[str, Any], source_index: Any, target_index: Any) -> dict[str, Any]:
    """The training batch at these indices of ``data`` (NumPy arrays on the host or JAX
    arrays on a device): ``source_image``, ``source_label`` and ``target_image``."""
    return {
        "source_image": data["source_image"][source_index],
        "source_label": data["source_label"][source_index],
        "target_image": data["target_image"][target_index],
    }
