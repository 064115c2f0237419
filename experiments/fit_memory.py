"""Peak memory of ``dann_jax.fit`` on two large uint8 domains (host RAM, 2 CPU cores).

    python experiments/fit_memory.py [--examples=100000] [--steps=10]

Each measurement runs in a fresh process: it makes a source and a target of
``--examples`` random uint8 images 28 x 28 x 3 (235 MB each at 100,000), notes its
resident memory, trains ``--steps`` steps of the MNIST network on them with
``fit`` in one input mode (device: the arrays on the device; stream: batches read
from the host arrays) and reports the peak resident memory of the process
(``getrusage``'s ``ru_maxrss``) and of ``fit`` above the arrays. The arrays are made
as numpy makes them (16 bytes into a page: a CPU device copies them) or on a 64-byte
boundary (``dann_jax.data.arrays.aligned_empty``, as dann_jax reads a dataset: a CPU
device uses them in place). Writes
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
flags.DEFINE_list(
    "cases",
    ["device/numpy", "device/aligned", "stream/numpy"],
    "input mode/array layout pairs to measure (layout numpy: arrays as numpy makes them; "
    "aligned: on a 64-byte boundary, as dann_jax reads a dataset).",
)
FLAGS = flags.FLAGS

# What the measured process runs: its own arrays, then fit; prints one JSON line.
CHILD = """
import json, resource, sys
import numpy as np
import dann_jax

def resident():  # bytes, from the kernel
    line = next(l for l in open("/proc/self/status") if l.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024

examples, steps, mode, layout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = np.random.default_rng(0)
shape = (examples, 28, 28, 3)
if layout == "numpy":  # numpy's own arrays: 16 bytes into a page
    source = rng.integers(0, 256, shape, dtype=np.uint8)
    target = rng.integers(0, 256, shape, dtype=np.uint8)
else:  # as dann_jax reads a dataset: on a 64-byte boundary
    source = dann_jax.data.arrays.aligned_empty(shape, np.uint8)
    target = dann_jax.data.arrays.aligned_empty(shape, np.uint8)
    for array in (source, target):
        for start in range(0, examples, 10_000):
            part = array[start : start + 10_000]
            part[:] = rng.integers(0, 256, part.shape, dtype=np.uint8)
labels = rng.integers(0, 10, examples).astype(np.int32)
with_arrays = resident()
dann_jax.fit(source, labels, target, steps=steps, log_every=steps, input_mode=mode, progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"with_arrays_bytes": with_arrays, "peak_bytes": peak}))
"""


def measure(examples: int, steps: int, mode: str, layout: str) -> dict:
    """One fresh process's figures (see the module)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(examples), str(steps), mode, layout],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    gib = 1024**3
    arrays = 2 * FLAGS.examples * 28 * 28 * 3 / 1e6
    by_case = {}
    for case in FLAGS.cases:
        mode, layout = case.split("/")
        figures = measure(FLAGS.examples, FLAGS.steps, mode, layout)
        figures["fit_above_arrays_bytes"] = figures["peak_bytes"] - figures["with_arrays_bytes"]
        by_case[case] = figures
    record = {
        "machine": machine,
        "examples_per_domain": FLAGS.examples,
        "steps": FLAGS.steps,
        "arrays_mb": round(arrays, 1),
        "by_case": by_case,
    }
    table = [
        "# Peak memory of `fit` on two uint8 domains",
        "",
        f"{FLAGS.examples:,} random uint8 images 28 x 28 x 3 per domain ({arrays:.0f} MB in "
        f"all), the MNIST network, {FLAGS.steps} steps, one fresh process per case. Arrays as "
        "numpy makes them start 16 bytes into a page, and a CPU device copies them; "
        "aligned ones (64 bytes, as dann_jax reads a dataset) it uses in place.",
        "",
        "| input mode | arrays | process peak RSS (GiB) | after making the arrays (GiB) | "
        "fit above the arrays (GiB) |",
        "|---|---|---|---|---|",
    ]
    for case, figures in by_case.items():
        mode, layout = case.split("/")
        table.append(
            f"| {mode} | {layout} | {figures['peak_bytes'] / gib:.2f} | "
            f"{figures['with_arrays_bytes'] / gib:.2f} | "
            f"{figures['fit_above_arrays_bytes'] / gib:.2f} |"
        )
    device = machine["device"].lower().replace(" ", "-")
    stem = ROOT / "experiments" / "results" / f"fit-memory-{device}"
    print(provenance.write_result(stem, record, table))


if __name__ == "__main__":
    app.run(main)
