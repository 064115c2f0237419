"""MNIST -> MNIST-M from local files: MNIST idx files and a folder of photos.

The paper's headline experiment with nothing downloaded: the MNIST digits of
one idx set are split into disjoint source and target halves, and the target
half is blended MNIST-M style with random patches of the photos (the paper used
the BSDS500 train photos).
"""

from __future__ import annotations

import gzip
import hashlib
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split

from dann_jax.data.offline import Domains, Split, blend_with_photos

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


def _check_exists(path: str | Path, key: str, what: str) -> None:
    if not str(path):
        raise ValueError(f"{what} is not set: pass --config.{key}=PATH.")
    if not Path(path).exists():
        raise ValueError(
            f"{what} {path} does not exist; set config.{key} (--config.{key}=PATH) to it."
        )


def mnist_to_blended_mnist(
    images_path: str | Path,
    labels_path: str | Path,
    photos_folder: str | Path,
    seed: int,
    *,
    source_fraction: float = 0.5,
    test_fraction: float = 0.2,
) -> Domains:
    """MNIST digits (source) -> other MNIST digits blended with photo patches (target).

    The digits of one idx set are split, stratified by class, into disjoint source
    and target halves, each split, stratified, into train and test parts. Of the
    10,000-digit MNIST test set the defaults make source 4,000 train / 1,000 test
    and target 4,000 train / 1,000 test. Source images are the grey digits in three
    channels; each target image is ``|binarised digit - random photo crop|``
    (``blend_with_photos``), as MNIST-M was built from the BSDS500 train photos.

    Args:
      images_path: idx images (N, 28, 28) uint8, gzipped or not (config.mnist_images).
      labels_path: idx labels (N,) uint8, gzipped or not (config.mnist_labels).
      photos_folder: folder of .jpg/.jpeg/.png photos, each at least 28x28
        (config.photos_dir).
      seed: seeds the splits, the photos and the crops.
      source_fraction: share of the digits in the source half.
      test_fraction: share of each half held out as its test part.

    Returns:
      Domains of (N, 28, 28, 3) float32 images in [0, 1] and int32 labels in [0, 10).

    Raises:
      ValueError: a path does not exist (the message names the config key to set),
        a file is not an idx file, the images and labels disagree in number, or a
        photo is smaller than a digit.

    References:
      Ganin et al., JMLR 2016, section 5.2.2 (MNIST-M).
    """
    _check_exists(images_path, "mnist_images", "The MNIST images file")
    _check_exists(labels_path, "mnist_labels", "The MNIST labels file")
    _check_exists(photos_folder, "photos_dir", "The photos folder")
    check_published(images_path)
    check_published(labels_path)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds images {images.shape} and {labels_path} labels "
            f"{labels.shape}; pass an images file (magic 2051) and a labels file (magic "
            "2049) with one label per image."
        )
    photos = read_photos(photos_folder)
    side = min(images.shape[1:])
    small = [photo.shape for photo in photos if min(photo.shape[:2]) < side]
    if small:
        raise ValueError(
            f"{photos_folder} holds {len(small)} photos smaller than the {side}x{side} "
            f"digits, e.g. of shape {small[0]}; remove them."
        )
    grey = images.astype(np.float32) / 255.0
    labels = labels.astype(np.int32)

    rng = np.random.default_rng(seed)
    parts = []
    halves = train_test_split(
        np.arange(len(labels)),
        train_size=source_fraction,
        stratify=labels,
        random_state=rng.integers(2**31),
    )
    for half in halves:
        parts += train_test_split(
            half, test_size=test_fraction, stratify=labels[half], random_state=rng.integers(2**31)
        )

    def source(index: np.ndarray) -> Split:
        return Split(np.repeat(grey[index, ..., None], 3, axis=-1), labels[index])

    def target(index: np.ndarray) -> Split:
        return Split(blend_with_photos(grey[index], photos, rng), labels[index])

    return Domains(source(parts[0]), source(parts[1]), target(parts[2]), target(parts[3]))
