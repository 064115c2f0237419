"""The Office builders (office31, office_home) on the tiny trees of tests/dummy_data."""

import json
import pathlib
import shutil
import subprocess
import sys
import tarfile
import textwrap
from typing import ClassVar

import numpy as np
import pytest
import tensorflow_datasets as tfds
from no_tensorflow import NO_TENSORFLOW
from PIL import Image

from dann_jax import cli
from dann_jax.data import prepare as preparing
from dann_jax.data.builders import common, office31, office_home

DUMMY = pathlib.Path(__file__).parents[1] / "dummy_data"
# Each tree is what its archive extracts to: <domain>/images/<class>/*.jpg for Office-31,
# OfficeHomeDataset_10072016/<Domain>/<Class>/*.jpg for Office-Home.
OFFICE31 = DUMMY / "office31"
OFFICE_HOME = DUMMY / "office_home"
# What ``prepared`` prepares, and from which form of the manual dir: the archive or the tree.
PREPARED = {
    "office31/amazon": "archive",
    "office31/webcam": "tree",  # holds a greyscale JPEG
    "office_home/real_world": "archive",  # a folder name with a space, "Real World"
    "office_home/product": "tree",  # classes "TV" and "Table", sorted as the names list is
}


class Office31Test(tfds.testing.DatasetBuilderTestCase):
    """Every domain, extracted in the manual dir (``prepared`` takes the archive too)."""

    DATASET_CLASS = office31.Office31
    EXAMPLE_DIR = OFFICE31
    BUILDER_CONFIG_NAMES_TO_TEST: ClassVar[list[str]] = ["amazon", "dslr", "webcam"]
    SPLITS: ClassVar[dict[str, int]] = {"train": 5}


class OfficeHomeTest(tfds.testing.DatasetBuilderTestCase):
    """As ``Office31Test``."""

    DATASET_CLASS = office_home.OfficeHome
    EXAMPLE_DIR = OFFICE_HOME
    BUILDER_CONFIG_NAMES_TO_TEST: ClassVar[list[str]] = ["art", "clipart", "product", "real_world"]
    SPLITS: ClassVar[dict[str, int]] = {"train": 4}


def domain_images(name: str) -> dict[str, tuple[str, np.ndarray]]:
    """The dummy images of domain ``name`` ("office31/amazon"): path inside the archive ->
    (class folder, RGB pixels)."""
    base, config = name.split("/")
    module, tree = (office31, OFFICE31) if base == "office31" else (office_home, OFFICE_HOME)
    folder = {c.name: c.folder for c in module.CONFIGS}[config]
    domain = tree / folder / "images" if base == "office31" else tree / office_home.ROOT / folder
    images = {}
    for path in sorted(domain.glob("*/*.jpg")):
        with Image.open(path) as image:
            images[path.relative_to(tree).as_posix()] = (
                path.parent.name,
                np.asarray(image.convert("RGB")),
            )
    return images


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> pathlib.Path:
    """A TFDS data dir holding the domains of ``PREPARED``, prepared with ``dann prepare``'s
    function from a manual dir holding the archive (built here from the dummy tree) or the
    tree itself."""
    data_dir = tmp_path_factory.mktemp("tfds")
    archives = data_dir / "archives"
    archives.mkdir()
    with tarfile.open(archives / office31.ARCHIVE, "w:gz") as archive:
        for domain in sorted(OFFICE31.iterdir()):
            archive.add(domain, domain.name)
    shutil.make_archive(
        str(archives / office_home.ARCHIVE.removesuffix(".zip")), "zip", OFFICE_HOME
    )
    trees = {"office31": OFFICE31, "office_home": OFFICE_HOME}
    for name, form in PREPARED.items():
        manual = archives if form == "archive" else trees[name.split("/")[0]]
        preparing.prepare(name, data_dir, manual)
    return data_dir


def test_class_names_are_the_sorted_folder_names():
    assert len(office31.CLASS_NAMES) == 31 and len(office_home.CLASS_NAMES) == 65
    for names in (office31.CLASS_NAMES, office_home.CLASS_NAMES):
        assert list(names) == sorted(set(names))
    assert [c.num_images for c in office31.CONFIGS] == [2_817, 498, 795]
    assert sum(c.num_images for c in office_home.CONFIGS) == 15_588


def test_prepared_domains_keep_full_sizes_and_folder_labels_read_without_tensorflow(prepared):
    """From the archive and from the tree alike: every image once, at its own size, labelled
    by its class folder; read with ``tfds.data_source`` in a process without TensorFlow."""
    script = NO_TENSORFLOW + textwrap.dedent(f"""
        import json
        import tensorflow_datasets as tfds
        read = {{}}
        for name in {list(PREPARED)!r}:
            source = tfds.data_source(name, split="train", data_dir={str(prepared)!r},
                                      download=False)
            names = source.dataset_info.features["label"].names
            read[name] = [
                (e["file_name"].decode(), names[e["label"]], e["image"].dtype.name,
                 e["image"].tolist())
                for e in (source[i] for i in range(len(source)))
            ]
        assert not tried and "tensorflow" not in sys.modules, tried
        print(json.dumps(read))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout.splitlines()[-1])
    for name in PREPARED:
        expected = domain_images(name)
        assert sorted(file_name for file_name, *_ in read[name]) == sorted(expected)
        for file_name, label, dtype, pixels in read[name]:
            folder, original = expected[file_name]
            image = np.array(pixels)
            assert label == folder and dtype == "uint8"
            assert image.shape == original.shape  # full size, 3 channels
            # The stored JPEG bytes are the archive's; decoders may differ by a unit or two.
            assert np.abs(image - original).max() <= 2
        assert len({original.shape for _, original in expected.values()}) > 1


def test_corrupt_images_stop_preparing_with_one_error_naming_them_all(tmp_path, capsys):
    manual = tmp_path / "manual"
    shutil.copytree(OFFICE31 / "dslr", manual / "dslr")
    truncated = manual / "dslr/images/bike/frame_0002.jpg"
    truncated.write_bytes(truncated.read_bytes()[:100])
    (manual / "dslr/images/trash_can/frame_0001.jpg").write_bytes(b"no image")
    (manual / "dslr/images/trash_can/Thumbs.db").write_bytes(b"not one of the images")
    data = tmp_path / "data"
    arguments = ["prepare", "office31/dslr", f"--data_dir={data}", f"--manual_dir={manual}"]
    assert cli.main(arguments) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after TFDS's progress bars
    assert error.startswith("dann prepare: error: ") and "2 corrupt image(s)" in error
    assert "Thumbs.db" not in error
    assert "dslr/images/bike/frame_0002.jpg" in error
    assert "dslr/images/trash_can/frame_0001.jpg" in error
    assert not tfds.builder("office31/dslr", data_dir=data).is_prepared()


def test_folders_of_unknown_classes_are_an_error_other_files_ignored_counts_checked(
    tmp_path, caplog
):
    images = tmp_path / "amazon/images"
    shutil.copytree(OFFICE31 / "amazon/images", images)
    (images / "mug/Thumbs.db").write_bytes(b"not one of the images")
    (images / "mug/.frame_0001.jpg").write_bytes(b"macOS metadata")
    with caplog.at_level("WARNING"):
        examples = list(common.folder_examples(images, "amazon/images", office31.CLASS_NAMES, 9))
    assert [key for key, _ in examples] == sorted(
        path.relative_to(OFFICE31).as_posix() for path in OFFICE31.glob("amazon/images/*/*.jpg")
    )
    assert "holds 5 images, the official domain 9" in caplog.text
    (images / "caltech_bike").mkdir()
    with pytest.raises(ValueError, match="no known class: caltech_bike"):
        list(common.folder_examples(images, "amazon/images", office31.CLASS_NAMES, 5))


@pytest.mark.parametrize(
    ("name", "archive", "page"),
    [
        ("office31/amazon", office31.ARCHIVE, office31.HOMEPAGE),
        ("office_home/real_world", office_home.ARCHIVE, office_home.HOMEPAGE),
        ("office_home", office_home.ARCHIVE, office_home.HOMEPAGE),  # the default config
    ],
)
def test_a_missing_archive_is_one_error_naming_it_and_where_to_get_it(
    tmp_path, capsys, name, archive, page
):
    manual = tmp_path / "manual"
    manual.mkdir()
    for manual_dir in (manual, None):
        with pytest.raises(ValueError, match="download") as error:
            preparing.check_available(name, manual_dir)
        message = str(error.value)
        assert message.count("\n") == 0
        assert archive in message and page in message and "by hand" in message
    arguments = ["prepare", name, f"--data_dir={tmp_path / 'data'}", f"--manual_dir={manual}"]
    assert cli.main(arguments) == 2
    assert archive in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_the_check_takes_the_archive_or_the_domain_extracted(tmp_path):
    (tmp_path / office31.ARCHIVE).touch()
    (tmp_path / office_home.ARCHIVE).touch()
    for name in ("office31/amazon", "office31/dslr", "office_home/art", "office_home"):
        preparing.check_available(name, tmp_path)  # raises nothing
    for config in office31.CONFIGS:
        preparing.check_available(f"office31/{config.name}", OFFICE31)
    for config in office_home.CONFIGS:
        preparing.check_available(f"office_home/{config.name}", OFFICE_HOME)
    amazon_only = tmp_path / "amazon_only"
    shutil.copytree(OFFICE31 / "amazon", amazon_only / "amazon")
    preparing.check_available("office31/amazon", amazon_only)
    with pytest.raises(ValueError, match="nor its extracted folder"):
        preparing.check_available("office31/dslr", amazon_only)
    with pytest.raises(ValueError, match="configs amazon, dslr, webcam, not 'caltech'"):
        preparing.check_available("office31/caltech", tmp_path)
