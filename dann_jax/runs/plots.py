"""Pictures of a run: training curves, 2-D decision boundaries and feature embeddings (PNG)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dann_jax.core.trained import TrainedDANN
from dann_jax.data.domains import Domains
from dann_jax.evaluation.metrics import embed_features
from dann_jax.runs import files

CURVES = (
    ("label_loss", "label loss (source)"),
    ("domain_loss", "domain loss"),
    ("domain_accuracy", "domain accuracy (train batches)"),
    ("lambda", "adaptation factor λ"),
    ("learning_rate", "learning rate"),
    ("source_accuracy", "source accuracy (train batches)"),
)


def training_curves(histories: Mapping[str, list[dict[str, float]]], path: Path) -> None:
    """One panel per logged metric, one line per method, against the step."""
    figure, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    for axis, (name, title) in zip(axes.flat, CURVES, strict=True):
        for method, history in histories.items():
            axis.plot([r["step"] for r in history], [r[name] for r in history], label=method)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes.flat[0].legend()
    files.save_figure(figure, path, dpi=100)
    plt.close(figure)


def decision_boundaries(
    models: Mapping[str, TrainedDANN], domains: Domains, path: Path, resolution: int = 200
) -> None:
    """For 2-D inputs: each model's class regions with the source and target test points.

    Args:
      models: method name -> trained network on (N, 2) inputs.
      domains: the run's domains; their test splits are drawn.
      path: where the PNG goes.
      resolution: grid points per axis.
    """
    points = np.concatenate([domains.source_test.inputs, domains.target_test.inputs])
    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    grid_x, grid_y = np.meshgrid(*(np.linspace(low[i], high[i], resolution) for i in range(2)))
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1).astype(np.float32)
    figure, axes = plt.subplots(
        1, len(models), figsize=(5.5 * len(models), 5), squeeze=False, constrained_layout=True
    )
    for axis, (method, trained) in zip(axes[0], models.items(), strict=True):
        regions = trained.predict(grid).reshape(grid_x.shape)
        axis.contourf(
            grid_x, grid_y, regions, levels=[-0.5, 0.5, 1.5], colors=["#f4c7c3", "#c6dbef"]
        )
        axis.contour(grid_x, grid_y, regions, levels=[0.5], colors="black", linewidths=1.5)
        for split, marker, name in (
            (domains.source_test, "+", "source"),
            (domains.target_test, "o", "target"),
        ):
            for label, colour in ((0, "#d62728"), (1, "#1f77b4")):
                chosen = split.inputs[split.labels == label]
                axis.scatter(
                    chosen[:, 0],
                    chosen[:, 1],
                    marker=marker,
                    s=18,
                    c=colour,
                    alpha=0.8 if name == "source" else 0.35,
                    label=f"{name}, class {label}",
                )
        target_accuracy = np.mean(
            trained.predict(domains.target_test.inputs) == domains.target_test.labels
        )
        axis.set_title(f"{method}: target accuracy {target_accuracy:.3f}")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    files.save_figure(figure, path, dpi=100)
    plt.close(figure)


def feature_embedding(
    features_by_method: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    *,
    method: str = "tsne",
    seed: int = 0,
    max_points: int = 1000,
) -> None:
    """One panel per training method: source (blue) and target (red) features in 2-D.

    Like Fig. 3 of Ganin et al. (JMLR 2016): the closer the two clouds, the
    less the features tell the domains apart.

    Args:
      features_by_method: training method (e.g. "source_only", "dann") ->
        (source features (N_s, F), target features (N_t, F)), float.
      path: where the PNG goes.
      method, seed, max_points: see :func:`dann_jax.evaluation.metrics.embed_features`.
    """
    embeddings = {
        name: embed_features(source, target, method=method, seed=seed, max_points=max_points)
        for name, (source, target) in features_by_method.items()
    }
    figure, axes = plt.subplots(
        1, len(embeddings), figsize=(5 * len(embeddings), 5), squeeze=False, constrained_layout=True
    )
    for axis, (name, (points, domains)) in zip(axes[0], embeddings.items(), strict=True):
        for domain, colour, label in ((0, "#1f77b4", "source"), (1, "#d62728", "target")):
            chosen = points[domains == domain]
            axis.scatter(chosen[:, 0], chosen[:, 1], s=6, c=colour, alpha=0.5, label=label)
        axis.set_title(f"{name} ({'t-SNE' if method == 'tsne' else 'PCA'})")
        axis.set_xticks([])
        axis.set_yticks([])
    axes[0, 0].legend(loc="best", markerscale=3)
    files.save_figure(figure, path, dpi=100)
    plt.close(figure)
