"""Syn Signs as the TFDS dataset ``syn_signs``, from its published archive (manual download).

Syn Signs (Moiseev et al., ACIVS 2013) is the source domain of the paper's Syn Signs -> GTSRB
experiment (Ganin et al., JMLR 2016): 100,000 synthetic images of the 43 GTSRB sign classes,
rendered from pictograms with random backgrounds, rotations, blur and lighting. They cannot be
generated faithfully here (the pictograms and the renderer are not public), so this builder
reads the authors' archive ``synthetic_data.zip``: ``synthetic_data/train/<n>.png`` and
``synthetic_data/train_labelling.txt``, one ``train/<n>.png <class> <flag>`` line per image.

The archive has one split; as the peers do, the first 90 % of the labelling file (90,000
images) is ``train`` and the rest (10,000) ``test``. Images are resized to 40 x 40, the input
of the GTSRB network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from dann_jax.data.builders import common

SIDE = 40
NUM_CLASSES = 43
ARCHIVE = "synthetic_data.zip"
ROOT = "synthetic_data"
LABELLING = "train_labelling.txt"
HOMEPAGE = "http://graphics.cs.msu.ru/en/node/1337"

_CITATION = """\
@inproceedings{moiseev2013evaluation,
  title={Evaluation of traffic sign recognition methods trained on synthetically generated data},
  author={Moiseev, Boris and Konev, Artem and Chigorin, Alexander and Konushin, Anton},
  booktitle={Advanced Concepts for Intelligent Vision Systems (ACIVS)},
  pages={576--583},
  year={2013}
}"""


def read_labelling(path: epath.Path) -> list[tuple[str, int]]:
    """(image path relative to ``synthetic_data/``, class id) for each line of the file."""
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            name, label, *_ = line.split()
            entries.append((name, int(label)))
    return entries


def load_image(path: epath.Path) -> np.ndarray:
    """The image at ``path`` as RGB, resized to (40, 40, 3) uint8 where it is not."""
    with path.open("rb") as file:
        image = Image.open(file).convert("RGB")
    if image.size != (SIDE, SIDE):
        image = image.resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(image)


class SynSigns(tfds.core.GeneratorBasedBuilder):
    """Syn Signs: synthetic German traffic signs, 40 x 40 (43 classes), from the manual dir."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Download {ARCHIVE} (Syn Signs, Moiseev et al. 2013; linked from {HOMEPAGE}) and put "
        f"it, unchanged or unzipped (a folder {ROOT}/), in the manual dir "
        "(`dann prepare syn_signs --manual_dir DIR`)."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return common.image_dataset_info(self, __doc__, SIDE, NUM_CLASSES, HOMEPAGE, _CITATION)

    def _split_generators(
        self, dl_manager: tfds.download.DownloadManager
    ) -> dict[str, Iterator[tuple[str, dict[str, Any]]]]:
        manual = dl_manager.manual_dir
        if (manual / ARCHIVE).exists():
            root = dl_manager.extract(manual / ARCHIVE) / ROOT
        else:  # already unzipped there
            root = manual / ROOT
        if not (root / LABELLING).exists():
            raise FileNotFoundError(
                f"neither {manual / ARCHIVE} nor {root / LABELLING} exists. "
                + self.MANUAL_DOWNLOAD_INSTRUCTIONS
            )
        entries = read_labelling(root / LABELLING)
        cut = len(entries) * 9 // 10
        return {
            "train": self._generate_examples(root, entries[:cut]),
            "test": self._generate_examples(root, entries[cut:]),
        }

    def _generate_examples(
        self, root: epath.Path, entries: list[tuple[str, int]]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields ("train/<n>.png", {"image": (40, 40, 3) uint8, "label": int})."""
        for name, label in entries:
            yield name, {"image": load_image(root / name), "label": label}
