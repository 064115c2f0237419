"""The training loop's two input modes, which read the same examples at every step:

- :class:`StreamInput`: each process reads, preprocesses and prefetches (grain
  threads) only its own rows of every global batch; one step per dispatch.
- :class:`DeviceData`: the preprocessed arrays live on the devices and the same
  positions index them there, many steps per dispatch.

Both offer the loop one protocol, :class:`TrainingInput`: started once on a
launcher (:mod:`dann_jax.core.launchers`) at the state's step, they run the
launcher's step over their batches. ``input_mode="auto"`` takes the device mode
when the data fits (:func:`choose_input_mode`).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import jax
import numpy as np
from jax.experimental import multihost_utils

from dann_jax.data.batches import PairedPositions, PairedStream
from dann_jax.data.domains import TrainingData
from dann_jax.data.sources import Batch, materialize

if TYPE_CHECKING:
    from dann_jax.core.launchers import Launcher

INPUT_MODES = ("stream", "device")


class Dispatch(NamedTuple):
    """How the loop runs steps on one input.

    Attributes:
      run: ``(state, count) -> (state, metrics)``: the next ``count`` steps, the
        metrics of each (scalars, or arrays with a trailing (count,) axis).
      max_steps: the most steps one call of ``run`` takes.
    """

    run: Callable[[Any, int], tuple[Any, Any]]
    max_steps: int


class TrainingInput(Protocol):
    """What the training loop reads: started once, on a launcher, at the state's step."""

    def start(self, launcher: Launcher, first_step: int) -> Dispatch: ...


def prefetched(batches: Iterator[Batch], put: Callable[[Batch], Any], depth: int = 2) -> Iterator:
    """``put(batch)`` for each batch, ``depth`` batches ahead: the next batches'
    transfers to the devices overlap the current step."""
    queue = collections.deque(put(next(batches)) for _ in range(depth))
    while True:
        yield queue.popleft()
        queue.append(put(next(batches)))


@dataclasses.dataclass(frozen=True)
class StreamInput:
    """The streaming input mode: one step per host batch, transfers two batches ahead,
    images in their compact stored form (finished in the step).

    Attributes:
      data: the training domains; each process reads only its rows of every batch.
      batch_size: the global batch, even.
      seed: seeds the positions.
      threads: grain reader threads.
    """

    data: TrainingData
    batch_size: int
    seed: int
    threads: int = 2

    def start(self, launcher: Launcher, first_step: int) -> Dispatch:
        """Batches from ``first_step`` on, put on the launcher's devices."""
        stream = PairedStream(
            self.data.source,
            self.data.target,
            batch_size=self.batch_size,
            seed=self.seed,
            preprocess=self.data.preprocess.stored,
            process_rows=launcher.process_rows,
            threads=self.threads,
        )
        stream.set_state({"next_index": first_step})
        batches = prefetched(stream, launcher.put_batch)
        return Dispatch(lambda state, count: launcher.step(state, next(batches)), max_steps=1)


@dataclasses.dataclass(frozen=True)
class DeviceData:
    """The device-resident input mode: whole arrays on the devices, positions per step.

    Attributes:
      arrays: ``source_image`` (N_s, ...), ``source_label`` (N_s,) int32,
        ``target_image`` (N_t, ...), on the host: the images in their compact
        stored form (``Preprocess.stored``; uint8 stays uint8), which the step
        finishes with the state's ``input_normalization``.
      positions: gives steps' positions, ``positions.steps(start, stop)`` (a
        :class:`PairedPositions`, or several stacked for many runs at once).
    """

    arrays: Mapping[str, np.ndarray]
    positions: Any

    @classmethod
    def create(cls, arrays: Mapping[str, np.ndarray], batch_size: int, seed: int) -> DeviceData:
        """``arrays`` with the positions of their sizes, batch and seed."""
        sizes = len(arrays["source_image"]), len(arrays["target_image"])
        return cls(arrays, PairedPositions(*sizes, batch_size, seed))

    @classmethod
    def read(
        cls, data: TrainingData, batch_size: int, seed: int, *, progress: bool = True
    ) -> DeviceData:
        """Both domains read whole in their stored form: the one route to device-resident
        data."""
        source_inputs, source_labels = materialize(
            data.source, data.preprocess.stored, description="source", progress=progress
        )
        target_inputs, _ = materialize(
            data.target, data.preprocess.stored, description="target", progress=progress
        )
        arrays = {
            "source_image": source_inputs,
            "source_label": source_labels,
            "target_image": target_inputs,
        }
        return cls.create(arrays, batch_size, seed)

    def start(self, launcher: Launcher, first_step: int) -> Dispatch:
        """Puts the arrays on the launcher's devices; each call runs its steps in one scan."""
        device_arrays = launcher.put_data(self.arrays)
        next_step = first_step

        def run(state: Any, count: int) -> tuple[Any, Any]:
            nonlocal next_step
            source, target = self.positions.steps(next_step, next_step + count)
            next_step += count
            launcher.check_batch(source.shape[-1], target.shape[-1])
            return launcher.steps(
                state, device_arrays, launcher.put_indices(source), launcher.put_indices(target)
            )

        return Dispatch(run, max_steps=sys.maxsize)


class InputModeChoice(NamedTuple):
    """The input mode ``input_mode="auto"`` took, and why (a sentence for the log)."""

    mode: str
    reason: str


def _host_available_bytes() -> int:
    """The host's available RAM: MemAvailable of /proc/meminfo (page cache it may
    reclaim included), or the free pages where there is none."""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def available_memory() -> tuple[int, str]:
    """The bytes a dataset read whole could take, and what they are: the first
    local device's free memory, or, on CPUs (which report none), the host's
    available RAM, which device arrays and the host's copy of the data share."""
    device = jax.local_devices()[0]
    stats = device.memory_stats() or {}
    if "bytes_limit" in stats:
        free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
        return free, f"free on the {device.device_kind}"
    return _host_available_bytes(), "of available host RAM"


def _size(count: float) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def choose_input_mode(data_bytes: int, available_bytes: int | None = None) -> InputModeChoice:
    """The faster input mode that fits: "device" when the data fits, else "stream".

    "device" keeps the dataset on the device and runs many steps per dispatch;
    it is chosen when the data takes at most half of the memory it may use
    (:func:`available_memory`, or ``available_bytes``): the rest is headroom for
    the network, its activations and, on CPUs, the host's own copy while it is
    read. In a multi-process run every process takes process 0's choice.

    Args:
      data_bytes: what the data takes on the device (``TrainingData.device_bytes``).
      available_bytes: the memory to compare with; default :func:`available_memory`.
    """
    if available_bytes is None:
        available_bytes, what = available_memory()
    else:
        what = "given as available"
    fits = data_bytes <= available_bytes / 2
    choice = INPUT_MODES.index("device" if fits else "stream")
    if jax.process_count() > 1:
        choice = int(multihost_utils.broadcast_one_to_all(np.int32(choice)))
    relation = "at most" if fits else "more than"
    reason = (
        f"the training data takes {_size(data_bytes)}, {relation} half of the "
        f"{_size(available_bytes)} {what}"
    )
    return InputModeChoice(INPUT_MODES[choice], reason)
