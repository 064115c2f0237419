"""What a new user gets from ``fit`` with a network's default settings, and what a
BatchNorm + dropout network gets under each launcher.

    python experiments/network_defaults.py [--seeds=0,1,2]

1. ``fit(model="shallow")`` on two-moons with a rotated target (dann_jax's offline
   ``moons``: disjoint train and test samples, accuracy on the held-out target test
   sample), with no settings, and with the call a new user tried
   (``steps=5000, batch_size=32``), source-only and DANN, one run per seed.
2. The same data through a small BatchNorm + dropout network with ``fit`` under none,
   pmap and shard_map on 8 faked CPU devices, 3,000 steps of 16 + 16, with the toy
   problem's settings (the shallow network's defaults: constant lambda, weight 12,
   learning rate 0.05 without momentum).

Writes ``experiments/results/network-defaults.{json,md}`` with the machine, date,
commit and command. Nothing is chosen on target labels: every figure is the last step's.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import time
from pathlib import Path

import flax.linen as nn
import numpy as np
from absl import app, flags

import dann_jax
from dann_jax.core.settings import NETWORK_DEFAULTS
from dann_jax.data.offline import moons
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (data, initialisation, batch order).")
FLAGS = flags.FLAGS
METHODS = ("source_only", "dann")
TOY_SETTINGS = {
    name: value
    for name, value in NETWORK_DEFAULTS["shallow"].items()
    if name not in ("steps", "batch_size", "parallel", "log_every", "steps_per_dispatch")
}


class BatchNormDropout(nn.Module):
    """(N, 2) -> (N, 32): dense, BatchNorm, ReLU, dropout 0.1."""

    @nn.compact
    def __call__(self, inputs, train: bool = False):
        x = nn.BatchNorm(use_running_average=not train)(nn.Dense(32)(inputs))
        return nn.Dropout(0.1, deterministic=not train)(nn.relu(x))


def target_accuracy(trained, domains) -> float:
    predictions = trained.predict(domains.target_test.inputs)
    return float(np.mean(predictions == domains.target_test.labels))


def run(domains, seed: int, method: str, **settings) -> dict:
    start = time.perf_counter()
    trained = dann_jax.fit(
        domains.source_train.inputs,
        domains.source_train.labels,
        domains.target_train.inputs,
        seed=seed,
        method=method,
        progress=False,
        **settings,
    )
    return {
        "target_accuracy": target_accuracy(trained, domains),
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()  # the code as it was when the runs began
    seeds = [int(seed) for seed in FLAGS.seeds]
    cases = {
        'fit(model="shallow")': {"model": "shallow"},
        'fit(model="shallow", steps=5000, batch_size=32)': {
            "model": "shallow",
            "steps": 5000,
            "batch_size": 32,
        },
    }
    network = dann_jax.dann_network(BatchNormDropout(), 2, domain_hidden_units=(32,))
    for launcher in ("none", "pmap", "shard_map"):
        cases[f"BatchNorm + dropout network, parallel={launcher!r}"] = {
            "model": network,
            "steps": 3000,
            "batch_size": 32,
            "parallel": launcher,
            # The toy problem's settings (the shallow network's defaults), not tuned here.
            **TOY_SETTINGS,
        }
    results = {}
    for name, settings in cases.items():
        results[name] = {}
        for method in METHODS:
            per_seed = [run(moons(seed=seed), seed, method, **settings) for seed in seeds]
            accuracies = [r["target_accuracy"] for r in per_seed]
            results[name][method] = {
                "target_accuracy": accuracies,
                "mean": float(np.mean(accuracies)),
                "std": float(np.std(accuracies)),
                "seconds": float(np.mean([r["seconds"] for r in per_seed])),
            }
            print(name, method, results[name][method])
    record = {"machine": machine, "seeds": seeds, "results": results}
    out = ROOT / "experiments" / "results" / "network-defaults"
    lines = [
        f"# Network defaults: moons, target accuracy on the held-out target sample, seeds {seeds}",
        "",
        "| call | source-only | DANN | seconds per run (DANN) |",
        "|---|---|---|---|",
    ]
    for name, by_method in results.items():
        cells = [f"{by_method[m]['mean']:.3f} ± {by_method[m]['std']:.3f}" for m in METHODS]
        lines.append(f"| `{name}` | {cells[0]} | {cells[1]} | {by_method['dann']['seconds']:.1f} |")
    print(provenance.write_result(out, record, lines))


if __name__ == "__main__":
    app.run(main)
