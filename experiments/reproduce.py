"""Runs one experiment config over several seeds and writes a mean +- std table.

    python experiments/reproduce.py --seeds=0,1,2 [--config=NAME_OR_FILE] [--config.KEY=VALUE ...]
    python experiments/reproduce.py --seeds=0,1,2 --vmap   # all seeds in one program

Every seed gets its own run folder under ``runs/<name>-seeds-<time>/seed<k>``; the
summary, with the machine, date, library versions and the command, goes to
``experiments/results/<name>.md`` and ``.json``. With ``--vmap`` the seeds train
together, one compiled program per method (``experiment.run_seeds``): on an
accelerator N seeds then cost about one run; the results equal the separate runs'.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

import dann_jax
from dann_jax import configs, experiment, provenance, run_folder

ROOT = Path(__file__).resolve().parents[1]
config_flags.DEFINE_config_file("config", str(configs.config_file("default")))
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run, comma-separated.")
flags.DEFINE_string("results", str(ROOT / "experiments" / "results"), "Folder for the summary.")
flags.DEFINE_string("runs", str(ROOT / "runs"), "Folder for the per-seed run folders.")
flags.DEFINE_bool("vmap", False, "Train all seeds in one program per method (jax.vmap).")
FLAGS = flags.FLAGS


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
    runs = Path(FLAGS.runs) / f"{config.name}-seeds-{time.strftime('%Y%m%d-%H%M%S')}"
    if FLAGS.vmap:
        per_seed = experiment.run_seeds(config, seeds, runs, progress=False)
    else:
        per_seed = {}
        for seed in seeds:
            config.seed = seed
            per_seed[seed] = experiment.run(config, runs / f"seed{seed}", progress=False)
    summary = summarise(per_seed)
    machine = provenance.describe_machine()
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
        f"{run_folder.results_table(summary, config.paper_target_accuracy.to_dict())}\n\n"
        f"Machine: {machine['device']} ({machine['processor']}, {machine['cpu_count']} CPU "
        f"cores); {machine['date']}; jax {jax.__version__}, dann_jax {dann_jax.__version__}, "
        f"commit {machine['commit']}.\n"
        f"Command: `{machine['command']}`\n"
    )
    (output / f"{config.name}.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    # --config NAME: a packaged config (sys.argv, the recorded command, stays as typed).
    app.run(main, argv=configs.with_config_file(sys.argv)[0])
