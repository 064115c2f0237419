"""User networks in the trainer: a DANN instance, a registered name, an import path."""

import json
import textwrap

import flax.linen as nn
import jax
import numpy as np
import pytest

import dann_jax
from dann_jax import cli, runs
from dann_jax.core import variables


class TinyFeatures(nn.Module):
    """A user's feature extractor: (N, ...) -> (N, 8)."""

    @nn.compact
    def __call__(self, inputs):
        return nn.tanh(nn.Dense(8)(inputs.reshape(inputs.shape[0], -1)))


def moons(rng, size=64):
    """Two separable classes; the target shifted."""
    labels = rng.integers(2, size=size)
    source = rng.normal(size=(size, 2)) + 2.0 * labels[:, None]
    target = rng.normal(size=(size, 2)) + 2.0 * rng.integers(2, size=size)[:, None] + 0.5
    return source.astype(np.float32), labels.astype(np.int32), target.astype(np.float32)


@pytest.mark.slow
def test_fit_trains_a_user_network_and_predicts(rng):
    source, labels, target = moons(rng)
    network = dann_jax.dann_network(TinyFeatures(), 2, bottleneck_units=4, domain_hidden_units=(6,))
    trained = dann_jax.fit(
        source, labels, target, model=network, steps=30, batch_size=16, progress=False
    )
    params = trained.params
    assert params["feature_extractor"]["Dense_0"]["kernel"].shape == (8, 4)  # the bottleneck
    assert params["feature_extractor"]["feature_extractor"]["Dense_0"]["kernel"].shape == (2, 8)
    assert params["domain_head"]["MLPHead_0"]["Dense_0"]["kernel"].shape == (4, 6)
    assert trained.predict(source).shape == (64,)
    assert trained.features(source).shape == (64, 4)
    assert np.isfinite(trained.history[-1]["loss"])


def test_fit_trains_a_user_network_on_images(rng):
    images = rng.uniform(size=(24, 12, 12, 2)).astype(np.float32)  # two channels: the user's
    labels = rng.integers(3, size=24).astype(np.int32)
    network = dann_jax.dann_network(TinyFeatures(), 3, domain_hidden_units=())
    trained = dann_jax.fit(
        images,
        labels,
        images,
        model=network,
        steps=4,
        batch_size=8,
        parallel="none",
        progress=False,
    )
    class_logits, domain_logits = trained.logits(images)
    assert class_logits.shape == (24, 3)
    # One pass for both, as selection reads them: the same arrays as the two calls.
    features, class_again, domain_again = trained.features_and_logits(images)
    assert features.shape == (24, 8) and features.dtype == np.float32
    np.testing.assert_allclose(features, trained.features(images), rtol=1e-6)
    np.testing.assert_allclose(class_again, class_logits, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(domain_again, domain_logits, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="float images must lie in"):
        dann_jax.fit(images * 255, labels, images, model=network, steps=2, parallel="none")


def test_a_registered_name_is_a_model(rng):
    @dann_jax.register_network("tiny_for_test")
    def tiny(num_classes):
        return dann_jax.dann_network(TinyFeatures(), num_classes, domain_hidden_units=(3,))

    source, labels, target = moons(rng)
    trained = dann_jax.fit(
        source, labels, target, model="tiny_for_test", steps=2, batch_size=16, progress=False
    )
    assert trained.params["domain_head"]["MLPHead_0"]["Dense_0"]["kernel"].shape == (8, 3)
    with pytest.raises(ValueError, match="cannot be registered"):
        dann_jax.register_network("mnist")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (TinyFeatures(), "not a dann_jax.DANN; give it the paper's heads"),
        (
            dann_jax.DANN(
                feature_extractor=TinyFeatures(),
                label_head=dann_jax.MLPHead((), 5),
                domain_head=dann_jax.DomainHead(()),
            ),
            r"must return \(class_logits, domain_logits\) of shapes \(1, 2\) and \(1,\)",
        ),
        ("no_such_package.nets:make", "cannot import 'make' from 'no_such_package.nets'"),
        ("numpy:pi", "name a function or a DANN"),
        ("numpy:zeros_like", "not a dann_jax.DANN"),
        ("resnet", "Unknown model 'resnet'"),
    ],
)
def test_a_model_that_is_no_network_gets_one_clear_error(model, message, rng):
    source, labels, target = moons(rng, size=8)
    with pytest.raises(ValueError, match=message):
        dann_jax.fit(
            source,
            labels,
            target,
            model=model,
            steps=2,
            batch_size=4,
            parallel="none",
            progress=False,
        )


@pytest.mark.slow
def test_a_config_names_a_user_network_by_import_path(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_nets.py").write_text(
        textwrap.dedent(
            """
            import flax.linen as nn
            import dann_jax

            class Hidden(nn.Module):
                @nn.compact
                def __call__(self, inputs):
                    return nn.relu(nn.Dense(12)(inputs))

            def make_network(num_classes):
                return dann_jax.dann_network(Hidden(), num_classes, domain_hidden_units=(12,))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    workdir = tmp_path / "run"
    arguments = ["train", "--noprogress", "--config=moons", "--config.model=my_nets:make_network"]
    arguments += ["--config.steps=20", "--config.log_every=10", "--config.plots=False"]
    arguments += [f"--workdir={workdir}"]
    assert cli.main(arguments) == 0
    results = json.loads((workdir / "results.json").read_text())
    assert set(results) == {"source_only", "dann"}
    assert json.loads((workdir / "config.json").read_text())["model"] == "my_nets:make_network"
    # A run folder is data: its import path is imported only when the command names it.
    assert cli.main(["evaluate", f"--workdir={workdir}", "--noprogress"]) == 2
    assert "--model=my_nets:make_network" in capsys.readouterr().err
    model = "--model=my_nets:make_network"
    assert cli.main(["evaluate", f"--workdir={workdir}", "--noprogress", model]) == 0
    # Starting variables and a frozen part, by config keys.
    state = runs.load_trained(workdir, method="dann", model="my_nets:make_network").state
    variables.save(tmp_path / "start.npz", state.variables)
    frozen = tmp_path / "frozen"
    start = [f"--config.init_variables={tmp_path / 'start.npz'}", "--config.method=dann"]
    start += ["--config.learning_rate_multipliers.feature_extractor=0", "--config.optimizer=adamw"]
    assert cli.main([*arguments[:-1], *start, f"--workdir={frozen}"]) == 0
    after = runs.load_trained(frozen, method="dann", model="my_nets:make_network").state
    for got, want in zip(
        jax.tree.leaves(after.params["feature_extractor"]),
        jax.tree.leaves(state.params["feature_extractor"]),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    capsys.readouterr()
    assert (
        cli.main([*arguments[:3], "--config.model=my_nets:nothing", f"--workdir={tmp_path / 'x'}"])
        == 2
    )
    assert "cannot import 'nothing' from 'my_nets'" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_seeds_trains_a_user_network_per_seed(rng):
    source, labels, target = moons(rng, size=32)
    network = dann_jax.dann_network(TinyFeatures(), 2, domain_hidden_units=(4,))
    runs = dann_jax.fit_seeds(
        [source] * 2,
        [labels] * 2,
        [target] * 2,
        seeds=[0, 1],
        model=network,
        steps=3,
        batch_size=8,
        log_every=3,
        progress=False,
    )
    kernels = [run.params["feature_extractor"]["Dense_0"]["kernel"] for run in runs]
    assert kernels[0].shape == (2, 8) and not np.allclose(kernels[0], kernels[1])
    assert [run.predict(source).shape for run in runs] == [(32,), (32,)]
