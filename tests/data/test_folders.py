"""Domains from image folders: layout, labels, resizing, errors, corrupt files, the pipeline."""

import io
import pickle

import numpy as np
import pytest
from PIL import Image

from dann_jax.data.batches import PairedStream
from dann_jax.data.folders import UNLABELLED, folder_domains
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import read

SIZE = (6, 5)  # (height, width): not square, so a swapped order shows


def write_image(path, mode="RGB", size=(7, 9), colour=(200, 40, 10)):
    """A one-colour image of ``size`` (width, height) in PIL ``mode``, saved by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    image = image.convert(mode) if mode != "P" else image.quantize(4)
    image.save(path)
    return path


@pytest.fixture
def root(tmp_path):
    """paintings (cat, dog, owl: source), photos (dog, owl), street (no class folders)."""
    write_image(tmp_path / "paintings/cat/b.png", size=(3, 4))
    write_image(tmp_path / "paintings/cat/a.JPG", size=(20, 11))
    write_image(tmp_path / "paintings/dog/grey.png", mode="L", size=(5, 6))
    write_image(tmp_path / "paintings/owl/alpha.png", mode="RGBA", size=(9, 2))
    write_image(tmp_path / "paintings/owl/palette.bmp", mode="P")
    (tmp_path / "paintings/owl/notes.txt").write_text("not an image")
    (tmp_path / "paintings/owl/.DS_Store").write_bytes(b"\0")
    write_image(tmp_path / "photos/owl/x.jpeg", size=(30, 30))
    write_image(tmp_path / "photos/dog/y.png", size=(2, 2))
    write_image(tmp_path / "street/1.png", size=(8, 3))
    write_image(tmp_path / "street/2.png", mode="L")
    return tmp_path


def test_records_are_resized_rgb_uint8_labelled_by_sorted_source_class_names(root):
    source, target, classes = folder_domains(root, "paintings", "photos", size=SIZE)
    assert classes == ("cat", "dog", "owl") and source.labelled and target.labelled
    records = [source[i] for i in range(len(source))]
    assert [r["file_name"] for r in records] == [
        "paintings/cat/a.JPG",
        "paintings/cat/b.png",
        "paintings/dog/grey.png",
        "paintings/owl/alpha.png",
        "paintings/owl/palette.bmp",
    ]
    assert [int(r["label"]) for r in records] == [0, 0, 1, 2, 2]
    for record in records:
        assert record["image"].shape == (*SIZE, 3) and record["image"].dtype == np.uint8
        assert record["label"].dtype == np.int32 and record["label"].shape == ()
    np.testing.assert_array_equal(records[1]["image"], np.broadcast_to([200, 40, 10], (*SIZE, 3)))
    grey = records[2]["image"]
    assert np.all(grey == grey[..., :1])  # L -> three equal channels
    np.testing.assert_array_equal(records[3]["image"][0, 0], [200, 40, 10])  # RGBA -> RGB
    # The target's classes keep the source's ids.
    assert [(r["file_name"], int(r["label"])) for r in target.__getitems__([0, 1])] == [
        ("photos/dog/y.png", 1),
        ("photos/owl/x.jpeg", 2),
    ]
    assert target.classes == classes


def test_a_target_without_class_folders_is_unlabelled(root):
    _, target, classes = folder_domains(root, "paintings", "street", size=SIZE)
    assert not target.labelled and target.classes == classes and len(target) == 2
    assert all(record["label"] == UNLABELLED for record in target.__getitems__([0, 1]))
    assert target[1]["image"].shape == (*SIZE, 3)


def test_read_stacks_records_and_the_source_pickles(root):
    source, _, _ = folder_domains(root, "paintings", "street", size=SIZE)
    batch = read(source, np.array([4, 0, 2]))
    assert batch["image"].shape == (3, *SIZE, 3) and batch["image"].dtype == np.uint8
    assert batch["label"].dtype == np.int32
    np.testing.assert_array_equal(batch["label"], [2, 0, 1])
    copy = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(copy[3]["image"], source[3]["image"])


@pytest.mark.parametrize("target", ["photos", "street"])
def test_folder_domains_stream_through_the_pipeline(root, target):
    source, target_folder, classes = folder_domains(root, "paintings", target, size=SIZE)
    batches = PairedStream(
        source,
        target_folder,
        batch_size=8,
        seed=0,
        preprocess=Preprocess((8, 8, 3), np.zeros(3, np.float32)),
        with_target_labels=target_folder.labelled,
        threads=2,
    )
    for _ in range(2):
        batch = next(batches)
        assert batch["source_image"].shape == batch["target_image"].shape == (4, 8, 8, 3)
        assert batch["source_image"].dtype == np.float32
        assert set(batch["source_label"]) <= set(range(len(classes)))
    assert ("target_label" in batch) == target_folder.labelled


def test_a_target_class_the_source_lacks_is_one_error_naming_it_and_both_domains(root):
    write_image(root / "photos/fox/z.png")
    with pytest.raises(ValueError, match=r"'photos' has class folders \['fox'\].*'paintings'"):
        folder_domains(root, "paintings", "photos", size=SIZE)


def test_a_missing_domain_lists_the_domains_found(root):
    with pytest.raises(ValueError, match=r"No domain folder .*drawings.*paintings, photos, street"):
        folder_domains(root, "paintings", "drawings", size=SIZE)
    with pytest.raises(ValueError, match="does not exist"):
        folder_domains(root / "nowhere", "paintings", "photos", size=SIZE)


def mixed_layout(root):
    write_image(root / "empty/cat/1.png")
    write_image(root / "empty/2.png")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: (root / "empty").mkdir(), r"empty holds no images: expected .*<class>"),
        (lambda root: (root / "empty/cat").mkdir(parents=True), "but no images in them"),
        (mixed_layout, "both class folders and images"),
    ],
    ids=["empty", "empty class folders", "mixed"],
)
def test_a_target_laid_out_wrongly_is_one_clear_error(root, make, message):
    make(root)
    with pytest.raises(ValueError, match=message):
        folder_domains(root, "paintings", "empty", size=SIZE)


def test_a_source_must_have_class_folders_with_images(root):
    with pytest.raises(ValueError, match=r"street holds images but no class folders.*<class>"):
        folder_domains(root, "street", "photos", size=SIZE)
    (root / "bare/cat").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"bare has class folders \(cat\) but no images"):
        folder_domains(root, "bare", "photos", size=SIZE)


def test_unreadable_images_are_skipped_with_a_warning_naming_them(root):
    (root / "paintings/dog/garbage.jpg").write_bytes(b"not an image at all")
    png = bytearray((root / "paintings/cat/b.png").read_bytes())
    png[png.find(b"IDAT") + 6] ^= 0xFF  # a bad checksum
    (root / "paintings/cat/c.png").write_bytes(bytes(png))
    with pytest.warns(UserWarning, match=r"Skipped 2 unreadable.*c\.png.*garbage\.jpg"):
        source, _, _ = folder_domains(root, "paintings", "photos", size=SIZE)
    assert len(source) == 5
    for bad in ("street/1.png", "street/2.png"):
        (root / bad).write_bytes(b"broken")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no image that PIL can read"):
        folder_domains(root, "paintings", "street", size=SIZE)


def test_damage_only_decoding_finds_is_an_error_naming_the_file(root):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, "JPEG")
    (root / "street/3.jpg").write_bytes(encoded.getvalue()[:-200])  # passes verify()
    _, target, _ = folder_domains(root, "paintings", "street", size=SIZE)
    with pytest.raises(ValueError, match=r"Cannot decode image .*3\.jpg"):
        target[2]


def test_a_source_class_without_a_readable_image_is_an_error_naming_it(root):
    (root / "paintings/fox").mkdir()  # empty
    with pytest.raises(ValueError, match=r"paintings/fox hold no readable image"):
        folder_domains(root, "paintings", "photos", size=SIZE)
    (root / "paintings/fox/broken.png").write_bytes(b"broken")  # its only image unreadable
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"paintings/fox hold no"):
        folder_domains(root, "paintings", "photos", size=SIZE)


def test_a_source_of_one_class_is_an_error(root):
    write_image(root / "single/cat/a.png")
    with pytest.raises(ValueError, match=r"single holds one class folder \(cat\).*two classes"):
        folder_domains(root, "single", "street", size=SIZE)
