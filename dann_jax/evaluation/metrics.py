"""Accuracies of a trained network on labelled domains, the proxy A-distance between
domains' features, and the features' 2-D embedding (t-SNE, as the paper's figures)."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from dann_jax.core.trained import TrainedDANN
from dann_jax.data.domains import Split

EMBEDDINGS = ("tsne", "pca")


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

    One forward pass per split gives both the class and the domain logits. An
    unlabelled target (labels all negative, e.g. an image folder without class
    folders) has no target accuracy.
    """
    return scores_from_logits(
        trained.logits(source_test.inputs), trained.logits(target_test.inputs),
        source_test.labels, target_test.labels,
    )  # fmt: skip


def scores_from_logits(
    source_logits: tuple[np.ndarray, np.ndarray],
    target_logits: tuple[np.ndarray, np.ndarray],
    source_labels: np.ndarray,
    target_labels: np.ndarray,
) -> dict[str, float]:
    """:func:`evaluate`'s scores from logits already computed.

    Args:
      source_logits: class logits (N_s, classes) and domain logits (N_s,) of the
        source test examples.
      target_logits: the same (N_t, classes), (N_t,) of the target test examples.
      source_labels: (N_s,) class ids.
      target_labels: (N_t,) class ids, all negative for an unlabelled target (then no
        target accuracy).
    """
    (source_class, source_domain), (target_class, target_domain) = source_logits, target_logits
    scores = {
        "source_accuracy": accuracy(source_class.argmax(-1), source_labels),
        "target_accuracy": accuracy(target_class.argmax(-1), target_labels),
        "domain_accuracy": domain_accuracy(source_domain, target_domain),
    }
    if np.all(np.asarray(target_labels) < 0):
        del scores["target_accuracy"]
    return scores


# Regularisation strengths tried by the proxy A-distance's linear SVM.
PAD_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
# Fewer examples per domain leave no room for the train, validation and test parts.
PAD_MIN_EXAMPLES = 4


def _linear_svm(c: float) -> Pipeline:
    """A linear SVM with regularisation ``c`` on standardised features."""
    return make_pipeline(StandardScaler(), LinearSVC(C=c))


def proxy_a_distance(
    source_features: np.ndarray, target_features: np.ndarray, *, seed: int = 0
) -> dict[str, float | int | str]:
    """The proxy A-distance PAD = 2 (1 - 2 eps) between two samples of features.

    As in Ganin et al. (JMLR 2016, after Ben-David et al. 2006): a linear SVM
    (scikit-learn ``LinearSVC`` on standardised features) learns to tell source
    (0) from target (1) on a stratified half of the examples and eps is its
    error on the other half. Its C comes from ``PAD_C_GRID``, picked on a
    stratified 30% of the train half after fitting on the rest; the test half
    is used only for eps. The larger domain is first subsampled to the size of
    the smaller, so chance error is 0.5 (PAD 0); separable domains give PAD 2.
    This probe is fitted to frozen features, so it usually separates the
    domains better than DANN's own domain head (see :func:`domain_accuracy`).

    Args:
      source_features: (N_s, ...) source features, float.
      target_features: (N_t, ...) target features, float, each example shaped
        as a source one.
      seed: seeds the subsampling and the splits.

    Returns:
      ``proxy_a_distance`` (float in [-2, 2]), ``domain_error`` (eps, float),
      ``classifier`` (str naming the probe and its C) and
      ``examples_per_domain`` (int, after balancing).

    Raises:
      ValueError: the feature shapes differ or a domain has under
        ``PAD_MIN_EXAMPLES`` examples.
    """
    source, target = np.asarray(source_features), np.asarray(target_features)
    if source.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"Source examples have shape {source.shape[1:]}, target ones {target.shape[1:]}."
        )
    size = min(len(source), len(target))
    if size < PAD_MIN_EXAMPLES:
        raise ValueError(
            f"The proxy A-distance needs at least {PAD_MIN_EXAMPLES} examples per domain, "
            f"got {len(source)} source and {len(target)} target."
        )
    rng = np.random.default_rng(seed)
    source = source[rng.choice(len(source), size, replace=False)]
    target = target[rng.choice(len(target), size, replace=False)]
    features = np.concatenate([source, target]).reshape(2 * size, -1)
    domains = np.repeat([0, 1], size)
    train_x, test_x, train_y, test_y = train_test_split(
        features, domains, test_size=0.5, stratify=domains, random_state=seed
    )
    fit_x, valid_x, fit_y, valid_y = train_test_split(
        train_x, train_y, test_size=0.3, stratify=train_y, random_state=seed
    )
    # max keeps the first best C: the strongest regularisation among ties.
    c = max(PAD_C_GRID, key=lambda cc: _linear_svm(cc).fit(fit_x, fit_y).score(valid_x, valid_y))
    error = float(1.0 - _linear_svm(c).fit(train_x, train_y).score(test_x, test_y))
    return {
        "proxy_a_distance": 2.0 * (1.0 - 2.0 * error),
        "domain_error": error,
        "classifier": f"LinearSVC(C={c:g}) on standardised features",
        "examples_per_domain": size,
    }


def embed_features(
    source_features: np.ndarray,
    target_features: np.ndarray,
    *,
    method: str = "tsne",
    seed: int = 0,
    max_points: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """A joint 2-D embedding of source and target features, each subsampled to ``max_points``.

    Args:
      source_features: (N_s, F) float source features.
      target_features: (N_t, F) float target features.
      method: "tsne" (scikit-learn TSNE, PCA-initialised) or "pca".
      seed: seeds the subsampling and t-SNE.
      max_points: the most examples kept per domain.

    Returns:
      Points (M, 2) float and their domains (M,) int64: 0 source, 1 target.

    Raises:
      ValueError: ``method`` is unknown.
    """
    if method not in EMBEDDINGS:
        raise ValueError(f"Unknown embedding {method!r}; choose one of {EMBEDDINGS}.")
    rng = np.random.default_rng(seed)
    kept = [
        part[rng.choice(len(part), min(len(part), max_points), replace=False)]
        for part in (np.asarray(source_features), np.asarray(target_features))
    ]
    features = np.concatenate(kept)
    domains = np.repeat([0, 1], [len(kept[0]), len(kept[1])])
    if method == "pca":
        embedder = PCA(n_components=2, random_state=seed)
    else:
        # t-SNE needs a perplexity below the number of points.
        perplexity = min(30.0, len(features) - 1.0)
        embedder = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return embedder.fit_transform(features), domains
