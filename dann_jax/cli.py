"""The ``dann`` command line.

    dann train [--config NAME_OR_FILE] [--config.KEY=VALUE ...] [--workdir DIR] [--overwrite]

With no arguments ``dann train`` runs the offline default experiment (the
packaged config ``default``) into ``runs/<name>-<time>``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jax
from absl import flags
from ml_collections import config_flags

from dann_jax import configs, experiment, parallel
from dann_jax.data import tfds_sources

DEFAULT_CONFIG = "default"
USAGE = f"""usage: dann train [--config NAME_OR_FILE] [--config.KEY=VALUE ...] [--workdir DIR]
                  [--overwrite] [--noprogress]
                  [--distributed | --coordinator_address HOST:PORT --num_processes N
                   --process_id I]

       dann evaluate --workdir DIR
       dann prepare NAME [--data_dir DIR] [--manual_dir DIR]

commands:
  train   train the config's methods and write results into a run folder; a
          config is a file or a packaged config's name: default (offline, taken
          when --config is not given), {", ".join(configs.NAMES[1:3])},
          {", ".join(configs.NAMES[3:])}
  evaluate  re-evaluate a finished run folder from its checkpoints into eval.json
  prepare download and prepare a TFDS dataset as ArrayRecord files (needs
          TensorFlow: pip install 'dann_jax[prepare]'); e.g. mnist, mnist_m,
          svhn_cropped, syn_digits, gtsrb, syn_signs (from its archive)

many hosts: start one process per host with the same config; --distributed lets
JAX find the cluster (Cloud TPU, Slurm, Open MPI), or name process 0's address,
the process count and this process's index. Only process 0 writes the run folder.
"""


def _train_flags(argv: list[str]) -> flags.FlagValues:
    flag_values = flags.FlagValues()
    # config_flags finds the --config.KEY overrides in the full argument list.
    config_flags.DEFINE_config_file(
        "config",
        str(configs.config_file(DEFAULT_CONFIG)),
        "Experiment config file (ml_collections).",
        flag_values=flag_values,
        lock_config=True,
        sys_argv=argv,
    )
    flags.DEFINE_string(
        "workdir", None, "Run folder; default runs/<config name>-<time>.", flag_values=flag_values
    )
    flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=flag_values)
    flags.DEFINE_bool(
        "overwrite",
        False,
        "Replace a run already in --workdir (its files only) instead of refusing or resuming.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "distributed",
        False,
        "Join a multi-process run, detected by JAX (Cloud TPU, Slurm, Open MPI).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "coordinator_address",
        None,
        "Multi-process run: process 0's host:port (or JAX_COORDINATOR_ADDRESS).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "num_processes", None, "Multi-process run: the process count.", flag_values=flag_values
    )
    flags.DEFINE_integer(
        "process_id", None, "Multi-process run: this process's index.", flag_values=flag_values
    )
    return flag_values


def _describe(error: BaseException) -> str:
    """The message of an error, unwrapped (ml_collections wraps KeyErrors in AttributeErrors)."""
    while error.args and isinstance(error.args[0], BaseException):
        error = error.args[0]
    if isinstance(error, (KeyError, AttributeError)):
        return f"unknown config key {error.args[0]}"
    return str(error)


def use_compilation_cache(setting: str) -> None:
    """Turns on JAX's persistent compilation cache in the folder ``setting`` names:
    "auto" is ``$XDG_CACHE_HOME/dann_jax/jax`` (``~/.cache/dann_jax/jax``), "" none.
    A second ``dann train`` then loads its compiled programs instead of compiling."""
    if not setting:
        return
    if setting == "auto":
        cache_home = os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
        setting = str(Path(cache_home) / "dann_jax" / "jax")
    jax.config.update("jax_compilation_cache_dir", setting)
    # Programs that compile in under a tenth of a second are not worth a file read.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


def train(argv: list[str]) -> int:
    """``dann train``: parses flags, runs the experiment; returns the exit status."""
    argv, config_file = configs.with_config_file(argv, DEFAULT_CONFIG)
    if not config_file.is_file():
        print(
            f"dann train: error: config file {config_file} not found; pass --config=FILE or "
            f"the name of a packaged config: {', '.join(configs.NAMES)}.",
            file=sys.stderr,
        )
        return 2
    argv = ["dann train", *argv]
    try:
        flag_values = _train_flags(argv)
        flag_values(argv)
        config = flag_values.config
        workdir = flag_values.workdir or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    except (flags.Error, OSError, AttributeError, KeyError, TypeError, ValueError) as error:
        print(f"dann train: error: {_describe(error)}\n\n{USAGE}", file=sys.stderr)
        return 2
    if flag_values.distributed or flag_values.coordinator_address:
        try:
            parallel.initialize_distributed(
                flag_values.coordinator_address, flag_values.num_processes, flag_values.process_id
            )
        except (RuntimeError, TypeError, ValueError) as error:
            print(
                f"dann train: error: could not join the multi-process run: {error}", file=sys.stderr
            )
            return 2
    use_compilation_cache(config.compilation_cache)
    try:
        experiment.run(
            config, Path(workdir), progress=flag_values.progress, overwrite=flag_values.overwrite
        )
    except ValueError as error:
        print(f"dann train: error: {error}", file=sys.stderr)
        return 2
    return 0


def evaluate(argv: list[str]) -> int:
    """``dann evaluate --workdir DIR``: re-evaluates a run folder; returns the exit status."""
    flag_values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "The run folder.", flag_values=flag_values)
    flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=flag_values)
    try:
        flag_values(["dann evaluate", *argv])
    except flags.Error as error:
        print(f"dann evaluate: error: {error}\n\n{USAGE}", file=sys.stderr)
        return 2
    if not flag_values.workdir:
        print(f"dann evaluate: error: pass --workdir DIR.\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        experiment.evaluate_run(Path(flag_values.workdir), progress=flag_values.progress)
    except ValueError as error:
        print(f"dann evaluate: error: {error}", file=sys.stderr)
        return 2
    return 0


def prepare(argv: list[str]) -> int:
    """``dann prepare NAME``: downloads and prepares a TFDS dataset; returns the exit status."""
    flag_values = flags.FlagValues()
    flags.DEFINE_string(
        "data_dir", None, "Where to write (default ~/tensorflow_datasets).", flag_values=flag_values
    )
    flags.DEFINE_string(
        "manual_dir", None, "A folder holding the dataset's archives.", flag_values=flag_values
    )
    try:
        names = flag_values(["dann prepare", *argv])[1:]
    except flags.Error as error:
        print(f"dann prepare: error: {error}\n\n{USAGE}", file=sys.stderr)
        return 2
    if len(names) != 1:
        print(f"dann prepare: error: name one dataset.\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        folder = tfds_sources.prepare(names[0], flag_values.data_dir, flag_values.manual_dir)
    except (ImportError, ValueError) as error:
        print(f"dann prepare: error: {error}", file=sys.stderr)
        return 2
    print(f"Prepared {names[0]} in {folder}")
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
    if command == "prepare":
        return prepare(rest)
    if command == "evaluate":
        return evaluate(rest)
    print(f"dann: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
