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
# The MNIST test set as published (yann.lecun.com/exdb/mnist, mirrored at
# storage.googleapis.com/cvdf-datasets/mnist): file name -> (MD5, SHA-256).
PUBLISHED_FILES = {
    "t10k-images-idx3-ubyte.gz": (
        "9fb629c4189551a2d022fa330f9573f3",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "ec29112dd5afa0611ce80d1b7f02629c",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}


def check_published(path: str | Path) -> None:
    """Warns when a file named as a published MNIST file differs from it (its
    SHA-256): results from it are not comparable with the published tables."""
    path = Path(path)
    if path.name in PUBLISHED_FILES:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != PUBLISHED_FILES[path.name][1]:
            warnings.warn(
                f"{path} is not the published {path.name} (SHA-256 {digest}, published "
                f"{PUBLISHED_FILES[path.name][1]}); results from it are not comparable "
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
    data = Path(path).read_bytes()
    if data.startswith(GZIP_MAGIC):
        data = gzip.decompress(data)
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
