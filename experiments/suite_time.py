"""Times the CI in a fresh clone of this checkout's last commit, as CI runs it.

    python experiments/suite_time.py [--clone=/tmp/dann-jax-ci]

Clones the checkout's HEAD into an empty folder and runs there, in order, the
``make`` lines of ``.ci/run`` (what CI runs: ``make test`` makes a new virtual
environment, installs, runs ruff and the quick tests; ``make test-slow`` the slow
tier; ``make docs``), timing each, then writes the wall times and pytest's summary
lines with the machine and commit to
``experiments/results/test-suite-<device>.{json,md}``. Exits with the first failing
step's status; then the log's last lines are printed, the whole log is left in the
clone (``ci-log.txt``) and no result is written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags

from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_string("clone", "/tmp/dann-jax-ci", "Folder for the clone (emptied first).")
FLAGS = flags.FLAGS
# Variables of the environment that change the timings, recorded with them.
ENVIRONMENT = ("PYTHONDONTWRITEBYTECODE", "XLA_FLAGS")
# pytest's last line, e.g. "=== 387 passed, 6 skipped in 620.31s (0:10:20) ===".
SUMMARY = re.compile(r"=+ (\d+ passed.*? in [\d.]+s.*?) =+")


def main(argv: list[str]) -> int:
    del argv
    machine = provenance.describe_machine()
    if machine["commit"].endswith("+changes"):
        print("suite_time: commit the changes first; the clone holds the last commit only.")
        return 2
    clone = Path(FLAGS.clone)
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # .ci/run is `make` lines: each is run and timed alone, in order, as CI runs them.
    steps = [line.split() for line in (clone / ".ci" / "run").read_text().splitlines()
             if line.startswith("make ")]  # fmt: skip
    timings, summaries, log = {}, {}, ""
    for step in steps:
        start = time.perf_counter()
        done = subprocess.run(step, cwd=clone, capture_output=True, text=True)
        timings[" ".join(step)] = round(time.perf_counter() - start, 1)
        log += done.stdout + done.stderr
        found = SUMMARY.findall(done.stdout + done.stderr)
        if found:
            summaries[" ".join(step)] = found[-1]
        if done.returncode != 0:
            (clone / "ci-log.txt").write_text(log)
            print(log[-6000:])
            print(
                f"suite_time: {' '.join(step)} exited with {done.returncode}; nothing written "
                f"(the whole log: {clone / 'ci-log.txt'})."
            )
            return done.returncode
    seconds = sum(timings.values())
    device = machine["device"].lower().replace(" ", "-")
    environment = {name: os.environ.get(name) for name in ENVIRONMENT}
    record = {"machine": machine, "environment": environment, "steps_s": timings,
              "pytest": summaries, "ci_wall_time_s": round(seconds, 1)}  # fmt: skip
    table = [
        "# The CI in a fresh clone (`bash .ci/run`: venv, install, ruff, tests, docs)",
        "",
        "| step of .ci/run | wall time (min) | pytest |",
        "|---|---|---|",
        *(
            f"| `{step}` | {timings[step] / 60:.1f} | {summaries.get(step, '')} |"
            for step in timings
        ),
        f"| the whole of `bash .ci/run` | {seconds / 60:.1f} | |",
        "",
        "Environment: " + ", ".join(f"{name}={value}" for name, value in environment.items()),
    ]
    print(provenance.write_result(ROOT / "experiments" / "results" / f"test-suite-{device}",
                                  record, table))  # fmt: skip
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
