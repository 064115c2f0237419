"""Compact training data: images stay uint8 on the host, in transfers and on the device,
and the step finishes them into the very inputs the host's preprocessing gives."""

import jax
import numpy as np
import pytest

import dann_jax
from dann_jax.core.fit import array_data
from dann_jax.core.inputs import DeviceData
from dann_jax.core.state import create_train_state
from dann_jax.core.step import train_step
from dann_jax.data.preprocess import Preprocess, network_inputs

MEAN = np.array([0.2, 0.4, 0.6], np.float32)


@pytest.mark.parametrize(
    ("stored_shape", "dtype", "shape", "std", "compact"),
    [
        ((28, 28), np.uint8, (28, 28, 3), None, True),  # grey MNIST for an RGB network
        ((28, 28, 1), np.uint8, (32, 32, 3), None, True),  # resized up in the step
        ((40, 40, 3), np.uint8, (32, 32, 3), None, False),  # shrunk (anti-aliased) on the host
        ((16, 16, 3), np.uint8, (16, 16, 3), (0.2, 0.3, 0.4), True),  # ImageNet-style std
        ((28, 28, 3), np.float32, (28, 28, 3), None, False),  # float images: float32 stored
    ],
)
def test_the_step_finishes_stored_images_as_the_host_preprocesses_them(
    rng, stored_shape, dtype, shape, std, compact
):
    images = rng.integers(0, 256, size=(5, *stored_shape))
    images = images.astype(np.uint8) if dtype == np.uint8 else (images / 255).astype(dtype)
    preprocess = Preprocess(shape, MEAN, None if std is None else np.array(std, np.float32))
    stored = preprocess.stored(images)
    assert (stored.dtype == np.uint8) == compact
    if compact:
        assert stored.nbytes * 4 <= preprocess(images).nbytes
    on_device = jax.jit(network_inputs)(stored, preprocess.normalization())
    np.testing.assert_allclose(on_device, preprocess(images), atol=2e-6)


def test_vector_inputs_are_centred_in_the_step(rng):
    inputs = rng.normal(size=(6, 2)).astype(np.float32)
    preprocess = Preprocess((2,), np.array([0.5, -1.0], np.float32))
    finished = network_inputs(preprocess.stored(inputs), preprocess.normalization())
    np.testing.assert_allclose(finished, preprocess(inputs), atol=1e-7)


def test_device_data_keeps_uint8_and_its_footprint_is_known_before_reading(rng):
    images = rng.integers(0, 256, size=(40, 28, 28, 1), dtype=np.uint8)
    data = array_data(images[:24], np.arange(24) % 10, images[24:], model="mnist")
    arrays = DeviceData.read(data, batch_size=16, seed=0, progress=False).arrays
    assert arrays["source_image"].dtype == np.uint8 and arrays["source_image"].shape == (
        24,
        28,
        28,
        1,
    )
    assert data.device_bytes() == sum(value.nbytes for value in arrays.values())
    floats = sum(DeviceData.create(
        {"source_image": data.preprocess(images[:24]), "source_label": arrays["source_label"],
         "target_image": data.preprocess(images[24:])}, 16, 0).arrays[name].nbytes
        for name in arrays)  # fmt: skip
    assert data.device_bytes() < floats / 3.5  # float32 images took four times the bytes


@pytest.mark.slow
def test_a_step_on_stored_uint8_equals_the_step_on_host_preprocessed_inputs(rng):
    images = rng.integers(0, 256, size=(32, 28, 28, 1), dtype=np.uint8)
    labels = (np.arange(16) % 10).astype(np.int32)
    preprocess = Preprocess((28, 28, 3), MEAN)  # grey stored, RGB inputs
    settings = dann_jax.TrainSettings(steps=10, batch_size=32, parallel="none")
    network = dann_jax.build_model("mnist", 10)
    example = np.zeros((1, 28, 28, 3), np.float32)
    compact = create_train_state(
        network, example, settings, input_normalization=preprocess.normalization()
    )
    host = create_train_state(network, example, settings)
    stored = {"source_image": preprocess.stored(images[:16]), "source_label": labels,
              "target_image": preprocess.stored(images[16:])}  # fmt: skip
    floats = {"source_image": preprocess(images[:16]), "source_label": labels,
              "target_image": preprocess(images[16:])}  # fmt: skip
    step = jax.jit(train_step)
    (after_compact, metrics_compact), (after_host, metrics_host) = (
        step(compact, stored),
        step(host, floats),
    )
    for got, want in zip(
        jax.tree.leaves(after_compact.params), jax.tree.leaves(after_host.params), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics_compact["loss"], metrics_host["loss"], rtol=1e-5)


def test_stored_images_of_the_wrong_channel_count_get_one_clear_error(rng):
    preprocess = Preprocess((28, 28, 1), np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="images with 3 channels cannot be made"):
        preprocess.stored(rng.integers(0, 256, size=(2, 28, 28, 3), dtype=np.uint8))
