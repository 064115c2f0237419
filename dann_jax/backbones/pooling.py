"""Max pooling whose gradient XLA:CPU computes three to five times faster than autodiff's.

Autodiff's gradient of ``reduce_window`` max pooling is a select-and-scatter, which
XLA:CPU runs as a ``reduce-window`` that carries each window's argmax (an ``iota`` and
four index arrays) and a ``scatter``: 0.88 s for the forward and backward pass of
ResNet-50's 3 x 3 / 2 pooling of 64 images of 112 x 112 x 64 on 2 CPU cores, 0.29 s with
this module, 0.32 s in PyTorch (``experiments/pooling_speed.py``, BENCHMARKS.md).

:func:`max_pool` takes ``flax.linen.max_pool``'s arguments and computes the same values
and gradients (to rounding: the sums of overlapping windows' cotangents are added in
another order). On a CPU its backward pass goes through the window's offsets in
row-major order: the cotangent of an output goes to the first input of its window
equal to the maximum, as the select-and-scatter sends it, spread back ``strides``
apart by padding: elementwise work that XLA fuses. On other platforms the backward
pass is autodiff's (``lax.platform_dependent``, chosen when the program is lowered).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def max_pool(
    inputs: jax.Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str | Sequence[tuple[int, int]] = "VALID",
) -> jax.Array:
    """``flax.linen.max_pool`` with a gradient fast on CPUs (see the module).

    Images (N, H, W, C) of a float dtype and a 2-D window give (N, H', W', C) in their
    dtype through this module's custom VJP (padding, a string or (low, high) pairs, is
    filled with -inf as Flax does); any other input passes to ``flax.linen.max_pool``.
    """
    strides = tuple(strides) if strides is not None else (1,) * len(window_shape)
    if inputs.ndim != 4 or len(window_shape) != 2 or not jnp.issubdtype(inputs.dtype, jnp.floating):
        return nn.max_pool(inputs, tuple(window_shape), strides, padding)
    window = tuple(int(size) for size in window_shape)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(inputs.shape[1:3], window, strides, padding)
    pads = [(0, 0, 0), *((int(low), int(high), 0) for low, high in padding), (0, 0, 0)]
    if any(low or high for low, high, _ in pads):
        inputs = lax.pad(inputs, jnp.array(-jnp.inf, inputs.dtype), pads)
    return _pool(inputs, window, tuple(int(stride) for stride in strides))


def _reduce(x: jax.Array, window: tuple[int, int], strides: tuple[int, int]) -> jax.Array:
    """Maxima of the VALID windows of ``x`` (N, H, W, C)."""
    # A Python -inf, as Flax passes: with it JAX picks its max-pooling primitive, which
    # autodiff knows (an array init would make a generic reduction it cannot differentiate).
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1), "VALID")


_pool = jax.custom_vjp(_reduce, nondiff_argnums=(1, 2))


def _pool_forward(x, window, strides):
    pooled = _reduce(x, window, strides)
    return pooled, (x, pooled)


def _pool_backward(window, strides, residuals, grad):
    x, pooled = residuals

    def by_offsets(x, pooled, grad):
        height, width = pooled.shape[1:3]
        taken = jnp.zeros(pooled.shape, bool)
        result = jnp.zeros_like(x)
        zero = jnp.zeros((), x.dtype)
        for i, j in itertools.product(range(window[0]), range(window[1])):
            # The input at offset (i, j) of every window: (N, H', W', C).
            reach = (i + (height - 1) * strides[0] + 1, j + (width - 1) * strides[1] + 1)
            at_offset = lax.slice(
                x, (0, i, j, 0), (x.shape[0], *reach, x.shape[3]), (1, *strides, 1)
            )
            first = (at_offset == pooled) & ~taken
            taken = taken | first
            spread = [
                (0, 0, 0),
                (i, x.shape[1] - reach[0], strides[0] - 1),
                (j, x.shape[2] - reach[1], strides[1] - 1),
                (0, 0, 0),
            ]
            result = result + lax.pad(jnp.where(first, grad, zero), zero, spread)
        return (result,)

    def autodiffs(x, pooled, grad):
        del pooled
        return jax.vjp(lambda x: _reduce(x, window, strides), x)[1](grad)

    # Chosen when the program is lowered: elsewhere XLA's select-and-scatter stays.
    return lax.platform_dependent(x, pooled, grad, cpu=by_offsets, default=autodiffs)


_pool.defvjp(_pool_forward, _pool_backward)
