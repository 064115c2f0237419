"""The paper's domains as TensorFlow Datasets, read without TensorFlow.

Reading goes through ``tfds.data_source`` (ArrayRecord files, random access,
no TensorFlow import). Preparing a dataset (download, build ArrayRecord files)
is TFDS's own job and needs TensorFlow (:mod:`dann_jax.data.prepare`). Datasets
that are not prepared get one error naming them all, the folder searched and
the commands that prepare them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow_datasets as tfds

from dann_jax.data.sources import RandomAccessSource, ResizedSource

# From the TFDS catalog, and built by dann_jax.data.builders.
CATALOG = ("mnist", "svhn_cropped", "cifar10", "stl10")
OWN_BUILDERS = ("mnist_m", "syn_digits", "gtsrb", "syn_signs", "office31", "office_home")


class DatasetUnavailable(ValueError):
    """A dataset is not prepared where we looked, and this run will not download it."""


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets`` (TFDS's default)."""
    return Path(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()


def register_own_builders(name: str) -> None:
    """Registers our builders with TFDS when ``name`` is one of them."""
    if name.split(":")[0].split("/")[0] in OWN_BUILDERS:
        import dann_jax.data.builders  # noqa: F401  (registers the builders with TFDS)


def prepare_command(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """The shell command that prepares ``name`` into ``data_dir``."""
    folder = f" --data_dir={data_dir}" if data_dir else ""
    return f"dann prepare {name}{folder}"


@contextlib.contextmanager
def _quiet_tfds() -> Iterator[None]:
    """Silences TFDS's warnings while it looks for prepared data (e.g. "Variant folder ...
    has no dataset_info.json" for a dataset that is simply not there)."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def data_sources(
    requests: Sequence[tuple[str, str]], data_dir: str | os.PathLike | None = None
) -> list[RandomAccessSource]:
    """Prepared TFDS splits as random-access sources of ``{"image", "label", ...}`` records.

    Args:
      requests: (name, split) pairs: a TFDS name, e.g. "mnist", "svhn_cropped", or one
        of ours ("mnist_m", ...), and a split, e.g. "train", "test", "train[:90%]".
      data_dir: where the prepared datasets live (default: :func:`default_data_dir`).

    Returns:
      One source per request, in order.

    Raises:
      DatasetUnavailable: some are not prepared there (datasets are never downloaded
        while training); the message names them all and how to prepare them.
    """
    sources, missing = [], {}
    for name, split in requests:
        register_own_builders(name)
        try:
            with _quiet_tfds():
                sources.append(
                    tfds.data_source(name, split=split, data_dir=data_dir, download=False)
                )
        except Exception as error:  # TFDS raises many kinds here; the cause goes into the message.
            cause = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            missing.setdefault(name, (split, cause))
    if not missing:
        return sources
    folder = default_data_dir(data_dir)
    names = ", ".join(f"{name!r} (split {split!r})" for name, (split, _) in missing.items())
    commands = " and ".join(f"`{prepare_command(name, data_dir)}`" for name in missing)
    copies = ", ".join(str(folder / name.split(":")[0]) for name in missing)
    # TFDS's words help only where something is there; for an absent folder they mislead.
    causes = "; ".join(
        f"{name}: {cause.removesuffix('Possible root causes:').strip()}"
        for name, (_, cause) in missing.items()
        if (folder / name.split(":")[0]).exists()
    )
    raise DatasetUnavailable(
        f"{names} {'is' if len(missing) == 1 else 'are'} not prepared as ArrayRecord files in "
        f"{folder}, and datasets are never downloaded while training. On a machine with "
        f"internet run {commands} (TensorFlow needed: pip install 'dann_jax[prepare]'), then "
        f"copy {copies} here or point --config.data_dir at the folder."
        + (f" (TFDS said: {causes})" if causes else "")
    )


def data_source(
    name: str, split: str, data_dir: str | os.PathLike | None = None
) -> RandomAccessSource:
    """One prepared TFDS split (see :func:`data_sources`)."""
    return data_sources([(name, split)], data_dir)[0]


def fixed_size(source: RandomAccessSource, shape: Sequence[int]) -> RandomAccessSource:
    """``source``, its images resized to ``shape``'s height and width as they are read
    when its dataset keeps images of varying sizes (Office's); else ``source`` itself."""
    info = getattr(source, "dataset_info", None)
    image = info.features["image"] if info is not None and "image" in info.features else None
    if image is None or None not in image.shape[:2]:
        return source
    return ResizedSource(source, (int(shape[0]), int(shape[1])))


def num_classes(source: RandomAccessSource) -> int:
    """The class count of a TFDS source's ``label`` feature (else the largest label + 1)."""
    info = getattr(source, "dataset_info", None)
    if info is not None and "label" in info.features:
        return int(info.features["label"].num_classes)
    return int(max(source[i]["label"] for i in range(len(source)))) + 1


def class_names(source: RandomAccessSource) -> tuple[str, ...]:
    """The names of a TFDS source's classes (its ``label`` feature's), or () when it
    names none."""
    info = getattr(source, "dataset_info", None)
    if info is not None and "label" in info.features:
        return tuple(info.features["label"].names)
    return ()
