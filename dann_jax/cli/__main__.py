"""``python -m dann_jax.cli``: the ``dann`` command, for where the console script is not
on the path (a process started by tests, a cluster's launcher)."""

import sys

from dann_jax.cli import main

sys.exit(main())
