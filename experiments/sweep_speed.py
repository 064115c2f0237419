"""A hyper-parameter grid in one program against one run per setting.

    python experiments/sweep_speed.py [--steps=5000]

The toy problem's shallow network on two-moons, a 2 x 2 grid over the learning rate
and the domain-loss weight: ``fit_seeds(member_settings=grid)`` (one compiled program)
against ``fit`` once per setting (each setting its own compile: the settings are
static there). Counts the train-step compilations and times both, end to end
(compilation included). Writes ``experiments/results/sweep-speed-<device>.{json,md}``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import jax
from absl import app, flags

import dann_jax
from dann_jax.data import load_domains
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_integer("steps", 5000, "Steps of every run.")
FLAGS = flags.FLAGS
GRID = [
    {"learning_rate": rate, "domain_loss_weight": weight}
    for rate in (0.05, 0.01)
    for weight in (6.0, 12.0)
]


@contextlib.contextmanager
def counted_compiles() -> Iterator[list[str]]:
    """The names of the programs XLA compiles inside the block."""
    names: list[str] = []

    class Log(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Compiling "):
                names.append(message.split()[1])

    handler, logger = Log(), logging.getLogger("jax._src.interpreters.pxla")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield names
    finally:
        logger.removeHandler(handler)


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    moons = load_domains("moons", seed=0)
    arrays = (moons.source_train.inputs, moons.source_train.labels, moons.target_train.inputs)
    settings = {"model": "shallow", "steps": FLAGS.steps, "batch_size": 32, "progress": False}
    settings |= {"input_mode": "device", "parallel": "none", "steps_per_dispatch": 1000}
    settings |= {"log_every": 1000}
    start = time.perf_counter()
    with counted_compiles() as separate_compiles:
        for override in GRID:
            dann_jax.fit(*arrays, seed=0, **settings, **override)
    separate = time.perf_counter() - start
    start = time.perf_counter()
    with counted_compiles() as sweep_compiles:
        dann_jax.fit_seeds(
            *([array] * len(GRID) for array in arrays),
            seeds=[0] * len(GRID),
            member_settings=GRID,
            **settings,
        )
    sweep = time.perf_counter() - start
    record = {
        "grid": GRID,
        "steps": FLAGS.steps,
        "separate": {
            "seconds": separate,
            "train_step_compiles": separate_compiles.count("jit(train_steps)"),
        },
        "sweep": {
            "seconds": sweep,
            "train_step_compiles": sweep_compiles.count("jit(train_steps)"),
        },
        "machine": machine,
    }
    device = machine["device"].lower().replace(" ", "-")
    out = ROOT / "experiments" / "results" / f"sweep-speed-{device}"
    lines = [
        f"# A 2 x 2 grid on moons ({FLAGS.steps} steps of 16 + 16 each): one program vs four runs",
        "",
        "| | train-step compilations | wall time (s), compilation included |",
        "|---|---|---|",
        f"| fit per setting | {record['separate']['train_step_compiles']} | {separate:.1f} |",
        f"| fit_seeds(member_settings=grid) | {record['sweep']['train_step_compiles']} "
        f"| {sweep:.1f} |",
    ]
    print(provenance.write_result(out, record, lines))


if __name__ == "__main__":
    app.run(main)
