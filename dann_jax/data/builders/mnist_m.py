"""MNIST-M as the TFDS dataset ``mnist_m`` (no dataset of that name in the TFDS catalog).

The recipe of Ganin et al., JMLR 2016, section 5.2.2: every MNIST digit is binarised (pixel > 0.5
after scaling to [0, 1]) and blended with a random 28 x 28 crop of a random BSDS500 *train*
photo, output = ``|binarised digit - patch|`` per pixel and channel. The train split comes from the
60,000 MNIST train digits, the test split from the 10,000 MNIST test digits; each split draws
its photos and crops from its own seeded generator, so the same source files give the same data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from dann_jax.data.builders import common
from dann_jax.data.mnist_files import read_idx

SIDE = 28
SPLIT_SEEDS = {"train": 0, "test": 1}
BSDS_TRAIN_DIR = "BSR/BSDS500/data/images/train"
_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_BSDS_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/"
# Key -> file name, the same for the download and for the manual dir.
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
    "bsds": "BSR_bsds500.tgz",
}
URLS = {key: (_BSDS_URL if key == "bsds" else _MNIST_URL) + name for key, name in FILES.items()}

_CITATION = """\
@article{ganin2016domain,
  title={Domain-Adversarial Training of Neural Networks},
  author={Ganin, Yaroslav and Ustinova, Evgeniya and Ajakan, Hana and Germain, Pascal and
          Larochelle, Hugo and Laviolette, Fran{\\c{c}}ois and Marchand, Mario and
          Lempitsky, Victor},
  journal={Journal of Machine Learning Research},
  volume={17},
  number={59},
  pages={1--35},
  year={2016}
}"""


def read_photos(directory: epath.Path) -> list[np.ndarray]:
    """The ``*.jpg`` photos of a directory in name order, each uint8 (H, W, 3)."""
    photos = []
    for path in sorted(directory.glob("*.jpg")):
        with path.open("rb") as file:
            photos.append(np.asarray(Image.open(file).convert("RGB")))
    return photos


def blend(digit: np.ndarray, photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The MNIST-M recipe for one digit: ``|binarised digit - random photo patch|``.

    Args:
      digit: a grey digit (H, W) uint8.
      photos: colour photos (H_i, W_i, 3) uint8, each at least H x W.
      rng: picks the photo, then the crop.

    Returns:
      (H, W, 3) uint8.
    """
    height, width = digit.shape
    photo = photos[rng.integers(len(photos))]
    top = rng.integers(photo.shape[0] - height + 1)
    left = rng.integers(photo.shape[1] - width + 1)
    patch = photo[top : top + height, left : left + width].astype(np.int16)
    binarised = np.where(digit / 255.0 > 0.5, 255, 0).astype(np.int16)
    return np.abs(binarised[..., None] - patch).astype(np.uint8)


class MnistM(tfds.core.GeneratorBasedBuilder):
    """MNIST digits blended with BSDS500 photo patches (Ganin et al., JMLR 2016)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = common.manual_download_instructions(URLS)

    def _info(self) -> tfds.core.DatasetInfo:
        return common.image_dataset_info(
            self, __doc__, SIDE, 10, "https://jmlr.org/papers/v17/15-239.html", _CITATION
        )

    def _split_generators(
        self, dl_manager: tfds.download.DownloadManager
    ) -> dict[str, Iterator[tuple[int, dict[str, Any]]]]:
        paths = common.fetch(dl_manager, FILES, URLS)
        photos = read_photos(paths["bsds"] / BSDS_TRAIN_DIR)
        return {
            split: self._generate_examples(
                paths[f"{split}_images"], paths[f"{split}_labels"], photos, seed
            )
            for split, seed in SPLIT_SEEDS.items()
        }

    def _generate_examples(
        self,
        images_path: epath.Path,
        labels_path: epath.Path,
        photos: list[np.ndarray],
        seed: int,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yields (index in the idx files, {"image": (28, 28, 3) uint8, "label": int})."""
        digits, labels = read_idx(images_path), read_idx(labels_path)
        rng = np.random.default_rng(seed)
        for index, (digit, label) in enumerate(zip(digits, labels, strict=True)):
            yield index, {"image": blend(digit, photos, rng), "label": int(label)}
