"""The ``dann`` command line: ``dann train``, ``evaluate``, ``select``, ``sweep``, ``predict``
and ``prepare``.

    dann train [--config NAME_OR_FILE] [--config.KEY=VALUE ...] [--workdir DIR] [--overwrite]
    dann sweep [--config NAME_OR_FILE] --sweep.learning_rate=0.01,0.003 [--seeds=0,1]
    dann COMMAND --help      # the command's flags; for train, every config key too
    dann --version

One module per command (its usage, its flags, its ``main``); what they share is
:mod:`dann_jax.cli.common`. With no arguments ``dann train`` runs the offline
default experiment (the packaged config ``default``) into ``runs/<name>-<time>``.
Errors are one line on stderr and exit status 2, whatever raised them (a full
disk, a permission, a damaged file, a diverged run; ``DANN_DEBUG=1`` shows the
traceback instead); a run stopped by Ctrl-C or SIGTERM saves its state, says so in
one line and exits with 128 + the signal's number. A command's module loads only
when the command runs.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys

import dann_jax

COMMANDS = {
    "train": "train a config's methods and write the results into a run folder",
    "evaluate": "re-evaluate a finished run folder from its checkpoints",
    "select": "choose each method's checkpoint without target labels (every validator)",
    "sweep": "train a grid of settings and seeds in one program, then choose without labels",
    "predict": "label images, arrays or a TFDS split with a run's chosen network (a CSV)",
    "prepare": "download and prepare a TFDS dataset as ArrayRecord files",
}
USAGE = (
    "usage: dann COMMAND [FLAGS]\n\ncommands:\n"
    + "".join(f"  {name:<9} {meaning}\n" for name, meaning in COMMANDS.items())
    + "\n`dann COMMAND --help` lists a command's flags; `dann --version` prints the version.\n"
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dann`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("--version", "version"):
        print(f"dann_jax {dann_jax.__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, list(COMMANDS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        choices = f"{hint}The commands: {', '.join(COMMANDS)}."
        print(f"dann: unknown command {command!r}; {choices}\n\n{USAGE}", file=sys.stderr)
        return 2
    from dann_jax.cli import common

    common.report_to_stdout()
    try:
        return importlib.import_module(f"dann_jax.cli.{command}").main(rest)
    except KeyboardInterrupt:
        print(f"dann {command}: interrupted.", file=sys.stderr)
        return 130
    except Exception as raised:
        if os.environ.get("DANN_DEBUG"):
            raise
        return common.error(command, common.describe_failure(raised))
