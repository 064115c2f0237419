"""Flax's BatchNorm and Dropout over the global batch, whatever the launcher.

Under the parallel launchers each device runs the step on its slice of the
global batch. Left alone, a plain ``nn.BatchNorm`` would normalise with its
slice's statistics and a plain ``nn.Dropout`` would draw the same mask on every
device, so a network with either would train differently on 1 and on 8
devices. Within :func:`layers` (which the train step enters), every
``flax.linen`` BatchNorm in training mode averages its statistics over the
data axis (as ``axis_name`` would, for a module that did not set one), and
every Dropout keeps the rows of one mask drawn for the whole global batch, so
that each example gets the same mask under every launcher. Flax's own code
computes both; this module only tells it the axis and the rows.

The cost: each device draws the global batch's dropout mask (cheap beside the
layers it masks) and BatchNorm adds one ``pmean`` of two vectors per layer.
Flax NNX modules in a network (:mod:`dann_jax.core.nnx_parts`) read the same rows
from :func:`current` and follow the same rules.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


class GlobalRows(NamedTuple):
    """Where the rows being applied sit in the global batch (see :func:`layers`)."""

    axis_name: str | None
    batch_rows: jax.Array
    global_rows: int


_CURRENT: contextvars.ContextVar[GlobalRows | None] = contextvars.ContextVar(
    "dann_jax_global_rows", default=None
)


def current() -> GlobalRows | None:
    """The rows of the :func:`layers` block being traced, or None outside one."""
    return _CURRENT.get()


def rows(
    source_count: int, target_count: int, axis_name: str | None
) -> tuple[jax.Array, jax.Array, int]:
    """This device's source and target rows in the global batch [all source; all target].

    Args:
      source_count, target_count: the rows of each domain on this device.
      axis_name: the data axis the step runs over, or None on one device.

    Returns:
      ``(source_rows (source_count,), target_rows (target_count,), global_rows)``:
      int32 positions in the global batch of every device's source rows
      followed by every device's target rows, and that batch's size.
    """
    devices, index = 1, 0
    if axis_name is not None:
        devices, index = jax.lax.axis_size(axis_name), jax.lax.axis_index(axis_name)
    source_rows = index * source_count + jnp.arange(source_count)
    target_rows = devices * source_count + index * target_count + jnp.arange(target_count)
    return source_rows, target_rows, devices * (source_count + target_count)


def _dropout(module: nn.Dropout, call, args, kwargs, batch_rows: jax.Array, global_rows: int):
    inputs, *rest = args
    deterministic = kwargs.get("deterministic", rest[0] if rest else None)
    deterministic = nn.merge_param("deterministic", module.deterministic, deterministic)
    if deterministic or module.rate in (0.0, 1.0) or inputs.shape[0] != batch_rows.shape[0]:
        return call(*args, **kwargs)
    ones = jnp.ones((global_rows, *inputs.shape[1:]), inputs.dtype)
    kept = jnp.take(call(ones, *rest, **kwargs), batch_rows, axis=0) != 0
    return jnp.where(kept, inputs / (1.0 - module.rate), jnp.zeros_like(inputs))


def _batch_norm(module: nn.BatchNorm, call, args, kwargs, axis_name: str):
    # The module is a bound copy made for this application; its axis is set for
    # this call alone and put back after.
    object.__setattr__(module, "axis_name", axis_name)
    try:
        return call(*args, **kwargs)
    finally:
        object.__setattr__(module, "axis_name", None)


@contextlib.contextmanager
def layers(axis_name: str | None, batch_rows: jax.Array, global_rows: int) -> Iterator[None]:
    """Within it, Flax BatchNorm and Dropout act on the global batch (see the module).

    Args:
      axis_name: the data axis, or None on one device (BatchNorm is then untouched).
      batch_rows: (N,) int32, the positions in the global batch of the rows of
        the inputs about to be applied (see :func:`rows`).
      global_rows: the global batch's size.
    """

    def interceptor(call, args, kwargs, context):
        module = context.module
        if context.method_name != "__call__":
            return call(*args, **kwargs)
        if isinstance(module, nn.Dropout):
            return _dropout(module, call, args, kwargs, batch_rows, global_rows)
        if isinstance(module, nn.BatchNorm) and axis_name and module.axis_name is None:
            return _batch_norm(module, call, args, kwargs, axis_name)
        return call(*args, **kwargs)

    token = _CURRENT.set(GlobalRows(axis_name, batch_rows, global_rows))
    try:
        with nn.intercept_methods(interceptor):
            yield
    finally:
        _CURRENT.reset(token)
