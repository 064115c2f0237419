"""The run folder: what ``dann train`` writes, how a run resumes, and how it is read back.

A run folder holds ``config.json``, ``inputs.json`` (what its networks take and
give: the stored input shape, the normalisation, the class names; enough to predict
without the training data), ``metrics.jsonl`` (one line per log record
and method), ``wall_times.json`` (seconds of training per method),
``results.json`` (method -> test metrics and wall time), ``results.md`` (the
same as a table), ``evaluation.json`` (the proxy A-distance of each method's
test features and its classifier), ``features.png``, ``training_curves.png``,
for 2-D inputs ``decision_boundaries.png``, ``tensorboard/`` (with
``config.tensorboard``) and ``checkpoints/<method>/`` (orbax), from which
``dann evaluate`` recomputes the evaluation into ``eval.json``; ``dann select`` adds
``selection.json`` and ``selection.md`` (each method's checkpoint, chosen without
target labels). ``--overwrite`` removes exactly these (:data:`FILES`,
:data:`FOLDERS`); other files stay, ``.dann.lock`` too (:mod:`dann_jax.runs.lock`).
Every file is written whole or not at all (:mod:`dann_jax.runs.files`).

In a multi-process run only process 0 writes: elsewhere a :class:`RunFolder`
is a no-op writer (as flax's ``metric_writers.create_default_writer(just_logging=True)``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from dann_jax.core import checkpoints, distributed
from dann_jax.data.domains import TrainingData
from dann_jax.data.preprocess import Preprocess
from dann_jax.runs import files

logger = logging.getLogger(__name__)
FILES = (
    "config.json",
    "inputs.json",
    "metrics.jsonl",
    "results.json",
    "results.md",
    "wall_times.json",
    "evaluation.json",
    "eval.json",
    "features.png",
    "training_curves.png",
    "decision_boundaries.png",
    "selection.json",
    "selection.md",
)
FOLDERS = ("checkpoints", "tensorboard")
# Config keys a resumed run may change: how often it logs, dispatches and saves, what
# it keeps and where it caches; none changes the trained weights. Every other key
# (the data, the network, the seed, any training value) must match the folder's run.
FREE_ON_RESUME = (
    "log_every",
    "steps_per_dispatch",
    "checkpoint_every",
    "keep_checkpoints",
    "tensorboard",
    "compilation_cache",
    "plots",
)
Record = dict[str, Any]
# The columns of results.md, in order: result key -> heading.
COLUMNS = {
    "source_accuracy": "source accuracy",
    "target_accuracy": "target accuracy",
    "domain_accuracy": "domain accuracy",
    "proxy_a_distance": "proxy A-distance",
}
# Where the test splits are the training domains (image folders, the Office protocol).
TRANSDUCTIVE_COLUMNS = COLUMNS | {
    "source_accuracy": "source accuracy (training data)",
    "target_accuracy": "target accuracy (transductive)",
}
PAD_NOTE = (
    "Proxy A-distance: 2 (1 - 2 e), e the held-out error of a linear SVM telling source "
    "from target features; 0: the domains' features are indistinguishable, 2: separable. "
    "Below 0, the SVM did worse than chance on held-out features (sampling noise; read it "
    "as 0)."
)


def _cell(value: float | list[float], digits: int) -> str:
    """A number, or a [mean, std] pair as "mean ± std"."""
    if isinstance(value, list):
        return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"
    return f"{value:.{digits}f}"


def results_table(
    results: dict[str, dict[str, float | list[float]]],
    paper: dict[str, float] | None = None,
    *,
    transductive: bool = False,
) -> str:
    """Results (one value, or [mean, std] per metric) as a markdown table, a row per method,
    with a wall-time column where the results have one; with ``paper`` (method -> target
    accuracy), a column of the paper's figures; with ``transductive``, headings that say
    the accuracies are on the training domains. A line under it explains the proxy
    A-distance where there is one."""
    first = next(iter(results.values()))
    headings = TRANSDUCTIVE_COLUMNS if transductive else COLUMNS
    names = [name for name in COLUMNS if name in first]
    timed = "wall_time_s" in first
    header = ["method", *(headings[name] for name in names)]
    header += ["wall time (s)"] if timed else []
    header += ["paper's target accuracy"] if paper else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, row in results.items():
        cells = [_cell(row[name], 3) for name in names]
        if timed:
            cells.append(_cell(row["wall_time_s"], 1))
        if paper:
            cells.append(f"{paper[method]:.4f}" if method in paper else "")
        lines.append(f"| {method} | {' | '.join(cells)} |")
    if "proxy_a_distance" in names:
        lines += ["", PAD_NOTE]
    return "\n".join(lines)


class MetricsWriter:
    """Writes log records to ``metrics.jsonl`` and, if open, TensorBoard; or nothing."""

    def __init__(self, log: Any = None, events: Any = None):
        self._log, self._events = log, events

    def write(self, method: str, record: Record) -> None:
        """Appends one method's record ``{"step": int, <metric>: float, ...}``."""
        if self._log is not None:
            self._log.write(json.dumps({"method": method, **record}) + "\n")
            self._log.flush()
        if self._events is not None:
            for name, value in record.items():
                if name != "step":
                    self._events.add_scalar(f"{method}/{name}", value, record["step"])


class RunFolder:
    """One run folder, owned by process 0.

    Args:
      path: the folder (it need not exist yet).
      writer: whether this process writes; default: process 0 only.
    """

    def __init__(self, path: str | Path, *, writer: bool | None = None):
        self.path = Path(path)
        self.writer = jax.process_index() == 0 if writer is None else writer

    def file(self, name: str) -> Path:
        """The path of one of the folder's files."""
        return self.path / name

    def holds_run(self) -> bool:
        """Whether any of a run's files or folders is here."""
        return any(self.file(name).exists() for name in (*FILES, *FOLDERS))

    def check_resumable(
        self, config: ml_collections.ConfigDict, methods: Sequence[str], *, overwrite: bool = False
    ) -> bool:
        """True when the folder holds an unfinished run of ``config`` (to resume; the
        keys of :data:`FREE_ON_RESUME` may differ, and the log says which the new
        config changes), False when it holds no run or ``overwrite`` is set.

        Raises:
          ValueError: writing nothing, when it holds another run, a finished one,
            or an unreadable checkpoint; the message names the ways on.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"workdir {self.path} is a file; pass a folder with --workdir.")
        if overwrite:
            return False
        keep = "nothing was overwritten. Pass a new --workdir, or --overwrite to replace it."
        if self.file("results.json").exists():
            raise ValueError(
                f"workdir {self.path} already holds a finished run (results.json); {keep}"
            )
        if not self.file("config.json").exists():
            if self.file("metrics.jsonl").exists():
                raise ValueError(
                    f"workdir {self.path} already holds a run (metrics.jsonl) but no "
                    f"config.json; {keep}"
                )
            return False
        old, new = files.read_json(self.file("config.json")), json.loads(config.to_json())
        differing = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
        blocking = [key for key in differing if key not in FREE_ON_RESUME]
        if blocking:
            raise ValueError(
                f"workdir {self.path} holds an unfinished run of another config (it differs in "
                f"{', '.join(blocking)}); nothing was overwritten. Resume it with the same "
                "config, pass a new --workdir, or --overwrite to replace it."
            )
        if differing:
            taken = ", ".join(f"{key}={new.get(key)!r} (was {old.get(key)!r})" for key in differing)
            logger.info("Resuming %s with this command's %s", self.path, taken)
        self.wall_times()  # a damaged file is named now, before anything changes
        for method in methods:
            checkpoints.check_readable(self.path / "checkpoints" / method)
        return True

    def start(self, config: ml_collections.ConfigDict, *, overwrite: bool = False) -> None:
        """Makes the folder and writes ``config.json``; with ``overwrite``, first removes
        the run already here (its :data:`FILES` and :data:`FOLDERS` only)."""
        if not self.writer:
            return
        if overwrite:
            for name in FILES:
                self.file(name).unlink(missing_ok=True)
            for name in FOLDERS:
                shutil.rmtree(self.file(name), ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        files.write_text(self.file("config.json"), config.to_json(indent=2) + "\n")

    def config(self) -> ml_collections.ConfigDict:
        """The run's config, as saved.

        Raises:
          ValueError: the folder holds no run.
        """
        if not self.file("config.json").is_file():
            raise ValueError(f"{self.path} holds no run (no config.json); pass a run folder.")
        return ml_collections.ConfigDict(files.read_json(self.file("config.json")))

    def write_inputs(self, training: TrainingData) -> None:
        """Writes ``inputs.json``: the stored input shape, the normalisation (mean, std)
        and the class names of ``training``, what a trained network of this run takes
        and gives."""
        preprocess = training.preprocess
        self.write_json(
            "inputs.json",
            {
                "input_shape": list(preprocess.shape),
                "mean": np.asarray(preprocess.mean, np.float32).tolist(),
                "std": None if preprocess.std is None else np.asarray(preprocess.std).tolist(),
                "class_names": list(training.class_names),
            },
        )

    def inputs(self) -> tuple[Preprocess, tuple[str, ...]] | None:
        """What the run's networks take and give (``inputs.json``): the preprocessing
        of raw inputs and the class names; None for a run folder written before 0.3."""
        path = self.file("inputs.json")
        if not path.is_file():
            return None
        record = files.read_json(path)
        std = record["std"]
        preprocess = Preprocess(
            tuple(record["input_shape"]),
            np.asarray(record["mean"], np.float32),
            None if std is None else np.asarray(std, np.float32),
        )
        return preprocess, tuple(record["class_names"])

    def selection(self) -> dict[str, Any] | None:
        """``dann select``'s record (method -> its picks and the chosen checkpoint), or
        None when the run has none."""
        path = self.file("selection.json")
        return files.read_json(path) if path.is_file() else None

    def checkpoints(self, method: str, *, keep: int | None = 3) -> Any:
        """The orbax manager of ``method``'s checkpoints (None where this process
        does not write)."""
        if not self.writer:
            return None
        return checkpoints.manager(self.path / "checkpoints" / method, keep=keep)

    def saved_steps(self, methods: Sequence[str]) -> dict[str, int]:
        """Method -> the step of its latest checkpoint (methods without one left out),
        found by process 0 and known to every process."""
        found = [
            self.checkpoints(method).latest_step() if self.writer else None for method in methods
        ]
        found = distributed.share_from_process_zero(
            np.array([-1 if s is None else s for s in found])
        )
        return {method: int(step) for method, step in zip(methods, found, strict=True) if step >= 0}

    def records(self) -> dict[str, list[Record]]:
        """Method -> its records in ``metrics.jsonl`` (without "method"); a last line
        cut short by a kill is skipped."""
        if not self.file("metrics.jsonl").is_file():
            return {}
        by_method: dict[str, list[Record]] = {}
        for line in self.file("metrics.jsonl").read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            by_method.setdefault(record.pop("method"), []).append(record)
        return by_method

    def keep_records_until(self, last_steps: dict[str, int]) -> dict[str, list[Record]]:
        """Drops the records after each method's last saved step from ``metrics.jsonl``
        (a method with none saved keeps none); returns the kept records by method."""
        if not self.writer:
            return {}
        kept = {
            method: [r for r in records if r["step"] <= last_steps.get(method, 0)]
            for method, records in self.records().items()
        }
        if self.file("metrics.jsonl").exists():
            lines = [
                json.dumps({"method": method, **record})
                for method, records in kept.items()
                for record in records
            ]
            files.write_text(self.file("metrics.jsonl"), "".join(line + "\n" for line in lines))
        return kept

    @contextlib.contextmanager
    def metrics_writer(self, *, tensorboard: bool = False) -> Iterator[MetricsWriter]:
        """A writer appending to ``metrics.jsonl`` (and TensorBoard's ``tensorboard/``)."""
        if not self.writer:
            yield MetricsWriter()
            return
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(open(self.file("metrics.jsonl"), "a"))
            events = None
            if tensorboard:
                from tensorboardX import SummaryWriter

                events = stack.enter_context(SummaryWriter(str(self.file("tensorboard"))))
            yield MetricsWriter(log, events)

    def wall_times(self) -> dict[str, float]:
        """Method -> seconds of training so far (over resumed runs too)."""
        path = self.file("wall_times.json")
        return files.read_json(path) if path.exists() else {}

    def add_wall_time(self, method: str, seconds: float) -> float:
        """Adds ``seconds`` to ``method``'s training time; returns its total."""
        wall_times = self.wall_times()
        wall_times[method] = wall_times.get(method, 0.0) + seconds
        self.write_json("wall_times.json", wall_times)
        return wall_times[method]

    def write_json(self, name: str, value: Any) -> None:
        """Writes ``value`` as indented JSON to the file ``name``."""
        if self.writer:
            files.write_json(self.file(name), value)

    def write_text(self, name: str, text: str) -> None:
        """Writes ``text`` (and a final newline) to the file ``name``."""
        if self.writer:
            files.write_text(self.file(name), text + "\n")
