"""What the stream input mode costs per step against data on the device, per launcher.

    python experiments/stream_overhead.py [--steps=300] [--repeats=3]
        [--launchers=none,pmap,shard_map] [--output=DIR]

Trains the default experiment's DANN (offline digits, the MNIST network, 64 + 64)
with one step per dispatch in both input modes: ``stream`` (batches read,
preprocessed and put on the devices by the input pipeline) and ``device`` (the
arrays on the device, each step's rows gathered there). The difference per step
is the stream mode's overhead: what reading and transferring a batch leaves
uncovered by the step before it. Each mode is trained once to compile, then timed
``--repeats`` times (median). Writes ``experiments/results/stream-overhead-<device>.{json,md}``.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

from absl import app, flags

from dann_jax import configs
from dann_jax.core.fit import fit_sources
from dann_jax.runs import provenance
from dann_jax.runs.data import load_data
from dann_jax.runs.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_integer("steps", 300, "Steps per timed run.")
flags.DEFINE_integer("repeats", 3, "Timed runs per mode; the median is reported.")
flags.DEFINE_list("launchers", ["none", "pmap", "shard_map"], "Launchers to time.")
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the tables.")
FLAGS = flags.FLAGS


def seconds_per_step(data, settings) -> float:
    """Median seconds per step of ``fit_sources`` (after one run that compiles: the
    step count is static in the step, so the warm-up run is a whole one)."""
    fit_sources(data, settings, progress=False)
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        fit_sources(data, settings, progress=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / settings.steps


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    config = configs.load("default")
    config.method, config.steps, config.checkpoint_every = "dann", FLAGS.steps, 0
    config.steps_per_dispatch, config.log_every = 1, FLAGS.steps
    plan = make_plan(config)
    data = load_data(plan, progress=False)
    settings = plan.methods["dann"]
    rows = []
    for launcher in FLAGS.launchers:
        timed = {
            mode: seconds_per_step(
                data.training, dataclasses.replace(settings, input_mode=mode, parallel=launcher)
            )
            for mode in ("device", "stream")
        }
        rows.append({"launcher": launcher, **timed, "overhead": timed["stream"] - timed["device"]})
    lines = [
        f"# The stream mode's overhead per step ({config.batch_size // 2} + "
        f"{config.batch_size // 2}, one step per dispatch)",
        "",
        "| launcher | device (ms/step) | stream (ms/step) | stream overhead (ms/step) |",
        "|---|---|---|---|",
        *(
            f"| {row['launcher']} | {row['device'] * 1e3:.1f} | {row['stream'] * 1e3:.1f} "
            f"| {row['overhead'] * 1e3:+.1f} |"
            for row in rows
        ),
        "",
        f"Medians of {FLAGS.repeats} runs of {FLAGS.steps} steps, each mode compiled first.",
    ]
    device = machine["device"].lower().replace(" ", "-")
    output = Path(FLAGS.output)
    output.mkdir(parents=True, exist_ok=True)
    record = {"steps": FLAGS.steps, "repeats": FLAGS.repeats, "rows": rows, "machine": machine}
    print(provenance.write_result(output / f"stream-overhead-{device}", record, lines))


if __name__ == "__main__":
    app.run(main)
