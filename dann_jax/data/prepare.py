"""``dann prepare``: TFDS datasets downloaded (or read from a manual dir) into ArrayRecord files.

Preparing is TFDS's job and needs TensorFlow. Before TFDS starts (and TensorFlow
loads), :func:`check_available` makes sure the dataset's files can be had: from
the manual dir, which must hold all of them, or from their download addresses,
which must answer within seconds. Datasets with no public download address
(``syn_signs``, ``office31``, ``office_home``) come from their archive in the
manual dir only, unchanged or extracted there. Otherwise one error names the
files to put in ``--manual_dir`` and where to get them, and nothing is written.
A download that fails part-way leaves no partial files behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import tensorflow_datasets as tfds

from dann_jax.data import tfds_sources

# The TFDS catalog's datasets of the paper download from these addresses and read no
# manual dir.
CATALOG_SOURCES = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "svhn_cropped": "http://ufldl.stanford.edu/housenumbers/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "stl10": "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
}
CONNECT_SECONDS = 3.0


def _reachable(url: str) -> bool:
    """Whether the host of ``url`` accepts a connection within :data:`CONNECT_SECONDS`."""
    address = urllib.parse.urlsplit(url)
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        with socket.create_connection((address.hostname, port), timeout=CONNECT_SECONDS):
            return True
    except OSError:
        return False


def _hosts(urls: Mapping[str, str]) -> str:
    return ", ".join(sorted({urllib.parse.urlsplit(url).hostname for url in urls.values()}))


def _manual_files(base: str) -> Mapping[str, str] | None:
    """File name -> download address, for our builders that download."""
    if base == "mnist_m":
        from dann_jax.data.builders import mnist_m as builder
    elif base == "gtsrb":
        from dann_jax.data.builders import gtsrb as builder
    else:
        return None
    return {builder.FILES[key]: url for key, url in builder.URLS.items()}


def _archive_builder(base: str) -> ModuleType | None:
    """The module of our builders that read an archive in the manual dir only, one config
    per domain: it names the ``ARCHIVE``, the ``CONFIGS``, ``has_source(manual_dir, config)``
    and the ``MANUAL_DOWNLOAD_INSTRUCTIONS``."""
    if base == "office31":
        from dann_jax.data.builders import office31 as builder
    elif base == "office_home":
        from dann_jax.data.builders import office_home as builder
    else:
        return None
    return builder


def check_available(name: str, manual_dir: str | os.PathLike | None) -> None:
    """Raises ValueError, within seconds and writing nothing, when ``name``'s files are
    neither all in ``manual_dir`` nor reachable for download; the message names them.

    Datasets it knows nothing of (other TFDS names) pass unchecked.
    """
    base = name.split(":")[0].split("/")[0]
    manual = Path(manual_dir) if manual_dir else None
    where = f"the manual dir {manual}" if manual else "no --manual_dir given"
    if base == "syn_signs":
        from dann_jax.data.builders import syn_signs

        if manual and (
            (manual / syn_signs.ARCHIVE).exists()
            or (manual / syn_signs.ROOT / syn_signs.LABELLING).exists()
        ):
            return
        raise ValueError(
            f"syn_signs is prepared from its archive only ({where}): "
            + syn_signs.SynSigns.MANUAL_DOWNLOAD_INSTRUCTIONS
        )
    builder = _archive_builder(base)
    if builder is not None:
        configs = [config.name for config in builder.CONFIGS]
        config = name.split(":")[0].partition("/")[2] or configs[0]
        if config not in configs:
            raise ValueError(f"{base} has the configs {', '.join(configs)}, not {config!r}.")
        if manual and builder.has_source(manual, config):
            return
        lacks = f"{where} holds neither {builder.ARCHIVE} nor its extracted folder"
        raise ValueError(
            f"{name} cannot be prepared: {lacks if manual else where}. "
            + builder.MANUAL_DOWNLOAD_INSTRUCTIONS
        )
    if base in CATALOG_SOURCES:
        url = CATALOG_SOURCES[base]
        if not _reachable(url):
            raise ValueError(
                f"{base} comes from the TFDS catalog, which downloads {url} and reads no "
                f"manual dir, and this machine cannot reach {urllib.parse.urlsplit(url).hostname}."
                f" Run `dann prepare {name}` on a machine with internet and copy its folder "
                f"{tfds_sources.default_data_dir() / base} here, or point --config.data_dir at it."
            )
        return
    files = _manual_files(base)
    if files is None:
        return
    missing = [file for file in files if not (manual and (manual / file).exists())]
    if missing and not all(_reachable(url) for url in files.values()):
        raise ValueError(
            f"{name} needs {len(files)} files; this machine cannot reach {_hosts(files)} to "
            f"download them and {where} lacks {', '.join(missing)}. On a machine with "
            f"internet download {' '.join(files.values())}; put them, unchanged, in one folder "
            f"and run `dann prepare {name} --manual_dir FOLDER`."
        )


@contextlib.contextmanager
def _no_partial_downloads(data_dir: Path) -> Iterator[None]:
    """On an error, removes the partial downloads (TFDS's ``*.tmp.*``) made meanwhile."""
    downloads = data_dir / "downloads"
    before = set(downloads.iterdir()) if downloads.is_dir() else set()
    try:
        yield
    except BaseException:
        if downloads.is_dir():
            for path in set(downloads.iterdir()) - before:
                if ".tmp" in path.name and path.is_dir():
                    shutil.rmtree(path)
                elif ".tmp" in path.name:
                    path.unlink()
        raise


def prepare(
    name: str,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
) -> Path:
    """Downloads and prepares ``name`` as ArrayRecord files; returns its folder.

    Args:
      name: a TFDS name (e.g. "mnist") or one of ours, with an optional config
        ("syn_digits/small").
      data_dir: where to write (default: :func:`tfds_sources.default_data_dir`).
      manual_dir: a folder holding the dataset's files, for machines without internet.

    Raises:
      ImportError: TensorFlow, which TFDS needs to prepare, is missing.
      ValueError: ``name`` is no TFDS dataset, or its files cannot be had here
        (:func:`check_available`); nothing was written.
    """
    tfds_sources.register_own_builders(name)
    try:
        tfds.builder_cls(name.split(":")[0].split("/")[0])
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"unknown dataset {name!r}; ours are {tfds_sources.OWN_BUILDERS}, the paper's from "
            f"the TFDS catalog {tfds_sources.CATALOG}."
        ) from None
    check_available(name, manual_dir)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up lines
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise ImportError(
            f"preparing {name!r} needs TensorFlow (TFDS's requirement): "
            "pip install 'dann_jax[prepare]'. Reading a prepared dataset does not."
        ) from None
    builder = tfds.builder(name, data_dir=data_dir)
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir) if manual_dir else None)
    with _no_partial_downloads(tfds_sources.default_data_dir(data_dir)):
        builder.download_and_prepare(file_format="array_record", download_config=config)
    return Path(builder.data_dir)
