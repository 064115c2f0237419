"""What the default run draws, for the guide: its t-SNE and training-curve plots.

    python experiments/default_run_plots.py [--output=docs/guide/images/default-run]

Runs ``dann train`` on the offline default (seed 0) into a temporary run folder and
copies its ``features.png``, ``training_curves.png`` and ``results.md`` into
``--output``, with ``provenance.md`` beside them: the machine, date, commit, command
and the run's wall time (data, compilation, both methods' training, evaluation: the
time ``make demo`` takes once installed). ``docs/guide/results.md`` shows them.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

from dann_jax import configs
from dann_jax.runs import provenance, train

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_string(
    "output", str(ROOT / "docs" / "guide" / "images" / "default-run"), "Folder for the plots."
)
FLAGS = flags.FLAGS
FILES = ("features.png", "training_curves.png", "results.md")


def main(argv: list[str]) -> int:
    del argv
    machine = provenance.describe_machine()  # the code as it was when the run began
    output = Path(FLAGS.output)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch) / "default"
        start = time.perf_counter()
        train.run(configs.load("default"), workdir, progress=False)
        seconds = time.perf_counter() - start
        for name in FILES:
            shutil.copy(workdir / name, output / name)
    (output / "provenance.md").write_text(
        "The default run's plots and results (`dann train`, the offline default, seed 0): "
        f"{seconds:.0f} s from start to results (data, compilation, training both methods, "
        "evaluation).\n\n"
        f"{provenance.summary(machine)}\nCommand: `{machine['command']}`\n"
    )
    print(f"Wrote {', '.join(FILES)} and provenance.md into {output}.")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
