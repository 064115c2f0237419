"""What every ``dann`` command shares: one-line errors, flag parsing (absl), the config
flag (ml_collections) with its ``--config.KEY=VALUE`` overrides, the flags' help, the
compilation cache and stopping on a signal."""

from __future__ import annotations

import contextlib
import difflib
import errno
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
from absl import flags
from ml_collections import config_flags

from dann_jax import configs

DEFAULT_CONFIG = "default"
ConfigFlags = Callable[[list[str]], flags.FlagValues]


class _Stdout(logging.Handler):
    """Writes each record's message to ``sys.stdout`` as it is when the record comes (a
    test's capture, a redirect), not as it was when the handler was made."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stdout)


def report_to_stdout() -> None:
    """Shows the library's messages (what it trains, the tables it writes) on stdout: the
    library logs them (``logging.getLogger("dann_jax")``); the command prints them."""
    logger = logging.getLogger("dann_jax")
    if not any(isinstance(handler, _Stdout) for handler in logger.handlers):
        logger.addHandler(_Stdout())
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a library may have given the root logger a handler too


def wants_help(argv: list[str]) -> bool:
    """Whether ``argv`` asks for help."""
    return any(argument in ("-h", "--help", "--helpfull") for argument in argv)


def error(command: str, message: str, *, hint: bool = False) -> int:
    """Prints one error line for ``dann command``; returns the exit status 2."""
    message = " ".join(message.split())  # one line, whatever the message
    suffix = f" (dann {command} --help lists the flags)" if hint else ""
    print(f"dann {command}: error: {message}{suffix}", file=sys.stderr)
    return 2


def _describe(raised: BaseException) -> str:
    """The message of an error, unwrapped (ml_collections wraps KeyErrors in AttributeErrors),
    with a pointer to ``--config.KEY`` for a flag that is a config key."""
    while raised.args and isinstance(raised.args[0], BaseException):
        raised = raised.args[0]
    if isinstance(raised, (KeyError, AttributeError)):
        key, _, hint = str(raised.args[0]).partition("\n")  # "'key'\nDid you mean ...?"
        return f"unknown config key {key}" + (f"; {hint[0].lower()}{hint[1:]}" if hint else ".")
    unknown = re.fullmatch(r"Unknown command line flag '([\w.]+)'", str(raised))
    if unknown and unknown.group(1) in configs.KEYS:
        return f"{raised}; did you mean --config.{unknown.group(1)}?"
    if unknown:
        close = difflib.get_close_matches(unknown.group(1), list(configs.KEYS), n=1)
        return f"{raised}" + (f"; did you mean --config.{close[0]}?" if close else ".")
    return str(raised)


def describe_failure(raised: BaseException) -> str:
    """One line for an error a command met: what failed and, where it is clear, what to
    do. Any error a user can cause or meet gets this line instead of a traceback."""
    if isinstance(raised, OSError) and raised.strerror:
        where = f": {raised.filename}" if raised.filename else ""
        line = f"{raised.strerror}{where}"
        if raised.errno == errno.ENOSPC:
            return (
                f"{line}. Free some space and run the same command again (a run resumes from its "
                "last checkpoint)."
            )
        if raised.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"{line}. Pass a folder you can write (--workdir) and read (data_dir)."
        return f"{line}."
    if isinstance(raised, (ValueError, FloatingPointError, OSError)):
        return str(raised)
    return (
        f"{type(raised).__name__}: {raised} (not an error dann_jax expected; DANN_DEBUG=1 "
        "shows the traceback)"
    )


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


class StopRequest:
    """Set by the first SIGINT or SIGTERM; a second one interrupts at once."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.event = threading.Event()
        self.signal = signal.SIGINT

    def __call__(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        self.signal = signum
        print(
            f"\ndann {self.command}: stopping after the current steps (press Ctrl-C again to "
            "quit at once)",
            file=sys.stderr,
        )


@contextlib.contextmanager
def stop_on_signals(command: str) -> Iterator[StopRequest]:
    """SIGINT and SIGTERM ask the training loop to save and stop (restored after)."""
    request = StopRequest(command)
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, request) for signum in signals}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def config_flag(argv: list[str]) -> flags.FlagValues:
    """Flags holding ``--config`` (a packaged config's name or a file) and its overrides."""
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


def define_progress(flag_values: flags.FlagValues) -> None:
    """``--[no]progress``: whether to show progress bars."""
    flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=flag_values)


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


def parse_config_command(
    command: str, usage: str, make_flags: ConfigFlags, argv: list[str]
) -> flags.FlagValues | int:
    """The parsed flags of a command that takes a config (``--config`` and its
    overrides), or an exit status: 0 once the help (with the config's keys) is
    printed, 2 after an error."""
    try:
        argv, config_name = configs.with_config_file(argv, DEFAULT_CONFIG)
    except ValueError as raised:
        return error(command, str(raised), hint=True)
    config_file = configs.config_file(config_name)
    if not config_file.is_file():
        return error(
            command,
            f"config file {config_file} not found; pass --config=FILE or the name of a "
            f"packaged config: {', '.join(configs.NAMES)}, {configs.FAMILIES}.",
        )
    if wants_help(argv):
        print(usage)
        print(f"flags:\n{flags_text(make_flags([f'dann {command}']))}\n")
        print(f"config keys of {Path(config_name).stem}, with their values there:")
        print(configs.describe(configs.load(config_name)))
        return 0
    argv = [f"dann {command}", *argv]
    try:
        flag_values = make_flags(argv)
        flag_values(argv)
        flag_values.config  # noqa: B018  (loads the config: a bad override fails here)
    except (flags.Error, OSError, AttributeError, KeyError, TypeError, ValueError) as raised:
        return error(command, _describe(raised), hint=True)
    return flag_values


def parse(command: str, usage: str, flag_values: flags.FlagValues, argv: list[str]) -> list | int:
    """The positional arguments of ``argv``, or an exit status: 0 once the help is
    printed, 2 after an error."""
    if wants_help(argv):
        print(f"{usage}\nflags:\n{flags_text(flag_values)}")
        return 0
    try:
        return flag_values([f"dann {command}", *argv])[1:]
    except flags.Error as raised:
        return error(command, _describe(raised), hint=True)


def parse_run_folder_command(
    command: str, usage: str, flag_values: flags.FlagValues, argv: list[str]
) -> int | None:
    """None once the flags parse and name a run folder (``--workdir``); else the exit
    status (0 after the help, 2 after an error)."""
    parsed = parse(command, usage, flag_values, argv)
    if isinstance(parsed, int):
        return parsed
    return check_run_folder(command, flag_values.workdir)


def check_run_folder(command: str, workdir: str | None) -> int | None:
    """None when ``workdir`` names an existing folder; else one error line and status 2."""
    if not workdir:
        return error(command, "pass the run folder: --workdir DIR.")
    if not Path(workdir).is_dir():
        return error(command, f"run folder {workdir} does not exist.")
    return None


def run_folder_flags() -> flags.FlagValues:
    """``--workdir`` and ``--[no]progress``: the flags of a command on a run folder."""
    flag_values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "The run folder.", flag_values=flag_values)
    flags.DEFINE_string(
        "model",
        None,
        "The run's model, when its config names one by import path (package.module:function): "
        "a run folder is not trusted as code, so its path is imported only when given here.",
        flag_values=flag_values,
    )
    define_progress(flag_values)
    return flag_values
