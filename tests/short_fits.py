"""What the tests of networks in the trainer share: a short fit's settings, a check
that two pytrees hold close arrays, and the moons adaptation check."""

import jax
import numpy as np

import dann_jax
from dann_jax.data.offline import moons
from dann_jax.evaluation.metrics import accuracy

# 6 steps of 16, a record every 3, 3 steps per dispatch.
FIT = {"steps": 6, "batch_size": 16, "log_every": 3, "steps_per_dispatch": 3, "progress": False}


def leaves_close(got, want, rtol=1e-5, atol=1e-6):
    """Every leaf of ``got`` close to the same leaf of ``want`` (same structure)."""
    pairs = zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
    for got_leaf, want_leaf in pairs:
        np.testing.assert_allclose(got_leaf, want_leaf, rtol=rtol, atol=atol)


def moons_target_accuracy(network) -> dict[str, float]:
    """Source-only's and DANN's target test accuracy on the rotated moons (seed 0), with
    the toy problem's settings (the shallow network's), for a network of the user's."""
    domains = moons(seed=0)
    settings = {"steps": 3000, "batch_size": 32, "parallel": "none", "progress": False}
    settings |= {"learning_rate": 0.05, "anneal_learning_rate": False, "momentum": 0.0}
    settings |= {"adaptation": "constant", "domain_loss_weight": 12.0}
    target_accuracy = {}
    for method in ("source_only", "dann"):
        trained = dann_jax.fit(
            domains.source_train.inputs, domains.source_train.labels,
            domains.target_train.inputs, model=network, method=method, **settings,
        )  # fmt: skip
        predictions = trained.predict(domains.target_test.inputs)
        target_accuracy[method] = accuracy(predictions, domains.target_test.labels)
    return target_accuracy
