"""Reverse validation scores settings without target labels and picks the better one."""

import numpy as np
import pytest

from dann_jax.evaluation import reverse_validation


def blobs(rng, count, shift):
    labels = rng.integers(2, size=count)
    points = rng.normal(size=(count, 2)) * 0.4 + np.stack([labels * 2.0 - 1.0, np.zeros(count)], -1)
    return (points + shift).astype(np.float32), labels


@pytest.mark.slow
def test_reverse_validation_prefers_a_setting_that_learns_and_never_needs_target_labels():
    rng = np.random.default_rng(0)
    source, labels = blobs(rng, 200, 0.0)
    target, _ = blobs(rng, 200, 0.3)  # its labels are thrown away
    common = {"model": "shallow", "steps": 300, "batch_size": 32, "parallel": "none",
              "progress": False, "anneal_learning_rate": False}  # fmt: skip
    candidates = {"frozen": {"learning_rate": 0.0}, "learning": {"learning_rate": 0.1}}
    best, scores = reverse_validation.pick_setting(candidates, source, labels, target, **common)
    assert best == "learning"
    assert scores["learning"]["reverse_validation_accuracy"] > 0.9
    assert scores["frozen"]["reverse_validation_accuracy"] < 0.8
    for score in scores.values():
        assert 0.0 <= score["source_validation_accuracy"] <= 1.0
