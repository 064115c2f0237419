"""Chooses a training setting by reverse validation: no target label is read.

    python experiments/reverse_validation.py [--config=NAME_OR_FILE] --learning_rates=0.01,0.003 \\
        [--adaptations=annealed,constant] [--config.KEY=VALUE ...]

Every combination of the listed learning rates and lambda schedules is scored
with :func:`dann_jax.evaluation.reverse_validation.reverse_validation` on the config's training
domains (in-memory datasets: the offline ones and mnist_local); the table goes
to ``experiments/results/<name>-selection.md`` and ``.json``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from dann_jax import configs
from dann_jax.evaluation import reverse_validation
from dann_jax.runs import provenance
from dann_jax.runs.data import load_data
from dann_jax.runs.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
config_flags.DEFINE_config_file("config", str(configs.config_file("default")))
flags.DEFINE_list("learning_rates", ["0.01", "0.003"], "mu_0 candidates.")
flags.DEFINE_list("adaptations", ["annealed"], "lambda schedule candidates.")
flags.DEFINE_string("results", str(ROOT / "experiments" / "results"), "Folder for the table.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    config = FLAGS.config
    domains = load_data(make_plan(config)).offline
    if domains is None:
        raise app.UsageError("needs an in-memory dataset (offline or mnist_local).")
    candidates = {
        f"lr={rate}, {adaptation}": {"learning_rate": float(rate), "adaptation": adaptation}
        for rate, adaptation in itertools.product(FLAGS.learning_rates, FLAGS.adaptations)
    }
    best, scores = reverse_validation.pick_setting(
        candidates,
        domains.source_train.inputs,
        domains.source_train.labels,
        domains.target_train.inputs,
        model=config.model,
        steps=config.steps,
        batch_size=config.batch_size,
        seed=config.seed,
        method="dann",
        progress=False,
    )
    machine = provenance.describe_machine()
    lines = [
        "| candidate | reverse validation accuracy | source validation accuracy |",
        "|---|---|---|",
        *(
            f"| {name}{' (chosen)' if name == best else ''} | "
            f"{s['reverse_validation_accuracy']:.3f} | {s['source_validation_accuracy']:.3f} |"
            for name, s in scores.items()
        ),
        "",
        f"{config.name}, seed {config.seed}, {config.steps} steps per training; no target "
        f"label read. {machine['date']}; {machine['device']}; jax {machine['versions']['jax']}.",
        f"Command: `{machine['command']}`",
    ]
    table = "\n".join(lines)
    print(table)
    output = Path(FLAGS.results)
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{config.name}-selection.md").write_text(table + "\n")
    record = {"best": best, "scores": scores, "machine": machine, "config": config.to_dict()}
    (output / f"{config.name}-selection.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    # --config NAME: a packaged config (sys.argv, the recorded command, stays as typed).
    app.run(main, argv=configs.with_config_file(sys.argv)[0])
