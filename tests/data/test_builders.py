"""The TFDS builders on the tiny files of tests/dummy_data (no network, no real data)."""

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
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from dann_jax.data.builders import gtsrb, mnist_m, syn_digits, syn_signs

DUMMY = pathlib.Path(__file__).parents[1] / "dummy_data"
# Synthetic idx files (scikit-learn digits, not MNIST), named apart from the real archives.
MNIST_DUMMIES = {
    "train_images": "dummy-train-images.idx.gz",
    "train_labels": "dummy-train-labels.idx.gz",
    "test_images": "dummy-test-images.idx.gz",
    "test_labels": "dummy-test-labels.idx.gz",
}
TINY_SYN = syn_digits.SynDigitsConfig(name="tiny", description="Test.", num_train=6, num_test=3)


class MnistMTest(tfds.testing.DatasetBuilderTestCase):
    """The dummy dir lacks the archives: the download path (``prepared`` takes the manual one)."""

    DATASET_CLASS = mnist_m.MnistM
    EXAMPLE_DIR = DUMMY / "mnist_m"
    SPLITS: ClassVar[dict[str, int]] = {"train": 6, "test": 4}
    DL_EXTRACT_RESULT: ClassVar[dict[str, str]] = {**MNIST_DUMMIES, "bsds": "."}
    SKIP_CHECKSUMS = True  # No checksums file: the builders record none.


class GtsrbTest(tfds.testing.DatasetBuilderTestCase):
    """The download path, as for ``MnistMTest``."""

    DATASET_CLASS = gtsrb.Gtsrb
    EXAMPLE_DIR = DUMMY / "gtsrb"
    SPLITS: ClassVar[dict[str, int]] = {"train": 3, "test": 2}
    DL_EXTRACT_RESULT: ClassVar[dict[str, str]] = {key: key for key in gtsrb.FILES}
    SKIP_CHECKSUMS = True


class SynSignsTest(tfds.testing.DatasetBuilderTestCase):
    """The archive already unzipped in the manual dir (``prepared`` takes the zip)."""

    DATASET_CLASS = syn_signs.SynSigns
    EXAMPLE_DIR = DUMMY / "syn_signs"
    SPLITS: ClassVar[dict[str, int]] = {"train": 9, "test": 1}


class SynDigitsTest(tfds.testing.DatasetBuilderTestCase):
    """A tiny config: the harness prepares every config it is given."""

    DATASET_CLASS = syn_digits.SynDigits
    EXAMPLE_DIR = DUMMY  # Nothing is downloaded; the harness only needs a directory.
    BUILDER_CONFIG_NAMES_TO_TEST: ClassVar[list[syn_digits.SynDigitsConfig]] = [TINY_SYN]
    SPLITS: ClassVar[dict[str, int]] = {"train": 6, "test": 3}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> pathlib.Path:
    """A TFDS data dir shared by the tests of this module."""
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def prepared(data_dir) -> dict[str, tfds.core.DatasetBuilder]:
    """The builders prepared as array_record from manual dirs of real archive files."""
    mnist_manual = data_dir / "mnist_m_manual"
    mnist_manual.mkdir()
    for key, name in MNIST_DUMMIES.items():
        shutil.copy(DUMMY / "mnist_m" / name, mnist_manual / mnist_m.FILES[key])
    with tarfile.open(mnist_manual / mnist_m.FILES["bsds"], "w:gz") as archive:
        archive.add(DUMMY / "mnist_m" / "BSR", "BSR")
    gtsrb_manual = data_dir / "gtsrb_manual"
    for key, name in gtsrb.FILES.items():
        shutil.make_archive(
            str(gtsrb_manual / name.removesuffix(".zip")), "zip", DUMMY / "gtsrb" / key
        )
    signs_manual = data_dir / "syn_signs_manual"
    shutil.make_archive(
        str(signs_manual / syn_signs.ARCHIVE.removesuffix(".zip")), "zip", DUMMY / "syn_signs"
    )
    builders = {
        "mnist_m": tfds.builder("mnist_m", data_dir=data_dir),
        "gtsrb": tfds.builder("gtsrb", data_dir=data_dir),
        "syn_digits": tfds.builder("syn_digits", config=TINY_SYN, data_dir=data_dir),
        "syn_signs": tfds.builder("syn_signs", data_dir=data_dir),
    }
    manual_dirs = {"mnist_m": mnist_manual, "gtsrb": gtsrb_manual, "syn_signs": signs_manual}
    for name, builder in builders.items():
        config = tfds.download.DownloadConfig(manual_dir=manual_dirs.get(name))
        builder.download_and_prepare(file_format="array_record", download_config=config)
    return builders


def records(builder: tfds.core.DatasetBuilder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """All images (N, H, W, 3) uint8 and labels (N,) of a prepared split."""
    examples = list(builder.as_data_source(split=split))
    return np.stack([e["image"] for e in examples]), np.array([e["label"] for e in examples])


def test_read_idx_reads_gzipped_and_plain_files(tmp_path):
    images = mnist_m.read_idx(DUMMY / "mnist_m" / MNIST_DUMMIES["train_images"])
    labels = mnist_m.read_idx(DUMMY / "mnist_m" / MNIST_DUMMIES["train_labels"])
    assert images.shape == (6, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.arange(6))
    plain = tmp_path / "labels"
    plain.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x03")
    np.testing.assert_array_equal(mnist_m.read_idx(plain), [7, 3])
    plain.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x00")
    with pytest.raises(ValueError, match="magic"):
        mnist_m.read_idx(plain)


def test_mnist_m_is_each_digit_blended_with_a_bsds_train_crop(prepared):
    """Every image is |binarised digit - 28 x 28 crop of a train photo|, each digit once."""
    photos = mnist_m.read_photos(DUMMY / "mnist_m" / mnist_m.BSDS_TRAIN_DIR)
    crops = np.concatenate(
        [sliding_window_view(p, (28, 28, 3)).reshape(-1, 28, 28, 3) for p in photos]
    ).astype(np.int16)
    for split in ("train", "test"):
        digits = mnist_m.read_idx(DUMMY / "mnist_m" / MNIST_DUMMIES[f"{split}_images"])
        labels = mnist_m.read_idx(DUMMY / "mnist_m" / MNIST_DUMMIES[f"{split}_labels"])
        binarised = np.where(digits / 255 > 0.5, 255, 0).astype(np.int16)[..., None]
        blends = np.abs(binarised[:, None] - crops[None])  # (digits, crops, 28, 28, 3)
        images, image_labels = records(prepared["mnist_m"], split)
        assert images.shape == (len(digits), 28, 28, 3) and images.dtype == np.uint8
        used = []
        for image, label in zip(images, image_labels, strict=True):
            digit, _ = np.nonzero((blends == image).all(axis=(2, 3, 4)))
            assert len(set(digit)) == 1, "no single digit and crop give this image"
            assert labels[digit[0]] == label
            used.append(digit[0])
        assert sorted(used) == list(range(len(digits)))


def test_gtsrb_images_are_the_roi_resized_with_the_csv_labels(prepared):
    """Each dummy sign's ROI is one colour inside a noisy border: the output must be that colour."""
    tables = {
        "train": [
            (csv, csv.parent)
            for csv in sorted((DUMMY / "gtsrb/train" / gtsrb.TRAIN_DIR).glob("*/GT-*.csv"))
        ],
        "test": [
            (
                DUMMY / "gtsrb/test_labels" / gtsrb.TEST_CSV,
                DUMMY / "gtsrb/test_images" / gtsrb.TEST_DIR,
            )
        ],
    }
    for split, pairs in tables.items():
        expected = set()
        for csv, image_dir in pairs:
            for row in gtsrb.read_ground_truth(csv):
                with Image.open(image_dir / row["Filename"]) as file:
                    image = np.asarray(file)
                colour = tuple(image[int(row["Roi.Y1"]), int(row["Roi.X1"])])
                expected.add((colour, int(row["ClassId"])))
        images, labels = records(prepared["gtsrb"], split)
        assert images.shape == (len(expected), 40, 40, 3) and images.dtype == np.uint8
        assert (images == images[:, :1, :1]).all(), "pixels from outside the ROI"
        assert {(tuple(i[0, 0]), int(c)) for i, c in zip(images, labels, strict=True)} == expected


def test_syn_signs_are_the_archive_images_at_40x40_with_their_labels(prepared):
    lines = (DUMMY / "syn_signs" / syn_signs.ROOT / syn_signs.LABELLING).read_text().splitlines()
    entries = [(name, int(label)) for name, label, _ in (line.split() for line in lines)]
    train_images, train_labels = records(prepared["syn_signs"], "train")
    test_images, test_labels = records(prepared["syn_signs"], "test")
    assert train_images.shape == (9, 40, 40, 3) and test_images.shape == (1, 40, 40, 3)
    # The first 90 % of the labelling file is train, the rest test; TFDS shuffles by key.
    assert sorted(train_labels) == sorted(label for _, label in entries[:9])
    assert list(test_labels) == [entries[9][1]]
    original = Image.open(DUMMY / "syn_signs" / syn_signs.ROOT / entries[0][0]).convert("RGB")
    first = int(np.flatnonzero(train_labels == entries[0][1])[0])
    np.testing.assert_array_equal(train_images[first], np.asarray(original))  # 40x40: unchanged


def test_syn_digits_are_seeded_varied_centre_labelled_images(prepared):
    first = [syn_digits.render_example(np.random.default_rng([1, i])) for i in range(3)]
    again = [syn_digits.render_example(np.random.default_rng([1, i])) for i in range(3)]
    for (image, label), (image_again, label_again) in zip(first, again, strict=True):
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and 0 <= label <= 9
        np.testing.assert_array_equal(image, image_again)
        assert label == label_again
        assert image.std() > 10, "a constant image"
    assert not np.array_equal(first[0][0], first[1][0])
    images, labels = records(prepared["syn_digits"], "test")
    # The prepared test split is examples 0..2 of seed 1, in some order.
    assert sorted(i.tobytes() for i in images) == sorted(i.tobytes() for i, _ in first)
    assert sorted(labels) == sorted(label for _, label in first)


def test_prepared_datasets_are_read_without_tensorflow(prepared, data_dir):
    script = NO_TENSORFLOW + textwrap.dedent(f"""
        import tensorflow_datasets as tfds
        DATA_DIR = {str(data_dir)!r}
        for name, side in (
            ("mnist_m", 28), ("gtsrb", 40), ("syn_digits/tiny", 32), ("syn_signs", 40)
        ):
            source = tfds.data_source(name, split="test", data_dir=DATA_DIR, download=False)
            assert len(source) > 0
            assert source[0]["image"].shape == (side, side, 3), source[0]["image"].shape
            assert source[0]["image"].dtype.name == "uint8"
        assert not tried and "tensorflow" not in sys.modules, tried
        print("read without tensorflow")
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "read without tensorflow" in result.stdout
