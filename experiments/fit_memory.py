"""Peak memory of ``dann_jax.fit`` on two large uint8 domains (host RAM, 2 CPU cores).

    python experiments/fit_memory.py [--examples=100000] [--steps=10]

Each measurement runs in a fresh process: it makes a source and a target of
``--examples`` random uint8 images 28 x 28 x 3 (235 MB each at 100,000), notes its
resident memory, trains ``--steps`` steps of the MNIST network on them with
``fit`` in one input mode (device: the arrays on the device; stream: batches read
from the host arrays) and reports the peak resident memory of the process
(``getrusage``'s ``ru_maxrss``) and of ``fit`` above the arrays. Writes
``experiments/results/fit-memory-<device>.{json,md}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from absl import app, flags

from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_integer("examples", 100_000, "Images per domain.")
flags.DEFINE_integer("steps", 10, "Training steps.")
flags.DEFINE_list("input_modes", ["device", "stream"], "fit's input modes to measure.")
FLAGS = flags.FLAGS

# What the measured process runs: its own arrays, then fit; prints one JSON line.
CHILD = """
import json, resource, sys
import numpy as np
import dann_jax

def resident():  # bytes, from the kernel
    line = next(l for l in open("/proc/self/status") if l.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024

examples, steps, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
source = rng.integers(0, 256, (examples, 28, 28, 3), dtype=np.uint8)
labels = rng.integers(0, 10, examples).astype(np.int32)
target = rng.integers(0, 256, (examples, 28, 28, 3), dtype=np.uint8)
with_arrays = resident()
dann_jax.fit(source, labels, target, steps=steps, log_every=steps, input_mode=mode, progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"with_arrays_bytes": with_arrays, "peak_bytes": peak}))
"""


def measure(examples: int, steps: int, mode: str) -> dict:
    """One fresh process's figures (see the module)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(examples), str(steps), mode],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    gib = 1024**3
    arrays = 2 * FLAGS.examples * 28 * 28 * 3 / 1e6
    by_mode = {}
    for mode in FLAGS.input_modes:
        figures = measure(FLAGS.examples, FLAGS.steps, mode)
        figures["fit_above_arrays_bytes"] = figures["peak_bytes"] - figures["with_arrays_bytes"]
        by_mode[mode] = figures
    record = {
        "machine": machine,
        "examples_per_domain": FLAGS.examples,
        "steps": FLAGS.steps,
        "arrays_mb": round(arrays, 1),
        "by_input_mode": by_mode,
    }
    table = [
        "# Peak memory of `fit` on two uint8 domains",
        "",
        f"{FLAGS.examples:,} random uint8 images 28 x 28 x 3 per domain ({arrays:.0f} MB in "
        f"all), the MNIST network, {FLAGS.steps} steps, one fresh process per input mode.",
        "",
        "| input mode | process peak RSS (GiB) | after making the arrays (GiB) | "
        "fit above the arrays (GiB) |",
        "|---|---|---|---|",
    ]
    for mode, figures in by_mode.items():
        table.append(
            f"| {mode} | {figures['peak_bytes'] / gib:.2f} | "
            f"{figures['with_arrays_bytes'] / gib:.2f} | "
            f"{figures['fit_above_arrays_bytes'] / gib:.2f} |"
        )
    device = machine["device"].lower().replace(" ", "-")
    stem = ROOT / "experiments" / "results" / f"fit-memory-{device}"
    print(provenance.write_result(stem, record, table))


if __name__ == "__main__":
    app.run(main)
