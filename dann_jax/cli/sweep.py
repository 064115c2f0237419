"""``dann sweep``: a grid of settings and seeds in one program, chosen without labels."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from absl import flags

from dann_jax.cli import common
from dann_jax.core.settings import HYPERPARAMETERS
from dann_jax.evaluation import selection
from dann_jax.runs import sweep

USAGE = (
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


def define_flags(argv: list[str]) -> flags.FlagValues:
    """``dann sweep``'s flags: the config and its overrides, the grid, then these."""
    flag_values = common.config_flag(argv)
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
    common.define_progress(flag_values)
    return flag_values


def _numbers(flag_values: flags.FlagValues, name: str, kind: type) -> list:
    """The comma-separated values of a list flag, as numbers (ValueError naming the flag)."""
    try:
        return [kind(value) for value in flag_values[name].value]
    except ValueError:
        raise ValueError(
            f"--{name} takes comma-separated numbers, not {','.join(flag_values[name].value)}."
        ) from None


def main(argv: list[str]) -> int:
    """``dann sweep``: trains a grid in one program and picks without target labels;
    returns the exit status."""
    flag_values = common.parse_config_command("sweep", USAGE, define_flags, argv)
    if isinstance(flag_values, int):
        return flag_values
    config = flag_values.config
    try:
        values = {
            name: _numbers(flag_values, f"sweep.{name}", float)
            for name in HYPERPARAMETERS
            if flag_values[f"sweep.{name}"].value
        }
        seeds = _numbers(flag_values, "seeds", int) or [config.seed]
    except ValueError as raised:
        return common.error("sweep", str(raised), hint=True)
    runs = flag_values.runs or f"runs/{config.name}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    common.use_compilation_cache(config.compilation_cache)
    try:
        result = sweep.run_sweep(
            config, values, seeds, runs,
            candidates=flag_values.candidates, progress=flag_values.progress,
        )  # fmt: skip
    except ValueError as raised:
        return common.error("sweep", str(raised))
    print(selection.seeds_table(result["summary"]), end="")
    print(f"Wrote {Path(runs) / 'sweep.json'}, sweep.md and a run folder per member.")
    return 0
