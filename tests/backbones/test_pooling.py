"""The CPU-friendly max pooling equals Flax's, values and gradients (ties included), and
leaves no select-and-scatter in a CPU program."""

import flax.linen as nn
import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np

from dann_jax.backbones.pooling import max_pool


@st.composite
def poolings(draw):
    """Images with many ties (few distinct values), a 2-D window, strides and padding
    (pairs, "SAME" or "VALID") with at least one output pixel."""
    window = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(
        st.sampled_from(["SAME", "VALID"])
        | st.tuples(*(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)) for k in window))
    )
    low = padding if isinstance(padding, tuple) else ((0, 0), (0, 0))
    size = [draw(st.integers(max(k - sum(p), 1), 11)) for k, p in zip(window, low, strict=True)]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (draw(st.integers(1, 2)), *size, draw(st.integers(1, 3)))
    images = rng.integers(-2, 3, size=shape).astype(np.float32)
    return images, window, strides, padding


def value_and_gradient(pool, images, window, strides, padding, cotangent):
    def pooled(images):
        return pool(images, window, strides=strides, padding=padding)

    output, pullback = jax.vjp(pooled, images)
    return output, pullback(cotangent)[0]


@hypothesis.settings(deadline=None, max_examples=40)
@hypothesis.given(case=poolings())
def test_values_and_gradients_equal_flaxs(case):
    images, window, strides, padding = case
    shape = jax.eval_shape(lambda: nn.max_pool(images, window, strides, padding)).shape
    cotangent = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    want = jax.jit(value_and_gradient, static_argnums=(0, 2, 3, 4))(
        nn.max_pool, images, window, strides, padding, cotangent
    )
    got = jax.jit(value_and_gradient, static_argnums=(0, 2, 3, 4))(
        max_pool, images, window, strides, padding, cotangent
    )
    np.testing.assert_array_equal(got[0], want[0])
    # Overlapping windows' cotangents are summed in another order.
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)


def test_other_inputs_pass_to_flax():
    sequences = jnp.arange(24.0).reshape(2, 6, 2)  # (N, L, C): a 1-D window
    np.testing.assert_array_equal(
        max_pool(sequences, (2,), strides=(2,)), nn.max_pool(sequences, (2,), strides=(2,))
    )


def gradient_program(pool, platform: str) -> str:
    """The gradient program of ResNet-50's pooling (3 x 3, 2 apart, padded by 1),
    lowered for ``platform`` (no such device needed)."""

    def loss(images):
        return pool(images, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1))).sum()

    exported = jax.export.export(jax.jit(jax.grad(loss)), platforms=[platform])
    return exported(jax.ShapeDtypeStruct((2, 9, 9, 4), jnp.float32)).mlir_module()


def test_on_a_cpu_no_select_and_scatter_elsewhere_autodiffs():
    assert "stablehlo.select_and_scatter" not in gradient_program(max_pool, "cpu")
    # Flax's pooling has one: what this module replaces, and what makes this test able
    # to fail; on a GPU it stays.
    assert "stablehlo.select_and_scatter" in gradient_program(nn.max_pool, "cpu")
    assert "stablehlo.select_and_scatter" in gradient_program(max_pool, "cuda")
