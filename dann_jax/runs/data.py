"""What a run trains and evaluates on: its domains, read once.

:func:`load_data` reads the data keys of a plan's config (``dataset``, ``source``,
``target``, ``data_dir``, ``input_shape``, ``input_normalization``, ...) into
:class:`RunData`: an offline dataset in memory, two prepared TFDS datasets, or two
image folders.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dann_jax.backbones import IMAGENET_MEAN, IMAGENET_STD
from dann_jax.data import arrays, folders, offline, tfds_sources
from dann_jax.data.domains import Domains, Split, TrainingData
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import (
    ArraySource,
    RandomAccessSource,
    materialize,
    sampled_channel_mean,
)
from dann_jax.runs.plan import RunPlan


@dataclasses.dataclass(frozen=True)
class RunData:
    """What a run trains on (random-access domains) and evaluates on (arrays).

    Attributes:
      training: the source and target training domains; the target's labels
        are read only by the train_on_target reference.
      source_test, target_test: test inputs, conformed to the input shape
        (float32 in [0, 1], not yet centred), with labels.
      offline: the in-memory domains, for the offline datasets (plots use them).
      transductive: whether the test splits are the training domains themselves (image
        folders; TFDS with one split for both, as the Office protocol): the source's
        accuracy is then a training accuracy, the target's transductive.
    """

    training: TrainingData
    source_test: Split
    target_test: Split
    offline: Domains | None = None
    transductive: bool = False

    def training_for(self, method: str) -> TrainingData:
        """The domains ``method`` trains on: train_on_target learns the target's labels
        (its "target" half is the same data)."""
        if method == "train_on_target":
            return dataclasses.replace(self.training, source=self.training.target)
        return self.training


def load_data(plan: RunPlan, progress: bool = True) -> RunData:
    """The plan's domains: an offline dataset in memory, two prepared TFDS datasets, or
    two image folders.

    Raises:
      DatasetUnavailable: a TFDS dataset is not prepared (the message says how to).
      ValueError: the image folders are not as :mod:`dann_jax.data.folders` reads them.
    """
    config = plan.config
    if config.dataset not in ("tfds", "image_folder"):
        if config.dataset == "mnist_m_local":
            domains = offline.mnist_to_mnist_m(
                config.mnist_train_images,
                config.mnist_train_labels,
                config.mnist_test_images,
                config.mnist_test_labels,
                config.photos_dir,
                config.seed,
            )
        elif config.dataset == "mnist_local":
            domains = offline.mnist_to_blended_mnist(
                config.mnist_images, config.mnist_labels, config.photos_dir, config.seed
            )
        else:
            domains = offline.load_domains(config.dataset, config.seed)
        source, target = domains.source_train, domains.target_train
        mean = arrays.channel_mean(source.inputs, target.inputs)
        training = TrainingData(
            ArraySource(source.inputs, source.labels),
            ArraySource(target.inputs, target.labels),
            Preprocess(source.inputs.shape[1:], mean),
            num_classes=int(source.labels.max()) + 1,
        )
        return RunData(training, domains.source_test, domains.target_test, domains)
    shape = tuple(config.input_shape)
    if config.dataset == "image_folder":
        missing = [key for key in ("data_dir", "source", "target") if not config[key]]
        if missing:
            raise ValueError(
                "config: dataset=image_folder reads DATA_DIR/<source>/<class>/<image> and "
                "DATA_DIR/<target>/ (class folders, or the images directly); set "
                + ", ".join(f"--config.{key}" for key in missing)
                + "."
            )
        source_train, target_train, classes = folders.folder_domains(
            config.data_dir, config.source, config.target, size=shape[:2]
        )
        num_classes, names = len(classes), classes
        if not target_train.labelled and "train_on_target" in plan.methods:
            raise ValueError(
                f"config: train_on_target needs the target's labels; {config.target} has no "
                "class folders. Drop it from method."
            )
        # The transductive protocol: every domain is trained on and evaluated whole.
        source_test, target_test = source_train, target_train
    else:
        sources = tfds_sources.data_sources(
            [
                (config.source, config.train_split),
                (config.target, config.train_split),
                (config.source, config.test_split),
                (config.target, config.test_split),
            ],
            config.data_dir or None,
        )
        source_train, target_train, source_test, target_test = (
            tfds_sources.fixed_size(source, shape) for source in sources
        )
        num_classes = tfds_sources.num_classes(source_train)
        names = tfds_sources.class_names(source_train)
    conform = Preprocess(shape, np.zeros(())).conform

    def test_split(source: RandomAccessSource, name: str) -> Split:
        inputs, labels = materialize(source, conform, description=name, progress=progress)
        return Split(inputs, labels)

    if config.get("input_normalization", "dataset") == "imagenet":
        preprocess = Preprocess(
            shape,
            np.asarray(IMAGENET_MEAN, np.float32),
            np.asarray(IMAGENET_STD, np.float32),
        )
    else:
        mean = sampled_channel_mean([source_train, target_train], conform, config.mean_sample)
        preprocess = Preprocess(shape, mean)
    training = TrainingData(source_train, target_train, preprocess, num_classes, names)
    return RunData(
        training,
        test_split(source_test, f"{config.source} {config.test_split}"),
        test_split(target_test, f"{config.target} {config.test_split}"),
        transductive=config.dataset == "image_folder" or config.test_split == config.train_split,
    )
