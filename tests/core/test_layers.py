"""The fast CPU forms equal XLA's convolution and Flax's max pooling, values and gradients."""

import functools

import flax.linen as nn
import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dann_jax.core.layers import (
    ConvReluPool,
    conv_patches,
    conv_relu_pool,
    conv_xla,
    max_pool_2x2,
    pools_by_space_to_depth,
    space_to_depth,
)

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def reference_pool(x):
    return nn.max_pool(x, (2, 2), strides=(2, 2))


@functools.partial(jax.jit, static_argnums=0)
def value_and_pullback(function, inputs, cotangent):
    """``function(*inputs)`` and its VJP of ``cotangent``, as one compiled program (a
    compile per hypothesis example rather than one per operation and shape)."""
    output, pullback = jax.vjp(function, *inputs)
    return output, pullback(cotangent)


def random_cotangent(function, inputs, seed):
    shape = jax.eval_shape(function, *inputs).shape
    return jax.random.normal(jax.random.key(seed), shape)


@st.composite
def pool_inputs(draw):
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(2, 9)),
        draw(st.integers(2, 9)),
        draw(st.integers(1, 4)),
    )
    # Small integers make ties within windows common: the VJP must pick the same element.
    elements = st.integers(-3, 3).map(float) | st.floats(-3, 3, width=32)
    return jnp.asarray(draw(hnp.arrays(np.float32, shape, elements=elements)))


@hypothesis.settings(deadline=None, max_examples=25)
@hypothesis.given(x=pool_inputs(), seed=st.integers(0, 2**16))
@pytest.mark.slow
def test_max_pool_matches_flax_values_and_gradients(x, seed):
    cotangent = random_cotangent(reference_pool, (x,), seed)
    output, (gradient,) = value_and_pullback(max_pool_2x2, (x,), cotangent)
    expected, (expected_gradient,) = value_and_pullback(reference_pool, (x,), cotangent)
    np.testing.assert_allclose(output, expected, **TOLERANCE)
    np.testing.assert_allclose(gradient, expected_gradient, **TOLERANCE)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_max_pool_keeps_low_precision_dtypes(dtype):
    x = jnp.arange(32.0, dtype=dtype).reshape(1, 4, 4, 2)
    gradient = jax.grad(lambda v: jnp.sum(max_pool_2x2(v).astype(jnp.float32)))(x)
    assert max_pool_2x2(x).dtype == dtype and gradient.dtype == dtype


@st.composite
def conv_inputs(draw):
    k_h, k_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    h, w = k_h + draw(st.integers(0, 6)), k_w + draw(st.integers(0, 6))
    floats = st.floats(-2, 2, width=32)
    x = draw(hnp.arrays(np.float32, (n, h, w, c_in), elements=floats))
    kernel = draw(hnp.arrays(np.float32, (k_h, k_w, c_in, c_out), elements=floats))
    return jnp.asarray(x), jnp.asarray(kernel)


@hypothesis.settings(deadline=None, max_examples=15)
@hypothesis.given(inputs=conv_inputs(), seed=st.integers(0, 2**16))
@pytest.mark.slow
def test_patch_convolution_matches_xla_values_and_gradients(inputs, seed):
    with jax.default_matmul_precision("float32"):
        cotangent = random_cotangent(conv_xla, inputs, seed)
        output, gradients = value_and_pullback(conv_patches, inputs, cotangent)
        expected, expected_gradients = value_and_pullback(conv_xla, inputs, cotangent)
    scale = {"rtol": 1e-5, "atol": 1e-5 * max(1.0, float(jnp.max(jnp.abs(expected))))}
    np.testing.assert_allclose(output, expected, **scale)
    for got, want in zip(gradients, expected_gradients, strict=True):
        scale = {"rtol": 1e-5, "atol": 1e-5 * max(1.0, float(jnp.max(jnp.abs(want))))}
        np.testing.assert_allclose(got, want, **scale)


def reference_conv_relu_pool(x, kernel, bias):
    return reference_pool(nn.relu(conv_xla(x, kernel) + bias[None, None, None, :]))


@st.composite
def conv_relu_pool_inputs(draw):
    """Odd kernels on even images (even outputs); half the images of 0s and 1s,
    whose equal patches tie exactly, the others of distinct values."""
    k_h, k_w = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5]))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    h, w = k_h + 1 + 2 * draw(st.integers(0, 2)), k_w + 1 + 2 * draw(st.integers(0, 2))
    floats = st.floats(-2, 2, width=32)
    binary = draw(st.booleans())
    pixels = st.sampled_from([0.0, 1.0]) if binary else floats
    x = draw(hnp.arrays(np.float32, (n, h, w, c_in), elements=pixels, unique=not binary))
    # Distinct weights away from 0: distinct 0/1 patches then tie, or round to a tie
    # when the bias is added, only by coincidence.
    weights = st.floats(0.125, 2, width=32) | st.floats(-2, -0.125, width=32)
    kernel = draw(hnp.arrays(np.float32, (k_h, k_w, c_in, c_out), elements=weights, unique=True))
    bias = draw(hnp.arrays(np.float32, (c_out,), elements=floats))
    return jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias), binary


@hypothesis.settings(deadline=None, max_examples=10)
@hypothesis.given(inputs=conv_relu_pool_inputs(), seed=st.integers(0, 2**16))
@pytest.mark.slow
def test_conv_relu_pool_matches_conv_relu_max_pool_values_and_gradients(inputs, seed):
    *inputs, binary = inputs
    assert pools_by_space_to_depth(inputs[0].shape, inputs[1].shape[:2])
    with jax.default_matmul_precision("float32"):
        cotangent = random_cotangent(reference_conv_relu_pool, inputs, seed)
        output, gradients = value_and_pullback(conv_relu_pool, inputs, cotangent)
        expected, expected_gradients = value_and_pullback(
            reference_conv_relu_pool, inputs, cotangent
        )
    # Where equal patches tie, the two sum in different orders and may pick different
    # members of a window: the same parameter gradients, the input's at another pixel.
    compared = slice(1 if binary else 0, None)
    for got, want in zip(
        (output, *gradients[compared]), (expected, *expected_gradients[compared]), strict=True
    ):
        scale = {"rtol": 1e-5, "atol": 1e-5 * max(1.0, float(jnp.max(jnp.abs(want))))}
        np.testing.assert_allclose(got, want, **scale)


def test_conv_relu_pool_sends_tied_windows_gradient_to_the_first_maximum():
    # A blank image: every output of the convolution ties at the bias.
    x, kernel, bias = jnp.zeros((1, 6, 6, 1)), jnp.ones((3, 3, 1, 1)), jnp.ones((1,))
    gradient = jax.grad(lambda v: jnp.sum(conv_relu_pool(v, kernel, bias)))(x)
    expected = jax.grad(lambda v: jnp.sum(reference_conv_relu_pool(v, kernel, bias)))(x)
    np.testing.assert_allclose(gradient, expected)
    # Outputs (0, 0), (0, 2), (2, 0), (2, 2) take the gradient; their 3x3 footprints
    # overlap at pixel (2, 2) and miss the last row and column.
    assert gradient[0, 2, 2, 0] == 4.0 and gradient[0, 5, 5, 0] == 0.0


def test_space_to_depth_orders_each_blocks_pixels_row_major():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(space_to_depth(x)[0, 0, 1], [2.0, 3.0, 6.0, 7.0])


def test_conv_relu_pool_refuses_odd_sizes_and_the_layer_falls_back():
    x = jax.random.normal(jax.random.key(0), (2, 11, 11, 3))
    kernel, bias = jnp.ones((5, 5, 3, 4)), jnp.zeros((4,))
    with pytest.raises(ValueError, match="implementation='auto'"):
        conv_relu_pool(x, kernel, bias)
    layer = ConvReluPool(4, (5, 5))
    params = layer.init(jax.random.key(1), x)
    with jax.default_matmul_precision("float32"):
        np.testing.assert_allclose(
            layer.apply(params, x),
            reference_conv_relu_pool(x, params["params"]["kernel"], params["params"]["bias"]),
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.slow
def test_conv_relu_pool_layer_implementations_share_parameters_and_outputs():
    x = jax.random.normal(jax.random.key(0), (2, 12, 12, 3))
    names = ("space_to_depth", "patches", "xla", "auto")
    layers = [ConvReluPool(8, (5, 5), implementation=name) for name in names]
    params = layers[0].init(jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, nn.Conv(8, (5, 5), padding="VALID").init(jax.random.key(1), x)
    )
    with jax.default_matmul_precision("float32"):
        outputs = [layer.apply(params, x) for layer in layers]
    for output in outputs[1:]:
        np.testing.assert_allclose(output, outputs[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="choose one of"):
        ConvReluPool(8, (5, 5), implementation="fast").init(jax.random.key(1), x)
