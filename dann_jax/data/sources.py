"""Random-access sources of ``{"image", "label"}`` records, and reading them whole.

A domain is a random-access source: a TFDS ArrayRecord source from
``tfds.data_source`` (read without TensorFlow), or in-memory arrays
(:class:`ArraySource`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from dann_jax.data import arrays

Batch = dict[str, np.ndarray]


class RandomAccessSource(Protocol):
    """What grain and ``tfds.data_source`` offer: ``len`` and records by index."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class ArraySource:
    """In-memory examples as a random-access source.

    Attributes:
      images: (N, ...) inputs, uint8 or float.
      labels: (N,) integer class ids, or None for an unlabelled domain.
    """

    images: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        record = {"image": self.images[index]}
        if self.labels is not None:
            record["label"] = self.labels[index]
        return record

    def read(self, positions: Sequence[int] | np.ndarray) -> Batch:
        """The records at ``positions``, stacked: ``image`` (b, ...) and ``label`` (b,)."""
        batch = {"image": self.images[positions]}
        if self.labels is not None:
            batch["label"] = self.labels[positions]
        return batch


@dataclasses.dataclass(frozen=True)
class ResizedSource:
    """A source whose images are resized to ``size`` as they are read (bilinear, as
    torchvision's ``Resize``), for datasets kept at full size (Office): a batch's
    records then share one shape.

    Attributes:
      source: records ``{"image": (h, w, c) uint8, ...}`` of any sizes.
      size: (height, width) of every image read.
    """

    source: RandomAccessSource
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.source)

    def _resized(self, record: Mapping[str, Any]) -> dict[str, Any]:
        from PIL import Image  # only full-size datasets need it

        image = np.asarray(record["image"])
        if image.shape[:2] != tuple(self.size):
            grey = image.ndim == 3 and image.shape[-1] == 1
            picture = Image.fromarray(image[..., 0] if grey else image)
            height, width = self.size
            image = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR))
            image = image[..., None] if grey else image
        return {**record, "image": image}

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._resized(self.source[index])

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        try:
            records = self.source.__getitems__(indices)
        except (AttributeError, TypeError):
            records = [self.source[index] for index in indices]
        return [self._resized(record) for record in records]


def read(source: RandomAccessSource, positions: np.ndarray) -> Batch:
    """The records of ``source`` at ``positions``, stacked into arrays with a leading (b,)."""
    if isinstance(source, ArraySource):
        return source.read(positions)
    positions = [int(position) for position in positions]
    try:  # one batched read where the source offers it (ArrayRecord does) ...
        records = source.__getitems__(positions)
    except (AttributeError, TypeError):  # ... else (tfds.testing.mock_data's) record by record
        records = [source[position] for position in positions]
    return {key: np.stack([record[key] for record in records]) for key in ("image", "label")}


def materialize(
    source: RandomAccessSource,
    preprocess: Callable[[np.ndarray], np.ndarray],
    *,
    chunk: int = 1024,
    description: str = "reading",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every record of ``source``, preprocessed: inputs (N, ...) as ``preprocess`` makes
    them and labels (N,) int32 (None for an unlabelled :class:`ArraySource`). A progress
    bar shows when the reading takes more than two seconds. An :class:`ArraySource` is
    preprocessed whole: its arrays are in memory already, and uint8 (or float32) images
    in their stored form come back as they are, not copied. Other sources are read
    chunk by chunk into one array made up front (:func:`arrays.aligned_empty`), so the
    dataset is held once while it is read."""
    if isinstance(source, ArraySource):
        labels = None if source.labels is None else np.asarray(source.labels, np.int32)
        return preprocess(source.images), labels
    images, labels = None, []
    bar = tqdm(range(0, len(source), chunk), desc=description, disable=not progress,
               unit="chunk", delay=2)  # fmt: skip
    for start in bar:
        stop = min(start + chunk, len(source))
        batch = read(source, np.arange(start, stop))
        inputs = preprocess(batch["image"])
        if images is None:
            images = arrays.aligned_empty((len(source), *inputs.shape[1:]), inputs.dtype)
        images[start:stop] = inputs
        labels.append(batch.get("label"))
    if labels[0] is None:
        return images, None
    return images, np.concatenate(labels).astype(np.int32)


def sampled_channel_mean(
    sources: Sequence[RandomAccessSource], conform: Callable[[np.ndarray], np.ndarray], sample: int
) -> np.ndarray:
    """Per-channel mean (C,) float32 of conformed images over up to ``sample`` evenly
    spaced records of each source (all records when a source is smaller)."""
    parts = []
    for source in sources:
        positions = np.linspace(0, len(source) - 1, min(sample, len(source))).astype(np.int64)
        parts.append(conform(read(source, positions)["image"]))
    return arrays.channel_mean(*parts)
