"""Products over the channels whose kernel gradient XLA:CPU takes without copying the
activations transposed.

A dense layer or a 1x1 convolution multiplies activations x (..., C) by a kernel (C, F).
Autodiff takes the kernel's gradient as x^T grad summed over every row of the leading
axes, x the left operand contracted over its rows, and XLA:CPU copies x transposed before
that product: a copy as large as the activations (ViT-B/16's 48 x 197 tokens of 768 to
3,072 channels in each of its 48 dense layers, ResNet-50's 1x1 convolutions).
:func:`channel_product` takes it as (grad^T x)^T instead: one product, no copy
(BENCHMARKS.md, "ImageNet backbones"). Values and gradients are autodiff's to rounding;
like every ``custom_vjp`` it has no forward-mode derivative (``jax.jvp``).

:func:`dot_general` is the same product for a Flax dense layer, as the ViT uses it::

    nn.Dense(768, dot_general=products.dot_general)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


@jax.custom_vjp
def channel_product(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x`` (..., C) times ``kernel`` (C, F) over the channels: (..., F), in their dtype
    (give both the same one, as Flax's layers promote them)."""
    return jnp.einsum("...c,cf->...f", x, kernel)


def _channel_product_forward(x: jax.Array, kernel: jax.Array):
    return channel_product(x, kernel), (x, kernel)


def _channel_product_backward(residuals, grad: jax.Array):
    x, kernel = residuals
    # The kernel's gradient, the sum over rows of x^T grad, taken as (grad^T x)^T: with x
    # as the left operand (autodiff's order) XLA:CPU copies x transposed first.
    rows = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
    kernel_grad = lax.dot_general(*rows, (((0,), (0,)), ((), ()))).T
    return jnp.einsum("...f,cf->...c", grad, kernel), kernel_grad


channel_product.defvjp(_channel_product_forward, _channel_product_backward)


def dot_general(
    lhs: jax.Array,
    rhs: jax.Array,
    dimension_numbers,
    precision=None,
    preferred_element_type=None,
) -> jax.Array:
    """``lax.dot_general`` for ``nn.Dense(dot_general=...)``: a dense layer's product, ``lhs``
    (..., C) with ``rhs`` (C, F) over the last axis at the default precision, goes through
    :func:`channel_product`; any other passes to ``lax.dot_general`` unchanged."""
    (lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch) = dimension_numbers
    dense = (
        tuple(lhs_contracting) == (lhs.ndim - 1,)
        and tuple(rhs_contracting) == (0,)
        and not lhs_batch
        and not rhs_batch
        and rhs.ndim == 2
        and precision is None
        and preferred_element_type is None
    )
    if not dense:
        return lax.dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type)
    return channel_product(lhs, rhs)
