"""Times the CI in a fresh clone of this checkout's last commit, as CI runs it.

    python experiments/suite_time.py [--clone=/tmp/dann-jax-ci]

Clones the checkout's HEAD into an empty folder and runs ``bash .ci/run`` there
(a new virtual environment, the install, ruff, the tests and the documentation
build), then writes the wall time and pytest's summary line with the machine and
commit to ``experiments/results/test-suite-<device>.{json,md}``. Exits with the
CI's status; on failure the log's last lines are printed, the whole log is left in
the clone (``ci-log.txt``) and no result is written.
"""

from __future__ import annotations

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
    start = time.perf_counter()
    ci = subprocess.run(["bash", ".ci/run"], cwd=clone, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = ci.stdout + ci.stderr
    found = SUMMARY.findall(log)
    if ci.returncode != 0 or not found:
        (clone / "ci-log.txt").write_text(log)
        print(log[-6000:])
        print(
            f"suite_time: bash .ci/run exited with {ci.returncode}; nothing written (the whole "
            f"log: {clone / 'ci-log.txt'})."
        )
        return ci.returncode or 1
    device = machine["device"].lower().replace(" ", "-")
    record = {"machine": machine, "pytest": found[-1], "ci_wall_time_s": round(seconds, 1)}
    table = [
        "# The CI in a fresh clone (`bash .ci/run`: venv, install, ruff, tests, docs)",
        "",
        f"pytest: {found[-1]}; the whole of `bash .ci/run`: {seconds / 60:.1f} min.",
    ]
    print(provenance.write_result(ROOT / "experiments" / "results" / f"test-suite-{device}",
                                  record, table))  # fmt: skip
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
