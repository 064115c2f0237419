"""What the builders share: fetching archives (download or manual dir), features and info,
and the Office builders' domains of class folders of full-size images."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image


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


# Files of other kinds in a class folder (e.g. Thumbs.db) are no images of the dataset.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass(eq=False)
class DomainConfig(tfds.core.BuilderConfig):
    """One domain of an Office dataset: its folder in the archive and its official size."""

    folder: str = ""
    num_images: int = 0


def domain_dataset_info(
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


def domain_images(
    dl_manager: tfds.download.DownloadManager, archive: str, inside: str, instructions: str
) -> epath.Path:
    """The folder ``inside`` (a domain's class folders) of the manual dir's ``archive``,
    extracted, or of the manual dir itself when the archive was extracted there.

    Raises:
      ValueError: there is no such folder; the message ends with ``instructions``.
    """
    path = dl_manager.manual_dir / archive
    root = dl_manager.extract(path) if path.is_file() else path.parent
    if not (root / inside).is_dir():
        raise ValueError(f"no folder {inside} in {root}. {instructions}")
    return root / inside


def has_domain(manual_dir: str | os.PathLike, archive: str, inside: str) -> bool:
    """Whether ``manual_dir`` holds ``archive`` or, extracted, the folder ``inside``."""
    manual = epath.Path(manual_dir)
    return (manual / archive).is_file() or (manual / inside).is_dir()


class DomainFoldersBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """An Office-style dataset from its archive in the manual dir, one config per domain.

    Each domain is one split, ``train``, the whole domain: ``image`` of any size,
    ``label`` (its class folder's name) and ``file_name`` (the path inside the
    archive). A subclass names its archive, the folder of a domain's class folders
    inside it (:attr:`DOMAIN_FOLDER`, formatted with the config's ``folder``), its
    classes, homepage and citation; the module's docstring is the description.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    ARCHIVE: ClassVar[str]
    DOMAIN_FOLDER: ClassVar[str]  # e.g. "{folder}/images": a domain's class folders
    CLASS_NAMES: ClassVar[Sequence[str]]
    HOMEPAGE: ClassVar[str]
    CITATION: ClassVar[str]
    DESCRIPTION: ClassVar[str]

    @classmethod
    def domain_folder(cls, config_name: str) -> str:
        """The folder of domain ``config_name``'s class folders, inside the archive."""
        folder = {config.name: config.folder for config in cls.BUILDER_CONFIGS}[config_name]
        return cls.DOMAIN_FOLDER.format(folder=folder)

    @classmethod
    def has_source(cls, manual_dir: str | os.PathLike, config_name: str) -> bool:
        """Whether ``manual_dir`` holds the archive, or domain ``config_name`` extracted."""
        return has_domain(manual_dir, cls.ARCHIVE, cls.domain_folder(config_name))

    def _info(self) -> tfds.core.DatasetInfo:
        return domain_dataset_info(
            self, self.DESCRIPTION, self.CLASS_NAMES, self.HOMEPAGE, self.CITATION
        )

    def _split_generators(
        self, dl_manager: tfds.download.DownloadManager
    ) -> dict[str, Iterator[tuple[str, dict[str, Any]]]]:
        folder = self.domain_folder(self.builder_config.name)
        images_dir = domain_images(
            dl_manager, self.ARCHIVE, folder, self.MANUAL_DOWNLOAD_INSTRUCTIONS
        )
        return {"train": self._generate_examples(images_dir, folder)}

    def _generate_examples(
        self, images_dir: epath.Path, folder: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields ("<domain folder>/<class>/<file>", {"image", "label", "file_name"})."""
        yield from folder_examples(
            images_dir, folder, self.CLASS_NAMES, self.builder_config.num_images
        )
