"""GTSRB as the TFDS dataset ``gtsrb`` (no dataset of that name in the TFDS catalog).

The German Traffic Sign Recognition Benchmark (Stallkamp et al., 2012), 43 classes: 39,209 train
and 12,630 test photos of signs, each cropped to its annotated region of interest (the ROI
corners are inclusive pixel coordinates) and resized to 40 x 40, the input size of the GTSRB
network of Ganin et al., JMLR 2016 (Syn Signs -> GTSRB).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from dann_jax.data.builders import common

SIDE = 40
NUM_CLASSES = 43
TRAIN_DIR = "GTSRB/Final_Training/Images"
TEST_DIR = "GTSRB/Final_Test/Images"
TEST_CSV = "GT-final_test.csv"
_URL = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
# Key -> file name, the same for the download and for the manual dir.
FILES = {
    "train": "GTSRB_Final_Training_Images.zip",
    "test_images": "GTSRB_Final_Test_Images.zip",
    "test_labels": "GTSRB_Final_Test_GT.zip",
}
URLS = {key: _URL + name for key, name in FILES.items()}

_CITATION = """\
@article{stallkamp2012man,
  title={Man vs. computer: Benchmarking machine learning algorithms for traffic sign
         recognition},
  author={Stallkamp, Johannes and Schlipsing, Marc and Salmen, Jan and Igel, Christian},
  journal={Neural Networks},
  volume={32},
  pages={323--332},
  year={2012}
}"""


def read_ground_truth(path: epath.Path) -> list[dict[str, str]]:
    """The rows of a semicolon-separated GTSRB CSV (Filename;Width;...;ClassId)."""
    return list(csv.DictReader(io.StringIO(path.read_text()), delimiter=";"))


def crop_and_resize(path: epath.Path, row: dict[str, str]) -> np.ndarray:
    """The ROI of ``row`` (inclusive corners) in the image at ``path``, as (40, 40, 3) uint8."""
    box = (int(row["Roi.X1"]), int(row["Roi.Y1"]), int(row["Roi.X2"]) + 1, int(row["Roi.Y2"]) + 1)
    with path.open("rb") as file:
        image = Image.open(file).convert("RGB").crop(box)
    return np.asarray(image.resize((SIDE, SIDE), Image.Resampling.BILINEAR))


class Gtsrb(tfds.core.GeneratorBasedBuilder):
    """German Traffic Sign Recognition Benchmark, ROI-cropped, 40 x 40 (43 classes)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = common.manual_download_instructions(URLS)

    def _info(self) -> tfds.core.DatasetInfo:
        return common.image_dataset_info(
            self,
            __doc__,
            SIDE,
            NUM_CLASSES,
            "https://benchmark.ini.rub.de/gtsrb_news.html",
            _CITATION,
        )

    def _split_generators(
        self, dl_manager: tfds.download.DownloadManager
    ) -> dict[str, Iterator[tuple[str, dict[str, Any]]]]:
        paths = common.fetch(dl_manager, FILES, URLS)
        class_dirs = sorted(
            path for path in (paths["train"] / TRAIN_DIR).iterdir() if path.is_dir()
        )
        return {
            "train": self._generate_examples(
                [(directory / f"GT-{directory.name}.csv", directory) for directory in class_dirs]
            ),
            "test": self._generate_examples(
                [(paths["test_labels"] / TEST_CSV, paths["test_images"] / TEST_DIR)]
            ),
        }

    def _generate_examples(
        self, tables: list[tuple[epath.Path, epath.Path]]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields ("<dir>/<file>", {"image": (40, 40, 3) uint8, "label": int}).

        Args:
          tables: (ground-truth CSV, directory of the images it lists) pairs.
        """
        for csv_path, image_dir in tables:
            for row in read_ground_truth(csv_path):
                yield (
                    f"{image_dir.name}/{row['Filename']}",
                    {
                        "image": crop_and_resize(image_dir / row["Filename"], row),
                        "label": int(row["ClassId"]),
                    },
                )
