"""Domains built offline, in memory: nothing is downloaded.

From what pip packages ship:

- ``digits_to_blended_digits``: scikit-learn's real handwritten digits (source)
  and the same kind of digits blended MNIST-M style with patches of the photos
  that scikit-learn and scikit-image ship (target). The default experiment.
- ``moons``: the JMLR toy problem, two inter-twinning moons and the same moons
  rotated by 35 degrees.

From files the user has (:mod:`dann_jax.data.mnist_files` reads them):

- :func:`mnist_to_mnist_m`: the paper's protocol: MNIST's training digits (source)
  and the same digits blended MNIST-M style with random patches of a folder of
  photos (target; the paper used the BSDS500 train photos), tested on the test
  digits, grey and blended.
- :func:`mnist_to_blended_mnist`: MNIST digits of one idx set (e.g. the test set
  alone) split into disjoint source and target halves, the target half blended.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
import skimage.transform
from sklearn import datasets
from sklearn.model_selection import train_test_split

from dann_jax.data import mnist_files
from dann_jax.data.domains import Domains, Split

DIGIT_SIDE = 28
# Shipped inside the scikit-learn and scikit-image wheels (no download).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def shipped_photos() -> list[np.ndarray]:
    """The colour photos scikit-learn and scikit-image ship, float32 (H, W, 3) in [0, 1]."""
    photos = list(datasets.load_sample_images().images)
    photos += [getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS]
    return [photo.astype(np.float32) / 255.0 for photo in photos]


def blend_with_photos(
    digits: np.ndarray, photos: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """The MNIST-M recipe: ``|binarised digit - random photo patch|`` per pixel and channel.

    Args:
      digits: grey digits (N, H, W) float32 in [0, 1].
      photos: colour photos (H_i, W_i, 3) float32 in [0, 1], each at least H x W.
      rng: picks the photo and the crop of every digit.

    Returns:
      (N, H, W, 3) float32 in [0, 1].

    References:
      Ganin et al., JMLR 2016, section 5.2.2 (MNIST-M).
    """
    count, height, width = digits.shape
    binarised = (digits > 0.5).astype(np.float32)[..., None]
    patches = np.empty((count, height, width, 3), np.float32)
    for i, photo_index in enumerate(rng.integers(len(photos), size=count)):
        photo = photos[photo_index]
        top = rng.integers(photo.shape[0] - height + 1)
        left = rng.integers(photo.shape[1] - width + 1)
        patches[i] = photo[top : top + height, left : left + width]
    return np.abs(binarised - patches)


def _blended_domains(
    digits: np.ndarray,
    labels: np.ndarray,
    parts: list[np.ndarray],
    photos: list[np.ndarray],
    rng: np.random.Generator,
) -> Domains:
    """Four parts of grey digits (N, H, W), float32 in [0, 1] or uint8, as Domains of
    that dtype: the source's the digits in three channels, the target's blended with
    photo patches (``rng`` picks them)."""

    def source(index: np.ndarray) -> Split:
        return Split(np.repeat(digits[index, ..., None], 3, axis=-1), labels[index])

    def target(index: np.ndarray) -> Split:
        if digits.dtype != np.uint8:
            return Split(blend_with_photos(digits[index], photos, rng), labels[index])
        # Exact in uint8: each blended value is a photo's byte or 255 minus it.
        blended = blend_with_photos(digits[index].astype(np.float32) / 255.0, photos, rng)
        return Split(np.rint(blended * 255.0).astype(np.uint8), labels[index])

    return Domains(source(parts[0]), source(parts[1]), target(parts[2]), target(parts[3]))


def digits_to_blended_digits(
    seed: int = 0,
    source_train: int = 718,
    source_test: int = 179,
    target_train: int = 450,
    target_test: int = 450,
) -> Domains:
    """scikit-learn digits (source) -> the same kind of digits on photo patches (target).

    The 1,797 8x8 digits are upsampled to 28x28 and split, stratified by class,
    into four disjoint parts, so no target test digit was seen in training.
    Source images are the grey digits in three channels, as the paper feeds
    MNIST to the network it shares with MNIST-M.

    Args:
      seed: seeds the split, the photos and the crops.
      source_train, source_test, target_train, target_test: part sizes
        (at most 1,797 in all).

    Returns:
      Domains of (N, 28, 28, 3) float32 images in [0, 1] and int32 labels in [0, 10).
    """
    digits = datasets.load_digits()
    grey = skimage.transform.resize(
        digits.images / 16.0, (len(digits.images), DIGIT_SIDE, DIGIT_SIDE), order=1
    ).astype(np.float32)
    labels = digits.target.astype(np.int32)
    sizes = (source_train, source_test, target_train, target_test)
    if sum(sizes) > len(labels):
        raise ValueError(f"The four parts ask for {sum(sizes)} digits; only {len(labels)} exist.")

    rng = np.random.default_rng(seed)
    parts = []
    remaining = np.arange(len(labels))
    for size in sizes:
        if size == len(remaining):
            part, remaining = remaining, remaining[:0]
        else:
            part, remaining = train_test_split(
                remaining,
                train_size=size,
                stratify=labels[remaining],
                random_state=rng.integers(2**31),
            )
        parts.append(part)

    photos = shipped_photos()

    return _blended_domains(grey, labels, parts, photos, rng)


def _check_exists(path: str | Path, key: str, what: str) -> None:
    if not str(path):
        raise ValueError(f"{what} is not set: pass --config.{key}=PATH.")
    if not Path(path).exists():
        raise ValueError(
            f"{what} {path} does not exist; set config.{key} (--config.{key}=PATH) to it."
        )


def _read_digits(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """An idx pair as grey digits (N, H, W) uint8 and int32 labels (N,)."""
    mnist_files.check_published(images_path)
    mnist_files.check_published(labels_path)
    images, labels = mnist_files.read_idx(images_path), mnist_files.read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds images {images.shape} and {labels_path} labels "
            f"{labels.shape}; pass an images file (magic 2051) and a labels file (magic "
            "2049) with one label per image."
        )
    return images, labels.astype(np.int32)


def _read_blend_photos(folder: str | Path, side: int) -> list[np.ndarray]:
    """The photos of ``folder`` (:func:`mnist_files.read_photos`), each at least side x side."""
    photos = mnist_files.read_photos(folder)
    small = [photo.shape for photo in photos if min(photo.shape[:2]) < side]
    if small:
        raise ValueError(
            f"{folder} holds {len(small)} photos smaller than the {side}x{side} "
            f"digits, e.g. of shape {small[0]}; remove them."
        )
    return photos


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
      Domains of (N, 28, 28, 3) uint8 images (as stored: a quarter of float32's memory;
      training scales them to [0, 1]) and int32 labels in [0, 10).

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
    grey, labels = _read_digits(images_path, labels_path)
    photos = _read_blend_photos(photos_folder, side=grey.shape[1])

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

    return _blended_domains(grey, labels, parts, photos, rng)


def mnist_to_mnist_m(
    train_images: str | Path,
    train_labels: str | Path,
    test_images: str | Path,
    test_labels: str | Path,
    photos_folder: str | Path,
    seed: int,
) -> Domains:
    """The paper's MNIST -> MNIST-M from MNIST's idx files and the BSDS500 photos.

    Source: the training digits (labelled) and, as its test part, the test digits,
    grey in three channels. Target: the same training digits and the test digits,
    each blended MNIST-M style with a random crop of a photo (``blend_with_photos``);
    the target's training labels are never used by DANN, only by train_on_target.
    The paper reports target accuracy on the blended test digits.

    Args:
      train_images, train_labels: MNIST's training set, idx, gzipped or not
        (config.mnist_train_images, config.mnist_train_labels; 60,000 digits).
      test_images, test_labels: MNIST's test set (config.mnist_test_images,
        config.mnist_test_labels; 10,000 digits).
      photos_folder: folder of .jpg/.jpeg/.png photos, each at least 28x28, the BSDS500
        train photos for the paper's MNIST-M (config.photos_dir).
      seed: seeds the photos and crops of the blends.

    Returns:
      Domains of (N, 28, 28, 3) uint8 images (as stored: 60,000 digits take 141 MB per
      domain, not float32's 565 MB; training scales them to [0, 1]) and int32 labels
      in [0, 10): source_train and target_train the training digits, source_test and
      target_test the test digits.

    Raises:
      ValueError: a path is not set or does not exist (the message names the config
        key), a file is not an idx file, images and labels disagree in number, the two
        sets' digits differ in size, or a photo is smaller than a digit.

    References:
      Ganin et al., JMLR 2016, section 5.2.2 and Table 2 (MNIST-M).
    """
    paths = {
        "mnist_train_images": (train_images, "The MNIST training images file"),
        "mnist_train_labels": (train_labels, "The MNIST training labels file"),
        "mnist_test_images": (test_images, "The MNIST test images file"),
        "mnist_test_labels": (test_labels, "The MNIST test labels file"),
        "photos_dir": (photos_folder, "The photos folder"),
    }
    for key, (path, what) in paths.items():
        _check_exists(path, key, what)
    train_digits, train_classes = _read_digits(train_images, train_labels)
    test_digits, test_classes = _read_digits(test_images, test_labels)
    if train_digits.shape[1:] != test_digits.shape[1:]:
        raise ValueError(
            f"{train_images} holds digits of {train_digits.shape[1:]} pixels and "
            f"{test_images} of {test_digits.shape[1:]}; pass the training and test sets of "
            "one dataset."
        )
    photos = _read_blend_photos(photos_folder, side=train_digits.shape[1])
    train = np.arange(len(train_classes))
    test = len(train_classes) + np.arange(len(test_classes))
    return _blended_domains(
        np.concatenate([train_digits, test_digits]),
        np.concatenate([train_classes, test_classes]),
        [train, test, train, test],
        photos,
        np.random.default_rng(seed),
    )


def _rotate(points: np.ndarray, degrees: float, centre: np.ndarray) -> np.ndarray:
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points - centre) @ rotation.T + centre


def moons(
    seed: int = 0, per_class: int = 150, degrees: float = 35.0, noise: float = 0.1
) -> Domains:
    """The JMLR toy problem: two inter-twinning moons; the target is rotated.

    Each part is a fresh sample of ``per_class`` points per class; target points
    are rotated by ``degrees`` about the centre of the moons.

    Args:
      seed: seeds the samples.
      per_class: points per class in every part (JMLR: 150).
      degrees: the target's rotation (JMLR: 35).
      noise: standard deviation of the Gaussian noise added to the moons.

    Returns:
      Domains of (2 * per_class, 2) float32 points and int32 labels in {0, 1}.

    References:
      Ganin et al., JMLR 2016, section 5.1.1.
    """
    rng = np.random.default_rng(seed)
    centre = np.array([0.5, 0.25])

    def sample(rotate: bool) -> Split:
        points, labels = datasets.make_moons(
            2 * per_class, noise=noise, random_state=int(rng.integers(2**31))
        )
        if rotate:
            points = _rotate(points, degrees, centre)
        return Split(points.astype(np.float32), labels.astype(np.int32))

    return Domains(sample(False), sample(False), sample(True), sample(True))


LOADERS = {"digits_to_blended_digits": digits_to_blended_digits, "moons": moons}


def load_domains(name: str, seed: int = 0) -> Domains:
    """The offline domains called ``name``, built with ``seed``."""
    if name not in LOADERS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {tuple(LOADERS)}.")
    return LOADERS[name](seed)
