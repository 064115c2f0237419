"""What each ``dann`` command accepts: its usage text and its flags (absl), the
config flag (ml_collections) with its ``--config.KEY=VALUE`` overrides included."""

from __future__ import annotations

import textwrap

from absl import flags
from ml_collections import config_flags

from dann_jax import checkpoint_choice, configs
from dann_jax.data import tfds_sources
from dann_jax.settings import HYPERPARAMETERS

DEFAULT_CONFIG = "default"
USAGE = """usage: dann COMMAND [FLAGS]

commands:
  train     train a config's methods and write the results into a run folder
  evaluate  re-evaluate a finished run folder from its checkpoints
  select    choose each method's checkpoint without target labels (every validator)
  sweep     train a grid of settings and seeds in one program, then choose without labels
  prepare   download and prepare a TFDS dataset as ArrayRecord files

`dann COMMAND --help` lists a command's flags; `dann --version` prints the version.
"""
TRAIN_USAGE = (
    """usage: dann train [--config NAME_OR_FILE] [--config.KEY=VALUE ...] [--workdir DIR]
                  [--overwrite] [--noprogress]
                  [--distributed | --coordinator_address HOST:PORT --num_processes N
                   --process_id I]

"""
    + textwrap.fill(
        "Trains the config's methods and writes the results into a run folder. A config "
        f"is a file or the name of a packaged one: {', '.join(configs.NAMES)}, "
        f"{configs.FAMILIES} (default: "
        f"{DEFAULT_CONFIG}, offline). Ctrl-C or SIGTERM saves the training state; the same "
        "command then resumes the run. Many hosts: start one process per host with the same "
        "config; --distributed lets JAX find the cluster (Cloud TPU, Slurm, Open MPI), or "
        "name process 0's address, the process count and this process's index. Only process "
        "0 writes the run folder.",
        width=84,
    )
    + "\n"
)
EVALUATE_USAGE = """usage: dann evaluate --workdir DIR [--noprogress]

Re-evaluates a finished run folder from its config and final checkpoints: writes
eval.json (the test scores), evaluation.json (the proxy A-distance) and features.png.
"""
SELECT_USAGE = """usage: dann select --workdir DIR [--last_k K] [--noprogress]

Scores every checkpoint of every method in a run folder with every label-free
validator and writes selection.json and selection.md: each validator's pick and its
target accuracy, the last step's, the mean of the last K checkpoints' predictions, and
the oracle's (target labels; reported, never chosen on). Train with
--config.checkpoint_every=N --config.keep_checkpoints=0 to keep the candidates.
"""
SWEEP_USAGE = (
    """usage: dann sweep [--config NAME_OR_FILE] [--config.KEY=VALUE ...]
                  [--sweep.learning_rate=V,V ...] [--sweep.domain_loss_weight=V,V ...]
                  [--sweep.gamma=V,V ...] [--seeds=S,S ...] [--runs DIR] [--candidates K]
                  [--noprogress]

"""
    + textwrap.fill(
        "Trains every combination of the swept values for every seed in one compiled "
        "program per method, each member into its own run folder under --runs with K "
        "checkpoints; scores every checkpoint with every label-free validator (dann "
        "select) and lets each validator pick a setting and a step per seed. Writes "
        "sweep.json and sweep.md: each pick's target accuracy, the oracle's (target "
        "labels; reported, never chosen on) and each setting's last step.",
        width=84,
    )
    + "\n"
)
PREPARE_USAGE = f"""usage: dann prepare NAME [--data_dir DIR] [--manual_dir DIR]

Downloads and prepares a TFDS dataset as ArrayRecord files, which training reads
without TensorFlow. Preparing needs TensorFlow: pip install 'dann_jax[prepare]'.
Datasets: {", ".join(tfds_sources.OWN_BUILDERS + tfds_sources.CATALOG)}.
"""


def config_flag(argv: list[str]) -> flags.FlagValues:
    flag_values = flags.FlagValues()
    # config_flags finds the --config.KEY overrides in the full argument list.
    config_flags.DEFINE_config_file(
        "config",
        str(configs.config_file(DEFAULT_CONFIG)),
        "A packaged config's name or a config file (ml_collections).",
        flag_values=flag_values,
        lock_config=True,
        sys_argv=argv,
    )
    return flag_values


def train_flags(argv: list[str]) -> flags.FlagValues:
    flag_values = config_flag(argv)
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


def sweep_flags(argv: list[str]) -> flags.FlagValues:
    flag_values = config_flag(argv)
    for name in HYPERPARAMETERS:
        flags.DEFINE_list(
            f"sweep.{name}", [], f"Values of {name} to try (default: the config's).",
            flag_values=flag_values,
        )  # fmt: skip
    flags.DEFINE_list(
        "seeds", [], "Seeds, each trained with every setting (default: the config's seed).",
        flag_values=flag_values,
    )  # fmt: skip
    flags.DEFINE_string(
        "runs",
        None,
        "Folder of the members' run folders; default runs/<config name>-sweep-<time>.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "candidates", 8, "Checkpoints per member, evenly spaced.", flag_values=flag_values
    )
    flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=flag_values)
    return flag_values


def evaluate_flags() -> flags.FlagValues:
    flag_values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "The run folder.", flag_values=flag_values)
    flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=flag_values)
    return flag_values


def select_flags() -> flags.FlagValues:
    flag_values = evaluate_flags()
    flags.DEFINE_integer(
        "last_k",
        checkpoint_choice.LAST_K,
        "Checkpoints in the mean-prediction convention.",
        flag_values=flag_values,
    )
    return flag_values


def prepare_flags() -> flags.FlagValues:
    flag_values = flags.FlagValues()
    flags.DEFINE_string(
        "data_dir", None, "Where to write (default ~/tensorflow_datasets).", flag_values=flag_values
    )
    flags.DEFINE_string(
        "manual_dir", None, "A folder holding the dataset's files.", flag_values=flag_values
    )
    return flag_values


def flags_text(flag_values: flags.FlagValues) -> str:
    """A command's flags, each with its default and meaning."""
    lines = []
    for name in flag_values:
        flag = flag_values[name]
        if isinstance(flag, flags.BooleanFlag):
            lines.append(f"  --[no]{name} (default: --{'' if flag.default else 'no'}{name})")
        elif name == "config":
            lines.append(f"  --config NAME_OR_FILE (default: {DEFAULT_CONFIG})")
        else:
            default = "" if flag.default is None else f" (default: {flag.default})"
            lines.append(f"  --{name}{default}")
        lines.append(f"      {flag.help}")
    return "\n".join(lines)
