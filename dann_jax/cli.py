"""The ``dann`` command line: ``dann train``, ``evaluate``, ``select``, ``sweep`` and ``prepare``.

    dann train [--config NAME_OR_FILE] [--config.KEY=VALUE ...] [--workdir DIR] [--overwrite]
    dann sweep [--config NAME_OR_FILE] --sweep.learning_rate=0.01,0.003 [--seeds=0,1]
    dann COMMAND --help      # the command's flags; for train, every config key too
    dann --version

With no arguments ``dann train`` runs the offline default experiment (the
packaged config ``default``) into ``runs/<name>-<time>``. Errors are one line
on stderr and exit status 2; a run stopped by Ctrl-C or SIGTERM saves its
state, says so in one line and exits with 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
from absl import flags

import dann_jax
from dann_jax import checkpoint_choice, cli_flags, configs, experiment, parallel
from dann_jax import sweep as sweeping
from dann_jax.data import prepare as preparing
from dann_jax.loop import Stopped
from dann_jax.settings import HYPERPARAMETERS


def _wants_help(argv: list[str]) -> bool:
    return any(argument in ("-h", "--help", "--helpfull") for argument in argv)


def _error(command: str, message: str, *, hint: bool = False) -> int:
    """Prints one error line for ``dann command``; returns the exit status 2."""
    message = " ".join(message.split())  # one line, whatever the message
    suffix = f" (dann {command} --help lists the flags)" if hint else ""
    print(f"dann {command}: error: {message}{suffix}", file=sys.stderr)
    return 2


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


class _StopRequest:
    """Set by the first SIGINT or SIGTERM; a second one interrupts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal = signal.SIGINT

    def __call__(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        self.signal = signum
        print(
            "\ndann train: stopping after the current steps (press Ctrl-C again to quit at once)",
            file=sys.stderr,
        )


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[_StopRequest]:
    """SIGINT and SIGTERM ask the training loop to save and stop (restored after)."""
    request = _StopRequest()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, request) for signum in signals}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _parse_config_command(
    command: str,
    usage: str,
    make_flags: Callable[[list[str]], flags.FlagValues],
    argv: list[str],
) -> flags.FlagValues | int:
    """The parsed flags of a command that takes a config (``--config`` and its
    overrides), or an exit status: 0 once the help (with the config's keys) is
    printed, 2 after an error."""
    argv, config_name = configs.with_config_file(argv, cli_flags.DEFAULT_CONFIG)
    config_file = configs.config_file(config_name)
    if not config_file.is_file():
        return _error(
            command,
            f"config file {config_file} not found; pass --config=FILE or the name of a "
            f"packaged config: {', '.join(configs.NAMES)}, {configs.FAMILIES}.",
        )
    if _wants_help(argv):
        print(usage)
        print(f"flags:\n{cli_flags.flags_text(make_flags([f'dann {command}']))}\n")
        print(f"config keys of {Path(config_name).stem}, with their values there:")
        print(configs.describe(configs.load(config_name)))
        return 0
    argv = [f"dann {command}", *argv]
    try:
        flag_values = make_flags(argv)
        flag_values(argv)
        flag_values.config  # noqa: B018  (loads the config: a bad override fails here)
    except (flags.Error, OSError, AttributeError, KeyError, TypeError, ValueError) as error:
        return _error(command, _describe(error), hint=True)
    return flag_values


def train(argv: list[str]) -> int:
    """``dann train``: parses flags, runs the experiment; returns the exit status."""
    flag_values = _parse_config_command("train", cli_flags.TRAIN_USAGE, cli_flags.train_flags, argv)
    if isinstance(flag_values, int):
        return flag_values
    config = flag_values.config
    workdir = flag_values.workdir or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if flag_values.distributed or flag_values.coordinator_address:
        try:
            parallel.initialize_distributed(
                flag_values.coordinator_address, flag_values.num_processes, flag_values.process_id
            )
        except (RuntimeError, TypeError, ValueError) as error:
            return _error("train", f"could not join the multi-process run: {error}")
    use_compilation_cache(config.compilation_cache)
    with _stop_on_signals() as stop:
        try:
            experiment.run(
                config,
                Path(workdir),
                progress=flag_values.progress,
                overwrite=flag_values.overwrite,
                should_stop=stop.event.is_set,
            )
        except ValueError as error:
            return _error("train", str(error))
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


def _parse(
    command: str, usage: str, flag_values: flags.FlagValues, argv: list[str]
) -> list[str] | int:
    """The positional arguments of ``argv``, or an exit status: 0 once the help is
    printed, 2 after an error."""
    if _wants_help(argv):
        print(f"{usage}\nflags:\n{cli_flags.flags_text(flag_values)}")
        return 0
    try:
        return flag_values([f"dann {command}", *argv])[1:]
    except flags.Error as error:
        return _error(command, str(error), hint=True)


def _parse_run_folder_command(
    command: str, usage: str, flag_values: flags.FlagValues, argv: list[str]
) -> int | None:
    """None once the flags parse and name a run folder (``--workdir``); else the exit
    status (0 after the help, 2 after an error)."""
    parsed = _parse(command, usage, flag_values, argv)
    if isinstance(parsed, int):
        return parsed
    if not flag_values.workdir:
        return _error(command, "pass the run folder: --workdir DIR.")
    return None


def evaluate(argv: list[str]) -> int:
    """``dann evaluate --workdir DIR``: re-evaluates a run folder; returns the exit status."""
    flag_values = cli_flags.evaluate_flags()
    status = _parse_run_folder_command("evaluate", cli_flags.EVALUATE_USAGE, flag_values, argv)
    if status is not None:
        return status
    try:
        experiment.evaluate_run(Path(flag_values.workdir), progress=flag_values.progress)
    except ValueError as error:
        return _error("evaluate", str(error))
    return 0


def select(argv: list[str]) -> int:
    """``dann select --workdir DIR``: chooses checkpoints without target labels; returns the
    exit status."""
    flag_values = cli_flags.select_flags()
    status = _parse_run_folder_command("select", cli_flags.SELECT_USAGE, flag_values, argv)
    if status is not None:
        return status
    try:
        results = checkpoint_choice.select_checkpoints(
            flag_values.workdir, last_k=flag_values.last_k, progress=flag_values.progress
        )
    except ValueError as error:
        return _error("select", str(error))
    checkpoint_choice.write(flag_values.workdir, results)
    print(checkpoint_choice.selection_table(results), end="")
    print(f"Wrote {Path(flag_values.workdir) / 'selection.json'} and selection.md.")
    return 0


def _numbers(flag_values: flags.FlagValues, name: str, kind: type) -> list:
    """The comma-separated values of a list flag, as numbers (ValueError naming the flag)."""
    try:
        return [kind(value) for value in flag_values[name].value]
    except ValueError:
        raise ValueError(
            f"--{name} takes comma-separated numbers, not {','.join(flag_values[name].value)}."
        ) from None


def sweep(argv: list[str]) -> int:
    """``dann sweep``: trains a grid in one program and chooses without target labels;
    returns the exit status."""
    flag_values = _parse_config_command("sweep", cli_flags.SWEEP_USAGE, cli_flags.sweep_flags, argv)
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
    except ValueError as error:
        return _error("sweep", str(error), hint=True)
    runs = flag_values.runs or f"runs/{config.name}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    use_compilation_cache(config.compilation_cache)
    try:
        result = sweeping.run_sweep(
            config, values, seeds, runs,
            candidates=flag_values.candidates, progress=flag_values.progress,
        )  # fmt: skip
    except ValueError as error:
        return _error("sweep", str(error))
    print(checkpoint_choice.seeds_table(result["summary"]), end="")
    print(f"Wrote {Path(runs) / 'sweep.json'}, sweep.md and a run folder per member.")
    return 0


def prepare(argv: list[str]) -> int:
    """``dann prepare NAME``: downloads and prepares a TFDS dataset; returns the exit status."""
    flag_values = cli_flags.prepare_flags()
    names = _parse("prepare", cli_flags.PREPARE_USAGE, flag_values, argv)
    if isinstance(names, int):
        return names
    if len(names) != 1:
        return _error("prepare", "name one dataset, e.g. dann prepare mnist.", hint=True)
    try:
        folder = preparing.prepare(names[0], flag_values.data_dir, flag_values.manual_dir)
    except (ImportError, ValueError) as error:
        return _error("prepare", str(error))
    print(f"Prepared {names[0]} in {folder}")
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": train,
    "evaluate": evaluate,
    "select": select,
    "sweep": sweep,
    "prepare": prepare,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dann`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("--version", "version"):
        print(f"dann_jax {dann_jax.__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(cli_flags.USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        choices = f"choose one of {tuple(COMMANDS)}"
        print(
            f"dann: unknown command {command!r}; {choices}.\n\n{cli_flags.USAGE}", file=sys.stderr
        )
        return 2
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())
