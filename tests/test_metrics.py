import numpy as np

from dann_jax import metrics


def test_accuracy_counts_matches():
    assert metrics.accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


def test_domain_accuracy_reads_negative_logits_as_source():
    source_logits = np.array([-2.0, -0.1, 0.5])  # two right, one wrong
    target_logits = np.array([1.0, -3.0])  # one right, one wrong
    assert metrics.domain_accuracy(source_logits, target_logits) == 3 / 5
