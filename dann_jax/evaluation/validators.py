"""Label-free validators: scores of a trained network that read no target labels.

Model selection in unsupervised domain adaptation may not look at target
labels. Each validator here scores one trained network from its outputs
(logits, features, per-example source losses) and returns a Python float for
which **higher is better**, so a selector always takes the argmax; risks are
negated. :data:`VALIDATORS` names each one with the arrays it reads, and
:func:`score` calls one by name on a mapping of those arrays.

Target logits and features are (N_t, C) and (N_t, ...) float arrays; no
function has a target-label argument.

References:
  Musgrave, Belongie & Lim, "Three New Validators and a Large-Scale Benchmark
  Ranking for Unsupervised Domain Adaptation", arXiv:2208.07360, 2022 (a
  benchmark of these validators).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def softmax_probabilities(logits: np.ndarray) -> np.ndarray:
    """The softmax (N, C) float64 of ``logits`` (N, C), stable for large logits."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"Logits must be (N, C), got shape {logits.shape}.")
    return _softmax(logits)


def _softmax(scores: np.ndarray) -> np.ndarray:
    """The row-wise softmax of ``scores`` (N, M); entries may be -inf, whole rows not."""
    # Subtracting each row's maximum keeps exp() from overflowing.
    exponentials = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def _entropy(probabilities: np.ndarray) -> np.ndarray:
    """The Shannon entropy in nats of each row of ``probabilities`` (..., C); 0 log 0 = 0."""
    safe = np.where(probabilities > 0, probabilities, 1.0)
    return -np.sum(probabilities * np.log(safe), axis=-1)


def source_accuracy(source_logits: np.ndarray, source_labels: np.ndarray) -> float:
    """The accuracy on held-out *source* examples: the classic baseline validator.

    Args:
      source_logits: (N_s, C) float class logits of a source validation split
        that training did not see.
      source_labels: (N_s,) int source labels (never target labels).

    Returns:
      The fraction in [0, 1] of examples whose argmax logit is their label;
      higher is better.

    References:
      Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 2016
      (the source-validation baseline that reverse validation improves on).
    """
    predicted = np.asarray(source_logits).argmax(axis=-1)
    return float(np.mean(predicted == np.asarray(source_labels)))


def neg_entropy(target_logits: np.ndarray) -> float:
    """Minus the mean Shannon entropy (nats) of the target predictions.

    Confident predictions (low entropy) are taken to be good ones; the score
    is -log C for uniform predictions and 0 for one-hot ones.

    Args:
      target_logits: (N_t, C) float target class logits.

    Returns:
      -mean_i H(softmax(logits_i)), in [-log C, 0]; higher (more confident) is better.

    References:
      Grandvalet & Bengio, "Semi-supervised Learning by Entropy Minimization",
      NIPS 17 (2005). As a validator: Morerio, Cavazza & Murino,
      "Minimal-Entropy Correlation Alignment for Unsupervised Deep Domain
      Adaptation", ICLR 2018; Musgrave, Belongie & Lim, "Unsupervised Domain
      Adaptation: A Reality Check", arXiv:2111.15672, 2021.
    """
    return float(-np.mean(_entropy(softmax_probabilities(target_logits))))


def information_maximization(target_logits: np.ndarray) -> float:
    """The information maximisation score IM = H(mean prediction) - mean H(prediction).

    The mutual information between inputs and predicted classes: high when
    each prediction is confident (second term small) and the classes are used
    evenly (first term large), so unlike :func:`neg_entropy` it penalises
    predicting one class for everything.

    Args:
      target_logits: (N_t, C) float target class logits.

    Returns:
      IM in nats, in [0, log C]: 0 for uniform or collapsed predictions, log C
      for confident predictions spread evenly over the classes; higher is better.

    References:
      Gomes, Krause & Perona, "Discriminative Clustering by Regularized
      Information Maximization", NeurIPS 2010. As a validator: Musgrave,
      Belongie & Lim, "Three New Validators and a Large-Scale Benchmark Ranking
      for Unsupervised Domain Adaptation", arXiv:2208.07360, 2022.
    """
    probabilities = softmax_probabilities(target_logits)
    return float(_entropy(probabilities.mean(axis=0)) - np.mean(_entropy(probabilities)))


def batch_nuclear_norm(target_logits: np.ndarray) -> float:
    """The nuclear norm of the (N_t, C) softmax prediction matrix, divided by N_t.

    Large when predictions are confident (discriminability) and spread over
    many classes (diversity, the matrix's rank). The value scales as
    1/sqrt(N_t) for balanced one-hot predictions, so compare models on the same
    number of target examples.

    Args:
      target_logits: (N_t, C) float target class logits.

    Returns:
      ||softmax(logits)||_* / N_t (the sum of singular values over N_t); higher is better.

    References:
      Cui et al., "Towards Discriminability and Diversity: Batch Nuclear-norm
      Maximization under Label Insufficient Situations", CVPR 2020.
    """
    probabilities = softmax_probabilities(target_logits)
    return float(np.linalg.norm(probabilities, ord="nuc") / len(probabilities))


# Rows of the similarity matrix made at once: bounds SND's memory at this many rows, not N_t.
_SIMILARITY_ROWS = 1024


def soft_neighborhood_density(target_logits: np.ndarray, temperature: float = 0.05) -> float:
    """The soft neighbourhood density (SND) of the target predictions.

    As in Saito et al. (2021): the softmax predictions are L2-normalised, their
    cosine similarities to every other target example (the example itself
    excluded) pass through a softmax at ``temperature``, and SND is the mean
    entropy of those neighbour distributions. A high entropy means each
    example has many close neighbours in prediction space: dense clusters.
    The self-similarity is removed outright; the authors' code sets it to -1,
    leaving it a negligible weight. Near-uniform predictions are all alike, so
    they score high too: SND assumes a network that makes confident predictions.
    The similarity rows are made in blocks, so memory grows as N_t, not N_t**2.

    Args:
      target_logits: (N_t, C) float target class logits, N_t >= 2.
      temperature: the softmax temperature of the similarities (the paper's 0.05).

    Returns:
      SND in nats, in [0, log(N_t - 1)]; higher (denser neighbourhoods) is better.

    References:
      Saito et al., "Tune it the Right Way: Unsupervised Validation of Domain
      Adaptation via Soft Neighborhood Density", ICCV 2021.
    """
    probabilities = softmax_probabilities(target_logits)
    if len(probabilities) < 2:
        raise ValueError("Soft neighbourhood density needs at least 2 target examples.")
    normalised = probabilities / np.linalg.norm(probabilities, axis=-1, keepdims=True)
    entropies = []
    for start in range(0, len(normalised), _SIMILARITY_ROWS):
        rows = normalised[start : start + _SIMILARITY_ROWS]
        similarity = rows @ normalised.T / temperature
        # -inf gives the example itself probability 0 among its neighbours.
        similarity[np.arange(len(rows)), np.arange(start, start + len(rows))] = -np.inf
        entropies.append(_entropy(_softmax(similarity)))
    return float(np.mean(np.concatenate(entropies)))


# Regularisation strengths tried by DEV's domain classifier.
DEV_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def _domain_classifier(c: float) -> Pipeline:
    """Logistic regression with regularisation ``c`` on standardised features."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))


def importance_weights(
    source_train_features: np.ndarray,
    target_features: np.ndarray,
    query_features: np.ndarray,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Density ratios w(x) = p_target(x) / p_source(x) at ``query_features``, from a classifier.

    A logistic regression on standardised features tells source (0) from
    target (1); by Bayes' rule w(x) = N_s / N_t * p(target | x) / p(source | x),
    the factor N_s / N_t undoing the classifier's class prior (so the fit is
    unweighted: balancing the classes as well would correct the prior twice).
    The odds are exp of the classifier's decision function, which stays finite
    where p(source | x) rounds to 0. Its C comes from :data:`DEV_C_GRID`, the
    one with the best log-likelihood on a stratified 20% of the examples held
    out from a fit on the rest (the paper picks its classifier's weight decay
    likewise, by held-out accuracy); the chosen C is then refitted on all.

    Args:
      source_train_features: (N_s, ...) float features of source training examples.
      target_features: (N_t, ...) float target features, each shaped as a source one.
      query_features: (N_q, ...) float features to weight (source validation examples).
      seed: seeds the held-out split.

    Returns:
      (N_q,) float64 weights, positive; about 1 where the domains are alike.

    References:
      You et al., "Towards Accurate Model Selection in Deep Unsupervised Domain
      Adaptation", ICML 2019; Sugiyama et al., "Covariate Shift Adaptation by
      Importance Weighted Cross Validation", JMLR 2007.
    """
    source = np.asarray(source_train_features, dtype=np.float64)
    target = np.asarray(target_features, dtype=np.float64)
    features = np.concatenate([source.reshape(len(source), -1), target.reshape(len(target), -1)])
    domains = np.repeat([0, 1], [len(source), len(target)])
    fit_x, held_x, fit_y, held_y = train_test_split(
        features, domains, test_size=0.2, stratify=domains, random_state=seed
    )

    def held_out_log_loss(c: float) -> float:
        probabilities = _domain_classifier(c).fit(fit_x, fit_y).predict_proba(held_x)
        return log_loss(held_y, probabilities)

    # min keeps the first best C: the strongest regularisation among ties.
    classifier = _domain_classifier(min(DEV_C_GRID, key=held_out_log_loss)).fit(features, domains)
    query = np.asarray(query_features, dtype=np.float64)
    log_odds = classifier.decision_function(query.reshape(len(query), -1))
    return len(source) / len(target) * np.exp(log_odds)


def dev_risk(weights: np.ndarray, losses: np.ndarray) -> float:
    """DEV's control-variate estimate of the target risk from weighted source losses.

    With L_i = w_i * loss_i, the importance-weighted risk mean(L) is unbiased
    but noisy; since E[w] = 1 under the source distribution, w is a control
    variate: risk = mean(L) + eta * (mean(w) - 1) with eta = -Cov(L, w) / Var(w),
    the eta of least variance. Constant weights carry no information: eta = 0.

    Args:
      weights: (N,) float importance weights of source validation examples.
      losses: (N,) float per-example losses of those examples.

    Returns:
      The estimated target risk (a loss, so *lower* is better).

    References:
      You et al., "Towards Accurate Model Selection in Deep Unsupervised Domain
      Adaptation", ICML 2019, section 4.
    """
    weights = np.asarray(weights, dtype=np.float64)
    weighted = weights * np.asarray(losses, dtype=np.float64)
    # Cov / Var with the same normalisation: 1/N or 1/(N - 1) cancels.
    centred_weights = weights - weights.mean()
    variance = np.mean(centred_weights**2)
    covariance = np.mean((weighted - weighted.mean()) * centred_weights)
    eta = -covariance / variance if variance > 0 else 0.0
    return float(weighted.mean() + eta * weights.mean() - eta)


def deep_embedded_validation(
    source_train_features: np.ndarray,
    target_features: np.ndarray,
    source_validation_features: np.ndarray,
    source_validation_losses: np.ndarray,
    *,
    seed: int = 0,
) -> float:
    """Minus DEV's estimate of the target risk (Deep Embedded Validation).

    The source validation losses are importance-weighted towards the target
    distribution (:func:`importance_weights`, fitted on the source training and
    target features) and combined with a control variate (:func:`dev_risk`).

    Args:
      source_train_features: (N_s, ...) float features of source training examples.
      target_features: (N_t, ...) float target features.
      source_validation_features: (N_v, ...) float features of held-out source examples.
      source_validation_losses: (N_v,) float per-example losses of those examples
        (e.g. cross-entropy with their source labels).
      seed: seeds the domain classifier's held-out split.

    Returns:
      -risk, so that higher is better (the paper reports the risk, lower better).

    References:
      You et al., "Towards Accurate Model Selection in Deep Unsupervised Domain
      Adaptation", ICML 2019.
    """
    weights = importance_weights(
        source_train_features, target_features, source_validation_features, seed=seed
    )
    return -dev_risk(weights, source_validation_losses)


def class_ami(target_features: np.ndarray, target_logits: np.ndarray, *, seed: int = 0) -> float:
    """ClassAMI: how well k-means clusters of the target features agree with the predictions.

    k-means (k = C, the number of classes, 10 restarts) clusters the target
    features; the score is the adjusted mutual information between the
    cluster ids and the predicted classes (argmax logits). The rows are first
    put in lexicographic order of their features, because k-means++ seeding
    picks rows by position: the score then depends on the set of target
    examples, not on their order.

    Args:
      target_features: (N_t, ...) float target features.
      target_logits: (N_t, C) float target class logits.
      seed: seeds k-means.

    Returns:
      AMI, at most 1 (1: predictions equal the clusters up to renaming, about 0:
      unrelated); higher is better.

    References:
      Musgrave, Belongie & Lim, "Three New Validators and a Large-Scale Benchmark
      Ranking for Unsupervised Domain Adaptation", arXiv:2208.07360, 2022;
      Vinh, Epps & Bailey, "Information Theoretic Measures for Clusterings
      Comparison", JMLR 2010 (AMI).
    """
    logits = np.asarray(target_logits)
    features = np.asarray(target_features, dtype=np.float64).reshape(len(logits), -1)
    # lexsort's last key is its primary one.
    order = np.lexsort(features.T[::-1])
    clusters = KMeans(n_clusters=logits.shape[1], n_init=10, random_state=seed).fit_predict(
        features[order]
    )
    return float(adjusted_mutual_info_score(logits[order].argmax(axis=-1), clusters))


@dataclasses.dataclass(frozen=True)
class Validator:
    """A validator and the arrays it reads, named as in :func:`score`'s ``outputs``.

    Attributes:
      function: returns a float, higher is better, from ``inputs`` in order.
      inputs: keys of ``outputs`` passed positionally to ``function``.
    """

    function: Callable[..., float]
    inputs: tuple[str, ...]


VALIDATORS: dict[str, Validator] = {
    "source_accuracy": Validator(
        source_accuracy, ("source_validation_logits", "source_validation_labels")
    ),
    "neg_entropy": Validator(neg_entropy, ("target_logits",)),
    "information_maximization": Validator(information_maximization, ("target_logits",)),
    "batch_nuclear_norm": Validator(batch_nuclear_norm, ("target_logits",)),
    "soft_neighborhood_density": Validator(soft_neighborhood_density, ("target_logits",)),
    "deep_embedded_validation": Validator(
        deep_embedded_validation,
        (
            "source_train_features",
            "target_features",
            "source_validation_features",
            "source_validation_losses",
        ),
    ),
    "class_ami": Validator(class_ami, ("target_features", "target_logits")),
}


def score(name: str, outputs: Mapping[str, np.ndarray], **options: Any) -> float:
    """The validator ``name`` of :data:`VALIDATORS` on the arrays it needs from ``outputs``.

    Args:
      name: a key of :data:`VALIDATORS`.
      outputs: arrays by name: ``source_validation_logits``,
        ``source_validation_labels``, ``source_validation_features``,
        ``source_validation_losses``, ``source_train_features``,
        ``target_logits``, ``target_features``; only those the validator reads
        need be present, and any others are ignored.
      **options: keyword arguments of the validator (``seed``, ``temperature``).

    Returns:
      The score, a float; higher is better.

    Raises:
      KeyError: ``name`` is no validator, or ``outputs`` lacks an array it reads.
    """
    if name not in VALIDATORS:
        raise KeyError(f"No validator {name!r}; the validators are {sorted(VALIDATORS)}.")
    validator = VALIDATORS[name]
    missing = [key for key in validator.inputs if key not in outputs]
    if missing:
        raise KeyError(f"Validator {name!r} needs {missing}, missing from the outputs.")
    return validator.function(*(outputs[key] for key in validator.inputs), **options)
