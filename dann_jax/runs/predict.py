"""``dann predict``'s work: a run's trained network labels files, arrays or a TFDS split.

Inputs are image files (or folders of them, read recursively), NumPy arrays (``.npy``,
(N, H, W, C) or (N, D)) or a prepared TFDS split; each is read in chunks, made what the
run's network takes (resized, grey or RGB, normalised as in training) and labelled. The
result is a CSV with one row per input: its name, the predicted class's name and its
probability, and with ``probabilities`` every class's.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dann_jax.core.trained import TrainedDANN
from dann_jax.data import folders, tfds_sources
from dann_jax.data.sources import RandomAccessSource, read
from dann_jax.evaluation.validators import softmax_probabilities
from dann_jax.runs import files
from dann_jax.runs.evaluate import chosen_step, load_trained
from dann_jax.runs.folder import RunFolder
from dann_jax.runs.plan import saved_plan

CHUNK = 256
Chunk = tuple[list[str], np.ndarray]  # the inputs' names, and the inputs (n, ...)


@dataclasses.dataclass(frozen=True)
class Predictions:
    """What :func:`predict` wrote: ``count`` rows into ``path``, by ``method``'s network
    at ``step``, the checkpoint ``how`` ("chosen by <validator>", "the last", "asked
    for"), and how many inputs each class got."""

    path: Path
    count: int
    method: str
    step: int
    how: str
    class_counts: dict[str, int]


def _file_chunks(paths: Sequence[Path], shape: tuple[int, ...]) -> Iterator[Chunk]:
    size, channels = tuple(shape[:2]), shape[-1]
    for start in range(0, len(paths), CHUNK):
        chunk = paths[start : start + CHUNK]
        images = np.stack([folders.load_image(path, size, channels) for path in chunk])
        yield [str(path) for path in chunk], images


def _array_chunks(path: Path) -> Iterator[Chunk]:
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a NumPy .npy array ({error}).") from None
    for start in range(0, len(array), CHUNK):
        chunk = np.asarray(array[start : start + CHUNK])
        yield [f"{path}[{start + i}]" for i in range(len(chunk))], chunk


def _tfds_source(name_and_split: str, data_dir: str | None) -> RandomAccessSource:
    name, separator, split = name_and_split.rpartition(":")
    if not separator or not name or not split:
        raise ValueError(f"--tfds takes NAME:SPLIT, e.g. mnist_m:test, not {name_and_split!r}.")
    return tfds_sources.data_source(name, split, data_dir)


def _source_chunks(source: RandomAccessSource, name: str) -> Iterator[Chunk]:
    for start in range(0, len(source), CHUNK):
        positions = np.arange(start, min(start + CHUNK, len(source)))
        yield [f"{name}[{i}]" for i in positions], read(source, positions)["image"]


def inputs(
    paths: Sequence[str], shape: tuple[int, ...], *, tfds: str = "", data_dir: str | None = None
) -> tuple[int, Iterator[Chunk]]:
    """How many inputs ``paths`` (image files, folders of them, ``.npy`` arrays) and the
    TFDS split ``tfds`` hold, and their chunks, read as they are needed.

    Raises:
      ValueError: a path does not exist or holds no input; the message names it.
    """
    images, arrays, count = [], [], 0
    for given in paths:
        path = Path(given).expanduser()
        if path.suffix == ".npy" and path.is_file():
            arrays.append(path)
            count += len(np.load(path, mmap_mode="r"))
        else:
            images += folders.image_files(path)
    count += len(images)
    source = _tfds_source(tfds, data_dir) if tfds else None
    count += len(source) if source is not None else 0

    def chunks() -> Iterator[Chunk]:
        if images:
            yield from _file_chunks(images, shape)
        for path in arrays:
            yield from _array_chunks(path)
        if source is not None:
            yield from _source_chunks(source, tfds)

    return count, chunks()


def _checkpoint(folder: RunFolder, method: str, checkpoint: str) -> tuple[str | int, str]:
    """The checkpoint to load and how it was chosen: "auto" is the chosen one when
    ``dann select`` chose one, else the last."""
    if checkpoint in ("auto", "chosen"):
        try:
            step, validator = chosen_step(folder, method)
        except ValueError:
            if checkpoint == "chosen":
                raise
            return "last", "the last (no dann select run yet)"
        return step, f"chosen by {validator} (dann select)"
    if checkpoint == "last":
        return "last", "the last"
    return checkpoint, "asked for"


def predict(
    workdir: str | Path,
    paths: Sequence[str],
    out: str | Path,
    *,
    tfds: str = "",
    data_dir: str | None = None,
    method: str | None = None,
    checkpoint: str = "auto",
    probabilities: bool = False,
    overwrite: bool = False,
    model: str | None = None,
    progress: bool = True,
) -> Predictions:
    """Labels ``paths`` (and the TFDS split ``tfds``) with a run's network; writes ``out``.

    Args:
      workdir: the run folder.
      paths: image files, folders of images (read recursively), ``.npy`` arrays.
      out: the CSV to write: ``input``, ``class``, ``probability`` and, with
        ``probabilities``, one ``p(<class name>)`` column per class.
      tfds: a prepared TFDS split, ``NAME:SPLIT`` (``data_dir``: where it is prepared).
      method: whose network; default "dann" when the run trained it, else its first.
      checkpoint: "auto" (the checkpoint ``dann select`` chose, else the last),
        "chosen", "last" or a step.
      probabilities: also write every class's probability.
      overwrite: replace ``out`` if it exists.
      model: the run's model import path, to import it (see
        :func:`~dann_jax.runs.plan.saved_plan`).
      progress: show a progress bar.

    Raises:
      ValueError: no input, an unreadable one, ``out`` exists, or the run has no such
        method or checkpoint; the message says which.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ValueError(f"{out} exists; nothing was changed. Pass another --out, or --overwrite.")
    if not paths and not tfds:
        raise ValueError("name what to label: image files or folders, .npy arrays, or --tfds.")
    folder = RunFolder(Path(workdir))
    plan = saved_plan(folder.config(), model=model)
    method = method or plan.main_method
    wanted, how = _checkpoint(folder, method, checkpoint)
    trained = load_trained(workdir, wanted, method=method, model=model)
    count, chunks = inputs(paths, trained.input_shape, tfds=tfds, data_dir=data_dir)
    class_counts = dict.fromkeys(trained.class_names, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(out, newline="") as file:
        writer = csv.writer(file)
        header = ["input", "class", "probability"]
        writer.writerow(
            header + ([f"p({n})" for n in trained.class_names] if probabilities else [])
        )
        bar = tqdm(total=count, disable=not progress, unit="input", desc="predict", delay=2)
        for names, chunk in chunks:
            for name, row in zip(names, _probabilities(trained, chunk), strict=True):
                best = int(row.argmax())
                class_counts[trained.class_names[best]] += 1
                cells = [name, trained.class_names[best], f"{row[best]:.6f}"]
                writer.writerow(cells + ([f"{p:.6f}" for p in row] if probabilities else []))
            bar.update(len(names))
        bar.close()
    return Predictions(out, count, method, int(trained.state.step), how, class_counts)


def _probabilities(trained: TrainedDANN, inputs: np.ndarray) -> np.ndarray:
    """Each input's class probabilities (n, classes) float64."""
    return softmax_probabilities(trained.logits(inputs, batch_size=CHUNK)[0])
