"""The input pipeline: two training domains -> seeded, per-process batches, in two modes.

Training batches are built over *positions* (:class:`PairedPositions`): each
domain's range(N) runs through a fresh seeded permutation every epoch, repeated
forever and cut into batches; source and target are independent (own sizes,
own epochs), paired step by step. Any step's positions are computed directly,
so a run resumed at step k reads on exactly where it stopped. Two input modes
read the same examples at every step and offer the loop one protocol,
:class:`TrainingInput`:

- :class:`StreamInput`: each process reads, preprocesses and prefetches (grain
  threads) only its own rows of every global batch; one step per dispatch.
- :class:`DeviceData`: the preprocessed arrays live on the devices and the same
  positions index them there, many steps per dispatch.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import jax
import numpy as np
from jax.experimental import multihost_utils

from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import Batch, RandomAccessSource, materialize, read

if TYPE_CHECKING:
    from dann_jax.parallel import Launcher

Rows = Callable[[int], slice]
INPUT_MODES = ("stream", "device")


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The two training domains and how their images become network inputs.

    Attributes:
      source: labelled ``{"image", "label"}`` records.
      target: ``{"image"}`` records; their labels are never read.
      preprocess: raw images -> network inputs (shape, per-channel mean).
      num_classes: classes of the label head.
    """

    source: RandomAccessSource
    target: RandomAccessSource
    preprocess: Preprocess
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One stored input's shape, e.g. (28, 28, 3) (see ``fit.network_example``)."""
        return tuple(self.preprocess.shape)

    def device_bytes(self) -> int:
        """The bytes both domains take when read whole in their stored form
        (:meth:`~dann_jax.data.preprocess.Preprocess.stored`: uint8 stays uint8),
        from one record of each; the source's int32 labels included."""
        total = 4 * len(self.source)
        for domain in (self.source, self.target):
            if len(domain):
                example = self.preprocess.stored(read(domain, np.zeros(1, np.int64))["image"])
                total += len(domain) * example.nbytes
        return total


@functools.lru_cache(maxsize=8)
def _epoch_permutation(size: int, seed: int, epoch: int) -> np.ndarray:
    """A seeded permutation of range(size) (int32), a new one for every epoch."""
    return np.random.default_rng([seed, epoch]).permutation(size).astype(np.int32)


def _domain_positions(size: int, batch: int, seed: int, start: int, stop: int) -> np.ndarray:
    """One domain's positions of steps start .. stop - 1: (stop - start, batch) int32.

    Epochs follow on seamlessly (a batch can span two), each a new permutation.
    """
    flat = np.arange(start * batch, stop * batch, dtype=np.int64)
    epochs, offsets = np.divmod(flat, size)
    positions = np.empty(flat.shape, np.int32)
    for epoch in np.unique(epochs):
        chosen = epochs == epoch
        positions[chosen] = _epoch_permutation(size, seed, int(epoch))[offsets[chosen]]
    return positions.reshape(stop - start, batch)


class PairedPositions:
    """Every step's global batch positions, half source and half target.

    Step k's positions are computed directly, a few vectorised NumPy operations
    for many steps at once: grain's element-wise shuffle cost more per batch than
    an accelerator's whole training step (BENCHMARKS.md). Indexable like a
    sequence (``positions[k]``), so grain can read it as a source.

    Args:
      source_size, target_size: examples in each domain (each >= 1).
      batch_size: the global batch, even.
      seed: the same seed gives the same positions.
    """

    def __init__(self, source_size: int, target_size: int, batch_size: int, seed: int):
        source_seed, target_seed = np.random.SeedSequence(seed).generate_state(2)
        half = batch_size // 2
        self._source = (source_size, half, int(source_seed))
        self._target = (target_size, half, int(target_seed))

    def steps(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps start .. stop - 1: source and target positions, each (stop - start,
        batch_size // 2) int32."""
        return (
            _domain_positions(*self._source, start, stop),
            _domain_positions(*self._target, start, stop),
        )

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        source, target = self.steps(step, step + 1)
        return source[0], target[0]


class PairedStream:
    """Endless training batches read from two random-access sources.

    Yields ``{"source_image": (b_s, ...), "source_label": (b_s,) int32,
    "target_image": (b_t, ...)}``, images as ``preprocess`` makes them (plus
    ``target_label`` when asked for, for evaluation or train-on-target), where b
    is this process's rows of the global batch: ``process_rows(batch_size // 2)``.
    Only those records are read. Its position is its step: ``get_state`` /
    ``set_state`` save and restore it exactly.

    Args:
      source, target: random-access sources of ``{"image", "label"}`` records.
      batch_size: the global batch, even: half source, half target.
      seed: seeds both domains' shuffles.
      preprocess: raw images -> what the step takes, for both domains: network
        inputs (a :class:`Preprocess`), or the compact stored form
        (``Preprocess.stored``, which the training modes send).
      process_rows: global rows per domain -> this process's slice of them
        (``Launcher.process_rows``); all rows by default.
      with_target_labels: also yield ``target_label``.
      threads: grain reader threads prefetching batches (0: read in the caller).
    """

    def __init__(
        self,
        source: RandomAccessSource,
        target: RandomAccessSource,
        *,
        batch_size: int,
        seed: int,
        preprocess: Callable[[np.ndarray], np.ndarray],
        process_rows: Rows | None = None,
        with_target_labels: bool = False,
        threads: int = 2,
    ):
        import grain  # only streaming needs it: `import dann_jax` stays light

        half = batch_size // 2
        rows = process_rows(half) if process_rows else slice(0, half)

        def read_batch(positions: tuple[np.ndarray, np.ndarray]) -> Batch:
            source_positions, target_positions = (p[rows] for p in positions)
            source_batch = read(source, source_positions)
            target_batch = read(target, target_positions)
            batch = {
                "source_image": preprocess(source_batch["image"]),
                "source_label": source_batch["label"].astype(np.int32),
                "target_image": preprocess(target_batch["image"]),
            }
            if with_target_labels:
                batch["target_label"] = target_batch["label"].astype(np.int32)
            return batch

        positions = PairedPositions(len(source), len(target), batch_size, seed)
        dataset = grain.MapDataset.source(positions).map(read_batch)
        options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=2 * threads)
        self._iterator = iter(dataset.to_iter_dataset(options if threads else None))

    def __iter__(self) -> PairedStream:
        return self

    def __next__(self) -> Batch:
        return next(self._iterator)

    def get_state(self) -> dict[str, Any]:
        """The position in the stream (JSON-serialisable), e.g. ``{"next_index": 120}``."""
        return self._iterator.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        """Continues exactly where the stream was when ``state`` was taken."""
        self._iterator.set_state(state)


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
