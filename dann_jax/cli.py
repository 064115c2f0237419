"""The ``dann`` command line.

    dann train [--config FILE] [--config.KEY=VALUE ...] [--workdir DIR]

With no arguments ``dann train`` runs the offline default experiment
(``experiments/configs/default.py``) into ``runs/<name>-<time>``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from dann_jax import experiment

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "default.py"
USAGE = """usage: dann train [--config FILE] [--config.KEY=VALUE ...] [--workdir DIR] [--noprogress]

commands:
  train   train the config's methods and write results into a run folder
          (default config: experiments/configs/default.py, offline)
"""


def _train_flags() -> flags.FlagValues:
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", str(DEFAULT_CONFIG), "Experiment config file (ml_collections).",
        flag_values=flag_values, lock_config=True,
    )
    flags.DEFINE_string(
        "workdir", None, "Run folder; default runs/<config name>-<time>.", flag_values=flag_values
    )
    flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=flag_values)
    return flag_values


def train(argv: list[str]) -> int:
    """``dann train``: parses flags, runs the experiment; returns the exit status."""
    flag_values = _train_flags()
    try:
        flag_values(["dann train", *argv])
        config = flag_values.config
    except (flags.Error, FileNotFoundError, AttributeError, TypeError, ValueError) as error:
        print(f"dann train: error: {error}\n\n{USAGE}", file=sys.stderr)
        return 2
    workdir = flag_values.workdir or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        experiment.run(config, Path(workdir), progress=flag_values.progress)
    except ValueError as error:
        print(f"dann train: error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dann`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        return train(rest)
    print(f"dann: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
