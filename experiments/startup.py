"""What a user waits for before training starts: import, compilations, a second run.

    python experiments/startup.py [--source=DIR] [--steps=1600] [--imports=5]

Each measurement runs in fresh Python processes, on the ``dann_jax`` found in
``--source`` (a checkout; default this one), so another commit can be measured
with the same script:

- ``import dann_jax``: seconds (median of ``--imports`` processes), the modules
  it loads, and which heavy libraries among them;
- compilations: two identical ``fit`` calls (and a ``predict``) of the MNIST
  network on the offline default, 20 steps, XLA compilations counted in each;
- ``dann train`` of the default config (``--steps`` steps), run twice with one
  fresh cache folder (``$XDG_CACHE_HOME``): wall time of each command, its
  training time per method, its compilations and persistent-cache hits.

The table goes to ``<--output>/startup-<device>-<commit>-<steps>-steps.md`` and
``.json`` with the machine, the date, the commit measured and the command.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_string("source", str(ROOT), "The checkout whose dann_jax is measured.")
flags.DEFINE_integer("steps", 1600, "Steps per method of the `dann train` runs.")
flags.DEFINE_integer("imports", 5, "Processes timing `import dann_jax`.")
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the table.")
FLAGS = flags.FLAGS
HEAVY = ("sklearn", "skimage", "matplotlib", "grain", "tensorflow_datasets", "tensorflow",
         "hypothesis", "orbax", "tensorboardX")  # fmt: skip
IMPORT = """
import json, sys, time
start = time.perf_counter()
import dann_jax
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "modules": sorted(sys.modules)}))
"""
COMPILATIONS = """
import json, logging
import jax
programs = []

class Count(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("Compiling "):
            programs.append(record.getMessage().split()[1])

logging.getLogger("jax._src.interpreters.pxla").addHandler(Count())
jax.config.update("jax_log_compiles", True)
import dann_jax
from dann_jax.data import load_domains

domains = load_domains("digits_to_blended_digits", 0)
calls = []
for _ in range(2):
    programs.clear()
    trained = dann_jax.fit(domains.source_train.inputs, domains.source_train.labels,
                           domains.target_train.inputs, steps=20, batch_size=128,
                           log_every=10, progress=False)
    trained.predict(domains.target_test.inputs)
    calls.append(list(programs))
print(json.dumps(calls))
"""


def python(code: str, source: Path, environment: dict[str, str]) -> str:
    """Runs ``code`` in a fresh process in ``source`` (so that its ``dann_jax`` is the one
    imported); returns its last line of output."""
    process = subprocess.run(
        [sys.executable, "-c", code],
        cwd=source,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return process.stdout.strip().splitlines()[-1]


def train_twice(source: Path, environment: dict[str, str]) -> list[dict]:
    """`dann train` of the default config, twice, sharing one fresh cache folder."""
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        environment = {**environment, "XDG_CACHE_HOME": f"{scratch}/cache", "JAX_LOG_COMPILES": "1"}
        for index in range(2):
            workdir = Path(scratch) / f"run{index}"
            start = time.perf_counter()
            process = subprocess.run(
                [sys.executable, "-m", "dann_jax.cli", "train", "--noprogress",
                 f"--config.steps={FLAGS.steps}", f"--workdir={workdir}"],
                cwd=source, env=environment, capture_output=True, text=True, check=True,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            compiling = len(re.findall(r"Compiling ", process.stderr))
            hits = len(re.findall(r"Persistent compilation cache hit", process.stderr))
            results = json.loads((workdir / "results.json").read_text())
            runs.append({
                "command_seconds": seconds,
                "training_seconds": {m: r["wall_time_s"] for m, r in results.items()},
                "target_accuracy": {m: r["target_accuracy"] for m, r in results.items()},
                # JAX logs "Compiling" before it looks in the persistent cache.
                "compiled": compiling - hits,
                "loaded_from_cache": hits,
            })  # fmt: skip
    return runs


def main(argv: list[str]) -> None:
    del argv
    source = Path(FLAGS.source).resolve()
    environment = {**os.environ, "PYTHONPATH": str(source), "JAX_PLATFORMS": "cpu"}
    commit = subprocess.run(
        ["git", "-C", source, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    imports = [json.loads(python(IMPORT, source, environment)) for _ in range(FLAGS.imports)]
    modules = imports[-1]["modules"]
    compilations = json.loads(python(COMPILATIONS, source, environment))
    runs = train_twice(source, environment)

    from dann_jax.runs import provenance

    machine = provenance.describe_machine()
    record = {
        "machine": machine,
        "commit": commit,
        "import_seconds": statistics.median(i["seconds"] for i in imports),
        "modules_loaded": len(modules),
        "heavy_modules_loaded": sorted({m.split(".")[0] for m in modules} & set(HEAVY)),
        "fit_compilations": [len(call) for call in compilations],
        "fit_programs": compilations,
        "dann_train": runs,
        "steps": FLAGS.steps,
    }
    lines = [
        f"# Start-up of dann_jax at {commit}: {machine['device']}",
        "",
        f"- `import dann_jax`: {record['import_seconds']:.2f} s (median of {FLAGS.imports} "
        f"processes), {len(modules)} modules; heavy ones: "
        f"{', '.join(record['heavy_modules_loaded']) or 'none'}.",
        "- XLA compilations of `fit` + `predict` (MNIST network, offline default, 20 steps): "
        f"{record['fit_compilations'][0]} the first time, {record['fit_compilations'][1]} "
        "the second (same settings and shapes).",
        "",
        f"`dann train --config.steps={FLAGS.steps}` (the default config), twice with one "
        "fresh cache folder:",
        "",
        "| run | command (s) | training source_only (s) | training dann (s) | programs "
        "compiled | loaded from the cache | target accuracy (source_only, dann) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run in zip(("first", "second"), runs, strict=True):
        training, accuracy = run["training_seconds"], run["target_accuracy"]
        lines.append(
            f"| {name} | {run['command_seconds']:.1f} | {training['source_only']:.1f} | "
            f"{training['dann']:.1f} | {run['compiled']} | {run['loaded_from_cache']} | "
            f"{accuracy['source_only']:.3f}, {accuracy['dann']:.3f} |"
        )
    lines += [
        "",
        f"{machine['date']}; {machine['processor']}; jax {machine['versions']['jax']}; seed 0.",
        f"Command: `{machine['command']}`",
    ]
    table = "\n".join(lines) + "\n"
    output = Path(FLAGS.output)
    output.mkdir(parents=True, exist_ok=True)
    slug = f"startup-{machine['device'].lower().replace(' ', '-')}-{commit}-{FLAGS.steps}-steps"
    (output / f"{slug}.md").write_text(table)
    (output / f"{slug}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(table)


if __name__ == "__main__":
    app.run(main)
