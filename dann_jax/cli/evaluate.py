"""``dann evaluate``: re-evaluates a finished run folder from its checkpoints."""

from __future__ import annotations

from pathlib import Path

from dann_jax.cli import common
from dann_jax.runs import evaluate, lock

USAGE = """usage: dann evaluate --workdir DIR [--noprogress]

Re-evaluates a finished run folder from its config and final checkpoints: writes
eval.json (the test scores), evaluation.json (the proxy A-distance) and features.png.
"""


def main(argv: list[str]) -> int:
    """``dann evaluate --workdir DIR``; returns the exit status."""
    flag_values = common.run_folder_flags()
    status = common.parse_run_folder_command("evaluate", USAGE, flag_values, argv)
    if status is not None:
        return status
    with lock.exclusive(flag_values.workdir):  # no run writes it meanwhile
        try:
            evaluate.evaluate_run(
                Path(flag_values.workdir), model=flag_values.model, progress=flag_values.progress
            )
        except ValueError as raised:
            return common.error("evaluate", str(raised))
    return 0
