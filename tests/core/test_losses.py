"""The DANN objective as a pure function: its values by hand, the JMLR form, and the
library's step minimising exactly it."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dann_jax
from dann_jax.core import step
from dann_jax.core.state import create_train_state


def by_hand(class_logits, labels, domain_logits, weight):
    """The loss in NumPy: softmax cross-entropy over the source rows, logistic loss over
    the joint batch (source rows first, domain 0; then target, domain 1)."""
    class_logits, domain_logits = np.float64(class_logits), np.float64(domain_logits)
    log_softmax = class_logits - np.log(np.exp(class_logits).sum(-1, keepdims=True))
    label_loss = -log_softmax[np.arange(len(labels)), labels].mean()
    domains = np.arange(len(domain_logits)) >= len(labels)
    log_target = -np.log1p(np.exp(-domain_logits))  # log sigmoid
    log_source = -np.log1p(np.exp(domain_logits))
    domain_loss = -np.where(domains, log_target, log_source).mean()
    return label_loss, domain_loss, label_loss + weight * domain_loss


@pytest.mark.parametrize("weight", [0.0, 1.0, 2.5])
def test_the_loss_and_its_metrics_are_the_papers_by_hand(rng, weight):
    class_logits = rng.normal(size=(6, 4)).astype(np.float32)
    labels = rng.integers(4, size=6).astype(np.int32)
    domain_logits = rng.normal(size=(6 + 10,)).astype(np.float32)  # 6 source, 10 target
    loss, metrics = dann_jax.dann_loss(
        class_logits, labels, domain_logits, domain_loss_weight=weight
    )
    label_loss, domain_loss, total = by_hand(class_logits, labels, domain_logits, weight)
    np.testing.assert_allclose(metrics["label_loss"], label_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["domain_loss"], domain_loss, rtol=1e-5)
    np.testing.assert_allclose(loss, total, rtol=1e-5)
    assert metrics["loss"] == loss
    assert metrics["source_accuracy"] == np.mean(class_logits.argmax(-1) == labels)
    truth = np.arange(16) >= 6
    assert metrics["domain_accuracy"] == np.mean((domain_logits > 0) == truth)


def test_a_weight_of_two_is_the_jmlr_sum_of_the_two_domains_means(rng):
    class_logits, labels = rng.normal(size=(5, 3)).astype(np.float32), rng.integers(3, size=5)
    domain_logits = rng.normal(size=(10,)).astype(np.float32)
    _, metrics = dann_jax.dann_loss(class_logits, labels, domain_logits, domain_loss_weight=2.0)
    source_mean = by_hand(class_logits, labels, domain_logits[:5], 1.0)[1]
    target_mean = -np.log(1 / (1 + np.exp(-domain_logits[5:]))).mean()
    np.testing.assert_allclose(
        metrics["loss"] - metrics["label_loss"], source_mean + target_mean, rtol=1e-5
    )


def test_the_weight_may_be_traced_without_recompiling(rng, compiled):
    class_logits, labels = rng.normal(size=(4, 3)).astype(np.float32), rng.integers(3, size=4)
    domain_logits = rng.normal(size=(8,)).astype(np.float32)
    loss = jax.jit(lambda weight: dann_jax.dann_loss(
        class_logits, labels, domain_logits, domain_loss_weight=weight)[0])  # fmt: skip
    with compiled() as programs:
        values = [float(loss(jnp.float32(weight))) for weight in (0.5, 1.0, 3.0)]
    assert len(programs) == 1 and values[0] < values[1] < values[2]


@pytest.mark.slow
def test_the_library_step_minimises_exactly_this_loss(rng):
    """The step's metrics are dann_loss of the network's own logits (the paper's MNIST
    network has no dropout or BatchNorm, so its training and evaluation passes agree)."""
    settings = dann_jax.TrainSettings(steps=10, domain_loss_weight=1.7)
    network = dann_jax.build_model("mnist", 10)
    state = create_train_state(network, np.zeros((1, 28, 28, 3), np.float32), settings)
    batch = {
        "source_image": rng.uniform(size=(4, 28, 28, 3)).astype(np.float32),
        "source_label": rng.integers(10, size=4).astype(np.int32),
        "target_image": rng.uniform(size=(4, 28, 28, 3)).astype(np.float32),
    }
    _, metrics = jax.jit(functools.partial(step.train_step, single_pass=True))(state, batch)
    images = np.concatenate([batch["source_image"], batch["target_image"]])
    class_logits, domain_logits = network.apply(state.variables, images)
    _, expected = dann_jax.dann_loss(
        class_logits[:4], batch["source_label"], domain_logits, domain_loss_weight=1.7
    )
    for name, value in expected.items():
        np.testing.assert_allclose(metrics[name], value, rtol=2e-5, atol=1e-6, err_msg=name)
