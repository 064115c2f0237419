"""Office-31 as the TFDS dataset ``office31``, one config per domain, from its archive (manual).

Office-31 (Saenko et al., ECCV 2010): 4,110 images of 31 kinds of office objects in three
domains, the configs ``amazon`` (2,817 product images from amazon.com), ``dslr`` (498 photos
taken with a digital SLR camera) and ``webcam`` (795 low-resolution photos taken with a web
camera). It has no stable public download address (the Office-31 page links a Google Drive
file), so this builder reads the authors' archive ``domain_adaptation_images.tar.gz`` from the
manual dir, unchanged or extracted there: ``<domain>/images/<class>/frame_XXXX.jpg``. The labels
are the class folders' names, sorted.

Each domain is one split, ``train``, the whole domain: the standard (transductive) Office
protocol trains on the labelled source domain and the unlabelled target domain, and evaluates on
the whole target domain. Images keep their full, varying sizes (resizing is the input
pipeline's job). Each is decoded to check it; an RGB JPEG is stored as the archive's bytes,
anything else (greyscale, CMYK, PNG) converted to RGB and stored as PNG. ``file_name`` is the
image's path inside the archive.

Corrupt images (ones Pillow cannot decode) are an error, not skipped: after reading the whole
domain, one error names every corrupt file and nothing is prepared. A domain quietly smaller
than the official one would give accuracies that cannot be compared with published ones, and a
corrupt file means a damaged download or extraction, which a fresh copy of the archive mends.
A domain whose image count differs from the official one is prepared with a warning.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

ARCHIVE = "domain_adaptation_images.tar.gz"
IMAGES = "images"  # The folder of class folders inside each domain's folder.
HOMEPAGE = "https://faculty.cc.gatech.edu/~judy/domainadapt/"
CLASS_NAMES = (
    "back_pack",
    "bike",
    "bike_helmet",
    "bookcase",
    "bottle",
    "calculator",
    "desk_chair",
    "desk_lamp",
    "desktop_computer",
    "file_cabinet",
    "headphones",
    "keyboard",
    "laptop_computer",
    "letter_tray",
    "mobile_phone",
    "monitor",
    "mouse",
    "mug",
    "paper_notebook",
    "pen",
    "phone",
    "printer",
    "projector",
    "punchers",
    "ring_binder",
    "ruler",
    "scissors",
    "speaker",
    "stapler",
    "tape_dispenser",
    "trash_can",
)
# Files of other kinds in a class folder (e.g. Thumbs.db) are no images of the dataset.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MANUAL_DOWNLOAD_INSTRUCTIONS = (
    f"Office-31 has no public download address: download {ARCHIVE} by hand (a Google Drive "
    f"link on the Office-31 page {HOMEPAGE}) and put it, unchanged or extracted (its folders "
    "amazon/, dslr/ and webcam/), in the manual dir "
    "(`dann prepare office31/amazon --manual_dir DIR`)."
)

_CITATION = """\
@inproceedings{saenko2010adapting,
  title={Adapting Visual Category Models to New Domains},
  author={Saenko, Kate and Kulis, Brian and Fritz, Mario and Darrell, Trevor},
  booktitle={European Conference on Computer Vision (ECCV)},
  pages={213--226},
  year={2010}
}"""


@dataclasses.dataclass(eq=False)
class DomainConfig(tfds.core.BuilderConfig):
    """One domain of an Office dataset: its folder in the archive and its official size."""

    folder: str = ""
    num_images: int = 0


CONFIGS = (
    DomainConfig(
        name="amazon",
        description="Amazon: 2,817 product images from amazon.com.",
        folder="amazon",
        num_images=2_817,
    ),
    DomainConfig(
        name="dslr",
        description="DSLR: 498 photos taken with a digital SLR camera.",
        folder="dslr",
        num_images=498,
    ),
    DomainConfig(
        name="webcam",
        description="Webcam: 795 low-resolution photos taken with a web camera.",
        folder="webcam",
        num_images=795,
    ),
)


def has_source(manual_dir: str | os.PathLike, config_name: str) -> bool:
    """Whether ``manual_dir`` holds the archive, or the domain ``config_name`` extracted."""
    folder = {config.name: config.folder for config in CONFIGS}[config_name]
    manual = epath.Path(manual_dir)
    return (manual / ARCHIVE).is_file() or (manual / folder / IMAGES).is_dir()


def dataset_info(
    builder: tfds.core.DatasetBuilder,
    description: str,
    class_names: Sequence[str],
    homepage: str,
    citation: str,
) -> tfds.core.DatasetInfo:
    """The ``_info`` of the Office builders: ``image`` uint8 (H, W, 3) of any size, ``label``
    named by ``class_names`` and ``file_name``; supervised as (image, label)."""
    return tfds.core.DatasetInfo(
        builder=builder,
        description=description,
        features=tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8),
                "label": tfds.features.ClassLabel(names=list(class_names)),
                "file_name": tfds.features.Text(),
            }
        ),
        supervised_keys=("image", "label"),
        homepage=homepage,
        citation=citation,
    )


def checked_image(path: epath.Path) -> bytes | np.ndarray:
    """The image at ``path``, decoded to check it: its bytes where it is an RGB JPEG, else the
    pixels converted to RGB, (H, W, 3) uint8.

    Raises:
      OSError, SyntaxError, ValueError: Pillow cannot decode it (truncated, not an image...).
    """
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.format == "JPEG" and image.mode == "RGB":
            return data
        return np.asarray(image.convert("RGB"))


def folder_examples(
    images_dir: epath.Path, prefix: str, class_names: Sequence[str], num_images: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (file name, example) for each image of the class folders of ``images_dir``.

    Args:
      images_dir: the folder of one domain's class folders.
      prefix: the path of ``images_dir`` inside the archive, which starts each ``file_name``.
      class_names: all classes, sorted; an image's label is the index of its folder's name.
      num_images: the domain's official size; another count is logged as a warning.

    Raises:
      ValueError: a folder is no class of ``class_names``, or images are corrupt (raised after
        the others were read, naming them all).
    """
    folders = sorted(path for path in images_dir.iterdir() if path.is_dir())
    unknown = [folder.name for folder in folders if folder.name not in class_names]
    if unknown:
        raise ValueError(f"{images_dir} holds folders of no known class: {', '.join(unknown)}.")
    corrupt, count = [], 0
    for folder in folders:
        label = class_names.index(folder.name)
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            file_name = f"{prefix}/{folder.name}/{path.name}"
            try:
                image = checked_image(path)
            except (OSError, SyntaxError, ValueError) as error:
                corrupt.append(f"{file_name} ({error})")
                continue
            count += 1
            yield file_name, {"image": image, "label": label, "file_name": file_name}
    if corrupt:
        raise ValueError(
            f"{len(corrupt)} corrupt image(s) in {images_dir}, which Pillow cannot decode: "
            f"{'; '.join(corrupt)}. The archive or its extraction is damaged: put a fresh copy "
            "in the manual dir and prepare again (nothing was prepared)."
        )
    if count != num_images:
        logging.getLogger(__name__).warning(
            "%s holds %s images, the official domain %s: is the archive complete?",
            images_dir,
            f"{count:,}",
            f"{num_images:,}",
        )


class Office31(tfds.core.GeneratorBasedBuilder):
    """Office-31: 31 office object classes in 3 domains, full-size images, from the manual dir."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS: ClassVar[list[DomainConfig]] = list(CONFIGS)
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        return dataset_info(self, __doc__, CLASS_NAMES, HOMEPAGE, _CITATION)

    def _split_generators(
        self, dl_manager: tfds.download.DownloadManager
    ) -> dict[str, Iterator[tuple[str, dict[str, Any]]]]:
        archive = dl_manager.manual_dir / ARCHIVE
        # The archive, else what it holds, already extracted in the manual dir.
        root = dl_manager.extract(archive) if archive.is_file() else archive.parent
        folder = self.builder_config.folder
        images_dir = root / folder / IMAGES
        if not images_dir.is_dir():
            raise ValueError(
                f"no folder {folder}/{IMAGES} in {root}. " + MANUAL_DOWNLOAD_INSTRUCTIONS
            )
        return {"train": self._generate_examples(images_dir)}

    def _generate_examples(self, images_dir: epath.Path) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields ("<domain>/images/<class>/<file>", {"image", "label", "file_name"})."""
        config = self.builder_config
        yield from folder_examples(
            images_dir, f"{config.folder}/{IMAGES}", CLASS_NAMES, config.num_images
        )
