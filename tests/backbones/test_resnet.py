"""ResNet-50's 1x1 convolutions as matrix products: the parameters, outputs and gradients
of the convolution they replace (no PyTorch needed)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dann_jax.backbones import resnet


@pytest.mark.parametrize("strides, height, width", [(1, 7, 9), (2, 7, 9), (2, 8, 6)])
def test_pointwise_conv_is_a_1x1_convolution(strides, height, width):
    images = jax.random.normal(jax.random.key(1), (2, height, width, 5))
    convolution = nn.Conv(
        6,
        (1, 1),
        strides=(strides, strides),
        padding=((0, 0), (0, 0)),
        use_bias=False,
        kernel_init=resnet._KAIMING_FAN_OUT,
    )
    pointwise = resnet.PointwiseConv(6, strides)
    expected_variables = convolution.init(jax.random.key(0), images)
    variables = pointwise.init(jax.random.key(0), images)

    # The same parameter, drawn the same: checkpoints and converted weights fit both.
    jax.tree.map(np.testing.assert_array_equal, variables, expected_variables)

    def loss(module):
        return lambda variables, images: jnp.sum(jnp.sin(module.apply(variables, images)))

    outputs = pointwise.apply(variables, images)
    expected = convolution.apply(variables, images)
    assert outputs.shape == expected.shape == (2, -(-height // strides), -(-width // strides), 6)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
    gradients = jax.grad(loss(pointwise), argnums=(0, 1))(variables, images)
    expected_gradients = jax.grad(loss(convolution), argnums=(0, 1))(variables, images)
    jax.tree.map(
        lambda ours, theirs: np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5),
        gradients,
        expected_gradients,
    )


def test_pointwise_conv_computes_in_the_inputs_dtype_as_nn_conv_does():
    images = jnp.ones((1, 4, 4, 3), jnp.bfloat16)
    pointwise = resnet.PointwiseConv(2)
    variables = jax.tree.map(
        lambda kernel: kernel.astype(jnp.bfloat16), pointwise.init(jax.random.key(0), images)
    )

    assert pointwise.apply(variables, images).dtype == jnp.bfloat16
