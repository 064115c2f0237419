"""Data parallelism over devices and hosts: launchers of the ONE train step body.

The step body (:func:`dann_jax.core.step.train_step`, and :func:`dann_jax.core.step.train_steps`
that scans it over device-resident data) is written once; a launcher wraps it,
never copies it:

- ``"shard_map"``: ``jax.jit(jax.shard_map(body, mesh=...))`` over a 1-D mesh of
  every device of every process (the default when more than one device is visible);
- ``"pmap"``: ``jax.pmap(body, axis_name="data")``, the older API;
- ``"none"``: ``jax.jit(body)`` on one device.

``jax.jit`` compiles with :func:`dann_jax.backbones.convolution.compiler_options` (on a
CPU, XLA's own convolution kernels and the products' library the network asks for, from
:func:`dann_jax.backbones.convolution.cpu_products`); ``jax.pmap`` takes no compiler options
and keeps XLA's defaults.

Under both parallel launchers the state is replicated, the global batch is split
along its leading axis into equal per-device slices, and the body averages
gradients and metrics over the ``"data"`` axis with ``lax.pmean``, so each
launcher computes the same step on the same global batch (tests/core/test_launchers.py).
State buffers are donated.

Many hosts: call :func:`dann_jax.core.distributed.initialize_distributed` first.
Every process then builds the same global batch indices (same seed), gathers only
its own rows of them (:meth:`Launcher.process_rows`) and hands them over as its
part of a global array.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from dann_jax.backbones import convolution

AXIS = "data"
PARALLELS = ("auto", "none", "pmap", "shard_map")
PyTree = Any
StepBody = Callable[..., tuple[Any, dict]]


def check_shares(devices: int, source_size: int, target_size: int) -> None:
    """Raises ValueError unless ``devices`` can share a batch's source and target rows equally."""
    if source_size % devices or target_size % devices:
        raise ValueError(
            f"a batch of {source_size} source and {target_size} target images cannot be "
            f"shared equally by {devices} devices; use a batch_size divisible by "
            f"{2 * devices} (half source, half target), or parallel='none'."
        )


class Launcher:
    """Runs the step body on one device (``jax.jit``); the parallel launchers extend it.

    Args:
      step_body: ``(state, batch, *, axis_name) -> (state, metrics)``.
      scan_body: ``(state, data, source_indices, target_indices, *, axis_name)
        -> (state, metrics)``, K steps over device-resident data.
      cpu_products: the library of the matrix products on a CPU, a key of
        :data:`dann_jax.backbones.convolution.CPU_OPTIONS` (the pmap launcher ignores it).
    """

    name = "none"

    def __init__(self, step_body: StepBody, scan_body: StepBody, cpu_products: str = "xla"):
        self.devices = jax.local_devices()[:1]
        options = convolution.compiler_options(self.devices[0].platform, cpu_products)
        self.step = jax.jit(step_body, donate_argnums=0, compiler_options=options)
        self.steps = jax.jit(scan_body, donate_argnums=0, compiler_options=options)

    def check_batch(self, source_size: int, target_size: int) -> None:
        """Raises ValueError unless every device gets as many source and target rows."""
        check_shares(len(self.devices), source_size, target_size)

    def process_rows(self, size: int) -> slice:
        """The rows of a global batch of ``size`` that this process gathers."""
        return slice(0, size)

    def put_state(self, state: PyTree) -> PyTree:
        """The state placed for :attr:`step` (replicated on every device)."""
        return state

    def put_batch(self, batch: Mapping[str, np.ndarray]) -> PyTree:
        """This process's rows of a global batch, placed as one global batch on the
        devices (asynchronously: the stream puts batches ahead of the step)."""
        return jax.device_put(dict(batch), self.devices[0])

    def put_data(self, data: Mapping[str, np.ndarray]) -> PyTree:
        """A whole dataset, on every device, for :attr:`steps`."""
        return jax.device_put(dict(data))

    def put_indices(self, indices: np.ndarray) -> jax.Array | np.ndarray:
        """(K, B) global batch rows of K steps, split along B like the batch."""
        return indices

    def local(self, tree: PyTree) -> PyTree:
        """One local copy of a replicated result (state or metrics) for this process."""
        return tree


class ShardMapLauncher(Launcher):
    """``jax.jit(jax.shard_map(body))`` over a 1-D mesh of every device of every process."""

    name = "shard_map"

    def __init__(self, step_body: StepBody, scan_body: StepBody, cpu_products: str = "xla"):
        self.devices = jax.devices()
        self.mesh = Mesh(np.asarray(self.devices), (AXIS,))
        self._replicated = NamedSharding(self.mesh, P())
        self._split = NamedSharding(self.mesh, P(AXIS))
        self._split_columns = NamedSharding(self.mesh, P(None, AXIS))
        options = convolution.compiler_options(self.devices[0].platform, cpu_products)

        def launch(body: StepBody, in_specs: tuple) -> Callable:
            mapped = jax.shard_map(
                functools.partial(body, axis_name=AXIS),
                mesh=self.mesh,
                in_specs=in_specs,
                out_specs=(P(), P()),
                # Unchecked, the body sees per-device values as pmap does: with
                # the check, the gradient of the replicated params would arrive
                # already summed over devices, before the body's pmean.
                check_vma=False,
            )
            return jax.jit(mapped, donate_argnums=0, compiler_options=options)

        self.step = launch(step_body, (P(), P(AXIS)))
        self.steps = launch(scan_body, (P(), P(), P(None, AXIS), P(None, AXIS)))

    def process_rows(self, size: int) -> slice:
        owned = self._split.addressable_devices_indices_map((size,)).values()
        starts = sorted(index[0].start for index in owned)
        return slice(starts[0], starts[-1] + size // len(self.devices))

    def _replicate(self, tree: PyTree) -> PyTree:
        def put(value):
            value = np.asarray(value)
            return jax.make_array_from_callback(value.shape, self._replicated, value.__getitem__)

        return jax.tree.map(put, tree)

    def put_state(self, state: PyTree) -> PyTree:
        return self._replicate(state)

    def put_batch(self, batch: Mapping[str, np.ndarray]) -> PyTree:
        return {
            name: jax.make_array_from_process_local_data(self._split, np.asarray(value))
            for name, value in batch.items()
        }

    def put_data(self, data: Mapping[str, np.ndarray]) -> PyTree:
        return self._replicate(dict(data))

    def put_indices(self, indices: np.ndarray) -> jax.Array:
        return jax.make_array_from_callback(indices.shape, self._split_columns, indices.__getitem__)

    def local(self, tree: PyTree) -> PyTree:
        return jax.tree.map(lambda value: value.addressable_shards[0].data, tree)


class PmapLauncher(Launcher):
    """``jax.pmap(body, axis_name="data")``: each process maps over its own devices."""

    name = "pmap"

    def __init__(self, step_body: StepBody, scan_body: StepBody, cpu_products: str = "xla"):
        del cpu_products  # jax.pmap takes no compiler options
        self.devices = jax.devices()
        self.local_devices = jax.local_devices()
        self._stacked = NamedSharding(Mesh(np.asarray(self.local_devices), (AXIS,)), P(AXIS))

        def launch(body: StepBody) -> Callable:
            return jax.pmap(
                functools.partial(body, axis_name=AXIS), axis_name=AXIS, donate_argnums=0
            )

        self.step = launch(step_body)
        self.steps = launch(scan_body)

    def process_rows(self, size: int) -> slice:
        rows = size // jax.process_count()
        return slice(jax.process_index() * rows, (jax.process_index() + 1) * rows)

    def _stack(self, tree: PyTree) -> PyTree:
        """Each leaf broadcast along a new leading axis, one slice per local device."""

        def put(value):
            value = np.asarray(value)
            stacked = np.broadcast_to(value, (len(self.local_devices), *value.shape))
            return jax.device_put(stacked, self._stacked)

        return jax.tree.map(put, tree)

    def _split_leading(self, value: np.ndarray, axis: int = 0) -> np.ndarray:
        """Splits ``axis`` into (local devices, rest) and moves the devices axis first."""
        value = np.asarray(value)
        shape = value.shape
        split = (*shape[:axis], len(self.local_devices), -1, *shape[axis + 1 :])
        return np.moveaxis(value.reshape(split), axis, 0)

    def put_state(self, state: PyTree) -> PyTree:
        return self._stack(state)

    def put_batch(self, batch: Mapping[str, np.ndarray]) -> PyTree:
        split = {name: self._split_leading(value) for name, value in batch.items()}
        return jax.device_put(split, self._stacked)

    def put_data(self, data: Mapping[str, np.ndarray]) -> PyTree:
        return self._stack(dict(data))

    def put_indices(self, indices: np.ndarray) -> np.ndarray:
        local = indices[:, self.process_rows(indices.shape[1])]
        return self._split_leading(local, axis=1)

    def local(self, tree: PyTree) -> PyTree:
        return jax.tree.map(lambda value: value.addressable_shards[0].data[0], tree)


LAUNCHERS = {launcher.name: launcher for launcher in (Launcher, ShardMapLauncher, PmapLauncher)}


def resolve(parallel: str) -> str:
    """The launcher ``parallel`` names on this machine.

    "auto" is "shard_map" with more than one device, else "none"; "pmap" or
    "shard_map" with one device falls back to "none" (:func:`launcher` says so).
    """
    if parallel not in PARALLELS:
        raise ValueError(f"Unknown parallel {parallel!r}; choose one of {PARALLELS}.")
    if jax.device_count() == 1:
        return "none"
    return "shard_map" if parallel == "auto" else parallel


def check_batch_size(parallel: str, batch_size: int) -> None:
    """Raises ValueError unless ``parallel`` is known, spans every process, and its
    devices can share the batch.

    Args:
      parallel: one of :data:`PARALLELS`.
      batch_size: the global batch, half source and half target.
    """
    if resolve(parallel) != "none":
        check_shares(jax.device_count(), batch_size // 2, batch_size // 2)
    elif jax.process_count() > 1:  # each process would train a model of its own
        raise ValueError(
            f"parallel={parallel!r} trains on one device, but this run has "
            f"{jax.process_count()} processes; use parallel='auto' and a batch_size "
            f"divisible by {2 * jax.device_count()}."
        )


@functools.cache
def launcher(
    parallel: str, step_body: StepBody, scan_body: StepBody, cpu_products: str = "xla"
) -> Launcher:
    """The launcher of ``step_body`` and ``scan_body`` that ``parallel`` names (see
    :func:`resolve`), its products on a CPU in ``cpu_products``' library (see
    :class:`Launcher`), built once per process so its compilations are reused.
    """
    kind = resolve(parallel)
    if parallel in ("pmap", "shard_map") and kind == "none":
        logging.getLogger(__name__).warning(
            "parallel=%r with one device: running the single-device step instead.", parallel
        )
    return LAUNCHERS[kind](step_body, scan_body, cpu_products)
