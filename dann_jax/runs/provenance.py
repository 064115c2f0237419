"""Where and how a result was measured: the record every committed result file carries."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import jax

import dann_jax
from dann_jax.runs import files


def _commit() -> str:
    """The git commit of the dann_jax checkout in use ("+changes" if it has uncommitted
    changes), or "" outside a checkout."""
    root = Path(dann_jax.__file__).resolve().parents[1]

    def git(*arguments: str) -> str:
        command = ["git", "-C", str(root), *arguments]
        process = subprocess.run(command, capture_output=True, text=True)
        return process.stdout.strip() if process.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    changed = commit and git("status", "--porcelain", "--", "dann_jax")
    return commit + ("+changes" if changed else "")


def describe_machine() -> dict:
    """Where and how a result was measured: device, CPU, date, versions, commit, command line."""
    device = jax.devices()[0]
    processor = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        processor = names[0].split(":", 1)[1].strip() if names else processor
    return {
        "device": device.device_kind if device.platform != "cpu" else f"{os.cpu_count()} CPU cores",
        "processor": processor,
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "versions": {
            "dann_jax": dann_jax.__version__,
            "jax": jax.__version__,
            "python": platform.python_version(),
        },
        "commit": _commit(),
        "command": _command(),
    }


def _speed_variables() -> list[str]:
    """The set environment variables that change the speed of the same command: XLA's
    flags and glibc's allocator settings (``GLIBC_TUNABLES``, ``MALLOC_*``; on a CPU
    they decide whether each dispatch's scratch memory is mapped anew, BENCHMARKS.md)."""
    names = sorted(name for name in os.environ if name.startswith("MALLOC_"))
    names = ["GLIBC_TUNABLES", *names, "XLA_FLAGS"]
    return [name for name in names if os.environ.get(name)]


def _command() -> str:
    """The command line as typed: ``dann ...`` for the console script, else ``python ...``;
    preceded by the environment variables that change its speed (:func:`_speed_variables`)."""
    words = ["dann", *sys.argv[1:]] if Path(sys.argv[0]).name == "dann" else ["python", *sys.argv]
    settings = [f"{name}={shlex.quote(os.environ[name])}" for name in _speed_variables()]
    return " ".join([*settings, *words])


def summary(machine: dict) -> str:
    """One line of :func:`describe_machine`'s record for a result table's footer."""
    versions = machine["versions"]
    return (
        f"Machine: {machine['device']} ({machine['processor']}); {machine['date']}; "
        f"jax {versions['jax']}, dann_jax {versions['dann_jax']}, commit {machine['commit']}."
    )


def write_result(stem: Path, record: dict, table: list[str]) -> str:
    """Writes a result: ``record`` (with its ``"machine"``, :func:`describe_machine`'s)
    as ``<stem>.json`` and ``table`` (markdown lines) followed by the machine and
    command as ``<stem>.md``. Returns the markdown."""
    machine = record["machine"]
    files.write_json(stem.with_suffix(".json"), record)
    text = "\n".join([*table, "", summary(machine), f"Command: `{machine['command']}`", ""])
    files.write_text(stem.with_suffix(".md"), text)
    return text
