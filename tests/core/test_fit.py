"""The entry points: fit on arrays, its checks, determinism, many seeds at once, compiling once."""

import logging
import warnings

import jax
import numpy as np
import pytest

import dann_jax
from dann_jax.core import inputs


def moons(rng, count=200, shift=0.0):
    labels = rng.integers(2, size=count)
    points = rng.normal(size=(count, 2)) * 0.3 + np.stack([labels * 2.0 - 1.0, np.zeros(count)], -1)
    return (points + shift).astype(np.float32), labels.astype(np.int32)


def test_fit_learns_and_predicts(rng, metric_names):
    source, labels = moons(rng)
    target, _ = moons(rng, shift=0.5)
    records = []
    trained = dann_jax.fit(
        source,
        labels,
        target,
        model="shallow",
        steps=300,
        batch_size=32,
        learning_rate=0.1,
        log_every=100,
        on_log=records.append,
        progress=False,
    )
    predictions = trained.predict(source)
    assert predictions.shape == (200,)
    assert np.mean(predictions == labels) > 0.9
    assert [r["step"] for r in trained.history] == [100, 200, 300]
    assert records == trained.history
    assert set(trained.history[0]) == metric_names | {"step"}
    assert jax.tree.leaves(trained.params)


@pytest.mark.slow
def test_fit_on_uint8_grey_images_runs_the_mnist_network(rng):
    images = rng.integers(0, 256, size=(10, 28, 28, 1), dtype=np.uint8)
    trained = dann_jax.fit(
        images, np.arange(10) % 3, images[::-1], steps=2, batch_size=16, progress=False
    )
    predictions = trained.predict(images)
    assert predictions.shape == (10,)
    assert set(predictions) <= {0, 1, 2}
    assert trained.input_mean.shape == (1,)


def test_fit_is_deterministic_for_a_seed(rng):
    source, labels = moons(rng, 50)
    target, _ = moons(rng, 50, shift=0.5)
    runs = [
        dann_jax.fit(
            source, labels, target, model="shallow", steps=20, batch_size=16, seed=s, progress=False
        )
        for s in (7, 7, 8)
    ]
    assert runs[0].history == runs[1].history
    assert runs[0].history != runs[2].history


GOOD_IMAGES = np.zeros((6, 28, 28, 3), np.float32)
GOOD_LABELS = np.arange(6) % 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"source_labels": GOOD_LABELS[:5]},
            "source_images has 6 examples but source_labels has 5",
        ),
        ({"source_images": GOOD_IMAGES[..., 0]}, r"add a channel axis"),
        ({"source_images": np.zeros((6, 3, 28, 28), np.float32)}, "has 28 channels"),
        (
            {"target_images": np.zeros((6, 28, 28, 1), np.float32)},
            r"np.repeat\(images, 3, axis=-1\)",
        ),
        ({"target_images": GOOD_IMAGES[:0]}, "target_images is empty"),
        ({"source_labels": np.array([0, 1, 2, 3, 4, -1])}, r"outside \[0, 4\]"),
        ({"source_labels": GOOD_LABELS.astype(np.float32)}, "class ids must be integers"),
        ({"source_labels": np.zeros((6, 2), np.int32)}, "one integer class id per image"),
        ({"num_classes": 1}, r"outside \[0, 0\] for 1 classes"),
        ({"source_images": np.full((6, 28, 28, 3), np.nan, np.float32)}, "NaN or infinite"),
        ({"target_images": np.full((6, 28, 28, 3), np.inf, np.float32)}, "NaN or infinite"),
        ({"source_images": np.zeros((6, 8, 8, 3), np.float32)}, "at least 16x16"),
        ({"source_images": np.zeros((6, 28, 28, 3), bool)}, "dtype bool"),
        # Float images on the 0..255 scale once trained silently to chance.
        ({"source_images": np.full((6, 28, 28, 3), 200.0, np.float32)}, r"must lie in \[0, 1\]"),
        ({"target_images": np.full((6, 28, 28, 3), -0.5, np.float32)}, r"values in \[-0.5, -0.5\]"),
        ({"model": "shallow"}, r"feature vectors of shape \(N, D\)"),
        ({"model": "vgg"}, "Unknown model 'vgg'"),
        ({"method": "coral"}, "Unknown method 'coral'"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"batch_size": 7}, "batch_size must be an even integer"),
        ({"input_mode": "disk"}, "Unknown input_mode 'disk'"),
        ({"steps_per_dispatch": 0}, "steps_per_dispatch must be a positive integer"),
    ],
)
def test_fit_rejects_bad_input_with_a_clear_error(changes, message):
    arguments = {
        "source_images": GOOD_IMAGES,
        "source_labels": GOOD_LABELS,
        "target_images": GOOD_IMAGES,
        "steps": 1,
    } | changes
    with pytest.raises(ValueError, match=message):
        dann_jax.fit(**arguments, progress=False)


def test_predict_rejects_inputs_of_another_shape(rng):
    source, labels = moons(rng, 20)
    trained = dann_jax.fit(
        source, labels, source, model="shallow", steps=1, batch_size=16, progress=False
    )
    with pytest.raises(ValueError, match=r"trained on \(2,\)"):
        trained.predict(np.zeros((3, 5), np.float32))


@pytest.mark.slow
def test_predict_says_how_to_fix_a_single_image_or_colour_for_a_grey_network(rng):
    grey = rng.integers(0, 256, size=(8, 16, 16, 1), dtype=np.uint8)
    trained = dann_jax.fit(grey, np.arange(8) % 2, grey, steps=1, batch_size=16, progress=False)
    with pytest.raises(ValueError, match=r"add a batch axis with image\[None\]"):
        trained.predict(grey[0])
    with pytest.raises(ValueError, match="make them grey first"):
        trained.predict(np.repeat(grey, 3, axis=-1))
    assert trained.predict(grey[:1]).shape == (1,)


def test_auto_input_mode_keeps_data_that_fits_on_the_device_and_streams_what_does_not():
    assert inputs.choose_input_mode(data_bytes=1000).mode == "device"  # this host's memory
    choice = inputs.choose_input_mode(data_bytes=3 * 2**30, available_bytes=4 * 2**30)
    assert choice.mode == "stream"
    assert choice.reason == (
        "the training data takes 3.00 GiB, more than half of the 4.00 GiB given as available"
    )
    assert inputs.choose_input_mode(10**13).mode == "stream"  # 10 TB fits no host here


def test_auto_input_mode_streams_a_dataset_larger_than_the_memory_it_is_told_of(
    host_data, monkeypatch, capsys, caplog
):
    data = host_data(size=32)
    monkeypatch.setattr(inputs, "available_memory", lambda: (1000, "of available host RAM"))
    with caplog.at_level(logging.INFO, logger="dann_jax"):
        trained = dann_jax.fit(
            data["source_image"], data["source_label"], data["target_image"],
            model="shallow", steps=2, batch_size=16, parallel="none", steps_per_dispatch=1,
        )  # fmt: skip
    assert "Input mode: stream (the training data takes" in caplog.text  # logged,
    assert capsys.readouterr().out == ""  # never printed by the library
    assert len(trained.history) == 1


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"steps": 2, "learning_rte": 0.1},
         "fit() got an unexpected keyword argument 'learning_rte'; did you mean 'learning_rate'?"),
        ({"steps": 2, "colour": 1},
         "fit() got an unexpected keyword argument 'colour'; the settings: steps, method,"),
        ({}, "fit() needs steps=N, the run's length in steps."),
    ],
)  # fmt: skip
def test_a_keyword_that_is_no_setting_is_named_with_the_nearest_one(host_data, keywords, message):
    data = host_data()
    with pytest.raises(TypeError) as raised:
        dann_jax.fit(data["source_image"], data["source_label"], data["target_image"], **keywords)
    assert message in str(raised.value)


@pytest.mark.slow
def test_batch_norm_on_too_few_examples_warns_and_names_the_fix(rng):
    from stateful_network import make_network

    source = rng.normal(size=(16, 2)).astype(np.float32)
    labels = (source[:, 0] > 0).astype(np.int32)
    small = {"steps": 2, "parallel": "none", "progress": False, "model": make_network(2)}
    with pytest.warns(UserWarning, match="too few for its statistics: use a batch_size of at "):
        dann_jax.fit(source, labels, source, batch_size=4, **small)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dann_jax.fit(source, labels, source, batch_size=16, **small)


def test_unknown_input_mode_is_refused(host_data):
    data = host_data()
    with pytest.raises(ValueError, match="Unknown input_mode 'disk'"):
        dann_jax.fit(
            data["source_image"], data["source_label"], data["target_image"],
            model="shallow", steps=1, batch_size=16, input_mode="disk", progress=False,
        )  # fmt: skip


@pytest.mark.slow
def test_fit_seeds_in_one_program_equals_separate_runs(host_data):
    """jax.vmap over seeds: params and history of each seed as fit() gives them alone."""
    data = [host_data(size=40, shape=(16, 16, 3)) for _ in range(2)]
    settings = {"steps": 6, "batch_size": 16, "log_every": 3, "steps_per_dispatch": 3}
    together = dann_jax.fit_seeds(
        [d["source_image"] for d in data],
        [d["source_label"] for d in data],
        [d["target_image"] for d in data],
        seeds=[3, 4],
        progress=False,
        **settings,
    )
    for trained, d, seed in zip(together, data, [3, 4], strict=True):
        alone = dann_jax.fit(
            d["source_image"], d["source_label"], d["target_image"], seed=seed,
            input_mode="device", parallel="none", progress=False, **settings,
        )  # fmt: skip
        pairs = zip(jax.tree.leaves(trained.params), jax.tree.leaves(alone.params), strict=True)
        for got, want in pairs:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        assert [r["step"] for r in trained.history] == [3, 6]
        for got, want in zip(trained.history, alone.history, strict=True):
            np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-6)
        np.testing.assert_array_equal(
            trained.predict(d["target_image"]), alone.predict(d["target_image"])
        )
    assert not np.allclose(together[0].params["label_head"]["Dense_0"]["kernel"],
                           together[1].params["label_head"]["Dense_0"]["kernel"])  # fmt: skip


def test_fit_seeds_wants_one_array_per_seed(host_data):
    d = host_data()
    with pytest.raises(ValueError, match="pass one array per seed"):
        dann_jax.fit_seeds(
            [d["source_image"]], [d["source_label"]], [d["target_image"]],
            seeds=[0, 1], model="shallow", steps=1, batch_size=8,
        )  # fmt: skip


def test_equal_settings_compile_the_step_once_and_predicting_once_per_shape(rng, compiled):
    """A second fit with other seeds, and its predictions, compile nothing again."""
    source, labels = moons(rng, 64)
    target, _ = moons(rng, 64, shift=0.5)
    settings = {"model": "shallow", "steps": 8, "batch_size": 16, "log_every": 4,
                "steps_per_dispatch": 4, "learning_rate": 0.0123, "input_mode": "device",
                "parallel": "none", "progress": False}  # fmt: skip
    with compiled() as first:
        dann_jax.fit(source, labels, target, seed=0, **settings).predict(target)
    assert "jit(train_steps)" in first and "jit(_initial_arrays)" in first
    with compiled() as again:
        trained = dann_jax.fit(source, labels, target, seed=1, **(settings | {"log_every": 8}))
        trained.predict(target)  # 64 inputs: one chunk of 64, as in the first fit
        trained.predict(target[:40])  # a chunk of 64 too: the next power of two
        trained.predict(np.concatenate([target] * 20))  # 1,280 inputs: two chunks of 1,024
        trained.features(target[:3])  # a chunk of 4
    # Once per network and chunk size: the 1,024 chunk and the features' first call.
    assert sorted(again) == ["jit(features)", "jit(logits)"]
    with compiled() as baseline:
        dann_jax.fit(source, labels, target, method="source_only", **settings)
    assert baseline.count("jit(train_steps)") == 1  # another step: it compiles
