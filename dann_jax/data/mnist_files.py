"""MNIST's idx files and folders of photos: the local files the paper's MNIST-M is made of.

Reading only; building the domains from them is :mod:`dann_jax.data.offline`'s job.
"""

from __future__ import annotations

import gzip
import hashlib
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

# idx magic number -> number of dimensions (both hold unsigned bytes).
IDX_DIMENSIONS = {2049: 1, 2051: 3}
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
GZIP_MAGIC = b"\x1f\x8b"
# MNIST as published (yann.lecun.com/exdb/mnist, mirrored at
# storage.googleapis.com/cvdf-datasets/mnist): file name without ".gz" -> SHA-256 of its
# decompressed content, so that a file matches gzipped or not.
PUBLISHED_CONTENT = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def _content(path: str | Path) -> bytes:
    """A file's bytes, decompressed when gzipped."""
    data = Path(path).read_bytes()
    return gzip.decompress(data) if data.startswith(GZIP_MAGIC) else data


def check_published(path: str | Path) -> None:
    """Warns when a file named as a published MNIST file (gzipped or not) differs from it
    in content (SHA-256 of the decompressed bytes): results from it are not comparable
    with the published tables."""
    path = Path(path)
    name = path.name.removesuffix(".gz")
    if name in PUBLISHED_CONTENT:
        digest = hashlib.sha256(_content(path)).hexdigest()
        if digest != PUBLISHED_CONTENT[name]:
            warnings.warn(
                f"{path} is not the published {name} (SHA-256 of its content {digest}, "
                f"published {PUBLISHED_CONTENT[name]}); results from it are not comparable "
                "with the published ones.",
                stacklevel=2,
            )


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an MNIST idx file, gzipped or not.

    Args:
      path: an idx file of images (magic 2051) or labels (magic 2049), optionally gzipped.

    Returns:
      uint8 images (N, 28, 28) or labels (N,).

    Raises:
      ValueError: the file is not an MNIST idx file, or is truncated.
    """
    data = _content(path)
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic not in IDX_DIMENSIONS:
        raise ValueError(
            f"{path} is not an MNIST idx file: it must start with the magic number 2051 "
            f"(images) or 2049 (labels), not {magic}."
        )
    header = 4 + 4 * IDX_DIMENSIONS[magic]
    shape = tuple(int(size) for size in np.frombuffer(data[4:header], ">u4"))
    if len(data) != header + int(np.prod(shape)):
        raise ValueError(
            f"{path} holds {len(data) - header} bytes of data after its header, but its "
            f"header announces shape {shape}; the file is truncated or corrupt."
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_photos(folder: str | Path) -> list[np.ndarray]:
    """Reads every .jpg, .jpeg and .png photo in ``folder``, sorted by file name.

    Args:
      folder: a folder of photos; grey or RGBA photos are converted to RGB.

    Returns:
      float32 photos (H_i, W_i, 3) in [0, 1].

    Raises:
      ValueError: the folder holds no such photo.
    """
    paths = sorted(path for path in Path(folder).iterdir() if path.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder} holds no .jpg, .jpeg or .png photos.")
    photos = []
    for path in paths:
        with Image.open(path) as photo:
            photos.append(np.asarray(photo.convert("RGB"), np.float32) / 255.0)
    return photos
