"""The paper's domains as TensorFlow Datasets, read without TensorFlow.

Reading goes through ``tfds.data_source`` (ArrayRecord files, random access,
no TensorFlow import). Preparing a dataset (download, build ArrayRecord files)
is TFDS's own job and needs TensorFlow: ``pip install 'dann_jax[prepare]'``,
then ``dann prepare NAME`` on a machine with internet (or with the archives in
a manual folder). A dataset that is not prepared gets one error naming it, the
folder searched and the command that prepares it.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow_datasets as tfds

from dann_jax.data.sources import RandomAccessSource

# From the TFDS catalog, and built by dann_jax.data.builders.
CATALOG = ("mnist", "svhn_cropped", "cifar10", "stl10")
OWN_BUILDERS = ("mnist_m", "syn_digits", "gtsrb", "syn_signs")


class DatasetUnavailable(ValueError):
    """A dataset is not prepared where we looked, and this run will not download it."""


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets`` (TFDS's default)."""
    return Path(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()


def _register_own_builders(name: str) -> None:
    if name.split(":")[0].split("/")[0] in OWN_BUILDERS:
        import dann_jax.data.builders  # noqa: F401  (registers the builders with TFDS)


def prepare_command(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """The shell command that prepares ``name`` into ``data_dir``."""
    folder = f" --data_dir={data_dir}" if data_dir else ""
    return f"dann prepare {name}{folder}"


def data_source(
    name: str, split: str, data_dir: str | os.PathLike | None = None
) -> RandomAccessSource:
    """A prepared TFDS split as a random-access source of ``{"image", "label", ...}`` records.

    Args:
      name: a TFDS name, e.g. "mnist", "svhn_cropped", or one of ours ("mnist_m", ...).
      split: e.g. "train", "test", "train[:90%]".
      data_dir: where the prepared dataset lives (default: :func:`default_data_dir`).

    Raises:
      DatasetUnavailable: not prepared there (never downloads); the message says
        how to prepare it.
    """
    _register_own_builders(name)
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as error:  # TFDS raises many kinds here; the cause goes into the message.
        folder = default_data_dir(data_dir)
        cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatasetUnavailable(
            f"dataset {name!r} (split {split!r}) is not prepared as ArrayRecord files in "
            f"{folder}, and datasets are never downloaded while training. On a machine with "
            f"internet run `{prepare_command(name, data_dir)}` (TensorFlow needed: pip install "
            f"'dann_jax[prepare]'), then copy {folder / name.split(':')[0]} here or point "
            f"--config.data_dir at it. (TFDS said: {cause})"
        ) from None


def num_classes(source: RandomAccessSource) -> int:
    """The class count of a TFDS source's ``label`` feature (else the largest label + 1)."""
    info = getattr(source, "dataset_info", None)
    if info is not None and "label" in info.features:
        return int(info.features["label"].num_classes)
    return int(max(source[i]["label"] for i in range(len(source)))) + 1


def prepare(
    name: str,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
) -> Path:
    """Downloads and prepares ``name`` as ArrayRecord files; returns its folder.

    Args:
      name: a TFDS name (e.g. "mnist") or one of ours, with an optional config
        ("syn_digits/small").
      data_dir: where to write (default: :func:`default_data_dir`).
      manual_dir: a folder already holding the dataset's archives, for
        machines without internet.

    Raises:
      ImportError: TensorFlow, which TFDS needs to prepare, is missing.
      ValueError: ``name`` is no TFDS dataset.
    """
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise ImportError(
            f"preparing {name!r} needs TensorFlow (TFDS's requirement): "
            "pip install 'dann_jax[prepare]'. Reading a prepared dataset does not."
        ) from None
    _register_own_builders(name)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"unknown dataset {name!r}; ours are {OWN_BUILDERS}, the paper's from the TFDS "
            f"catalog {CATALOG}."
        ) from None
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir) if manual_dir else None)
    builder.download_and_prepare(file_format="array_record", download_config=config)
    return Path(builder.data_dir)
