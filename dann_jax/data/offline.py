"""Domains built offline from what pip packages ship: nothing is downloaded.

- ``digits_to_blended_digits``: scikit-learn's real handwritten digits (source)
  and the same kind of digits blended MNIST-M style with patches of the photos
  that scikit-learn and scikit-image ship (target). The default experiment.
- ``moons``: the JMLR toy problem, two inter-twinning moons and the same moons
  rotated by 35 degrees.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import skimage.data
import skimage.transform
from sklearn import datasets
from sklearn.model_selection import train_test_split

DIGIT_SIDE = 28
# Shipped inside the scikit-learn and scikit-image wheels (no download).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@dataclasses.dataclass(frozen=True)
class Split:
    """Inputs (N, ...) float32 with their labels (N,) int32."""

    inputs: np.ndarray
    labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class Domains:
    """Labelled source and target data, each split into disjoint train and test parts.

    Training uses ``target_train.inputs`` without labels; ``target_train.labels``
    serve only the train-on-target reference, ``target_test`` only evaluation.
    """

    source_train: Split
    source_test: Split
    target_train: Split
    target_test: Split


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

    def source(index: np.ndarray) -> Split:
        return Split(np.repeat(grey[index, ..., None], 3, axis=-1), labels[index])

    def target(index: np.ndarray) -> Split:
        return Split(blend_with_photos(grey[index], photos, rng), labels[index])

    return Domains(source(parts[0]), source(parts[1]), target(parts[2]), target(parts[3]))


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
