"""Where the on-device DANN step spends its time, kernel by kernel (MNIST network).

    python experiments/profile_step.py [--batch_size=128] [--steps=1000] [--output=DIR]

Runs the library's on-device loop for ``--steps`` steps (one ``lax.scan``
dispatch, as ``benchmark.py``'s jax-device) once to compile, then again under
``jax.profiler.trace``, and sums
the device events of the trace by name: the table gives microseconds and
launches per training step, longest first, and goes to
``<--output>/profile-<device>.md``. On a CPU the kernels on XLA's worker threads
stand in for the device's; a kernel that spreads over both threads is counted
on the one that started it.
"""

from __future__ import annotations

import collections
import gzip
import json
import tempfile
import time
from pathlib import Path

import jax
from absl import app, flags

# experiments/ is on sys.path when this runs; its flags --steps and --output serve here too.
from benchmark import jax_runner, make_data
from trace_events import XLA_CPU_WORKER, device_events

from dann_jax.runs import provenance

flags.DEFINE_integer("batch_size", 128, "Global batch (half source, half target).")
flags.DEFINE_integer("top", 30, "Rows of the table.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    run = jax_runner(make_data(FLAGS.dataset_size), FLAGS.batch_size, "device")
    run()
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            start = time.perf_counter()
            run()
            wall = time.perf_counter() - start
        (trace_file,) = Path(folder).rglob("*.trace.json.gz")
        trace = json.loads(gzip.decompress(trace_file.read_bytes()))
    total, count, by_thread = (collections.Counter() for _ in range(3))
    for thread, event in device_events(trace):
        # XLA:CPU's worker threads are interchangeable: one row per kernel.
        key = event["name"] if XLA_CPU_WORKER in thread else f"{thread}: {event['name']}"
        total[key] += float(event.get("dur", 0))
        count[key] += 1
        by_thread[thread] += float(event.get("dur", 0))
    machine = provenance.describe_machine()
    lines = [
        f"# The on-device DANN step, kernel by kernel: {machine['device']}",
        "",
        f"Batch {FLAGS.batch_size // 2} + {FLAGS.batch_size // 2}, {FLAGS.steps} steps in one "
        f"dispatch; {machine['date']}; jax {jax.__version__}. Events summed over the trace, "
        f"per training step ({wall / FLAGS.steps * 1e6:.0f} us of wall time per step under "
        "the profiler); each trace line (thread) by itself:",
        "",
        *(
            f"- {thread}: {micros / FLAGS.steps:.1f} us"
            for thread, micros in by_thread.most_common()
        ),
        "",
        "| event | us per step | events per step |",
        "|---|---|---|",
    ]
    for name, micros in total.most_common(FLAGS.top):
        lines.append(
            f"| `{name[:100]}` | {micros / FLAGS.steps:.2f} | {count[name] / FLAGS.steps:.2f} |"
        )
    table = "\n".join(lines) + "\n"
    output = Path(FLAGS.output)
    output.mkdir(parents=True, exist_ok=True)
    slug = machine["device"].lower().replace(" ", "-")
    (output / f"profile-{slug}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    app.run(main)
