"""A 2-D convolution whose gradients XLA:CPU computes as fast inside a loop as outside.

Autodiff's gradients of ``lax.conv_general_dilated`` are convolutions with the axes in
other places: the input gradient has the kernel's channel axes swapped (dimension
labels ``b01f_01oi->b01f``), the kernel gradient contracts over the batch
(``f01b_i01o->01bf``). Outside a loop XLA:CPU rewrites them into the NHWC/HWIO form
its convolution kernels take, with transposes; inside a loop body (a ``lax.scan``, as
the device input mode runs its steps) it does not, and runs them with its generic
loop code: AlexNet's DANN step at 32 + 32 images took 56.8 s instead of 1.9 s on 2
CPU cores (jax-ml/jax#12868; BENCHMARKS.md, "ImageNet backbones").

:func:`conv_general_dilated` takes the same arguments as ``lax.conv_general_dilated``
and computes the same values and gradients (to rounding); on a CPU every convolution
of its backward pass is written in NHWC/HWIO form with the transposes explicit, on
other platforms the backward pass is autodiff's (``lax.platform_dependent``, chosen
when the program is lowered). Give it to a Flax convolution, as the backbones do::

    nn.Conv(64, (3, 3), conv_general_dilated=convolution.conv_general_dilated)

Which kernels run a convolution or a matrix product is XLA:CPU's choice: YNNPACK's by
default, or XLA's own (Eigen's). :func:`compiler_options` picks XLA's own convolutions on a
CPU, for every program the library compiles to train or predict, and the products' library
the network asks for (:func:`cpu_products`): XLA's own unless a module sets
``cpu_products = "ynnpack"``, as :class:`~dann_jax.backbones.AlexNet` does. Against XLA's
defaults, the training loop's ResNet-50 and ViT-B/16 steps took 21 and 17 % less time on 2
CPU cores, AlexNet's 12 % with YNNPACK's products for its fully connected layers of 64 rows
(BENCHMARKS.md, "ImageNet backbones").
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# Inputs (N, H, W, C), kernels (H, W, C_in, C_out), outputs (N, H, W, C_out).
NHWC = ("NHWC", "HWIO", "NHWC")

# XLA:CPU hands convolutions, matrix products and reductions to YNNPACK by default. The options
# of jax.jit on a CPU, by the library that runs the matrix products: both give convolutions to
# XLA's own kernels and keep reductions in YNNPACK. XLA's own products are faster for large
# ones (ResNet-50's, ViT-B/16's), YNNPACK's for products of few rows (AlexNet's fully connected
# layers on a batch of 64): BENCHMARKS.md.
CPU_OPTIONS = {
    "xla": {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_REDUCE"},
    "ynnpack": {
        "xla_cpu_experimental_ynn_fusion_type": (
            "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
        )
    },
}


def cpu_products(network: nn.Module) -> str:
    """The library, a key of :data:`CPU_OPTIONS`, that runs ``network``'s matrix products on
    a CPU: ``"ynnpack"`` when the network or a module among its attributes (recursively, e.g.
    a DANN's feature extractor) has the class attribute ``cpu_products = "ynnpack"``, else
    ``"xla"``. A network declares it when its products are few rows long, so YNNPACK's run
    them faster (AlexNet's fully connected layers)."""
    wanted = {getattr(module, "cpu_products", "xla") for module in _modules(network)}
    unknown = wanted - set(CPU_OPTIONS)
    if unknown:
        raise ValueError(
            f"cpu_products must be one of {tuple(CPU_OPTIONS)}, got {sorted(unknown)} "
            "in a module of the network; set it to one of those or remove it."
        )
    return "ynnpack" if "ynnpack" in wanted else "xla"


def _modules(value: Any) -> Iterator[nn.Module]:
    """The linen modules in ``value``: itself and those among its attributes, recursively."""
    if isinstance(value, nn.Module):
        yield value
        for field in dataclasses.fields(value):
            if field.name not in ("parent", "name"):
                yield from _modules(getattr(value, field.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _modules(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _modules(item)


def compiler_options(platform: str, products: str = "xla") -> dict[str, str] | None:
    """The ``compiler_options`` of ``jax.jit`` for programs that run on ``platform`` (a
    device's ``platform``: ``"cpu"``, ``"gpu"``, ``"tpu"``): on a CPU whose XLA knows
    them, :data:`CPU_OPTIONS` of ``products`` (see :func:`cpu_products`), else None
    (XLA's defaults)."""
    if platform != "cpu" or not _xla_knows_cpu_options(products):
        return None
    return dict(CPU_OPTIONS[products])


@functools.cache
def _xla_knows_cpu_options(products: str) -> bool:
    """Whether XLA takes ``CPU_OPTIONS[products]`` (experimental: a later XLA may drop them,
    and would then refuse every program compiled with them)."""
    options = CPU_OPTIONS[products]
    try:
        jax.jit(jnp.negative, compiler_options=options).lower(np.float32(0)).compile()
    except Exception as error:  # XLA's own error type, whatever the version calls it
        warnings.warn(
            f"this XLA does not take the compiler options {options} ({error}); "
            "convolutions and matrix products on the CPU keep XLA's default kernels.",
            stacklevel=3,
        )
        return False
    return True


def conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
) -> jax.Array:
    """``lax.conv_general_dilated`` with loop-friendly gradients (see the module).

    The 2-D case in NHWC/HWIO without dilations or groups, ``lhs`` (N, H, W, C) and
    ``rhs`` (kH, kW, C, F) to (N, H', W', F) in their dtype, goes through this module's
    custom VJP; any other passes to ``lax.conv_general_dilated`` unchanged.
    """
    plain = (
        lhs.ndim == 4
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC)
        and all(d == 1 for d in (*(lhs_dilation or ()), *(rhs_dilation or ())))
        and feature_group_count == 1
        and batch_group_count == 1
        and preferred_element_type is None
    )
    if not plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
        )
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    pads = tuple((int(low), int(high)) for low, high in padding)
    return _convolution(lhs, rhs, tuple(int(s) for s in window_strides), pads, precision)


def _nhwc_convolution(x, kernel, strides, padding, precision):
    """``x`` (N, H, W, C) convolved with ``kernel`` (kH, kW, C, F) in NHWC/HWIO."""
    return lax.conv_general_dilated(
        x, kernel, strides, padding, dimension_numbers=NHWC, precision=precision
    )


_convolution = jax.custom_vjp(_nhwc_convolution, nondiff_argnums=(2, 3, 4))


def _convolution_forward(x, kernel, strides, padding, precision):
    return _nhwc_convolution(x, kernel, strides, padding, precision), (x, kernel)


def _convolution_backward(strides, padding, precision, residuals, grad):
    x, kernel = residuals

    def in_nhwc(x, kernel, grad):
        return (
            _input_gradient(grad, kernel, x.shape, strides, padding, precision),
            _kernel_gradient(x, grad, kernel.shape, strides, padding, precision),
        )

    def autodiffs(x, kernel, grad):
        def convolve(x, kernel):
            return _nhwc_convolution(x, kernel, strides, padding, precision)

        return jax.vjp(convolve, x, kernel)[1](grad)

    # Chosen when the program is lowered: elsewhere XLA's own rewrites stay in charge.
    return lax.platform_dependent(x, kernel, grad, cpu=in_nhwc, default=autodiffs)


_convolution.defvjp(_convolution_forward, _convolution_backward)


def _input_gradient(grad, kernel, input_shape, strides, padding, precision):
    """The transposed convolution: ``grad`` (N, H', W', F) spread ``strides`` apart,
    convolved with the kernel turned half a circle and its channel axes swapped."""
    pads = []
    for axis in range(2):
        size, window, stride = input_shape[1 + axis], kernel.shape[axis], strides[axis]
        low, high = padding[axis]
        # Rows past the last window's reach get no gradient: pad the far side to them.
        unreached = (size + low + high - window) % stride
        pads.append((window - 1 - low, window - 1 - high + unreached))
    turned = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
    if all(kernel.shape[axis] <= grad.shape[1 + axis] for axis in range(2)):
        return lax.conv_general_dilated(
            grad,
            turned,
            (1, 1),
            pads,
            lhs_dilation=strides,
            dimension_numbers=NHWC,
            precision=precision,
        )
    # A kernel wider than the cotangents: XLA's algebraic simplifier would swap the two
    # operands and fail a check (aborting the process: jax's own gradient does, e.g. a
    # 5 x 2 kernel 2 apart on 6 x 12 images). Padded in full behind a barrier, the input
    # is never smaller than the kernel. Real networks' kernels are far smaller than their
    # activations and take the branch above.
    spread = [(0, 0, 0), (*pads[0], strides[0] - 1), (*pads[1], strides[1] - 1), (0, 0, 0)]
    padded = lax.optimization_barrier(lax.pad(grad, jnp.zeros((), grad.dtype), spread))
    return lax.conv_general_dilated(
        padded, turned, (1, 1), "VALID", dimension_numbers=NHWC, precision=precision
    )


def _kernel_gradient(x, grad, kernel_shape, strides, padding, precision):
    """dK[i, j, c, f] = sum over n, h, w of x_padded[n, s h + i, s w + j, c] grad[n, h, w, f]:
    the channels of ``x`` as a batch, its examples as features, convolved with ``grad``
    (examples as input channels) spread ``strides`` apart."""
    pads = []
    for axis in range(2):
        size, window, stride = x.shape[1 + axis], kernel_shape[axis], strides[axis]
        low, _ = padding[axis]
        # The windows reach (H' - 1) s + kH rows of the padded input.
        reach = (grad.shape[1 + axis] - 1) * stride + window
        pads.append((low, reach - low - size))
    # A negative far padding: rows no window reaches; slice them off instead.
    x = x[:, : x.shape[1] + min(pads[0][1], 0), : x.shape[2] + min(pads[1][1], 0)]
    pads = [(low, max(high, 0)) for low, high in pads]
    by_channel = lax.conv_general_dilated(
        jnp.transpose(x, (3, 1, 2, 0)),  # (C, H, W, N)
        jnp.transpose(grad, (1, 2, 0, 3)),  # (H', W', N, F)
        (1, 1),
        pads,
        rhs_dilation=strides,
        dimension_numbers=NHWC,
        precision=precision,
    )  # (C, kH, kW, F)
    return jnp.transpose(by_channel, (1, 2, 0, 3))
