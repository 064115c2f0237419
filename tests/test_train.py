import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dann_jax
from dann_jax import train
from dann_jax.data.pipeline import ArraySource, DeviceData, PairedStream
from dann_jax.models import build_model

METRIC_NAMES = {
    "loss",
    "label_loss",
    "domain_loss",
    "source_accuracy",
    "domain_accuracy",
    "lambda",
    "learning_rate",
}


def make_state(model="shallow", example=None, **kwargs):
    example = jnp.zeros((1, 2)) if example is None else example
    return train.create_train_state(
        build_model(model, 2), example, steps=kwargs.pop("steps", 10), **kwargs
    )


def random_batch(rng, half=4, shape=(2,)):
    return {
        "source_image": rng.normal(size=(half, *shape)).astype(np.float32),
        "source_label": rng.integers(2, size=half).astype(np.int32),
        "target_image": rng.normal(1.0, 1.0, size=(half, *shape)).astype(np.float32),
    }


def test_train_step_returns_the_metrics_and_reads_schedules_from_the_step(rng):
    state = make_state(steps=10)
    batch = random_batch(rng)
    new_state, metrics = train.train_step(state, batch)
    assert set(metrics) == METRIC_NAMES
    assert all(value.shape == () and value.dtype == jnp.float32 for value in metrics.values())
    assert int(new_state.step) == 1
    assert metrics["lambda"] == 0.0  # p = 0
    np.testing.assert_allclose(metrics["learning_rate"], 0.01)
    _, later = train.train_step(new_state.replace(step=5), batch)
    np.testing.assert_allclose(later["lambda"], 2 / (1 + np.exp(-5)) - 1, rtol=1e-6)
    np.testing.assert_allclose(later["learning_rate"], 0.01 / 6**0.75, rtol=1e-6)
    np.testing.assert_allclose(
        metrics["loss"], metrics["label_loss"] + metrics["domain_loss"], rtol=1e-6
    )


@pytest.mark.parametrize("method", ["dann", "source_only"])
def test_one_forward_pass_over_both_domains_equals_one_pass_per_domain(rng, method):
    """The accelerators' single pass and the CPUs' two passes give the same step."""
    state = make_state("mnist", jnp.zeros((1, 16, 16, 3)), steps=10, method=method)
    state = state.replace(step=jnp.asarray(4, jnp.int32))  # lambda > 0
    batch = random_batch(rng, half=6, shape=(16, 16, 3))
    (one, one_metrics), (two, two_metrics) = (
        jax.jit(functools.partial(train.train_step, single_pass=single))(state, batch)
        for single in (True, False)
    )
    assert two_metrics["lambda"] > 0.1 or method == "source_only"  # which reports lambda = 0
    for name in one_metrics:
        np.testing.assert_allclose(one_metrics[name], two_metrics[name], rtol=1e-5)
    for got, want in zip(jax.tree.leaves(one.params), jax.tree.leaves(two.params), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    moved = jax.tree.leaves(
        jax.tree.map(lambda a, b: np.abs(a - b).max(), one.params, state.params)
    )
    assert max(moved) > 1e-4  # the step changed the params: the comparison is not vacuous


def test_jitted_step_compiles_once_while_lambda_and_learning_rate_change(rng):
    traces = []

    @functools.partial(jax.jit, donate_argnums=0)
    def counted_step(state, batch):
        traces.append(None)
        return train.train_step(state, batch)

    state = make_state(steps=5)
    lambdas = []
    for _ in range(5):
        state, metrics = counted_step(state, random_batch(rng))
        lambdas.append(float(metrics["lambda"]))
    assert len(traces) == 1
    assert len(set(lambdas)) == 5


def test_source_only_features_ignore_the_domain_loss(rng):
    batch = random_batch(rng)
    after = {}
    for weight in (0.0, 100.0):
        state = make_state(method="source_only", domain_loss_weight=weight, adaptation="constant")
        state, metrics = train.train_step(state, batch)
        assert metrics["lambda"] == 0.0
        after[weight] = state.params
    for light, heavy in zip(
        jax.tree.leaves(after[0.0]["feature_extractor"]),
        jax.tree.leaves(after[100.0]["feature_extractor"]),
        strict=True,
    ):
        np.testing.assert_array_equal(light, heavy)
    assert not np.allclose(
        after[0.0]["domain_head"]["MLPHead_0"]["Dense_0"]["kernel"],
        after[100.0]["domain_head"]["MLPHead_0"]["Dense_0"]["kernel"],
    )


def test_dann_features_feel_the_domain_loss(rng):
    batch = random_batch(rng)
    states = [make_state(domain_loss_weight=w, adaptation="constant") for w in (0.0, 100.0)]
    light, heavy = (train.train_step(s, batch)[0].params["feature_extractor"] for s in states)
    assert not np.allclose(light["Dense_0"]["kernel"], heavy["Dense_0"]["kernel"])


def moons(rng, count=200, shift=0.0):
    labels = rng.integers(2, size=count)
    points = rng.normal(size=(count, 2)) * 0.3 + np.stack([labels * 2.0 - 1.0, np.zeros(count)], -1)
    return (points + shift).astype(np.float32), labels.astype(np.int32)


def test_fit_learns_and_predicts(rng):
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
    assert set(trained.history[0]) == METRIC_NAMES | {"step"}
    assert jax.tree.leaves(trained.params)


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


def test_non_finite_loss_stops_with_the_step_and_metric(rng):
    state = make_state(steps=10)
    poisoned = jax.tree.map(lambda leaf: jnp.full_like(leaf, jnp.nan), state.params)
    inputs = stream_inputs(host_data(rng))
    with pytest.raises(FloatingPointError, match=r"became nan by step 5"):
        train.train_loop(state.replace(params=poisoned), inputs, 10, log_every=5, progress=False)


def host_data(rng, size=24, shape=(2,)):
    return {
        "source_image": rng.normal(size=(size, *shape)).astype(np.float32),
        "source_label": rng.integers(2, size=size).astype(np.int32),
        "target_image": rng.normal(1.0, 1.0, size=(size, *shape)).astype(np.float32),
    }


def device_inputs(data, batch_size=8, seed=0):
    return DeviceData.create(data, batch_size, seed)


def stream_inputs(data, batch_size=8, seed=0):
    return PairedStream(
        ArraySource(data["source_image"], data["source_label"]),
        ArraySource(data["target_image"]),
        batch_size=batch_size,
        seed=seed,
        source_preprocess=np.asarray,
        target_preprocess=np.asarray,
    )


@pytest.mark.parametrize(("model", "shape"), [("shallow", (2,)), ("mnist", (16, 16, 3))])
def test_device_mode_trains_exactly_like_stream_mode(rng, model, shape):
    """lax.scan over device-resident data sees the same batches as the host stream."""
    data = host_data(rng, shape=shape)
    results = {}
    for mode, inputs in (("stream", stream_inputs(data)), ("device", device_inputs(data))):
        state = make_state(model, jnp.zeros((1, *shape)), steps=7)
        results[mode] = train.train_loop(
            state, inputs, 7, steps_per_dispatch=3, log_every=5, progress=False
        )
    (stream_state, stream_history), (device_state, device_history) = results.values()
    assert int(device_state.step) == 7
    assert [r["step"] for r in device_history] == [5, 7]
    for got, want in zip(
        jax.tree.leaves(device_state.params), jax.tree.leaves(stream_state.params), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(device_history, stream_history, strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5, atol=1e-6)


def test_auto_input_mode_keeps_data_that_fits_on_the_device():
    assert train.choose_input_mode(data_bytes=1000) == "device"


def test_unknown_input_mode_is_refused(rng):
    data = host_data(rng)
    with pytest.raises(ValueError, match="Unknown input_mode 'disk'"):
        dann_jax.fit(
            data["source_image"], data["source_label"], data["target_image"],
            model="shallow", steps=1, batch_size=16, input_mode="disk", progress=False,
        )  # fmt: skip


def test_fit_seeds_in_one_program_equals_separate_runs(rng):
    """jax.vmap over seeds: params and history of each seed as fit() gives them alone."""
    data = [host_data(rng, size=40, shape=(16, 16, 3)) for _ in range(2)]
    settings = {"steps": 6, "batch_size": 16, "log_every": 3, "steps_per_dispatch": 3}
    together = train.fit_seeds(
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


def test_fit_seeds_wants_one_array_per_seed(rng):
    d = host_data(rng)
    with pytest.raises(ValueError, match="pass one array per seed"):
        train.fit_seeds(
            [d["source_image"]], [d["source_label"]], [d["target_image"]],
            seeds=[0, 1], model="shallow", steps=1, batch_size=8,
        )  # fmt: skip
