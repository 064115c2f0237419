"""Convolution and max pooling for the paper's networks, with forms that are fast on CPUs.

XLA:CPU spends most of a DANN step in the backward pass of ``reduce_window``
max pooling (a select-and-scatter) and in convolutions with few input
channels. Here:

- :func:`max_pool_2x2` pools non-overlapping 2x2 windows by a reshape; its VJP
  routes each cotangent to the first maximum of its window, as the
  select-and-scatter behind ``flax.linen.max_pool`` does, with cheap
  elementwise work instead.
- :func:`conv_patches` is a VALID, stride-1 convolution written as patch
  extraction (k*k shifted slices) and one matrix product, whose autodiff
  gives GEMMs for both gradients.
- :func:`conv_relu_pool` is convolution, bias, ReLU and 2x2 max pooling at
  once: on the space-to-depth image (each 2x2 block of pixels one pixel of
  4C channels) a convolution whose 4*C_out output channels are the four
  members of each pooling window, so the pooling reduces over contiguous
  channel groups, at 1.44x the multiply-adds of a 5x5 kernel (zero-padded to 6x6).

All match ``flax.linen.max_pool`` and ``lax.conv_general_dilated`` in values
and gradients (tests/core/test_layers.py). How fast each form is, and where the
step's time goes: BENCHMARKS.md.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

CONV_RELU_POOL_IMPLEMENTATIONS = ("auto", "space_to_depth", "patches", "xla")


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


def _conv_parameters(
    module: nn.Module, in_channels: int, features: int, kernel_size: tuple[int, int]
) -> tuple[jax.Array, jax.Array]:
    """The kernel (K_h, K_w, C_in, C_out) and bias (C_out,) of ``flax.linen.Conv``."""
    kernel = module.param(
        "kernel", nn.initializers.lecun_normal(), (*kernel_size, in_channels, features)
    )
    return kernel, module.param("bias", nn.initializers.zeros, (features,))


def _convolve(x: jax.Array, kernel: jax.Array, implementation: str) -> jax.Array:
    if implementation == "auto":
        implementation = "patches" if jax.default_backend() == "cpu" else "xla"
    return {"patches": conv_patches, "xla": conv_xla}[implementation](x, kernel)


def space_to_depth(x: jax.Array) -> jax.Array:
    """(N, H, W, C) -> (N, H // 2, W // 2, 4 * C) for even H, W; channels ordered (row, column, C)
    within each 2x2 block."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // 2, w // 2, 4 * c)


def _tap_positions(size: int) -> np.ndarray:
    """(taps, 2, 2): for tap t of the space-to-depth kernel, input row parity p and
    output row parity a, the row of the kernel padded by one zero row in front.

    Output row 2Y + a reads input row 2Y + a + i = 2(Y + t) + p, so tap t holds
    kernel row i = 2t + p - a where that lies in [0, size), a zero row elsewhere.
    """
    taps = size // 2 + 1
    t, p, a = np.meshgrid(np.arange(taps), np.arange(2), np.arange(2), indexing="ij")
    return 2 * t + p - a + 1


def space_to_depth_kernel(kernel: jax.Array) -> jax.Array:
    """The kernel of :func:`conv_relu_pool`'s convolution on :func:`space_to_depth` inputs.

    Args:
      kernel: (K_h, K_w, C_in, C_out).

    Returns:
      (K_h // 2 + 1, K_w // 2 + 1, 4 * C_in, 4 * C_out), same dtype: input
      channels ordered (row, column, C_in) of each 2x2 input block, output
      channels (row, column, C_out) of the 2x2 pooling window.
    """
    k_h, k_w, c_in, c_out = kernel.shape
    rows, columns = _tap_positions(k_h), _tap_positions(k_w)
    taps_h, taps_w = rows.shape[0], columns.shape[0]
    padded = jnp.pad(kernel, ((1, 2 * taps_h - k_h), (1, 2 * taps_w - k_w), (0, 0), (0, 0)))
    # Static slices, not a gather: their gradient is pads and adds, not a slow scatter.
    taps = jnp.stack([padded[i] for i in rows.ravel()]).reshape(*rows.shape, *padded.shape[1:])
    taps = jnp.stack([taps[:, :, :, j] for j in columns.ravel()], axis=3)
    taps = taps.reshape(*rows.shape, *columns.shape, c_in, c_out)
    # (t_h, p, a, t_w, q, b, C_in, C_out) -> (t_h, t_w, p, q, C_in, a, b, C_out)
    taps = taps.transpose(0, 3, 1, 4, 6, 2, 5, 7)
    return taps.reshape(taps_h, taps_w, 4 * c_in, 4 * c_out)


@jax.custom_vjp
def _max_of_four(x: jax.Array) -> jax.Array:
    """(N, H, W, 4, C) -> (N, H, W, C); the VJP sends each cotangent to the first maximum."""
    return x.max(axis=3)


def _max_of_four_forward(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return x.max(axis=3), x.argmax(axis=3).astype(jnp.int8)


def _max_of_four_backward(first_max: jax.Array, cotangent: jax.Array) -> tuple[jax.Array]:
    chosen = first_max[:, :, :, None, :] == jnp.arange(4, dtype=jnp.int8).reshape(1, 1, 1, 4, 1)
    return (jnp.where(chosen, cotangent[:, :, :, None, :], jnp.zeros((), cotangent.dtype)),)


_max_of_four.defvjp(_max_of_four_forward, _max_of_four_backward)


def pools_by_space_to_depth(shape: tuple[int, ...], kernel_size: tuple[int, int]) -> bool:
    """Whether :func:`conv_relu_pool` takes images of ``shape`` (N, H, W, C): H, W
    and the convolution's output H - K_h + 1, W - K_w + 1 all even."""
    h, w = shape[1:3]
    return all(size % 2 == 0 for size in (h, w, h - kernel_size[0] + 1, w - kernel_size[1] + 1))


def conv_relu_pool(
    x: jax.Array, kernel: jax.Array, bias: jax.Array, implementation: str = "auto"
) -> jax.Array:
    """VALID stride-1 convolution, bias, ReLU, then 2x2 max pooling with stride 2, at once.

    Args:
      x: (N, H, W, C_in) float with H, W, H - K_h + 1 and W - K_w + 1 even
        (:func:`pools_by_space_to_depth`).
      kernel: (K_h, K_w, C_in, C_out), the layout of ``flax.linen.Conv``.
      bias: (C_out,).
      implementation: the convolution on the space-to-depth image: "patches"
        (:func:`conv_patches`), "xla" (:func:`conv_xla`) or "auto" (patches on
        CPUs, XLA elsewhere).

    Returns:
      (N, (H - K_h + 1) // 2, (W - K_w + 1) // 2, C_out), equal in values and
      gradients to ``max_pool_2x2(relu(conv_xla(x, kernel) + bias))``: ReLU and
      the bias are monotone, so they may follow the pooling (a quarter of the
      additions, and faster on CPUs), and the cotangent goes to the first maximum
      of each window as there. Where two members of a window differ only by
      rounding (they tie in one form, not in the other: sums in another
      order, or x + b rounding both to one value), the gradient may go to the
      other of them, an equally valid subgradient.
    """
    if not pools_by_space_to_depth(x.shape, kernel.shape[:2]):
        raise ValueError(
            f"conv_relu_pool needs even image and output sizes; images {x.shape[1:3]} with a "
            f"{kernel.shape[:2]} kernel give {x.shape[1] - kernel.shape[0] + 1}x"
            f"{x.shape[2] - kernel.shape[1] + 1}. Use ConvReluPool(implementation='auto'), "
            "which falls back to a separate convolution and pooling."
        )
    windows = _convolve(space_to_depth(x), space_to_depth_kernel(kernel), implementation)
    n, h, w, _ = windows.shape
    pooled = _max_of_four(windows.reshape(n, h, w, 4, kernel.shape[-1]))
    return nn.relu(pooled + bias[None, None, None, :])


class ConvReluPool(nn.Module):
    """VALID stride-1 convolution with bias, ReLU, 2x2 max pooling with stride 2.

    Parameters as ``flax.linen.Conv`` (``kernel``, ``bias``), so a model may
    name it like the ``nn.Conv`` it replaces and keep its parameter tree.

    Attributes:
      features: output channels.
      kernel_size: (K_h, K_w).
      implementation: "space_to_depth" (:func:`conv_relu_pool`), "patches" or
        "xla" (:func:`conv_patches` or :func:`conv_xla`, then ReLU and
        :func:`max_pool_2x2`), or "auto":
        space-to-depth on CPUs where the sizes allow, patches on CPUs otherwise,
        XLA elsewhere.
    """

    features: int
    kernel_size: tuple[int, int]
    implementation: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.implementation not in CONV_RELU_POOL_IMPLEMENTATIONS:
            raise ValueError(
                f"implementation={self.implementation!r}; "
                f"choose one of {CONV_RELU_POOL_IMPLEMENTATIONS}."
            )
        kernel, bias = _conv_parameters(self, x.shape[-1], self.features, self.kernel_size)
        implementation = self.implementation
        if implementation == "auto" and jax.default_backend() == "cpu":
            fits = pools_by_space_to_depth(x.shape, self.kernel_size)
            implementation = "space_to_depth" if fits else "patches"
        if implementation == "space_to_depth":
            return conv_relu_pool(x, kernel, bias)
        return max_pool_2x2(
            nn.relu(_convolve(x, kernel, implementation) + bias[None, None, None, :])
        )
