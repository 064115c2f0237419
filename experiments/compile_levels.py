"""Compile time against step time at each of XLA:CPU's LLVM optimisation levels.

    python experiments/compile_levels.py [--levels=3,2,1,0] [--repeats=3]

For each level (``XLA_FLAGS=--xla_backend_optimization_level=L``; XLA's default is 3)
a fresh process compiles the MNIST network's initialisation and its 10-step
``train_steps`` (batch 64 + 64, 28 x 28 x 3, data on the device; no persistent
cache), times one dispatch of the 10 steps (median of ``--repeats``), and trains
100 steps to show how far the level moves the numbers: the loss at step 100 and the
largest parameter difference from the first level's. The test suite compiles at
level 1 (tests/conftest.py); results of the library's runs come from XLA's default.
Writes ``experiments/results/compile-levels-<device>.{json,md}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from absl import app, flags

from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_list("levels", ["3", "2", "1", "0"], "LLVM optimisation levels to measure.")
flags.DEFINE_integer("repeats", 3, "Timed dispatches of the compiled 10 steps.")
FLAGS = flags.FLAGS

# What the measured process runs; prints one JSON line, its parameters to argv[2].
CHILD = """
import json, statistics, sys, time
import jax, jax.numpy as jnp, numpy as np
from dann_jax.core import state as state_lib, step
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings

repeats, params_file = int(sys.argv[1]), sys.argv[2]
network, settings = build_model("mnist", 10), TrainSettings(steps=100)
example, key = jnp.zeros((1, 28, 28, 3)), jax.random.key(0)

def compiled(lowered):
    start = time.perf_counter()
    program = lowered.compile()
    return program, time.perf_counter() - start

# The library's own jitted initialisation, as create_train_state calls it.
_, init_seconds = compiled(
    state_lib._init.lower(network, settings.step_settings(), key, example, None)
)
state = state_lib.create_train_state(network, example, settings)
rng = np.random.default_rng(0)
data = {
    "source_image": jnp.asarray(rng.random((512, 28, 28, 3), np.float32)),
    "source_label": jnp.asarray(rng.integers(10, size=512), jnp.int32),
    "target_image": jnp.asarray(rng.random((512, 28, 28, 3), np.float32)),
}
indices = [jnp.asarray(rng.integers(512, size=(10, 10, 64)), jnp.int32) for _ in range(2)]
steps, steps_seconds = compiled(
    jax.jit(step.train_steps).lower(state, data, indices[0][0], indices[1][0])
)
jax.block_until_ready(steps(state, data, indices[0][0], indices[1][0]))
times = []
for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(steps(state, data, indices[0][0], indices[1][0]))
    times.append(time.perf_counter() - start)
for k in range(10):
    state, metrics = steps(state, data, indices[0][k], indices[1][k])
leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(state.params)]
np.savez(params_file, *leaves)
print(json.dumps({
    "init_compile_seconds": init_seconds,
    "train_steps_compile_seconds": steps_seconds,
    "ten_steps_seconds": statistics.median(times),
    "loss_at_step_100": float(metrics["loss"][-1]),
}))
"""


def measure(level: str, params_file: Path) -> dict:
    """One fresh process's figures at ``level`` (see the module)."""
    environment = {**os.environ, "XLA_FLAGS": f"--xla_backend_optimization_level={level}"}
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(FLAGS.repeats), str(params_file)],
        capture_output=True, text=True, check=True, cwd=ROOT, env=environment,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    results_folder = ROOT / "experiments" / "results"
    by_level, parameters = {}, {}
    for level in FLAGS.levels:
        params_file = results_folder / f".compile-level-{level}.npz"
        by_level[level] = measure(level, params_file)
        with np.load(params_file) as saved:
            parameters[level] = [saved[name] for name in saved.files]
        params_file.unlink()
    first = FLAGS.levels[0]
    for level, figures in by_level.items():
        figures["largest_parameter_difference"] = max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(parameters[level], parameters[first], strict=True)
        )
    record = {"machine": machine, "repeats": FLAGS.repeats, "by_level": by_level}
    table = [
        "# XLA:CPU's LLVM optimisation level: compile time against step time",
        "",
        "The MNIST network, batch 64 + 64 of 28 x 28 x 3, data on the device; one fresh "
        "process per level, no persistent cache. XLA's default level is 3.",
        "",
        "| level | compile: init (s) | compile: 10-step train_steps (s) | 10 steps (s) | "
        f"loss at step 100 | largest parameter difference from level {first} |",
        "|---|---|---|---|---|---|",
    ]
    for level, figures in by_level.items():
        table.append(
            f"| {level} | {figures['init_compile_seconds']:.2f} | "
            f"{figures['train_steps_compile_seconds']:.2f} | "
            f"{figures['ten_steps_seconds']:.3f} | {figures['loss_at_step_100']:.7f} | "
            f"{figures['largest_parameter_difference']:.1e} |"
        )
    device = machine["device"].lower().replace(" ", "-")
    print(provenance.write_result(results_folder / f"compile-levels-{device}", record, table))


if __name__ == "__main__":
    app.run(main)
