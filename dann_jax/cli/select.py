"""``dann select``: picks each method's checkpoint without target labels."""

from __future__ import annotations

from pathlib import Path

from absl import flags

from dann_jax.cli import common
from dann_jax.evaluation import selection, validators
from dann_jax.runs import lock, select

USAGE = """usage: dann select --workdir DIR [--validator NAME] [--last_k K] [--noprogress]

Scores every checkpoint of every method in a run folder with every label-free
validator; each validator picks one, and --validator's pick is the method's chosen
checkpoint (dann predict uses it). Writes selection.json and selection.md. Where the
target has labels, each pick's target accuracy is reported beside it, with the last
step's, the mean of the last K checkpoints' predictions and the oracle's (target
labels; reported, never chosen on); an unlabelled target gets the picks alone. Train
with --config.checkpoint_every=N --config.keep_checkpoints=0 to keep the candidates.
"""


def define_flags() -> flags.FlagValues:
    """``dann select``'s flags: the run folder's, and ``--last_k``."""
    flag_values = common.run_folder_flags()
    flags.DEFINE_enum(
        "validator",
        selection.RECOMMENDED,
        list(validators.VALIDATORS),
        "The validator whose pick is the chosen checkpoint (default: the recommended one).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "last_k",
        selection.LAST_K,
        "Checkpoints in the mean-prediction convention.",
        flag_values=flag_values,
    )
    return flag_values


def main(argv: list[str]) -> int:
    """``dann select --workdir DIR``; returns the exit status."""
    flag_values = define_flags()
    status = common.parse_run_folder_command("select", USAGE, flag_values, argv)
    if status is not None:
        return status
    with lock.exclusive(flag_values.workdir):  # no run writes it meanwhile
        try:
            results = select.select_checkpoints(
                flag_values.workdir,
                last_k=flag_values.last_k,
                validator=flag_values.validator,
                model=flag_values.model,
                progress=flag_values.progress,
            )
        except ValueError as raised:
            return common.error("select", str(raised))
        select.write(flag_values.workdir, results)
    print(select.report(results), end="")
    print(f"Wrote {Path(flag_values.workdir) / 'selection.json'} and selection.md.")
    return 0
