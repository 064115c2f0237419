"""Each label-free validator against a case whose answer is known: hand-computed values or
a re-implementation written differently; none reads target labels, none depends on the
order of the target rows, and each scores a clearly better model higher."""

import inspect
import math

import numpy as np
import pytest

from dann_jax.evaluation import validators

CLASSES = 3
PER_CLASS = 20


def softmax_rows(logits):
    """A softmax written without the module's helpers, for the reference implementations."""
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def one_hot_logits(classes, scale=1000.0):
    """Logits so large that their softmax rounds to one-hot rows."""
    return scale * np.eye(int(classes.max()) + 1)[classes]


@pytest.fixture
def scene(rng):
    """A target of well-separated clusters, a model that predicts them confidently, a model
    whose confident predictions ignore them, and source arrays for DEV."""
    clusters = np.repeat(np.arange(CLASSES), PER_CLASS)
    target_features = np.eye(CLASSES, 5)[clusters] * 5 + rng.normal(size=(len(clusters), 5)) * 0.3
    source_validation_losses = rng.exponential(size=40)
    common = {
        "target_features": target_features,
        "source_train_features": rng.normal(size=(80, 5)),
        "source_validation_features": rng.normal(size=(40, 5)),
        "source_validation_labels": np.repeat(np.arange(CLASSES), [14, 13, 13]),
    }
    good = {
        **common,
        "target_logits": 8 * np.eye(CLASSES)[clusters] + rng.normal(size=(len(clusters), 3)) * 0.5,
        "source_validation_logits": one_hot_logits(common["source_validation_labels"], 5.0),
        "source_validation_losses": source_validation_losses,
    }
    bad = {
        **common,
        "target_logits": rng.normal(size=(len(clusters), CLASSES)) * 4,
        "source_validation_logits": rng.normal(size=(40, CLASSES)),
        "source_validation_losses": source_validation_losses + 1.0,
    }
    return good, bad


def test_source_accuracy_counts_argmax_matches():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [1.0, 1.5]])
    assert validators.source_accuracy(logits, np.array([0, 1, 1, 1])) == 0.75


def test_neg_entropy_of_uniform_one_hot_and_hand_computed_predictions():
    assert validators.neg_entropy(np.zeros((7, 4))) == pytest.approx(-math.log(4))
    assert validators.neg_entropy(one_hot_logits(np.array([0, 2, 1, 2]))) == 0.0
    # softmax([log 3, 0]) = (3/4, 1/4).
    expected = 0.75 * math.log(0.75) + 0.25 * math.log(0.25)  # minus the entropy
    assert validators.neg_entropy(np.array([[math.log(3), 0.0]])) == pytest.approx(expected)


def test_information_maximization_of_uniform_balanced_and_collapsed_predictions():
    assert validators.information_maximization(np.zeros((6, 3))) == pytest.approx(0.0)
    balanced = one_hot_logits(np.repeat(np.arange(4), 5))
    assert validators.information_maximization(balanced) == pytest.approx(math.log(4))
    collapsed = one_hot_logits(np.zeros(8, dtype=int))
    assert validators.information_maximization(collapsed) == pytest.approx(0.0)


def test_information_maximization_matches_a_loop_over_examples(rng):
    logits = rng.normal(size=(30, 5)) * 2
    probabilities = softmax_rows(logits)
    mean_prediction = sum(probabilities) / len(probabilities)
    marginal_entropy = -sum(p * math.log(p) for p in mean_prediction)
    conditional_entropy = sum(-sum(p * math.log(p) for p in row) for row in probabilities) / 30
    expected = marginal_entropy - conditional_entropy
    assert validators.information_maximization(logits) == pytest.approx(expected)


def test_batch_nuclear_norm_of_balanced_one_hot_and_rank_one_predictions():
    # m one-hot rows per class: P^T P = m I, so C singular values sqrt(m); ||P||_* / N = 1/sqrt(m).
    per_class = 5
    balanced = one_hot_logits(np.repeat(np.arange(4), per_class))
    assert validators.batch_nuclear_norm(balanced) == pytest.approx(1 / math.sqrt(per_class))
    # Equal rows p: P = 1 p^T, a single singular value ||1|| ||p|| = sqrt(N) ||p||.
    row = np.array([1.0, 2.0, 0.5])
    p = np.exp(row) / np.exp(row).sum()
    expected = math.sqrt(10) * np.linalg.norm(p) / 10
    assert validators.batch_nuclear_norm(np.tile(row, (10, 1))) == pytest.approx(expected)


def test_batch_nuclear_norm_matches_the_eigenvalues_of_the_gram_matrix(rng):
    logits = rng.normal(size=(25, 6)) * 3
    probabilities = softmax_rows(logits)
    eigenvalues = np.linalg.eigvalsh(probabilities.T @ probabilities)
    expected = np.sqrt(np.clip(eigenvalues, 0, None)).sum() / 25
    assert validators.batch_nuclear_norm(logits) == pytest.approx(expected)


def snd_by_loops(logits, temperature):
    """SND with explicit loops over pairs of examples."""
    probabilities = softmax_rows(logits)
    unit = [row / math.sqrt(sum(p * p for p in row)) for row in probabilities]
    entropies = []
    for i, a in enumerate(unit):
        scores = [float(a @ b) / temperature for j, b in enumerate(unit) if j != i]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = sum(weights)
        entropies.append(-sum(w / total * math.log(w / total) for w in weights if w > 0))
    return sum(entropies) / len(entropies)


def test_soft_neighborhood_density_of_identical_and_two_group_predictions():
    # Identical predictions: every other example is an equal neighbour.
    assert validators.soft_neighborhood_density(np.ones((9, 3))) == pytest.approx(math.log(8))
    # Two groups of m one-hot rows: m - 1 neighbours at similarity 1, m at 0.
    m, temperature = 4, 0.5
    groups = one_hot_logits(np.repeat([0, 1], m))
    near = math.exp(1 / temperature) / ((m - 1) * math.exp(1 / temperature) + m)
    far = 1 / ((m - 1) * math.exp(1 / temperature) + m)
    expected = -((m - 1) * near * math.log(near) + m * far * math.log(far))
    score = validators.soft_neighborhood_density(groups, temperature)
    assert score == pytest.approx(expected)


def test_soft_neighborhood_density_matches_loops_and_its_blocks_change_nothing(rng, monkeypatch):
    logits = rng.normal(size=(23, 4)) * 2
    whole = validators.soft_neighborhood_density(logits, 0.1)
    assert whole == pytest.approx(snd_by_loops(logits, 0.1))
    monkeypatch.setattr(validators, "_SIMILARITY_ROWS", 5)
    assert validators.soft_neighborhood_density(logits, 0.1) == pytest.approx(whole)


def test_dev_risk_of_constant_weights_or_losses():
    losses = np.array([0.2, 1.0, 3.0, 0.4])
    # Constant weights: no control variate, the risk is the weighted mean.
    assert validators.dev_risk(np.ones(4), losses) == pytest.approx(losses.mean())
    assert validators.dev_risk(np.full(4, 2.0), losses) == pytest.approx(2 * losses.mean())
    # A constant loss c: L = c w, eta = -c, so the estimate is c whatever the weights.
    assert validators.dev_risk(np.array([0.1, 0.5, 2.0, 3.4]), np.full(4, 0.7)) == pytest.approx(
        0.7
    )


def test_dev_risk_matches_the_papers_formula_with_sample_covariances(rng):
    weights, losses = rng.exponential(size=50), rng.exponential(size=50)
    weighted = weights * losses
    eta = -np.cov(weighted, weights)[0, 1] / np.var(weights, ddof=1)
    expected = weighted.mean() + eta * weights.mean() - eta
    assert validators.dev_risk(weights, losses) == pytest.approx(expected)


def test_importance_weights_are_one_for_one_distribution_and_favour_the_target_when_shifted(rng):
    source, query = rng.normal(size=(400, 2)), rng.normal(size=(50, 2))
    same = validators.importance_weights(source, rng.normal(size=(300, 2)), query)
    # Uneven domain sizes too: the N_s / N_t factor undoes the classifier's prior.
    np.testing.assert_allclose(same, 1.0, atol=0.1)
    shifted_target = rng.normal(size=(300, 2)) + np.array([2.0, 0.0])
    along_the_shift = np.array([[-2.0, 0.0], [0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    weights = validators.importance_weights(source, shifted_target, along_the_shift)
    assert np.all(np.diff(weights) > 0)
    assert weights[-1] > 1.0 > weights[0] * 10


def test_deep_embedded_validation_is_minus_the_mean_loss_for_one_distribution(rng):
    losses = rng.exponential(size=200)
    score = validators.deep_embedded_validation(
        rng.normal(size=(400, 3)), rng.normal(size=(400, 3)), rng.normal(size=(200, 3)), losses
    )
    assert score == pytest.approx(-losses.mean(), rel=0.05)


def test_deep_embedded_validation_weights_losses_near_the_target(rng):
    source_train = rng.normal(size=(400, 2))
    target = rng.normal(size=(400, 2)) + np.array([2.0, 0.0])
    validation = rng.normal(size=(300, 2))
    # A model that errs only on the target side of the source scores worse than one
    # that errs as often on the far side.
    errs_near_target = (validation[:, 0] > 0.5).astype(float)
    errs_far_from_target = (validation[:, 0] < -0.5).astype(float)
    near = validators.deep_embedded_validation(source_train, target, validation, errs_near_target)
    far = validators.deep_embedded_validation(
        source_train, target, validation, errs_far_from_target
    )
    assert errs_near_target.mean() == pytest.approx(errs_far_from_target.mean(), abs=0.05)
    assert near < -errs_near_target.mean() < far


def test_class_ami_is_one_for_predicted_clusters_and_near_zero_for_random_predictions(rng):
    clusters = np.repeat(np.arange(4), 50)
    features = np.eye(4, 6)[clusters] * 6 + rng.normal(size=(200, 6)) * 0.5
    renamed = np.array([2, 0, 3, 1])[clusters]
    assert validators.class_ami(features, one_hot_logits(renamed, 3.0)) == pytest.approx(1.0)
    random_predictions = rng.normal(size=(200, 4))
    assert abs(validators.class_ami(features, random_predictions)) < 0.05


def test_no_validator_reads_target_labels():
    for name, validator in validators.VALIDATORS.items():
        assert "target_labels" not in validator.inputs, name
        parameters = inspect.signature(validator.function).parameters
        assert not any("target_label" in parameter for parameter in parameters), name
        assert len(validator.inputs) == sum(
            p.default is inspect.Parameter.empty for p in parameters.values()
        ), name


def test_permuting_the_target_rows_changes_no_score(scene, rng):
    good, _ = scene
    # Features without clear clusters, where k-means' seeding would notice the order.
    outputs = {**good, "target_features": rng.normal(size=good["target_features"].shape)}
    order = rng.permutation(len(outputs["target_logits"]))
    permuted = {
        **outputs,
        "target_logits": outputs["target_logits"][order],
        "target_features": outputs["target_features"][order],
    }
    for name in validators.VALIDATORS:
        assert validators.score(name, permuted) == pytest.approx(
            validators.score(name, outputs), rel=1e-9, abs=1e-12
        ), name


def test_scores_are_finite_floats_and_higher_for_the_better_model(scene):
    good, bad = scene
    for name in validators.VALIDATORS:
        better, worse = validators.score(name, good), validators.score(name, bad)
        assert type(better) is float and type(worse) is float, name
        assert math.isfinite(better) and math.isfinite(worse), name
        assert better > worse, name


def test_score_forwards_options_and_names_what_is_missing(scene):
    good, _ = scene
    assert validators.score(
        "soft_neighborhood_density", good, temperature=0.2
    ) == validators.soft_neighborhood_density(good["target_logits"], 0.2)
    with pytest.raises(KeyError, match="target_features"):
        validators.score("class_ami", {"target_logits": good["target_logits"]})
    with pytest.raises(KeyError, match="No validator"):
        validators.score("target_accuracy", good)
