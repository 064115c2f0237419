"""Training views (random crops, flips) drawn in the step; centre crops in evaluation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dann_jax
from dann_jax.core import step
from dann_jax.core.inputs import DeviceData
from dann_jax.core.loop import train_loop
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.data import augment


def images(rng, count=4, side=10):
    return jnp.asarray(rng.uniform(size=(count, side, side, 3)).astype(np.float32))


def is_a_crop_or_its_mirror(view, image):
    size = view.shape[0]
    for top in range(image.shape[0] - size + 1):
        for left in range(image.shape[1] - size + 1):
            crop = image[top : top + size, left : left + size]
            if np.array_equal(view, crop) or np.array_equal(view, crop[:, ::-1]):
                return True
    return False


@pytest.mark.slow
def test_crop_flip_views_are_squares_of_their_image_keyed_by_row(rng):
    batch, key = images(rng), jax.random.key(3)
    rows = jnp.arange(4)
    views = augment.training_views(batch, key, rows, augmentation="crop_flip", size=6)
    assert views.shape == (4, 6, 6, 3)
    assert all(
        is_a_crop_or_its_mirror(np.asarray(v), np.asarray(i))
        for v, i in zip(views, batch, strict=True)
    )
    # An example's view follows its row in the global batch, not its place on a device.
    alone = augment.training_views(batch[2:3], key, rows[2:3], augmentation="crop_flip", size=6)
    np.testing.assert_array_equal(alone[0], views[2])
    many = augment.training_views(
        jnp.repeat(batch[:1], 64, axis=0), key, jnp.arange(64), augmentation="crop_flip", size=6
    )
    assert len({np.asarray(view).tobytes() for view in many}) > 8  # views differ by row


def test_resized_crop_flip_views_have_the_size_and_the_image_range(rng):
    batch = images(rng, side=16)
    views = augment.training_views(
        batch, jax.random.key(0), jnp.arange(4), augmentation="resized_crop_flip", size=8
    )
    assert views.shape == (4, 8, 8, 3) and views.dtype == jnp.float32
    assert float(views.min()) >= 0.0 and float(views.max()) <= 1.0
    assert not np.allclose(views[0], augment.centre_crop(batch, 8)[0])


def test_centre_crop_places_the_square_as_torchvision_does():
    grid = np.arange(256 * 256).reshape(1, 256, 256, 1)
    crop = augment.centre_crop(grid, 224)
    assert crop.shape == (1, 224, 224, 1) and crop[0, 0, 0, 0] == grid[0, 16, 16, 0]
    assert augment.centre_crop(np.zeros((1, 7, 7, 3)), 4)[0].shape == (4, 4, 3)


class ConvNet(nn.Module):
    @nn.compact
    def __call__(self, inputs):
        return nn.relu(nn.Conv(4, (3, 3))(inputs)).mean(axis=(1, 2))


@pytest.mark.slow
def test_fit_with_crops_trains_alike_under_every_launcher_and_predicts_on_centre_crops(host_data):
    data = host_data(size=32, shape=(12, 12, 3))
    args = (data["source_image"], data["source_label"], data["target_image"])
    network = dann_jax.dann_network(ConvNet(), 2, domain_hidden_units=(4,))
    settings = {"steps": 4, "batch_size": 16, "crop_size": 8, "augmentation": "crop_flip"}
    runs = [
        dann_jax.fit(
            *args, model=network, parallel=parallel, input_mode=mode, progress=False, **settings
        )
        for parallel, mode in [("none", "device"), ("none", "stream"), ("shard_map", "device")]
    ]
    for trained in runs[1:]:
        for got, want in zip(
            jax.tree.leaves(trained.params), jax.tree.leaves(runs[0].params), strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    trained = runs[0]
    inputs = trained.preprocess(data["target_image"][:3])
    want = step.logits(network, trained.state.variables, augment.centre_crop(inputs, 8))[0]
    np.testing.assert_allclose(trained.logits(data["target_image"][:3])[0], want, rtol=1e-5)
    uncropped = dann_jax.fit(*args, model=network, parallel="none", progress=False, steps=4,
                             batch_size=16)  # fmt: skip
    assert not np.allclose(uncropped.params["label_head"]["Dense_0"]["kernel"],
                           trained.params["label_head"]["Dense_0"]["kernel"])  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"crop_size": 16, "augmentation": "crop_flip"}, "crop_size 16 does not fit inputs"),
        ({"augmentation": "crop_flip"}, "draws crops: set crop_size"),
        ({"crop_size": 8, "augmentation": "mixup"}, "Unknown augmentation 'mixup'"),
    ],
)
def test_bad_crops_get_one_clear_error(host_data, settings, message):
    data = host_data(size=16, shape=(12, 12, 3))
    network = dann_jax.dann_network(ConvNet(), 2, domain_hidden_units=(4,))
    with pytest.raises(ValueError, match=message):
        dann_jax.fit(
            data["source_image"], data["source_label"], data["target_image"], model=network,
            steps=1, batch_size=8, parallel="none", progress=False, **settings,
        )  # fmt: skip


@pytest.mark.slow
def test_a_resumed_run_draws_the_views_it_would_have_drawn(host_data):
    """Two steps, then two more from the state reached, equal four steps at once."""
    data = host_data(size=32, shape=(12, 12, 3))
    network = dann_jax.dann_network(ConvNet(), 2, domain_hidden_units=(4,))
    settings = TrainSettings(
        steps=4, batch_size=16, crop_size=8, augmentation="resized_crop_flip", parallel="none",
        log_every=2, steps_per_dispatch=2,
    )  # fmt: skip
    inputs = DeviceData.create(data, settings.batch_size, settings.seed)

    def fresh():
        return create_train_state(network, np.zeros((1, 8, 8, 3), np.float32), settings)

    whole, _ = train_loop(fresh(), inputs, settings=settings, progress=False)
    half, _ = train_loop(fresh(), inputs, settings=settings, steps=2, progress=False)
    resumed, _ = train_loop(half, inputs, settings=settings, progress=False)
    pairs = zip(jax.tree.leaves(resumed.params), jax.tree.leaves(whole.params), strict=True)
    for got, want in pairs:
        np.testing.assert_array_equal(got, want)
