"""Label-free model selection: reverse validation (Ganin et al., JMLR 2016, section 5.1.2).

Target labels are never read. For each candidate setting (a learning rate, a
lambda schedule, ...), a DANN is trained from the labelled source to the
target; its predictions label the target; a reverse DANN is trained from the
pseudo-labelled target back to the source; the reverse network's accuracy on
held-out *source* examples scores the candidate. The candidate with the best
score is chosen.

References:
  Zhong et al., "Cross validation framework to choose amongst models and datasets
  for transfer learning", ECML PKDD 2010; Ganin et al., JMLR 2016, section 5.1.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from dann_jax.core.fit import fit
from dann_jax.evaluation.metrics import accuracy


def reverse_validation(
    source_images: np.ndarray,
    source_labels: np.ndarray,
    target_images: np.ndarray,
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
    **settings: Any,
) -> dict[str, float]:
    """The reverse validation accuracy of one training setting, from unlabelled target data.

    Args:
      source_images, source_labels: labelled source examples (N_s, ...), (N_s,).
      target_images: unlabelled target examples (N_t, ...).
      validation_fraction: the source examples held out (stratified) for scoring.
      seed: seeds the split and both trainings.
      **settings: keyword arguments of :func:`dann_jax.fit` (steps, learning_rate, ...).

    Returns:
      ``reverse_validation_accuracy`` (the reverse network on held-out source
      examples) and ``source_validation_accuracy`` (the forward network there).
    """
    source_labels = np.asarray(source_labels)
    train_index, validation_index = train_test_split(
        np.arange(len(source_labels)),
        test_size=validation_fraction,
        stratify=source_labels,
        random_state=seed,
    )
    num_classes = int(source_labels.max()) + 1
    source_train = np.asarray(source_images)[train_index]
    source_validation = np.asarray(source_images)[validation_index]
    forward = fit(
        source_train,
        source_labels[train_index],
        target_images,
        seed=seed,
        num_classes=num_classes,
        **settings,
    )
    pseudo_labels = forward.predict(target_images)
    reverse = fit(
        target_images, pseudo_labels, source_train, seed=seed, num_classes=num_classes, **settings
    )
    validation_labels = source_labels[validation_index]
    return {
        "reverse_validation_accuracy": accuracy(
            reverse.predict(source_validation), validation_labels
        ),
        "source_validation_accuracy": accuracy(
            forward.predict(source_validation), validation_labels
        ),
    }


def pick_setting(
    candidates: Mapping[str, Mapping[str, Any]],
    source_images: np.ndarray,
    source_labels: np.ndarray,
    target_images: np.ndarray,
    **common: Any,
) -> tuple[str, dict[str, dict[str, float]]]:
    """The candidate with the best reverse validation accuracy, and every candidate's scores.

    Args:
      candidates: name -> settings of :func:`dann_jax.fit` that differ between candidates.
      source_images, source_labels, target_images: as in :func:`reverse_validation`.
      **common: settings shared by all candidates (steps, seed, ...).

    Returns:
      ``(best name, {name: scores})``; ties go to the first candidate.
    """
    scores = {
        name: reverse_validation(source_images, source_labels, target_images, **common, **settings)
        for name, settings in candidates.items()
    }
    best = max(scores, key=lambda name: scores[name]["reverse_validation_accuracy"])
    return best, scores
