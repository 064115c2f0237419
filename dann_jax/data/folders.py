"""A user's own domains from folders of image files, read without TensorFlow.

Layout: one folder per domain under a root; a labelled domain holds one folder
per class::

    root/
      paintings/           the source: always labelled
        cat/  001.jpg  002.png  ...
        dog/  ...
      photos/              a labelled target
        dog/  ...
      street/              an unlabelled target: images directly in it
        0001.jpg  ...

Images are the files ending in .jpg, .jpeg, .png or .bmp (any case) directly in
their folder, in sorted order; other files and hidden entries (".DS_Store") are
ignored. Paths and labels are indexed once; each record is decoded on access by
PIL, made RGB (grey, palette and RGBA images converted, alpha dropped) and resized
bilinearly to one fixed (height, width): images in folders come in any size, and
:func:`dann_jax.data.sources.read` stacks records into one array.

Class list: the source's class folder names, sorted; class id i is the i-th name.
A labelled target's class folders map to these ids by name and may be fewer; a
target class the source lacks is an error, since the label head cannot predict it.

Unlabelled target: a domain folder with images directly in it and no class
folders. Its records carry ``label`` -1 (:data:`UNLABELLED`) rather than no
label, because :func:`~dann_jax.data.sources.read` stacks a ``label`` from every
record; ``labelled`` is False, so evaluation knows there is nothing to score.
Training never reads target labels.

Corrupt images are skipped with one warning per domain naming them. Indexing
opens each file once and checks it with ``PIL.Image.verify`` (the header and, for
PNG, the checksums; no pixels are decoded, so it is cheap). Folders of collected
photos often hold a few broken files; a run should neither refuse the whole
domain for them nor fail hours later inside grain's reader threads, and the
warning says which files the domain lacks. Damage only decoding finds (a
truncated JPEG) raises a ValueError naming the file when its record is read.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# The label of every record of an unlabelled domain: never a class id.
UNLABELLED = -1


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """One domain folder as a random-access source of decoded, resized images.

    Holds paths and labels only (cheap to copy and pickle; grain reads it from
    threads); each image is decoded when its record is read. Build one with
    :func:`folder_domains`.

    Attributes:
      root: the folder holding the domain folders.
      domain: this domain's folder name under ``root``.
      files: image paths relative to ``root`` (POSIX), e.g. "paintings/cat/001.jpg".
      labels: each file's class id, or :data:`UNLABELLED` (-1) for every file of
        an unlabelled domain.
      classes: the class names the ids index (the source's, for every domain).
      size: (height, width) every image is resized to.
      labelled: whether the files sit in class folders (labels are class ids).
    """

    root: Path
    domain: str
    files: tuple[str, ...] = dataclasses.field(repr=False)
    labels: tuple[int, ...] = dataclasses.field(repr=False)
    classes: tuple[str, ...]
    size: tuple[int, int]
    labelled: bool

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Record ``index``: ``image`` (height, width, 3) uint8, ``label`` () int32 and
        ``file_name`` (the path relative to ``root``).

        Raises:
          ValueError: PIL cannot decode the file (named in the message).
        """
        file_name = self.files[index]
        return {
            "image": load_image(self.root / file_name, self.size),
            "label": np.int32(self.labels[index]),
            "file_name": file_name,
        }

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The records at ``indices``, in order (see :meth:`__getitem__`)."""
        return [self[index] for index in indices]


def load_image(path: str | os.PathLike, size: tuple[int, int], channels: int = 3) -> np.ndarray:
    """The image at ``path``, decoded by PIL, made RGB (or grey, for ``channels=1``) and
    resized bilinearly to ``size`` (height, width): (height, width, channels) uint8.

    Raises:
      ValueError: PIL cannot decode the file (named in the message).
    """
    height, width = size
    try:
        with Image.open(path) as image:
            converted = image.convert("RGB" if channels == 3 else "L")
            resized = converted.resize((width, height), Image.Resampling.BILINEAR)
    except Exception as error:  # Pillow raises many kinds (OSError, SyntaxError, ...).
        raise ValueError(f"Cannot decode image {path}: {error}") from error
    return np.asarray(resized, np.uint8).reshape(height, width, channels)


def image_files(path: str | os.PathLike) -> list[Path]:
    """The image files ``path`` names: itself, or those in the folder and its
    subfolders (visible files ending in an image suffix, any case), sorted by path.

    Raises:
      ValueError: ``path`` does not exist, is not an image, or holds none.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"{path} does not exist.")
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{path} is not an image ({', '.join(IMAGE_SUFFIXES)}).")
        return [path]
    found = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not found:
        raise ValueError(f"{path} holds no image ({', '.join(IMAGE_SUFFIXES)}, any case).")
    return found


def _expected(folder: Path) -> str:
    return f"{folder}{os.sep}<class>{os.sep}<image> ({', '.join(IMAGE_SUFFIXES)})"


def _subfolders(folder: Path) -> list[str]:
    """The sorted names of the visible folders in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    """The visible image files directly in ``folder``, sorted by name."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        ),
        key=lambda p: p.name,
    )


def _unreadable(path: Path) -> str | None:
    """Why PIL cannot read ``path``, or None when it can; no pixels are decoded."""
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as error:  # Pillow raises many kinds (OSError, SyntaxError, struct.error).
        return f"{type(error).__name__}: {error}"
    return None


def _domain_folder(root: Path, domain: str) -> Path:
    """``root / domain``, or a ValueError naming the domains that are there."""
    folder = root / domain
    if folder.is_dir():
        return folder
    if root.is_dir():
        found = _subfolders(root)
        there = f"domains found under {root}: {', '.join(found)}" if found else "it holds none"
    else:
        there = f"{root} does not exist"
    raise ValueError(
        f"No domain folder {folder}: expected images in {_expected(folder)} ({there})."
    )


def _check_source_classes(folder: Path, classes: Sequence[str], labels: Sequence[int]) -> None:
    """Every source class needs a readable image (else the label head learns a class it
    never sees), and DANN's label head needs two classes at least."""
    counts = np.bincount(np.asarray(labels), minlength=len(classes))
    empty = [name for name, count in zip(classes, counts, strict=True) if count == 0]
    if empty:
        raise ValueError(
            f"Source class folder(s) {', '.join(str(folder / name) for name in empty)} hold no "
            "readable image: put images in them, or remove them to leave the class out."
        )
    if len(classes) < 2:
        raise ValueError(
            f"Source domain folder {folder} holds one class folder ({classes[0]}): a classifier "
            f"needs two classes at least; add a folder per class in {_expected(folder)}."
        )


def _index_domain(
    root: Path,
    domain: str,
    size: tuple[int, int],
    classes: tuple[str, ...] | None,
    source: str,
) -> ImageFolder:
    """Indexes one domain folder, skipping (with a warning) the files PIL cannot read.

    Args:
      root, domain, size: as in :func:`folder_domains`.
      classes: the source's class names, or None for the source itself (its own
        class folders then make the class list, and it must have some).
      source: the source domain's name, for messages.
    """
    is_source = classes is None
    folder = _domain_folder(root, domain)
    class_names = _subfolders(folder)
    loose = _image_files(folder)
    if classes is None and not class_names:
        what = "images but no class folders" if loose else "no class folders and no images"
        raise ValueError(
            f"Source domain folder {folder} holds {what}: the source must be labelled, with "
            f"its images in {_expected(folder)}."
        )
    if class_names and loose:
        raise ValueError(
            f"Domain folder {folder} holds both class folders and images ({loose[0].name}, ...): "
            f"put every image in {_expected(folder)}, or, for an unlabelled target, "
            f"all of them directly in {folder} with no class folders."
        )
    if not class_names and not loose:
        raise ValueError(
            f"Domain folder {folder} holds no images: expected {_expected(folder)} "
            f"(or images directly in {folder} for an unlabelled target)."
        )

    if class_names:
        classes = tuple(class_names) if classes is None else classes
        unknown = [name for name in class_names if name not in classes]
        if unknown:
            raise ValueError(
                f"Target domain {domain!r} has class folders {unknown} that the source domain "
                f"{source!r} lacks (its classes: {', '.join(classes)}); the class list is the "
                f"source's class folders under {root / source}."
            )
        ids = {name: index for index, name in enumerate(classes)}
        labelled = [
            (path, ids[name]) for name in class_names for path in _image_files(folder / name)
        ]
        if not labelled:
            raise ValueError(
                f"Domain folder {folder} has class folders ({', '.join(class_names)}) but no "
                f"images in them: expected {_expected(folder)}."
            )
    else:
        labelled = [(path, UNLABELLED) for path in loose]

    readable, skipped = [], []
    for path, label in labelled:
        problem = _unreadable(path)
        if problem is None:
            readable.append((path.relative_to(root).as_posix(), label))
        else:
            skipped.append(f"{path} ({problem})")
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image(s) of domain {domain!r}: "
            + "; ".join(skipped),
            stacklevel=3,
        )
    if not readable:
        raise ValueError(
            f"Domain folder {folder} holds no image that PIL can read (the warning names them)."
        )
    files, labels = zip(*readable, strict=True)
    if is_source:
        _check_source_classes(folder, classes, labels)
    return ImageFolder(
        root=root,
        domain=domain,
        files=files,
        labels=labels,
        classes=classes,
        size=size,
        labelled=bool(class_names),
    )


def folder_domains(
    root: str | os.PathLike, source: str, target: str, *, size: tuple[int, int]
) -> tuple[ImageFolder, ImageFolder, tuple[str, ...]]:
    """A source and a target domain from ``root/<domain>/<class>/<image>`` (see the module).

    Args:
      root: the folder holding one folder per domain.
      source: the labelled source domain's folder name; its sorted class folder
        names are the class list.
      target: the target domain's folder name: class folders named as the
        source's (labelled), or images directly in it (unlabelled, labels -1).
      size: (height, width) every image is resized to.

    Returns:
      The source, the target and the class names (class id i is ``classes[i]``).

    Raises:
      ValueError: a domain folder is missing (the message lists the domains
        found), empty or laid out otherwise than expected; the source has no
        class folders or no images; the target has a class the source lacks;
        or no image of a domain can be read.
    """
    root = Path(root).expanduser()
    height, width = (int(side) for side in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be a positive (height, width), got {tuple(size)}.")
    source_folder = _index_domain(root, source, (height, width), None, source)
    target_folder = _index_domain(root, target, (height, width), source_folder.classes, source)
    return source_folder, target_folder, source_folder.classes
