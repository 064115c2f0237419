"""Convolution and max pooling for the paper's networks, with forms that are fast on CPUs.

XLA:CPU spends most of a DANN step in two places (see BENCHMARKS.md): the
backward pass of ``reduce_window`` max pooling (a select-and-scatter) and
convolutions with few input channels. Here:

- :func:`max_pool_2x2` pools non-overlapping 2x2 windows by a reshape; its VJP
  routes each cotangent to the first maximum of its window, as the
  select-and-scatter behind ``flax.linen.max_pool`` does, with cheap
  elementwise work instead.
- :func:`conv_patches` is a VALID, stride-1 convolution written as patch
  extraction (k*k shifted slices) and one matrix product, whose autodiff
  gives GEMMs for both gradients.

Both match ``flax.linen.max_pool`` and ``lax.conv_general_dilated`` in values
and gradients (tests/test_layers.py).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def _windows(x: jax.Array) -> jax.Array:
    """(N, H, W, C) -> (N, H//2, W//2, 4, C), each 2x2 window in row-major order."""
    n, h, w, c = x.shape
    x = x[:, : h - h % 2, : w - w % 2]
    x = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // 2, w // 2, 4, c)


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
    """Max pooling over 2x2 windows with stride 2 (VALID: an odd last row/column is dropped).

    Args:
      x: (N, H, W, C), any float dtype.

    Returns:
      (N, H // 2, W // 2, C), same dtype. The VJP sends each cotangent to the
      first maximum of its window (row-major), like ``nn.max_pool``.
    """
    return _windows(x).max(axis=3)


def _max_pool_forward(x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, tuple[int, ...]]]:
    windows = _windows(x)
    return windows.max(axis=3), (windows.argmax(axis=3), x.shape)


def _max_pool_backward(
    residuals: tuple[jax.Array, tuple[int, ...]], cotangent: jax.Array
) -> tuple[jax.Array]:
    first_max, shape = residuals
    n, h, w, c = shape
    chosen = first_max[:, :, :, None, :] == jnp.arange(4)[None, None, None, :, None]
    windows = jnp.where(chosen, cotangent[:, :, :, None, :], jnp.zeros((), cotangent.dtype))
    grid = windows.reshape(n, h // 2, w // 2, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    grid = grid.reshape(n, h - h % 2, w - w % 2, c)
    return (jnp.pad(grid, ((0, 0), (0, h % 2), (0, w % 2), (0, 0))),)


max_pool_2x2.defvjp(_max_pool_forward, _max_pool_backward)


def conv_patches(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """VALID stride-1 convolution as patch extraction and one matrix product.

    Args:
      x: (N, H, W, C_in) float.
      kernel: (K_h, K_w, C_in, C_out), the layout of ``flax.linen.Conv``.

    Returns:
      (N, H - K_h + 1, W - K_w + 1, C_out), equal to ``lax.conv_general_dilated``
      with NHWC / HWIO / NHWC dimension numbers and VALID padding.
    """
    k_h, k_w, c_in, c_out = kernel.shape
    n, h, w, _ = x.shape
    out_h, out_w = h - k_h + 1, w - k_w + 1
    # Channels innermost, kernel positions row-major: the order of kernel.reshape.
    patches = jnp.concatenate(
        [x[:, i : i + out_h, j : j + out_w, :] for i in range(k_h) for j in range(k_w)], axis=3
    )
    flat = patches.reshape(n * out_h * out_w, k_h * k_w * c_in)
    return (flat @ kernel.reshape(k_h * k_w * c_in, c_out)).reshape(n, out_h, out_w, c_out)


def conv_xla(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """VALID stride-1 convolution by ``lax.conv_general_dilated`` (NHWC, HWIO)."""
    return lax.conv_general_dilated(
        x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


class Conv(nn.Module):
    """A VALID stride-1 2-D convolution with bias; parameters as ``flax.linen.Conv``.

    Attributes:
      features: output channels.
      kernel_size: (K_h, K_w).
      implementation: "patches" (patch GEMM), "xla" (``lax.conv_general_dilated``)
        or "auto": patches on CPU, where they train faster, XLA elsewhere.
    """

    features: int
    kernel_size: tuple[int, int]
    implementation: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel",
            nn.initializers.lecun_normal(),
            (*self.kernel_size, x.shape[-1], self.features),
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        implementation = self.implementation
        if implementation == "auto":
            implementation = "patches" if jax.default_backend() == "cpu" else "xla"
        convolve = {"patches": conv_patches, "xla": conv_xla}[implementation]
        return convolve(x, kernel) + bias[None, None, None, :]
