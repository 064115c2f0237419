"""One process of a multi-process ``fit``; tests/core/test_launchers.py starts two.

    python tests/distributed_fit.py ADDRESS PROCESS_ID OUTPUT.npz

Every process passes the same arrays and seed; each gathers only its rows of
every global batch. Process 0 saves the final params of each launcher and input
mode it tried, keyed "<input_mode>-<parallel>-<leaf index>".
"""

from __future__ import annotations

import sys

import numpy as np

from dann_jax.core import distributed

RUNS = (("stream", "shard_map"), ("device", "shard_map"), ("stream", "pmap"))


def tiny_domains() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two shifted Gaussian blobs per domain, 2-D, the same in every process."""
    rng = np.random.default_rng(7)
    labels = rng.integers(2, size=64).astype(np.int32)
    source = rng.normal(size=(64, 2)).astype(np.float32) + labels[:, None]
    target = rng.normal(size=(64, 2)).astype(np.float32) + 1.5
    return source, labels, target


def fit(input_mode: str, launcher: str):
    import dann_jax

    source, labels, target = tiny_domains()
    return dann_jax.fit(
        source,
        labels,
        target,
        model="shallow",
        steps=12,
        batch_size=16,
        input_mode=input_mode,
        parallel=launcher,
        steps_per_dispatch=4,
        log_every=6,
        progress=False,
    )


def main(address: str, process_id: str, output: str) -> None:
    distributed.initialize_distributed(address, 2, int(process_id))
    import jax

    saved = {}
    for input_mode, launcher in RUNS:
        leaves = jax.tree.leaves(fit(input_mode, launcher).params)
        saved |= {f"{input_mode}-{launcher}-{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    if jax.process_index() == 0:
        np.savez(output, **saved)


if __name__ == "__main__":
    main(*sys.argv[1:])
