"""Many processes (hosts) in one run: joining it, and what process 0 decides for all.

In a multi-process run every process runs the same program; process 0 alone owns
the run folder. These helpers let it check that all processes were started alike,
decide for all (whether to resume, an error before training) and hand them what
only it has read (a checkpoint). In a single process each is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

PyTree = Any


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Joins this process to a multi-process JAX run; call it before any other JAX call.

    With all three arguments given (or ``JAX_COORDINATOR_ADDRESS`` in the
    environment), it connects to process 0's coordinator; with none, JAX detects
    the cluster (Cloud TPU pod slices, Slurm, Open MPI). CPU processes exchange
    collectives through gloo.

    Args:
      coordinator_address: "host:port" of process 0, the same for every process.
      num_processes: how many processes take part.
      process_id: this process's index in [0, num_processes).
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


def check_processes_agree(name: str, text: str) -> None:
    """Raises ValueError unless every process passed the same ``text`` (e.g. a config).

    A no-op in a single-process run; otherwise a collective that every process
    must reach.
    """
    if jax.process_count() == 1:
        return
    digest = np.frombuffer(hashlib.sha256(text.encode()).digest(), np.uint8)
    try:
        multihost_utils.assert_equal(digest, name)
    except AssertionError:
        raise ValueError(
            f"the {jax.process_count()} processes disagree on the {name}; start every "
            "process with the same --config file and --config.KEY=VALUE overrides."
        ) from None


def decide_in_process_zero(check: Callable[..., bool], *args: Any) -> bool:
    """``check(*args)`` run in process 0 and its answer given to every process; if it
    raises ValueError or OSError there, every process raises.

    For what process 0 alone owns (its run folder): without this, the other
    processes would go on and wait for process 0 in their first collective.
    """
    error, answer = None, False
    if jax.process_index() == 0:
        try:
            answer = bool(check(*args))
        except (OSError, ValueError) as raised:
            error = raised
    if jax.process_count() > 1:
        code = np.int32(2 if error is not None else int(answer))
        code = int(multihost_utils.broadcast_one_to_all(code))
        if code == 2 and error is None:
            raise ValueError("process 0 refused to start; its log says why.")
        answer = code == 1
    if error is not None:
        raise error
    return answer


def share_from_process_zero(tree: PyTree) -> PyTree:
    """Process 0's ``tree`` of NumPy arrays, in every process (as it is in a single process)."""
    if jax.process_count() == 1:
        return tree
    return multihost_utils.broadcast_one_to_all(tree)


def share_json_from_process_zero(value: Any) -> Any:
    """Process 0's JSON-serialisable ``value``, in every process (whose size only
    process 0 knows)."""
    if jax.process_count() == 1:
        return value
    encoded = np.frombuffer(json.dumps(value).encode(), np.uint8)
    size = int(share_from_process_zero(np.int32(encoded.size)))
    if jax.process_index() != 0:
        encoded = np.zeros(size, np.uint8)
    return json.loads(share_from_process_zero(encoded).tobytes())
