"""The fast CPU forms equal XLA's convolution and Flax's max pooling, values and gradients."""

import flax.linen as nn
import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dann_jax.layers import Conv, conv_patches, conv_xla, max_pool_2x2

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def reference_pool(x):
    return nn.max_pool(x, (2, 2), strides=(2, 2))


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
def test_max_pool_matches_flax_values_and_gradients(x, seed):
    output, pullback = jax.vjp(max_pool_2x2, x)
    expected, expected_pullback = jax.vjp(reference_pool, x)
    np.testing.assert_allclose(output, expected, **TOLERANCE)
    cotangent = jax.random.normal(jax.random.key(seed), expected.shape)
    np.testing.assert_allclose(pullback(cotangent)[0], expected_pullback(cotangent)[0], **TOLERANCE)


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
def test_patch_convolution_matches_xla_values_and_gradients(inputs, seed):
    with jax.default_matmul_precision("float32"):
        output, pullback = jax.vjp(conv_patches, *inputs)
        expected, expected_pullback = jax.vjp(conv_xla, *inputs)
        cotangent = jax.random.normal(jax.random.key(seed), expected.shape)
        gradients, expected_gradients = pullback(cotangent), expected_pullback(cotangent)
    scale = {"rtol": 1e-5, "atol": 1e-5 * max(1.0, float(jnp.max(jnp.abs(expected))))}
    np.testing.assert_allclose(output, expected, **scale)
    for got, want in zip(gradients, expected_gradients, strict=True):
        scale = {"rtol": 1e-5, "atol": 1e-5 * max(1.0, float(jnp.max(jnp.abs(want))))}
        np.testing.assert_allclose(got, want, **scale)


def test_conv_layer_implementations_share_parameters_and_outputs():
    x = jax.random.normal(jax.random.key(0), (2, 12, 12, 3))
    layers = [Conv(8, (5, 5), implementation=name) for name in ("patches", "xla", "auto")]
    params = layers[0].init(jax.random.key(1), x)
    reference = nn.Conv(8, (5, 5), padding="VALID")
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, reference.init(jax.random.key(1), x)
    )
    with jax.default_matmul_precision("float32"):
        outputs = [layer.apply(params, x) for layer in layers] + [reference.apply(params, x)]
    for output in outputs[1:]:
        np.testing.assert_allclose(output, outputs[0], rtol=1e-5, atol=1e-5)
