"""Accuracies of a trained network on labelled domains."""

from __future__ import annotations

import numpy as np

from dann_jax.data.offline import Domains
from dann_jax.train import TrainedDANN


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of ``predicted`` ids (N,) equal to ``labels`` (N,)."""
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


def domain_accuracy(
    trained: TrainedDANN, source_inputs: np.ndarray, target_inputs: np.ndarray
) -> float:
    """How often the network's own domain head tells source (0) from target (1).

    This is the DANN domain classifier, trained jointly with the features; a
    separate classifier fitted to frozen features can separate the domains
    better, so this figure is no proxy A-distance.
    """
    guesses = np.concatenate(
        [trained.predict_domain(source_inputs), trained.predict_domain(target_inputs)]
    )
    truth = np.concatenate([np.zeros(len(source_inputs)), np.ones(len(target_inputs))])
    return accuracy(guesses, truth)


def evaluate(trained: TrainedDANN, domains: Domains) -> dict[str, float]:
    """Source and target test accuracy and domain accuracy over both test splits."""
    return {
        "source_accuracy": accuracy(
            trained.predict(domains.source_test.inputs), domains.source_test.labels
        ),
        "target_accuracy": accuracy(
            trained.predict(domains.target_test.inputs), domains.target_test.labels
        ),
        "domain_accuracy": domain_accuracy(
            trained, domains.source_test.inputs, domains.target_test.inputs
        ),
    }
