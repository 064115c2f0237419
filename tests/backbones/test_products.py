"""The channel product's values and gradients are autodiff's, and its kernel gradient
has no transposed copy of the activations in XLA:CPU's program (the reason it exists)."""

import re

import flax.linen as nn
import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from dann_jax.backbones import convolution, products
from dann_jax.backbones.products import channel_product


@hypothesis.settings(deadline=None, max_examples=20)
@hypothesis.given(
    leading=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    channels=st.integers(1, 5),
    features=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_the_channel_product_and_its_gradients_are_autodiffs(leading, channels, features, seed):
    keys = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(keys[0], (*leading, channels))
    kernel = jax.random.normal(keys[1], (channels, features))
    cotangent = jax.random.normal(keys[2], (*leading, features))

    def autodiffs(x, kernel):
        return lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))

    output, pullback = jax.vjp(channel_product, x, kernel)
    expected, expected_pullback = jax.vjp(autodiffs, x, kernel)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(pullback(cotangent), expected_pullback(cotangent), strict=True):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_a_dense_layer_with_the_products_dot_general_is_flaxs_dense_layer():
    tokens = jax.random.normal(jax.random.key(1), (2, 7, 6))
    ours, flaxs = nn.Dense(5, dot_general=products.dot_general), nn.Dense(5)
    variables = flaxs.init(jax.random.key(0), tokens)
    jax.tree.map(np.testing.assert_array_equal, ours.init(jax.random.key(0), tokens), variables)

    def loss(layer):
        return lambda variables, tokens: jnp.sum(jnp.sin(layer.apply(variables, tokens)))

    for got, want in zip(
        jax.tree.leaves(jax.grad(loss(ours), argnums=(0, 1))(variables, tokens)),
        jax.tree.leaves(jax.grad(loss(flaxs), argnums=(0, 1))(variables, tokens)),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    half = jax.tree.map(lambda value: value.astype(jnp.bfloat16), variables)
    assert ours.apply(half, tokens.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def test_other_products_pass_to_lax_dot_general():
    lhs, rhs = jnp.ones((3, 4, 5)), jnp.ones((3, 5, 2))
    batched = (((2,), (1,)), ((0,), (0,)))
    np.testing.assert_array_equal(
        products.dot_general(lhs, rhs, batched), lax.dot_general(lhs, rhs, batched)
    )
    dense = (((2,), (0,)), ((), ()))
    exact = products.dot_general(lhs, rhs[0], dense, precision=lax.Precision.HIGHEST)
    np.testing.assert_array_equal(exact, lax.dot_general(lhs, rhs[0], dense))


def transposed_copies(layer, tokens) -> int:
    """Transposed copies of the tokens or of their cotangents, channels first, in the
    program of ``layer``'s kernel gradient as the library compiles it."""
    variables = layer.init(jax.random.key(0), tokens)

    def kernel_gradient(variables, tokens):
        return jax.grad(lambda v: jnp.sum(jnp.sin(layer.apply(v, tokens))))(variables)

    options = convolution.compiler_options("cpu")
    program = jax.jit(kernel_gradient, compiler_options=options).lower(variables, tokens)
    count, length, width = tokens.shape
    channels_first = rf"f32\[({width}|{layer.features}),{count},{length}\]"
    return len(
        re.findall(rf"= {channels_first}\S* (?:transpose|copy)\(", program.compile().as_text())
    )


def test_the_kernel_gradient_copies_nothing_transposed():
    if jax.default_backend() != "cpu":
        pytest.skip("XLA:CPU's program")
    tokens = jnp.ones((4, 50, 64))
    assert transposed_copies(nn.Dense(96, dot_general=products.dot_general), tokens) == 0
    # Flax's own layer does: what makes this test able to fail.
    assert transposed_copies(nn.Dense(96), tokens) > 0
