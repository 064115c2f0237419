"""The pure train step: its metrics, schedules read from the step, both passes, the baseline."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dann_jax.core import step
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state


def make_state(model="shallow", example=None, **settings):
    example = jnp.zeros((1, 2)) if example is None else example
    settings = TrainSettings(**{"steps": 10, **settings})
    return create_train_state(build_model(model, 2), example, settings)


def random_batch(rng, half=4, shape=(2,)):
    return {
        "source_image": rng.normal(size=(half, *shape)).astype(np.float32),
        "source_label": rng.integers(2, size=half).astype(np.int32),
        "target_image": rng.normal(1.0, 1.0, size=(half, *shape)).astype(np.float32),
    }


def test_train_step_returns_the_metrics_and_reads_schedules_from_the_step(rng, metric_names):
    state = make_state(steps=10)
    batch = random_batch(rng)
    new_state, metrics = step.train_step(state, batch)
    assert set(metrics) == metric_names
    assert all(value.shape == () and value.dtype == jnp.float32 for value in metrics.values())
    assert int(new_state.step) == 1
    assert metrics["lambda"] == 0.0  # p = 0
    np.testing.assert_allclose(metrics["learning_rate"], 0.01)
    _, later = step.train_step(new_state.replace(step=5), batch)
    np.testing.assert_allclose(later["lambda"], 2 / (1 + np.exp(-5)) - 1, rtol=1e-6)
    np.testing.assert_allclose(later["learning_rate"], 0.01 / 6**0.75, rtol=1e-6)
    np.testing.assert_allclose(
        metrics["loss"], metrics["label_loss"] + metrics["domain_loss"], rtol=1e-6
    )


@pytest.mark.parametrize("method", ["dann", "source_only"])
@pytest.mark.slow
def test_one_forward_pass_over_both_domains_equals_one_pass_per_domain(rng, method):
    """The accelerators' single pass and the CPUs' two passes give the same step."""
    state = make_state("mnist", jnp.zeros((1, 16, 16, 3)), steps=10, method=method)
    state = state.replace(step=jnp.asarray(4, jnp.int32))  # lambda > 0
    batch = random_batch(rng, half=6, shape=(16, 16, 3))
    (one, one_metrics), (two, two_metrics) = (
        jax.jit(functools.partial(step.train_step, single_pass=single))(state, batch)
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
        return step.train_step(state, batch)

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
        state, metrics = step.train_step(state, batch)
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
    light, heavy = (step.train_step(s, batch)[0].params["feature_extractor"] for s in states)
    assert not np.allclose(light["Dense_0"]["kernel"], heavy["Dense_0"]["kernel"])


def test_the_applied_learning_rate_follows_the_state_step(rng):
    """A state restored at step k applies mu(k), not the rate of the optimiser's own count."""
    batch = random_batch(rng)
    steps, k = 10, 6
    # lambda = 1 at every step, so both states get the same gradients.
    fresh = make_state(steps=steps, adaptation="constant", learning_rate=0.5)
    restored = fresh.replace(step=jnp.asarray(k, jnp.int32))
    moves = [
        jax.tree.map(jnp.subtract, step.train_step(state, batch)[0].params, state.params)
        for state in (fresh, restored)
    ]
    ratio = 1 / (1 + 10 * k / steps) ** 0.75  # mu(k) / mu(0)
    for at_zero, at_k in zip(*map(jax.tree.leaves, moves), strict=True):
        assert np.abs(at_zero).max() > 0
        # Within the rounding of params + update (float32 params of order 1).
        np.testing.assert_allclose(at_k, ratio * at_zero, rtol=1e-4, atol=1e-7)


def test_states_of_equal_settings_share_a_compiled_step(rng, compiled):
    """Seed and log cadence are not the step's business: one compilation serves them all."""
    jitted = jax.jit(step.train_step)
    batch = random_batch(rng)
    rate = 0.0321  # step settings no other test compiles
    with compiled() as programs:
        for settings in ({"seed": 0}, {"seed": 1, "log_every": 7}, {"seed": 2}):
            jitted(make_state(learning_rate=rate, **settings), batch)
    assert programs.count("jit(train_step)") == 1
    with compiled() as programs:
        jitted(make_state(learning_rate=2 * rate), batch)
    assert programs.count("jit(train_step)") == 1  # another step: it compiles


def test_runs_of_other_lengths_and_hyperparameters_lower_to_one_program(rng):
    """The run's length is traced like mu_0, gamma and the domain-loss weight (p = step /
    steps): the compilation cache serves a run of 100 steps the step compiled for a run
    of 40 with other values, and the schedules still follow each run's own."""
    batch = random_batch(rng)
    short = make_state(steps=40)
    long = make_state(steps=100, learning_rate=0.02, gamma=5.0, domain_loss_weight=2.0)
    jitted = jax.jit(step.train_step)
    assert jitted.lower(short, batch).as_text() == jitted.lower(long, batch).as_text()
    for state, p, mu_0, gamma in ((short, 20 / 40, 0.01, 10.0), (long, 20 / 100, 0.02, 5.0)):
        _, metrics = jitted(state.replace(step=jnp.asarray(20, jnp.int32)), batch)
        np.testing.assert_allclose(metrics["lambda"], 2 / (1 + np.exp(-gamma * p)) - 1, rtol=1e-6)
        np.testing.assert_allclose(metrics["learning_rate"], mu_0 / (1 + 10 * p) ** 0.75, rtol=1e-6)
