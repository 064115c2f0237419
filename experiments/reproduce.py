"""Runs one experiment config over several seeds and writes a mean +- std table.

    python experiments/reproduce.py --seeds=0,1,2 [--config=FILE] [--config.KEY=VALUE ...]

Every seed gets its own run folder under ``runs/<name>-seeds/seed<k>``; the
summary, with the machine, date, library versions and the command, goes to
``experiments/results/<name>.md`` and ``.json``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

import dann_jax
from dann_jax import experiment

ROOT = Path(__file__).resolve().parents[1]
config_flags.DEFINE_config_file("config", str(ROOT / "experiments" / "configs" / "default.py"))
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run, comma-separated.")
flags.DEFINE_string("results", str(ROOT / "experiments" / "results"), "Folder for the summary.")
flags.DEFINE_string("runs", str(ROOT / "runs"), "Folder for the per-seed run folders.")
FLAGS = flags.FLAGS


def cpu_model() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def summarise(
    per_seed: dict[int, dict[str, dict[str, float]]],
) -> dict[str, dict[str, list[float]]]:
    """method -> metric -> [mean, std] over seeds (std with ddof=0)."""
    methods = next(iter(per_seed.values()))
    summary = {}
    for method in methods:
        summary[method] = {}
        for metric in methods[method]:
            values = np.array([results[method][metric] for results in per_seed.values()])
            summary[method][metric] = [float(values.mean()), float(values.std())]
    return summary


def main(argv: list[str]) -> None:
    del argv
    config = FLAGS.config
    seeds = [int(seed) for seed in FLAGS.seeds]
    per_seed = {}
    for seed in seeds:
        config.seed = seed
        workdir = Path(FLAGS.runs) / f"{config.name}-seeds" / f"seed{seed}"
        per_seed[seed] = experiment.run(config, workdir, progress=False)
    summary = summarise(per_seed)
    device = jax.devices()[0]
    machine = {
        "device": f"{device.platform}: {device.device_kind}",
        "cpu_count": os.cpu_count(),
        "processor": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
        "versions": {
            "dann_jax": dann_jax.__version__,
            "jax": jax.__version__,
            "python": platform.python_version(),
        },
        "command": " ".join(["python", "experiments/reproduce.py", *sys.argv[1:]]),
    }
    config.seed = seeds[0]
    output = Path(FLAGS.results)
    output.mkdir(parents=True, exist_ok=True)
    record = {
        "config": config.to_dict(),
        "seeds": seeds,
        "machine": machine,
        "summary": summary,
        "per_seed": per_seed,
    }
    (output / f"{config.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    markdown = (
        f"# {config.name}: mean ± std over seeds {', '.join(map(str, seeds))}\n\n"
        f"{experiment.format_table(summary)}\n\n"
        f"Machine: {machine['device']}, {machine['cpu_count']} CPU cores ({machine['processor']}); "
        f"{machine['date']}; "
        f"jax {jax.__version__}, dann_jax {dann_jax.__version__}.\n"
        f"Command: `{machine['command']}`\n"
    )
    (output / f"{config.name}.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    app.run(main)
