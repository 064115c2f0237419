"""MNIST -> MNIST-M from local files, on tiny idx files and photos written here."""

import gzip
import hashlib
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from dann_jax.data import mnist_files
from dann_jax.data.mnist_files import read_idx, read_photos
from dann_jax.data.offline import mnist_to_blended_mnist, mnist_to_mnist_m

NUM_DIGITS = 100  # 10 per class: halves of 5 per class, test parts of 1 per class


def write_idx(path, array, compress):
    """Writes a uint8 array of rank 1 (labels, magic 2049) or 3 (images, 2051) as idx."""
    magic = {1: 2049, 3: 2051}[array.ndim]
    header = np.array([magic, *array.shape], ">u4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def files(tmp_path, rng):
    """Paths of NUM_DIGITS random 28x28 digits with balanced labels, and two photos."""
    digits = rng.integers(0, 256, (NUM_DIGITS, 28, 28), dtype=np.uint8)
    digits[:, :14] = 0  # zero pixels show the photo patch unchanged
    labels = np.arange(NUM_DIGITS, dtype=np.uint8) % 10
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, side in (("a.png", 31), ("b.png", 30)):
        pixels = rng.integers(0, 256, (side, side + 2, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / name)
    return {
        "images_path": write_idx(tmp_path / "images-idx3-ubyte.gz", digits, compress=True),
        "labels_path": write_idx(tmp_path / "labels-idx1-ubyte", labels, compress=False),
        "photos_folder": photos,
    }


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("shape", [(5, 28, 28), (7,)])
def test_read_idx_round_trip(tmp_path, rng, compress, shape):
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    read = read_idx(write_idx(tmp_path / "file", array, compress))
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, array)


def test_read_idx_rejects_other_files(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an idx file")
    with pytest.raises(ValueError, match="not an MNIST idx file"):
        read_idx(path)


def test_read_idx_rejects_truncated_files(tmp_path, rng):
    path = write_idx(tmp_path / "file", rng.integers(0, 256, (5, 28, 28)), compress=False)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_read_photos(tmp_path):
    Image.fromarray(np.full((4, 6), 255, np.uint8)).save(tmp_path / "b.jpg")  # grey
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("ignored")
    photos = read_photos(tmp_path)
    assert [photo.shape for photo in photos] == [(3, 5, 3), (4, 6, 3)]  # sorted by name
    assert all(photo.dtype == np.float32 for photo in photos)
    np.testing.assert_array_equal(photos[0], 0.0)
    np.testing.assert_allclose(photos[1], 1.0, atol=2 / 255)  # JPEG is lossy


def test_read_photos_needs_photos(tmp_path):
    with pytest.raises(ValueError, match=r"no \.jpg, \.jpeg or \.png photos"):
        read_photos(tmp_path)


def test_splits_are_disjoint_covering_and_stratified(files):
    domains = mnist_to_blended_mnist(**files, seed=0)
    digits = read_idx(files["images_path"])
    source_parts = (domains.source_train, domains.source_test)
    sizes = [40, 10, 40, 10]
    for split, size in zip(vars(domains).values(), sizes, strict=True):
        assert split.inputs.shape == (size, 28, 28, 3)
        assert split.inputs.dtype == np.uint8 and split.labels.dtype == np.int32
        np.testing.assert_array_equal(np.bincount(split.labels, minlength=10), size // 10)
    # The source digits, found back in the idx file, are half of them, each once.
    source_index = [
        int(np.flatnonzero((digits == image[..., 0]).all(axis=(1, 2)))[0])
        for split in source_parts
        for image in split.inputs
    ]
    assert len(set(source_index)) == NUM_DIGITS // 2
    for split in source_parts:
        np.testing.assert_array_equal(split.inputs[..., 0], split.inputs[..., 2])
    # Every target image is one of the other digits blended with a crop of a photo.
    target_index = [
        _blended_digit(image, digits, read_photos(files["photos_folder"]))
        for split in (domains.target_train, domains.target_test)
        for image in split.inputs
    ]
    assert sorted(source_index + target_index) == list(range(NUM_DIGITS))


def _blended_digit(image, digits, photos):
    """The index of the uint8 digit that the uint8 ``image`` = 255 x |binarised digit -
    photo crop| blends (exactly: each value is a photo's byte or 255 minus it)."""
    crops = np.stack(
        [
            photo[top : top + 28, left : left + 28]
            for photo in photos
            for top in range(photo.shape[0] - 27)
            for left in range(photo.shape[1] - 27)
        ]
    )
    crops = np.rint(crops * 255.0).astype(np.int16)
    binarised = 255 * (digits > 127).astype(np.int16)[:, None, ..., None]
    matches = np.argwhere((np.abs(binarised - crops) == image).all(axis=(2, 3, 4)))
    assert len(matches) == 1, "no digit and crop, or several, blend to this image"
    digit, crop = matches[0]
    # Where the digit is 0 the pixel is the photo's.
    np.testing.assert_array_equal(image[:14], crops[crop][:14])
    return int(digit)


def test_same_seed_same_domains(files):
    first, again, other = (mnist_to_blended_mnist(**files, seed=seed) for seed in (0, 0, 1))
    for split, split_again in zip(vars(first).values(), vars(again).values(), strict=True):
        np.testing.assert_array_equal(split.inputs, split_again.inputs)
        np.testing.assert_array_equal(split.labels, split_again.labels)
    assert not np.array_equal(first.target_train.inputs, other.target_train.inputs)


@pytest.mark.parametrize(
    "argument, key",
    [
        ("images_path", "mnist_images"),
        ("labels_path", "mnist_labels"),
        ("photos_folder", "photos_dir"),
    ],
)
def test_missing_path_names_the_config_key(files, tmp_path, argument, key):
    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match=f"{re.escape(str(missing))}.*config\\.{key}"):
        mnist_to_blended_mnist(**{**files, argument: missing}, seed=0)


def test_a_file_named_as_the_published_one_that_differs_gets_a_warning(files, tmp_path):
    renamed = tmp_path / "t10k-images-idx3-ubyte.gz"
    renamed.write_bytes(files["images_path"].read_bytes())
    with pytest.warns(UserWarning, match="is not the published t10k-images-idx3-ubyte "):
        mnist_to_blended_mnist(renamed, files["labels_path"], files["photos_folder"], seed=0)


@pytest.fixture
def paper_files(tmp_path, rng, files):
    """The paper's protocol's files: NUM_DIGITS training digits (``files``' images),
    20 test digits, both with balanced labels, and ``files``' photos."""
    test_digits = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    test_digits[:, :14] = 0
    test_labels = np.arange(20, dtype=np.uint8) % 10
    return {
        "train_images": files["images_path"],
        "train_labels": files["labels_path"],
        "test_images": write_idx(tmp_path / "test-images-idx3-ubyte", test_digits, False),
        "test_labels": write_idx(tmp_path / "test-labels-idx1-ubyte.gz", test_labels, True),
        "photos_folder": files["photos_folder"],
    }


def test_the_papers_protocol_blends_the_training_digits_and_tests_on_the_test_digits(
    paper_files,
):
    domains = mnist_to_mnist_m(**paper_files, seed=0)
    train, test = read_idx(paper_files["train_images"]), read_idx(paper_files["test_images"])
    photos = read_photos(paper_files["photos_folder"])
    for source, target, digits, labels in (
        (domains.source_train, domains.target_train, train, paper_files["train_labels"]),
        (domains.source_test, domains.target_test, test, paper_files["test_labels"]),
    ):
        assert source.inputs.shape == target.inputs.shape == (len(digits), 28, 28, 3)
        assert source.inputs.dtype == target.inputs.dtype == np.uint8
        np.testing.assert_array_equal(source.labels, read_idx(labels))
        np.testing.assert_array_equal(target.labels, read_idx(labels))
        # The source is every digit of the set in order, grey in three channels ...
        np.testing.assert_array_equal(source.inputs, np.repeat(digits[..., None], 3, -1))
        # ... and the target the same digits, in order, each blended with a photo crop.
        blended = [_blended_digit(image, digits, photos) for image in target.inputs[:10]]
        assert blended == list(range(10))


def test_the_papers_protocol_is_the_seeds(paper_files):
    first, again, other = (mnist_to_mnist_m(**paper_files, seed=seed) for seed in (0, 0, 1))
    np.testing.assert_array_equal(first.target_train.inputs, again.target_train.inputs)
    np.testing.assert_array_equal(first.target_test.inputs, again.target_test.inputs)
    assert not np.array_equal(first.target_train.inputs, other.target_train.inputs)
    np.testing.assert_array_equal(first.source_train.inputs, other.source_train.inputs)


@pytest.mark.parametrize(
    "argument, key",
    [
        ("train_images", "mnist_train_images"),
        ("train_labels", "mnist_train_labels"),
        ("test_images", "mnist_test_images"),
        ("test_labels", "mnist_test_labels"),
        ("photos_folder", "photos_dir"),
    ],
)
def test_the_papers_protocol_names_the_key_of_a_path_not_set(paper_files, argument, key):
    with pytest.raises(ValueError, match=f"is not set: pass --config\\.{key}=PATH"):
        mnist_to_mnist_m(**{**paper_files, argument: ""}, seed=0)


def test_the_papers_protocol_refuses_sets_of_other_digit_sizes(paper_files, tmp_path, rng):
    small = write_idx(tmp_path / "small", rng.integers(0, 256, (20, 16, 16)), compress=False)
    with pytest.raises(ValueError, match="pass the training and test sets of one dataset"):
        mnist_to_mnist_m(**{**paper_files, "test_images": small}, seed=0)


@pytest.mark.parametrize("compress", [True, False])
def test_the_published_check_compares_decompressed_content(tmp_path, monkeypatch, compress):
    """A file named as a published one passes gzipped or not when its decompressed
    content is the published content; one changed label warns."""
    labels = np.arange(30, dtype=np.uint8) % 10
    raw = write_idx(tmp_path / "raw", labels, compress=False).read_bytes()
    name = "train-labels-idx1-ubyte"
    monkeypatch.setitem(mnist_files.PUBLISHED_CONTENT, name, hashlib.sha256(raw).hexdigest())
    path = write_idx(tmp_path / (name + ".gz" if compress else name), labels, compress)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mnist_files.check_published(path)
    labels[0] = 1
    write_idx(path, labels, compress)
    with pytest.warns(UserWarning, match=f"is not the published {name} "):
        mnist_files.check_published(path)
