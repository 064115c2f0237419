"""Training batches: seeded positions of both domains for every step, and a stream of
the batches they give.

Training batches are built over *positions* (:class:`PairedPositions`): each
domain's range(N) runs through a fresh seeded permutation every epoch, repeated
forever and cut into batches; source and target are independent (own sizes,
own epochs), paired step by step. Any step's positions are computed directly,
so a run resumed at step k reads on exactly where it stopped.
:class:`PairedStream` reads the records at those positions (grain threads
prefetching), only a process's own rows of every global batch; the input modes
of the training loop (:mod:`dann_jax.core.inputs`) are built on both.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from dann_jax.data.sources import Batch, RandomAccessSource, read

Rows = Callable[[int], slice]


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
