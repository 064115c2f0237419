"""Flax NNX networks in the trainer: training modes, BatchNorm and dropout over the
global batch, the same steps as linen, parts by path, resume."""

import jax
import nnx_network
import numpy as np
import pytest
from flax import nnx
from short_fits import FIT, leaves_close, moons_target_accuracy

import dann_jax
from dann_jax import configs, runs
from dann_jax.core.nnx_parts import NNXPart, nnx_part
from dann_jax.runs.train import Stopped


@pytest.fixture
def data(host_data):
    """Source images, their labels and target images: (48, 3) float32, (48,) int32."""
    arrays = host_data(size=48, shape=(3,))
    return arrays["source_image"], arrays["source_label"], arrays["target_image"]


def test_an_nnx_network_trains_alike_under_every_launcher(data):
    """8 devices share each batch: BatchNorm's statistics and dropout's masks are the
    global batch's, as for linen, so every launcher's result is the one-device one."""
    network = nnx_network.make_network(2, in_features=3)
    trained = {
        parallel: dann_jax.fit(*data, model=network, parallel=parallel, **FIT)
        for parallel in ("none", "pmap", "shard_map")
    }
    reference = trained["none"]
    stats = reference.state.model_state["batch_stats"]["feature_extractor"]["bn"]
    assert not np.allclose(stats["mean"], 0)  # the running averages moved in training
    for run in trained.values():
        leaves_close(run.state.variables, reference.state.variables)
        np.testing.assert_allclose(run.history[-1]["loss"], reference.history[-1]["loss"], 1e-5)
    # Dropout acts in training: without it the same run ends elsewhere.
    without = nnx_network.make_network(2, in_features=3, dropout_rate=0.0)
    other = dann_jax.fit(*data, model=without, parallel="none", **FIT)
    assert not np.allclose(other.params["label_head"]["Dense_0"]["kernel"],
                           reference.params["label_head"]["Dense_0"]["kernel"])  # fmt: skip


def test_evaluation_uses_the_running_averages_and_no_dropout(data):
    network = nnx_network.make_network(2, in_features=3)
    trained = dann_jax.fit(*data, model=network, parallel="none", **FIT)
    inputs = data[2][:5]
    first, alone = trained.logits(inputs)[0], trained.logits(inputs[:1])[0]
    np.testing.assert_allclose(first[:1], alone, rtol=1e-6)  # no batch statistics
    np.testing.assert_array_equal(trained.logits(inputs)[0], first)  # no dropout
    assert trained.features(inputs).shape == (5, 16)


def test_nnx_and_its_linen_twin_take_the_same_steps_from_the_same_weights(data):
    """An NNX network and a linen one with the same layers, started from the same
    variables (init_variables), train alike: the NNX module is driven as linen is."""
    nnx_net = nnx_network.make_network(2, in_features=3, dropout_rate=0.0)
    linen_net = dann_jax.dann_network(nnx_network.LinenFeatures(), 2, domain_hidden_units=(8,))
    inputs = data[0]
    start = nnx_net.init({"params": jax.random.key(3)}, inputs)
    start = jax.tree.map(np.asarray, dict(start))
    settings = FIT | {"parallel": "none", "init_variables": start}
    got = dann_jax.fit(*data, model=nnx_net, **settings)
    want = dann_jax.fit(*data, model=linen_net, **settings)
    leaves_close(got.state.variables, want.state.variables, rtol=1e-5, atol=1e-6)
    for mine, theirs in zip(got.history, want.history, strict=True):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5)


def test_nnx_parts_are_named_by_path_for_multipliers_and_freezing(data):
    network = nnx_network.make_network(2, in_features=3)
    start = jax.tree.map(np.asarray, dict(network.init({"params": jax.random.key(0)}, data[0])))
    frozen = dann_jax.fit(
        *data, model=network, parallel="none", init_variables=start,
        learning_rate_multipliers={"feature_extractor/linear": 0.0}, **FIT,
    )  # fmt: skip
    got, given = frozen.params["feature_extractor"], start["params"]["feature_extractor"]
    np.testing.assert_array_equal(got["linear"]["kernel"], given["linear"]["kernel"])
    assert not np.allclose(got["bn"]["scale"], given["bn"]["scale"])


def test_an_instance_starts_every_run_from_its_weights_a_function_draws_them_per_seed():
    inputs = np.zeros((4, 3), np.float32)
    instance = nnx_network.Features(3, rngs=nnx.Rngs(7))
    copied = nnx_part(instance)
    drawn = nnx_part(lambda rngs: nnx_network.Features(3, rngs=rngs))
    kernels = {
        name: [part.init({"params": jax.random.key(seed)}, inputs)["params"]["linear"]["kernel"]
               for seed in (0, 1)]
        for name, part in (("copied", copied), ("drawn", drawn))
    }  # fmt: skip
    np.testing.assert_array_equal(kernels["copied"][0], instance.linear.kernel[...])
    np.testing.assert_array_equal(kernels["copied"][1], instance.linear.kernel[...])
    assert not np.allclose(kernels["drawn"][0], kernels["drawn"][1])
    network = dann_jax.dann_network(instance, 2)  # an instance is wrapped as it comes
    assert isinstance(network.feature_extractor, NNXPart)
    with pytest.raises(ValueError, match=r"dann_jax\.dann_network\(Features\(\.\.\.\), num"):
        dann_jax.fit(inputs, np.zeros(4, np.int32), inputs, model=instance, steps=1)


def test_variables_of_other_kinds_get_one_clear_error():
    class Counting(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(2, 2, rngs=rngs)
            self.calls = nnx.Variable(np.zeros(()))

        def __call__(self, inputs):
            return self.linear(inputs)

    with pytest.raises(ValueError, match=r"kinds \['Variable'\].*nnx\.BatchStat"):
        nnx_part(Counting(nnx.Rngs(0))).init(jax.random.key(0), np.zeros((1, 2), np.float32))
    with pytest.raises(TypeError, match=r"nnx\.Module or a function rngs -> nnx\.Module"):
        nnx_part(3)


def test_a_run_of_an_nnx_network_stopped_and_resumed_equals_the_run_never_stopped(tmp_path):
    """`dann train --config.model=nnx_network:make_network`'s run, stopped at step 40 of
    120 and resumed from its checkpoint: BatchNorm statistics and dropout keys
    come back exactly."""
    config = configs.load("moons")
    config.model, config.method, config.plots = "nnx_network:make_network", "dann", False
    config.steps, config.log_every, config.steps_per_dispatch = 120, 20, 40
    config.batch_size, config.checkpoint_every, config.parallel = 16, 0, "none"
    whole = runs.run(config, tmp_path / "whole", progress=False)
    asked = []
    with pytest.raises(Stopped, match="stopped at step 40 of dann"):
        runs.run(config, tmp_path / "stopped", progress=False,
                 should_stop=lambda: asked.append(None) or len(asked) > 2)  # fmt: skip
    resumed = runs.run(config, tmp_path / "stopped", progress=False)
    assert resumed["dann"]["target_accuracy"] == whole["dann"]["target_accuracy"]
    assert (tmp_path / "whole" / "metrics.jsonl").read_text() == (
        tmp_path / "stopped" / "metrics.jsonl"
    ).read_text()


@pytest.mark.slow
def test_dann_with_an_nnx_batch_norm_and_dropout_network_adapts_on_moons():
    """With the toy problem's settings, as the linen network's test: source-only
    against DANN on the rotated moons."""
    accuracy = moons_target_accuracy(nnx_network.make_network(2))
    assert accuracy["dann"] > accuracy["source_only"] + 0.05, accuracy


def test_seeds_in_one_program_each_draw_their_weights_and_equal_their_own_runs(data):
    """fit_seeds (jax.vmap over seeds) with an NNX network built from each seed's rngs."""
    network = nnx_network.make_network(2, in_features=3)
    settings = FIT | {"parallel": "none"}
    together = dann_jax.fit_seeds([data[0]] * 2, [data[1]] * 2, [data[2]] * 2, seeds=[0, 1],
                                  model=network, **settings)  # fmt: skip
    for seed, trained in zip((0, 1), together, strict=True):
        alone = dann_jax.fit(*data, model=network, seed=seed, **settings)
        leaves_close(trained.state.variables, alone.state.variables)
    kernels = [trained.params["feature_extractor"]["linear"]["kernel"] for trained in together]
    assert not np.allclose(*kernels)
