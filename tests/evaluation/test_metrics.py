import numpy as np
import pytest

import dann_jax
from dann_jax.data.offline import load_domains
from dann_jax.evaluation import metrics


def test_accuracy_counts_matches():
    assert metrics.accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


def test_domain_accuracy_reads_negative_logits_as_source():
    source_logits = np.array([-2.0, -0.1, 0.5])  # two right, one wrong
    target_logits = np.array([1.0, -3.0])  # one right, one wrong
    assert metrics.domain_accuracy(source_logits, target_logits) == 3 / 5


def gaussian_cloud(rng, count, shift=0.0, dims=10):
    return rng.normal(size=(count, dims)) + shift


def test_proxy_a_distance_is_near_two_for_separated_clouds(rng):
    result = metrics.proxy_a_distance(gaussian_cloud(rng, 300), gaussian_cloud(rng, 300, 3.0))
    assert result["proxy_a_distance"] > 1.9
    assert result["domain_error"] < 0.03
    assert result["classifier"].startswith("LinearSVC(C=")


def test_proxy_a_distance_is_near_zero_for_one_distribution(rng):
    result = metrics.proxy_a_distance(gaussian_cloud(rng, 400), gaussian_cloud(rng, 400))
    assert abs(result["proxy_a_distance"]) < 0.3
    assert result["proxy_a_distance"] == pytest.approx(2 * (1 - 2 * result["domain_error"]))


def test_proxy_a_distance_balances_unequal_domains(rng):
    # Unbalanced, a probe guessing "source" always would err 300 / 2300 of the time: PAD 1.5.
    result = metrics.proxy_a_distance(gaussian_cloud(rng, 2000), gaussian_cloud(rng, 300))
    assert result["examples_per_domain"] == 300
    assert abs(result["proxy_a_distance"]) < 0.3


def test_proxy_a_distance_is_deterministic_for_a_seed(rng):
    source, target = gaussian_cloud(rng, 200), gaussian_cloud(rng, 150, 0.2)
    first = metrics.proxy_a_distance(source, target, seed=3)
    assert metrics.proxy_a_distance(source, target, seed=3) == first
    others = [metrics.proxy_a_distance(source, target, seed=s)["domain_error"] for s in (4, 5)]
    assert any(error != first["domain_error"] for error in others)


def test_proxy_a_distance_rejects_mismatched_or_tiny_inputs(rng):
    with pytest.raises(ValueError, match="shape"):
        metrics.proxy_a_distance(gaussian_cloud(rng, 50), gaussian_cloud(rng, 50, dims=3))
    with pytest.raises(ValueError, match="at least"):
        metrics.proxy_a_distance(gaussian_cloud(rng, 50), gaussian_cloud(rng, 3))


@pytest.mark.slow
def test_proxy_a_distance_of_a_briefly_trained_networks_features():
    domains = load_domains("digits_to_blended_digits", seed=0)
    trained = dann_jax.fit(
        domains.source_train.inputs,
        domains.source_train.labels,
        domains.target_train.inputs,
        steps=10,
        batch_size=16,
        parallel="none",
        progress=False,
    )
    result = metrics.proxy_a_distance(
        trained.features(domains.source_test.inputs), trained.features(domains.target_test.inputs)
    )
    assert np.isfinite(result["proxy_a_distance"])
    assert -2.0 <= result["proxy_a_distance"] <= 2.0
    balanced = min(len(domains.source_test.labels), len(domains.target_test.labels))
    assert result["examples_per_domain"] == balanced
