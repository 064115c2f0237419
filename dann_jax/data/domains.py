"""What a domain-adaptation problem is made of: labelled splits in memory and the two
training domains with their preprocessing.

:class:`Split` and :class:`Domains` are data held in memory (the offline datasets,
test splits); :class:`TrainingData` is what training reads: two random-access
domains, however stored, and how their images become network inputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import RandomAccessSource, read


@dataclasses.dataclass(frozen=True)
class Split:
    """Inputs (N, ...) float32 with their labels (N,) int32 (-1: unlabelled)."""

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


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The two training domains and how their images become network inputs.

    Attributes:
      source: labelled ``{"image", "label"}`` records.
      target: ``{"image"}`` records; their labels are never read.
      preprocess: raw images -> network inputs (shape, per-channel mean).
      num_classes: classes of the label head.
      class_names: what each class id means (class id i is ``class_names[i]``): the
        class folders' names, a TFDS dataset's label names; by default the ids as text.
    """

    source: RandomAccessSource
    target: RandomAccessSource
    preprocess: Preprocess
    num_classes: int
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.class_names)
        if not names:
            names = tuple(str(index) for index in range(self.num_classes))
        if len(names) != self.num_classes:
            raise ValueError(
                f"{len(names)} class names for {self.num_classes} classes; name each class once."
            )
        object.__setattr__(self, "class_names", names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One stored input's shape, e.g. (28, 28, 3) (the network sees it whole, or its
        ``crop_size`` square)."""
        return tuple(self.preprocess.shape)

    def device_bytes(self) -> int:
        """The bytes both domains take when read whole in their stored form
        (:meth:`~dann_jax.data.preprocess.Preprocess.stored`: uint8 stays uint8),
        from one record of each; the source's int32 labels included."""
        total = 4 * len(self.source)
        for domain in (self.source, self.target):
            if len(domain):
                example = self.preprocess.stored(read(domain, np.zeros(1, np.int64))["image"])
                total += len(domain) * example.nbytes
        return total
