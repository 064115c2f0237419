"""Runs one experiment config over several seeds and writes a mean +- std table.

    python experiments/reproduce.py --seeds=0,1,2 [--config=NAME_OR_FILE] [--config.KEY=VALUE ...]
    python experiments/reproduce.py --seeds=0,1,2 --vmap   # all seeds in one program
    python experiments/reproduce.py --seeds=0,1,2,3,4 --select=8   # + checkpoint choice

Every seed gets its own run folder under ``runs/<name>-seeds-<time>/seed<k>``; the
summary, with the machine, date, library versions and the command, goes to
``experiments/results/<name>.md`` and ``.json``, with the first seed's t-SNE of the
test features (``<name>-features.png``, when the config draws figures). With
``--vmap`` the seeds train together, one compiled program per method
(``runs.run_seeds``): on an accelerator N seeds then cost about one run; the results
equal the separate runs'.

With ``--select=K`` every run keeps K evenly spaced checkpoints per method and each
label-free validator picks one (``dann select``, :mod:`dann_jax.runs.select`);
``<name>-selection.md`` and ``.json`` give, per method, the target accuracy of each
validator's pick, of the last step, of the mean of the last checkpoints and of the
oracle (target labels: reported, never chosen on), mean ± std over seeds, with each
validator's mean rank correlation with target accuracy.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

import dann_jax
from dann_jax import configs, runs
from dann_jax.evaluation import selection
from dann_jax.runs import provenance, select
from dann_jax.runs.folder import results_table
from dann_jax.runs.many import Member

ROOT = Path(__file__).resolve().parents[1]
config_flags.DEFINE_config_file("config", str(configs.config_file("default")))
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run, comma-separated.")
flags.DEFINE_string("results", str(ROOT / "experiments" / "results"), "Folder for the summary.")
flags.DEFINE_string("runs", str(ROOT / "runs"), "Folder for the per-seed run folders.")
flags.DEFINE_bool("vmap", False, "Train all seeds in one program per method (jax.vmap).")
flags.DEFINE_integer("select", 0, "Checkpoints per method for the label-free choice (0: none).")
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


def _mean_std(values: list[float]) -> list[float]:
    return [float(np.mean(values)), float(np.std(values))]


def summarise_selection(per_seed: dict[int, dict[str, dict]]) -> dict[str, dict[str, list]]:
    """method -> choice -> [mean, std] target accuracy over seeds, and the validators'
    mean rank correlation with target accuracy (None where undefined in every seed)."""
    summary = {}
    for method, first in next(iter(per_seed.values())).items():
        records = [results[method] for results in per_seed.values()]
        choices = {name: [r["picks"][name]["target_accuracy"] for r in records]
                   for name in first["picks"]}  # fmt: skip
        for key in first:
            if key in ("last", "oracle") or key.startswith("mean_of_last_"):
                choices[key] = [r[key]["target_accuracy"] for r in records]
        correlations = {}
        for name in first["picks"]:
            defined = [r["rank_correlation"][name] for r in records]
            defined = [value for value in defined if value is not None]
            correlations[name] = float(np.mean(defined)) if defined else None
        summary[method] = {
            "target_accuracy": {key: _mean_std(values) for key, values in choices.items()},
            "rank_correlation": correlations,
        }
    return summary


def paper_line(config) -> str:
    """The paper's target accuracies for the config's methods, as a line (or "")."""
    paper = config.get("paper_target_accuracy")
    if not paper:
        return ""
    figures = ", ".join(f"{method} {value}" for method, value in paper.to_dict().items())
    return f"The paper's target accuracy (its full datasets): {figures}.\n\n"


def run_name(seed: int) -> str:
    """A seed's run folder, as the many-run programs name it (``seed=<k>``)."""
    return Member((), seed).name


def main(argv: list[str]) -> None:
    del argv
    config = FLAGS.config
    seeds = [int(seed) for seed in FLAGS.seeds]
    machine = provenance.describe_machine()  # the code as it was when the runs began
    folders = Path(FLAGS.runs) / f"{config.name}-seeds-{time.strftime('%Y%m%d-%H%M%S')}"
    if FLAGS.select:
        config.checkpoint_every = max(1, config.steps // FLAGS.select)
        config.keep_checkpoints = 0
    if FLAGS.vmap:
        per_seed = runs.run_seeds(config, seeds, folders, progress=False)
    else:
        per_seed = {}
        for seed in seeds:
            config.seed = seed
            per_seed[seed] = runs.run(config, folders / run_name(seed), progress=False)
    summary = summarise(per_seed)
    if FLAGS.select:
        selections = {}
        for seed in seeds:
            selections[seed] = select.select_checkpoints(folders / run_name(seed), progress=False)
            select.write(folders / run_name(seed), selections[seed])
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
        f"{results_table(summary, config.paper_target_accuracy.to_dict())}\n\n"
        f"Machine: {machine['device']} ({machine['processor']}, {machine['cpu_count']} CPU "
        f"cores); {machine['date']}; jax {jax.__version__}, dann_jax {dann_jax.__version__}, "
        f"commit {machine['commit']}.\n"
        f"Command: `{machine['command']}`\n"
    )
    features = folders / run_name(seeds[0]) / "features.png"
    if features.exists():  # the first seed's t-SNE, as the paper's Figure 4 shows it
        shutil.copyfile(features, output / f"{config.name}-features.png")
        markdown += (
            f"\nt-SNE of the test features, source and target, seed {seeds[0]}:\n\n"
            f"![t-SNE of the test features]({config.name}-features.png)\n"
        )
    (output / f"{config.name}.md").write_text(markdown)
    print(markdown)
    if FLAGS.select:
        chosen = summarise_selection(selections)
        (output / f"{config.name}-selection.json").write_text(
            json.dumps({**record, "selection": chosen, "per_seed_selection": selections}, indent=2)
            + "\n"
        )
        text = (
            f"# {config.name}: checkpoints chosen without target labels, seeds "
            f"{', '.join(map(str, seeds))}\n\nTarget test accuracy of each choice among "
            f"{FLAGS.select} checkpoints per run (every {config.checkpoint_every} steps), mean ± "
            "std over seeds; rank corr.: the validator's Spearman correlation with target "
            "accuracy over a run's checkpoints, averaged over seeds.\n\n"
            f"{selection.seeds_table(chosen)}\n{paper_line(config)}{provenance.summary(machine)}\n"
            f"Command: `{machine['command']}`\n"
        )
        (output / f"{config.name}-selection.md").write_text(text)
        print(text)


if __name__ == "__main__":
    # --config NAME: a packaged config (sys.argv, the recorded command, stays as typed).
    app.run(main, argv=configs.with_config_file(sys.argv)[0])
