"""The guide's recipe for your own images, run as written and scored on the labels it leaves out.

    python experiments/own_images_check.py [--seeds=0]

For each seed: makes the recipe's folders (docs/guide/own_images.md: scikit-learn's
digits as the labelled source, other digits blended with photo patches as the
unlabelled target), runs its three commands (``dann train --config image_folders``,
``dann select``, ``dann predict``) in a temporary folder, timing each, and scores the
CSV's classes against the target's labels, which the recipe never writes (the
predictions of source-only's last checkpoint beside them). Writes
``experiments/results/own-images-recipe.{json,md}``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import app, flags
from PIL import Image

import dann_jax
from dann_jax import cli
from dann_jax.data import load_domains
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guide" / "own_images.md"
flags.DEFINE_list("seeds", ["0"], "Seeds of the folders' data (the recipe's is 0).")
FLAGS = flags.FLAGS


def recipe() -> tuple[str, list[list[str]]]:
    """The page's Python (which makes the folders) and its three commands."""
    page = PAGE.read_text()
    (python,) = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    section = page.split("## Train, choose, predict", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL).group(1)
    return python, [line.split()[1:] for line in block.replace("\\\n", " ").splitlines()]


def one_seed(seed: int, folder: Path) -> dict:
    python, commands = recipe()
    os.chdir(folder)
    exec(python.replace("seed=0", f"seed={seed}"), {})
    seconds = {}
    for command in commands:
        start = time.perf_counter()
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            status = cli.main([*command, "--noprogress"])
        seconds[command[0]] = round(time.perf_counter() - start, 1)
        if status:
            raise RuntimeError(f"`dann {' '.join(command)}` exited with {status}")
    labels = load_domains("digits_to_blended_digits", seed=seed).target_train.labels
    with open("predictions.csv") as file:
        predicted = np.array([int(row["class"]) for row in csv.DictReader(file)])
    baseline = dann_jax.load_trained("runs/mine", method="source_only")
    paths = sorted(Path("my_images/photos").iterdir())
    images = np.stack([np.asarray(Image.open(path)) for path in paths])
    return {
        "seconds": seconds,
        "dann_chosen_accuracy": float(np.mean(predicted == labels)),
        "source_only_last_accuracy": float(np.mean(baseline.predict(images) == labels)),
    }


def main(argv: list[str]) -> int:
    del argv
    machine = provenance.describe_machine()
    here = Path.cwd()
    per_seed = {}
    for seed in map(int, FLAGS.seeds):
        with tempfile.TemporaryDirectory() as folder:
            per_seed[seed] = one_seed(seed, Path(folder))
        os.chdir(here)
    record = {"machine": machine, "per_seed": per_seed}
    lines = [
        "# The own-images recipe (docs/guide/own_images.md), scored on the labels it leaves out",
        "",
        "| seed | dann train (s) | dann select (s) | dann predict (s) | DANN, chosen checkpoint "
        "| source-only, last |",
        "|---|---|---|---|---|---|",
    ]
    for seed, result in per_seed.items():
        times = result["seconds"]
        lines.append(
            f"| {seed} | {times['train']} | {times['select']} | {times['predict']} | "
            f"{result['dann_chosen_accuracy']:.3f} | {result['source_only_last_accuracy']:.3f} |"
        )
    lines += [
        "",
        "Accuracy of the predicted classes on the 450 unlabelled target images (transductive: "
        "they were trained on, without their labels).",
    ]
    out = ROOT / "experiments" / "results" / "own-images-recipe"
    print(provenance.write_result(out, record, lines))
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
