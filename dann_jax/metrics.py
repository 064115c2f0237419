"""Accuracies of a trained network on labelled domains."""

from __future__ import annotations

import numpy as np

from dann_jax.data.offline import Split
from dann_jax.train import TrainedDANN


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of ``predicted`` ids (N,) equal to ``labels`` (N,)."""
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


def domain_accuracy(source_domain_logits: np.ndarray, target_domain_logits: np.ndarray) -> float:
    """How often the network's own domain head tells source (logit < 0) from target (> 0).

    This is the DANN domain classifier, trained jointly with the features; a
    separate classifier fitted to frozen features can separate the domains
    better, so this figure is no proxy A-distance.

    Args:
      source_domain_logits: (N_s,) domain logits of source examples.
      target_domain_logits: (N_t,) domain logits of target examples.
    """
    guesses = np.concatenate([source_domain_logits, target_domain_logits]) > 0
    truth = np.concatenate(
        [np.zeros(len(source_domain_logits)), np.ones(len(target_domain_logits))]
    )
    return accuracy(guesses, truth)


def evaluate(trained: TrainedDANN, source_test: Split, target_test: Split) -> dict[str, float]:
    """Source and target test accuracy and domain accuracy over both test splits.

    One forward pass per split gives both the class and the domain logits.
    """
    source_class, source_domain = trained.logits(source_test.inputs)
    target_class, target_domain = trained.logits(target_test.inputs)
    return {
        "source_accuracy": accuracy(source_class.argmax(-1), source_test.labels),
        "target_accuracy": accuracy(target_class.argmax(-1), target_test.labels),
        "domain_accuracy": domain_accuracy(source_domain, target_domain),
    }
