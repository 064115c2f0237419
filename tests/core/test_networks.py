import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dann_jax.core.registry import build_model


def init(model, inputs):
    return model.init(jax.random.key(0), inputs)["params"]


@pytest.mark.slow
def test_mnist_network_shapes_follow_the_paper():
    model = build_model("mnist", num_classes=10)
    images = jnp.zeros((4, 28, 28, 3))
    params = init(model, images)
    class_logits, domain_logits = model.apply({"params": params}, images, 1.0)
    assert class_logits.shape == (4, 10)
    assert domain_logits.shape == (4,)
    features = params["feature_extractor"]
    assert features["Conv_0"]["kernel"].shape == (5, 5, 3, 32)
    assert features["Conv_1"]["kernel"].shape == (5, 5, 32, 48)
    label = params["label_head"]
    assert [label[f"Dense_{i}"]["kernel"].shape for i in range(3)] == [
        (768, 100),
        (100, 100),
        (100, 10),
    ]
    domain = params["domain_head"]["MLPHead_0"]
    assert [domain[f"Dense_{i}"]["kernel"].shape for i in range(2)] == [(768, 100), (100, 1)]


@pytest.mark.parametrize(
    ("name", "side", "classes", "convolutions", "label_layers", "domain_layers"),
    [
        (
            "svhn",
            32,
            10,
            [(5, 5, 3, 64), (5, 5, 64, 64), (5, 5, 64, 128)],
            [(8192, 3072), (3072, 2048), (2048, 10)],
            [(8192, 1024), (1024, 1024), (1024, 1)],
        ),
        (
            "gtsrb",
            40,
            43,
            [(5, 5, 3, 96), (3, 3, 96, 144), (5, 5, 144, 256)],
            [(1024, 512), (512, 43)],
            [(1024, 1024), (1024, 1024), (1024, 1)],
        ),
    ],
)
def test_svhn_and_gtsrb_networks_follow_the_paper(
    name, side, classes, convolutions, label_layers, domain_layers
):
    model = build_model(name, num_classes=classes)
    images = jnp.zeros((2, side, side, 3))
    params = jax.eval_shape(lambda: init(model, images))
    class_logits, domain_logits = jax.eval_shape(
        lambda p: model.apply({"params": p}, images, 1.0), params
    )
    assert class_logits.shape == (2, classes) and domain_logits.shape == (2,)
    features = params["feature_extractor"]
    assert [features[f"Conv_{i}"]["kernel"].shape for i in range(3)] == convolutions
    label = params["label_head"]
    assert [label[f"Dense_{i}"]["kernel"].shape for i in range(len(label_layers))] == label_layers
    domain = params["domain_head"]["MLPHead_0"]
    assert [domain[f"Dense_{i}"]["kernel"].shape for i in range(3)] == domain_layers


def test_shallow_network_has_15_sigmoid_units():
    model = build_model("shallow", num_classes=2)
    params = init(model, jnp.zeros((3, 2)))
    assert params["feature_extractor"]["Dense_0"]["kernel"].shape == (2, 15)
    assert params["label_head"]["Dense_0"]["kernel"].shape == (15, 2)
    assert params["domain_head"]["MLPHead_0"]["Dense_0"]["kernel"].shape == (15, 1)


@functools.partial(jax.jit, static_argnames=("model", "domain_gradient"))
def domain_loss_grads(model, params, inputs, lambda_, domain_gradient=True):
    """The domain loss's gradient, compiled once per model (not op by op)."""
    labels = jnp.arange(inputs.shape[0]) % 2

    def loss(p):
        _, logits = model.apply({"params": p}, inputs, lambda_, domain_gradient=domain_gradient)
        return optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)).mean()

    return jax.grad(loss)(params)


@pytest.mark.parametrize("lambda_", [0.2, 1.0, 3.0])
@pytest.mark.slow
def test_grl_reverses_only_the_features_gradient(lambda_):
    model = build_model("mnist", num_classes=10)
    inputs = jax.random.normal(jax.random.key(1), (4, 28, 28, 1))
    params = init(model, inputs)
    # Full float32 matmuls: on GPUs the default TF32 rounding would blur the comparison.
    with jax.default_matmul_precision("float32"):
        reversed_grads = domain_loss_grads(model, params, inputs, lambda_)
        plain_grads = domain_loss_grads(model, params, inputs, -1.0)  # -(-1) * g: no reversal
    # The domain head gets its ordinary gradient (never negated twice) ...
    for got, want in zip(
        jax.tree.leaves(reversed_grads["domain_head"]),
        jax.tree.leaves(plain_grads["domain_head"]),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # ... and the features get -lambda times it.
    for got, want in zip(
        jax.tree.leaves(reversed_grads["feature_extractor"]),
        jax.tree.leaves(plain_grads["feature_extractor"]),
        strict=True,
    ):
        np.testing.assert_allclose(got, -lambda_ * want, rtol=1e-4, atol=1e-6)


def test_domain_gradient_false_keeps_the_domain_loss_out_of_the_features():
    model = build_model("shallow", num_classes=2)
    inputs = jax.random.normal(jax.random.key(2), (6, 2))
    params = init(model, inputs)
    grads = domain_loss_grads(model, params, inputs, 1.0, domain_gradient=False)
    assert all(np.all(leaf == 0) for leaf in jax.tree.leaves(grads["feature_extractor"]))
    assert any(np.any(leaf != 0) for leaf in jax.tree.leaves(grads["domain_head"]))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="Unknown model 'resnet'"):
        build_model("resnet", num_classes=10)
