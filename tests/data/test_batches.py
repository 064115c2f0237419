"""The input pipeline: pairing, seeds, per-process shards, resumable state, preprocessing, TFDS."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from dann_jax import cli
from dann_jax.core.inputs import DeviceData
from dann_jax.data import arrays, tfds_sources
from dann_jax.data import prepare as preparing
from dann_jax.data.batches import PairedPositions, PairedStream
from dann_jax.data.builders import mnist_m
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import ArraySource, materialize, sampled_channel_mean


def identity(images):
    return np.asarray(images, np.float32)


def stream(source_size=10, target_size=6, batch_size=8, seed=0, **kwargs):
    source = ArraySource(
        np.arange(source_size, dtype=np.float32)[:, None], np.arange(source_size) % 3
    )
    target = ArraySource(100 + np.arange(target_size, dtype=np.float32)[:, None])
    return PairedStream(
        source, target, batch_size=batch_size, seed=seed, preprocess=identity, **kwargs
    )


def take(batches, count):
    return [next(batches) for _ in range(count)]


def test_batches_have_half_of_each_domain_and_every_epoch_covers_each_example_once():
    drawn = take(stream(), 5)
    assert all(
        b["source_image"].shape == (4, 1) and b["target_image"].shape == (4, 1) for b in drawn
    )
    assert drawn[0]["source_label"].dtype == np.int32
    source_seen = np.concatenate([b["source_image"][:, 0] for b in drawn]).astype(int)
    target_seen = np.concatenate([b["target_image"][:, 0] for b in drawn]).astype(int) - 100
    # 20 source draws = 2 epochs of 10; 18 of 20 target draws = 3 epochs of 6.
    for epoch in range(2):
        assert sorted(source_seen[10 * epoch : 10 * (epoch + 1)]) == list(range(10))
    for epoch in range(3):
        assert sorted(target_seen[6 * epoch : 6 * (epoch + 1)]) == list(range(6))
    assert not np.array_equal(source_seen[:10], source_seen[10:])  # a new order each epoch
    labels = np.concatenate([b["source_label"] for b in drawn])
    np.testing.assert_array_equal(labels, source_seen % 3)


def test_same_seed_same_batches_other_seed_other_batches():
    def first(seed):
        return np.concatenate([b["source_image"] for b in take(stream(50, 50, 10, seed), 3)])

    np.testing.assert_array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))


def test_restored_state_continues_exactly_where_it_stopped():
    original = stream(threads=2)
    take(original, 3)
    state = original.get_state()
    assert json.loads(json.dumps(state)) == state
    expected = take(original, 4)
    resumed = stream(threads=2)
    resumed.set_state(state)
    for got, want in zip(take(resumed, 4), expected, strict=True):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


def test_two_processes_read_disjoint_rows_that_together_make_the_global_batch():
    whole = take(stream(batch_size=8), 4)
    halves = [
        take(
            stream(batch_size=8, process_rows=lambda n, p=p: slice(p * n // 2, (p + 1) * n // 2)), 4
        )
        for p in range(2)
    ]
    for step, batch in enumerate(whole):
        first, second = halves[0][step], halves[1][step]
        assert first["source_image"].shape == (2, 1)
        for name in batch:
            np.testing.assert_array_equal(np.concatenate([first[name], second[name]]), batch[name])


def test_device_data_uses_the_same_positions_as_the_stream():
    images = np.arange(10, dtype=np.float32)[:, None]
    data = {"source_image": images, "source_label": np.zeros(10, np.int32), "target_image": images}
    device = DeviceData.create(data, batch_size=8, seed=0)
    source_positions, target_positions = device.positions.steps(0, 3)
    for step, batch in enumerate(take(stream(10, 10), 3)):
        np.testing.assert_array_equal(images[source_positions[step]], batch["source_image"])
        np.testing.assert_array_equal(images[target_positions[step]] + 100, batch["target_image"])


def test_positions_of_many_steps_at_once_equal_step_by_step_and_resume_anywhere():
    positions = PairedPositions(7, 5, batch_size=6, seed=3)
    steps = [positions[step] for step in range(9)]  # 27 draws: epochs of 7 and 5 end in batches
    source, target = positions.steps(0, 4)
    assert source.shape == target.shape == (4, 3) and source.dtype == np.int32
    resumed = PairedPositions(7, 5, batch_size=6, seed=3)  # e.g. in a restarted process
    rest_source, rest_target = resumed.steps(4, 9)
    np.testing.assert_array_equal(np.concatenate([source, rest_source]), [s for s, _ in steps])
    np.testing.assert_array_equal(np.concatenate([target, rest_target]), [t for _, t in steps])
    draws = np.concatenate([s for s, _ in steps])
    for epoch in range(3):
        assert sorted(draws[7 * epoch : 7 * (epoch + 1)]) == list(range(7))


def test_preprocess_scales_resizes_makes_rgb_and_centres():
    grey = np.full((2, 32, 32, 1), 51, np.uint8)  # 0.2 everywhere
    preprocess = Preprocess((28, 28, 3), np.array([0.1, 0.2, 0.3], np.float32))
    inputs = preprocess(grey)
    assert inputs.shape == (2, 28, 28, 3) and inputs.dtype == np.float32
    np.testing.assert_allclose(inputs[..., 0], 0.1, atol=1e-6)
    np.testing.assert_allclose(inputs[..., 2], -0.1, atol=1e-6)
    ramp = np.linspace(0, 1, 56, dtype=np.float32)[None, None, :, None] * np.ones((1, 56, 1, 3))
    halved = Preprocess((28, 28, 3), np.zeros(3, np.float32)).conform(ramp.astype(np.float32))
    assert np.all(np.diff(halved[0, 0, :, 0]) > 0)  # resized, still a ramp
    with pytest.raises(ValueError, match="1 or 3 channels"):
        preprocess.conform(np.zeros((1, 28, 28, 2), np.float32))


def test_materialize_and_channel_mean_read_every_record():
    source = ArraySource(np.full((5, 4, 4, 1), 255, np.uint8), np.arange(5))
    conform = Preprocess((4, 4, 3), np.zeros(3, np.float32)).conform
    inputs, labels = materialize(source, conform, chunk=2, progress=False)
    assert inputs.shape == (5, 4, 4, 3) and np.all(inputs == 1.0)
    np.testing.assert_array_equal(labels, np.arange(5))
    np.testing.assert_allclose(sampled_channel_mean([source], conform, sample=3), np.ones(3))


def test_materialize_reads_a_record_source_into_one_aligned_array_a_cpu_device_shares():
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4, 1)
    records = [{"image": image, "label": label} for label, image in enumerate(images)]
    inputs, labels = materialize(records, lambda batch: batch, chunk=2, progress=False)
    np.testing.assert_array_equal(inputs, images)
    np.testing.assert_array_equal(labels, np.arange(5))
    assert inputs.ctypes.data % arrays.DEVICE_ALIGNMENT == 0
    if jax.default_backend() == "cpu":  # the CPU device uses it in place: no second copy
        assert jax.device_put(inputs).unsafe_buffer_pointer() == inputs.ctypes.data


def test_tfds_sources_stream_paper_pairs_under_mock_data():
    with tfds.testing.mock_data(num_examples=12):
        mnist = tfds_sources.data_source("mnist", "train")
        svhn = tfds_sources.data_source("svhn_cropped", "train")
        assert tfds_sources.num_classes(mnist) == 10
        preprocess = Preprocess((28, 28, 3), np.zeros(3, np.float32))
        batches = PairedStream(
            svhn, mnist, batch_size=8, seed=0, preprocess=preprocess, with_target_labels=True
        )
        batch = next(batches)
    assert batch["source_image"].shape == (4, 28, 28, 3)
    assert batch["target_image"].shape == (4, 28, 28, 3)
    assert batch["target_label"].dtype == np.int32
    assert batch["target_image"].min() >= -1.0 and batch["target_image"].max() <= 1.0


@pytest.mark.parametrize(
    ("config", "input_mode", "methods"),
    [
        # One method each (CI time: each compiles its own step); together they cover
        # the three methods, both input modes and the four networks.
        ("mnist_to_mnist_m", "stream", "source_only"),
        ("svhn_to_mnist", "device", "dann"),
        ("syn_digits_to_svhn", "stream", "train_on_target"),
        ("syn_signs_to_gtsrb", "device", "dann"),
    ],
)
@pytest.mark.slow
def test_paper_configs_train_end_to_end_through_the_pipeline(tmp_path, config, input_mode, methods):
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=32):
        status = cli.main(
            [
                "train",
                "--noprogress",
                f"--config={config}",
                "--config.steps=2",
                "--config.log_every=2",
                "--config.batch_size=16",
                f"--config.input_mode={input_mode}",
                "--config.mean_sample=8",
                "--config.parallel=none",
                "--config.plots=False",
                f"--config.method={methods}",
                f"--workdir={workdir}",
            ]
        )
    assert status == 0
    results = json.loads((workdir / "results.json").read_text())
    assert set(results) == set(methods.split(","))
    assert all(0.0 <= row["target_accuracy"] <= 1.0 for row in results.values())


def test_missing_datasets_get_one_error_naming_them_all_the_folder_and_the_fix(tmp_path, capsys):
    workdir = tmp_path / "run"
    status = cli.main(
        [
            "train",
            "--config=mnist_to_mnist_m",
            f"--config.data_dir={tmp_path / 'empty'}",
            f"--workdir={workdir}",
        ]
    )
    assert status == 2
    captured = capsys.readouterr()
    error = captured.err
    assert "'mnist' (split 'train'), 'mnist_m' (split 'train') are not prepared" in error
    assert str(tmp_path / "empty") in error
    for name in ("mnist", "mnist_m"):
        assert f"dann prepare {name} --data_dir={tmp_path / 'empty'}" in error
    assert len(error.strip().splitlines()) == 1  # no traceback, no TFDS warning lines
    assert "WARNING" not in captured.out + error
    assert "TFDS said" not in error  # nothing there: TFDS's guess would mislead
    assert not workdir.exists()


def test_a_dataset_folder_that_cannot_be_read_gets_tfds_reason(tmp_path):
    (tmp_path / "mnist" / "3.0.1").mkdir(parents=True)  # there, but nothing prepared in it
    with pytest.raises(tfds_sources.DatasetUnavailable) as raised:
        tfds_sources.data_sources([("mnist", "train"), ("mnist_m", "train")], tmp_path)
    message = str(raised.value)
    assert "(TFDS said: mnist: " in message and "mnist_m:" not in message.split("TFDS said")[1]


def test_prepare_of_an_unknown_name_says_which_exist_at_once():
    """One line, before TensorFlow (and its log lines) loads."""
    process = subprocess.run(
        [sys.executable, "-m", "dann_jax.cli", "prepare", "nosuch"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert process.returncode == 2
    assert process.stderr.strip().splitlines() == [process.stderr.strip()]  # one line
    assert "unknown dataset 'nosuch'" in process.stderr


@pytest.mark.parametrize(
    ("name", "manual", "named"),
    [
        (
            "mnist_m",
            True,
            [
                "train-images-idx3-ubyte.gz",
                "BSR_bsds500.tgz",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ],
        ),
        ("gtsrb", False, ["GTSRB_Final_Training_Images.zip", "no --manual_dir given"]),
        ("syn_signs", True, ["synthetic_data.zip", "http://graphics.cs.msu.ru/en/node/1337"]),
        ("mnist", True, ["TFDS catalog", "storage.googleapis.com", "--config.data_dir"]),
    ],
)
def test_prepare_offline_fails_at_once_naming_the_files_and_writes_nothing(
    tmp_path, monkeypatch, capsys, name, manual, named
):
    monkeypatch.setattr(preparing, "_reachable", lambda url: False)  # as if offline
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    arguments = ["prepare", name, f"--data_dir={tmp_path / 'data'}"]
    arguments += [f"--manual_dir={manual_dir}"] if manual else []
    assert cli.main(arguments) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    for words in named:
        assert words in error
    assert not (tmp_path / "data").exists()


def test_prepare_takes_a_manual_dir_holding_every_file_without_asking_the_network(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(preparing, "_reachable", lambda url: False)
    for name in mnist_m.FILES.values():
        (tmp_path / name).touch()
    preparing.check_available("mnist_m", tmp_path)  # raises nothing
    (tmp_path / "BSR_bsds500.tgz").unlink()
    with pytest.raises(ValueError, match=r"lacks BSR_bsds500\.tgz"):
        preparing.check_available("mnist_m", tmp_path)
