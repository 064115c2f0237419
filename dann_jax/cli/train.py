"""``dann train``: trains a config's methods into a run folder (resumable)."""

from __future__ import annotations

import signal
import sys
import textwrap
import time
from pathlib import Path

from absl import flags

from dann_jax import configs
from dann_jax.cli import common
from dann_jax.core import distributed
from dann_jax.core.loop import Stopped
from dann_jax.runs import train

USAGE = (
    """usage: dann train [--config NAME_OR_FILE] [--config.KEY=VALUE ...] [--workdir DIR]
                  [--overwrite] [--noprogress]
                  [--distributed | --coordinator_address HOST:PORT --num_processes N
                   --process_id I]

"""
    + textwrap.fill(
        "Trains the config's methods and writes the results into a run folder. A config "
        f"is a file or the name of a packaged one: {', '.join(configs.NAMES)}, "
        f"{configs.FAMILIES} (default: "
        f"{common.DEFAULT_CONFIG}, offline). Ctrl-C or SIGTERM saves the training state; the "
        "same command then resumes the run. Many hosts: start one process per host with the "
        "same config; --distributed lets JAX find the cluster (Cloud TPU, Slurm, Open MPI), "
        "or name process 0's address, the process count and this process's index. Only "
        "process 0 writes the run folder.",
        width=84,
    )
    + "\n"
)


def define_flags(argv: list[str]) -> flags.FlagValues:
    """``dann train``'s flags: the config and its overrides, then these."""
    flag_values = common.config_flag(argv)
    flags.DEFINE_string(
        "workdir", None, "Run folder; default runs/<config name>-<time>.", flag_values=flag_values
    )
    common.define_progress(flag_values)
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


def main(argv: list[str]) -> int:
    """``dann train``: parses flags, runs the experiment; returns the exit status."""
    flag_values = common.parse_config_command("train", USAGE, define_flags, argv)
    if isinstance(flag_values, int):
        return flag_values
    config = flag_values.config
    workdir = flag_values.workdir or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if flag_values.distributed or flag_values.coordinator_address:
        try:
            distributed.initialize_distributed(
                flag_values.coordinator_address, flag_values.num_processes, flag_values.process_id
            )
        except (RuntimeError, TypeError, ValueError) as raised:
            return common.error("train", f"could not join the multi-process run: {raised}")
    common.use_compilation_cache(config.compilation_cache)
    with common.stop_on_signals("train") as stop:
        try:
            train.run(
                config,
                Path(workdir),
                progress=flag_values.progress,
                overwrite=flag_values.overwrite,
                should_stop=stop.event.is_set,
            )
        except ValueError as raised:
            return common.error("train", str(raised))
        except Stopped as stopped:
            print(
                f"dann train: {stopped} (saved in {workdir}); run the same command to resume.",
                file=sys.stderr,
            )
            return 128 + stop.signal
        except KeyboardInterrupt:
            print(
                f"dann train: interrupted; run the same command to resume {workdir} from its "
                "last checkpoint.",
                file=sys.stderr,
            )
            return 128 + signal.SIGINT
    return 0
