"""Networks with BatchNorm and dropout, optimisers by name, per-part learning rates,
starting variables and bfloat16 compute."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import stateful_network
from flax import linen as nn
from short_fits import FIT, leaves_close, moons_target_accuracy

import dann_jax
from dann_jax.core import checkpoints, step, variables
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state


@pytest.fixture
def network():
    return stateful_network.make_network(2)


@pytest.mark.slow
def test_batch_norm_and_dropout_train_alike_under_every_launcher(host_data, network):
    """8 devices share each batch (one source and one target row each): the global
    batch's statistics and dropout masks make every launcher's result the one-device one."""
    data = host_data(size=48, shape=(3,))
    args = (data["source_image"], data["source_label"], data["target_image"])
    runs = {
        (parallel, mode): dann_jax.fit(
            *args, model=network, parallel=parallel, input_mode=mode, **FIT
        )
        for parallel in ("none", "pmap", "shard_map")
        for mode in ("device", "stream")
    }
    reference = runs["none", "device"]
    stats = reference.state.model_state["batch_stats"]["feature_extractor"]["BatchNorm_0"]
    assert not np.allclose(stats["mean"], 0)  # the running averages moved
    for trained in runs.values():
        leaves_close(trained.state.variables, reference.state.variables)
        np.testing.assert_allclose(trained.history[-1]["loss"], reference.history[-1]["loss"], 1e-5)
    less_dropout = stateful_network.make_network(2, dropout_rate=0.0)
    other = dann_jax.fit(*args, model=less_dropout, parallel="none", **FIT)
    assert not np.allclose(other.params["label_head"]["Dense_0"]["kernel"],
                           reference.params["label_head"]["Dense_0"]["kernel"])  # fmt: skip


def test_evaluation_uses_the_running_averages_and_no_dropout(host_data, network):
    data = host_data(size=32, shape=(3,))
    trained = dann_jax.fit(
        data["source_image"], data["source_label"], data["target_image"],
        model=network, parallel="none", **FIT,
    )  # fmt: skip
    inputs = data["target_image"][:5]
    first, alone = trained.logits(inputs)[0], trained.logits(inputs[:1])[0]
    np.testing.assert_allclose(first[:1], alone, rtol=1e-6)  # no batch statistics in evaluation
    np.testing.assert_array_equal(trained.logits(inputs)[0], first)  # no dropout


@pytest.mark.slow
def test_fit_seeds_trains_a_batch_norm_network_as_separate_runs(host_data, network):
    data = host_data(size=32, shape=(3,))
    settings = FIT | {"parallel": "none"}
    together = dann_jax.fit_seeds(
        [data["source_image"]] * 2, [data["source_label"]] * 2, [data["target_image"]] * 2,
        seeds=[1, 2], model=network, **settings,
    )  # fmt: skip
    for trained, seed in zip(together, [1, 2], strict=True):
        alone = dann_jax.fit(
            data["source_image"], data["source_label"], data["target_image"],
            model=network, seed=seed, input_mode="device", **settings,
        )  # fmt: skip
        leaves_close(trained.state.variables, alone.state.variables, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_dann_with_batch_norm_and_dropout_adapts_on_moons(network):
    """With the toy problem's settings (the shallow network's): 0.80 -> 0.99 at seed 0."""
    accuracy = moons_target_accuracy(network)
    assert accuracy["dann"] > accuracy["source_only"] + 0.05, accuracy


@pytest.fixture
def batch(host_data):
    return {name: value[:8] for name, value in host_data(size=8, shape=(3,)).items()}


def one_step(network, batch, **settings):
    state = create_train_state(network, batch["source_image"], TrainSettings(steps=10, **settings))
    return state, step.train_step(state, batch)[0]


def parameter_change(before, after, part):
    changes = jax.tree.map(lambda a, b: np.asarray(b - a), before.params[part], after.params[part])
    return jax.tree.leaves(changes)


@pytest.mark.slow
def test_learning_rate_multipliers_scale_and_freeze_the_parts_updates(batch, network):
    multipliers = {"feature_extractor": 0.1, "domain_head": 0.0}
    before, plain = one_step(network, batch)
    _, scaled = one_step(network, batch, learning_rate_multipliers=multipliers)
    for got, want in zip(
        parameter_change(before, scaled, "feature_extractor"),
        parameter_change(before, plain, "feature_extractor"),
        strict=True,
    ):
        np.testing.assert_allclose(got, 0.1 * want, rtol=1e-3, atol=1e-7)  # float32 rounding
    assert all(np.all(change == 0) for change in parameter_change(before, scaled, "domain_head"))
    for got, want in zip(
        parameter_change(before, scaled, "label_head"),
        parameter_change(before, plain, "label_head"),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["nesterov", "adamw"])
def test_optimizers_by_name_take_their_own_steps(batch, network, optimizer):
    before, sgd = one_step(network, batch)
    _, other = one_step(network, batch, optimizer=optimizer, weight_decay=1e-2)
    sgd_change = parameter_change(before, sgd, "label_head")
    other_change = parameter_change(before, other, "label_head")
    assert all(np.all(np.isfinite(change)) for change in other_change)
    assert not np.allclose(sgd_change[0], other_change[0])
    if optimizer == "adamw":  # Adam's first step moves a weight by about the learning rate
        np.testing.assert_allclose(np.median(np.abs(other_change[1])), 0.01, rtol=0.05)


@pytest.mark.slow
def test_init_variables_start_the_given_parts_and_freezing_keeps_them(host_data, network):
    data = host_data(size=32, shape=(3,))
    args = (data["source_image"], data["source_label"], data["target_image"])
    donor = dann_jax.fit(*args, model=network, parallel="none", seed=5, **FIT)
    given = {
        "params": {"feature_extractor": donor.params["feature_extractor"]},
        "batch_stats": donor.state.model_state["batch_stats"],
    }
    frozen = dann_jax.fit(
        *args, model=network, parallel="none", init_variables=given,
        learning_rate_multipliers={"feature_extractor": 0}, **FIT,
    )  # fmt: skip
    leaves_close(frozen.params["feature_extractor"], given["params"]["feature_extractor"], 0, 0)
    fresh = dann_jax.fit(*args, model=network, parallel="none", **(FIT | {"steps": 1}))
    assert not np.allclose(
        fresh.params["feature_extractor"]["Dense_0"]["kernel"],
        given["params"]["feature_extractor"]["Dense_0"]["kernel"],
    )


def test_init_variables_from_a_file(host_data, network, tmp_path):
    data = host_data(size=32, shape=(3,))
    args = (data["source_image"], data["source_label"], data["target_image"])
    donor = dann_jax.fit(*args, model=network, parallel="none", **FIT)
    variables.save(tmp_path / "start.npz", donor.state.variables)
    state = create_train_state(
        network,
        data["source_image"][:1],
        TrainSettings(steps=1),
        variables.load(tmp_path / "start.npz"),
    )
    leaves_close(state.variables, donor.state.variables, 0, 0)


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_params_and_stays_finite(host_data):
    data = host_data(size=32, shape=(16, 16, 3))
    args = (data["source_image"], data["source_label"], data["target_image"])
    runs = {
        dtype: dann_jax.fit(*args, compute_dtype=dtype, parallel="none", **FIT)
        for dtype in ("float32", "bfloat16")
    }
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(runs["bfloat16"].params))
    assert np.isfinite(runs["bfloat16"].history[-1]["loss"])
    leaves_close(runs["bfloat16"].params, runs["float32"].params, rtol=0.1, atol=0.02)
    state = runs["bfloat16"].state
    batch = {name: value[:8] for name, value in data.items()}
    text = jax.jit(step.train_step).lower(state, batch).as_text()
    assert "bf16>" in text  # the passes compute in bfloat16


class PositionalTrain(nn.Module):
    @nn.compact
    def __call__(self, inputs, train: int = 0):
        return nn.Dense(4)(inputs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimizer": "lamb"}, "Unknown optimizer 'lamb'"),
        ({"learning_rate_multipliers": {"backbone": 0.1}}, "names 'backbone', which holds no"),
        ({"learning_rate_multipliers": {"label_head": -1}}, r"multipliers\['label_head'\] must"),
        ({"learning_rate_multipliers": 0.1}, "must map parts to multipliers"),
        ({"compute_dtype": "float8"}, "Unknown compute_dtype"),
        ({"init_variables": {"params": {"label_head": {"Dense_9": {"kernel": np.zeros(2)}}}}},
         "holds 'params/label_head/Dense_9/kernel', which this network does not have"),
        ({"init_variables": {"params": {"label_head": {"Dense_0": {"kernel": np.zeros(2)}}}}},
         r"has shape \(2,\), but the network's has \(16, 2\)"),
        ({"model": dann_jax.dann_network(PositionalTrain(), 2)}, "declare it as a keyword"),
    ],
)  # fmt: skip
def test_bad_training_settings_get_one_clear_error(host_data, network, change, message):
    data = host_data(size=16, shape=(3,))
    arguments = {"model": network, "steps": 2, "batch_size": 8, "parallel": "none"}
    with pytest.raises(ValueError, match=message):
        dann_jax.fit(
            data["source_image"], data["source_label"], data["target_image"],
            progress=False, **(arguments | change),
        )  # fmt: skip


def test_a_checkpoint_of_an_earlier_format_is_refused_clearly(tmp_path, network):
    import orbax.checkpoint as ocp

    state = create_train_state(network, np.zeros((1, 3), np.float32), TrainSettings(steps=2))
    manager = checkpoints.manager(tmp_path)
    old = {"params": state.params, "opt_state": state.opt_state, "step": state.step}
    manager.save(
        0,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(jax.device_get(old)),
            loop=ocp.args.JsonSave({"next_index": 0}),
        ),
    )
    manager.wait_until_finished()
    with pytest.raises(ValueError, match="written by an earlier dann_jax"):
        checkpoints.restore(manager, state)
