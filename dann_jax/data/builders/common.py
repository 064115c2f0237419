"""What the builders share: fetching archives (download or manual dir), features and info."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow_datasets as tfds
from etils import epath


def fetch(
    dl_manager: tfds.download.DownloadManager, files: Mapping[str, str], urls: Mapping[str, str]
) -> dict[str, epath.Path]:
    """The extracted ``files`` (key -> file name), from the manual dir when it holds all
    of them, else downloaded from ``urls`` (key -> address)."""
    try:
        manual = {key: dl_manager.manual_dir / name for key, name in files.items()}
    except AssertionError:  # No manual dir, or an empty one.
        manual = {}
    if manual and all(path.exists() for path in manual.values()):
        return dl_manager.extract(manual)
    return dl_manager.download_and_extract(dict(urls))


def manual_download_instructions(urls: Mapping[str, str]) -> str:
    """What to put in the manual dir without internet."""
    return (
        "Without internet, put these files (unchanged, as downloaded) in the manual dir:\n"
        + "\n".join(urls.values())
    )


def image_and_label(side: int, num_classes: int) -> tfds.features.FeaturesDict:
    """The features of every builder: ``image`` uint8 (side, side, 3) and ``label``."""
    return tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(shape=(side, side, 3), dtype=np.uint8),
            "label": tfds.features.ClassLabel(num_classes=num_classes),
        }
    )


def image_dataset_info(
    builder: tfds.core.DatasetBuilder,
    description: str,
    side: int,
    num_classes: int,
    homepage: str,
    citation: str | None = None,
) -> tfds.core.DatasetInfo:
    """The ``_info`` of every builder: :func:`image_and_label` features, supervised as
    (image, label)."""
    return tfds.core.DatasetInfo(
        builder=builder,
        description=description,
        features=image_and_label(side, num_classes),
        supervised_keys=("image", "label"),
        homepage=homepage,
        citation=citation,
    )
