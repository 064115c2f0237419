"""Choosing a run's checkpoint without target labels, with the oracle reported beside.

Every checkpoint of every method of a run folder is a candidate. Each label-free
validator (:mod:`dann_jax.validators`) scores every candidate from its outputs on
the source validation split (the run's held-out source test split, never trained
on) and on the unlabelled target training images; the validator picks its best
candidate. Two conventions are reported too: the last step, and the mean of the
last k checkpoints' predicted probabilities. The target test accuracy of each
candidate (the oracle) is computed only to report how far each choice lands from
the best possible; no choice reads it. ``dann select --workdir RUN`` writes
``selection.json`` and ``selection.md`` into the run folder.

References:
  Musgrave, Belongie & Lim, "Three New Validators and a Large-Scale Benchmark
  Ranking for Unsupervised Domain Adaptation", 2022 (the rank correlation of a
  validator with target accuracy over candidates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dann_jax import experiment, validators
from dann_jax.data.sources import RandomAccessSource, read
from dann_jax.run_folder import RunFolder
from dann_jax.trained import TrainedDANN

# Examples of each training domain fed to the validators (evenly spaced over the domain).
SAMPLE = 2000
LAST_K = 3


def _sample(source: RandomAccessSource, conform: Any, count: int) -> np.ndarray:
    """Up to ``count`` evenly spaced records of ``source``, conformed (N, ...) float32."""
    positions = np.linspace(0, len(source) - 1, min(count, len(source))).astype(np.int64)
    return conform(read(source, positions)["image"])


def candidate_outputs(
    trained: TrainedDANN,
    source_validation: tuple[np.ndarray, np.ndarray],
    source_train: np.ndarray,
    target: np.ndarray,
) -> dict[str, np.ndarray]:
    """What the validators read of one candidate (see :func:`dann_jax.validators.score`).

    Args:
      trained: the candidate.
      source_validation: held-out source inputs (N_v, ...) and labels (N_v,).
      source_train: source training inputs (N_s, ...) (DEV's domain classifier).
      target: unlabelled target training inputs (N_t, ...).
    """
    inputs, labels = source_validation
    logits = trained.logits(inputs)[0]
    log_probabilities = np.log(np.clip(validators.softmax_probabilities(logits), 1e-12, None))
    return {
        "source_validation_logits": logits,
        "source_validation_labels": labels,
        "source_validation_features": trained.features(inputs),
        "source_validation_losses": -log_probabilities[np.arange(len(labels)), labels],
        "source_train_features": trained.features(source_train),
        "target_logits": trained.logits(target)[0],
        "target_features": trained.features(target),
    }


def rank_correlation(scores: Sequence[float], accuracies: Sequence[float]) -> float | None:
    """Spearman's rank correlation, or None when either side is constant."""
    from scipy.stats import spearmanr  # scikit-learn's dependency; only selection needs it

    if len(set(scores)) < 2 or len(set(accuracies)) < 2:
        return None
    return float(spearmanr(scores, accuracies).statistic)


def summarise(
    steps: Sequence[int],
    scores: Mapping[str, Sequence[float]],
    target_accuracy: Sequence[float],
    last_k_accuracy: float,
    last_k: int,
) -> dict[str, Any]:
    """One method's choices: each validator's pick (the highest score; the earlier step
    on ties) and its target accuracy, the oracle's, the last step's, the last k
    checkpoints' mean prediction's, and each validator's rank correlation with target
    accuracy over the candidates. Picks read only ``scores``."""
    picks = {}
    for name, values in scores.items():
        index = int(np.argmax(values))
        picks[name] = {"step": steps[index], "target_accuracy": target_accuracy[index]}
    oracle = int(np.argmax(target_accuracy))
    return {
        "steps": list(steps),
        "target_accuracy": list(target_accuracy),
        "scores": {name: list(values) for name, values in scores.items()},
        "picks": picks,
        "oracle": {"step": steps[oracle], "target_accuracy": target_accuracy[oracle]},
        "last": {"step": steps[-1], "target_accuracy": target_accuracy[-1]},
        f"mean_of_last_{last_k}": {"target_accuracy": last_k_accuracy},
        "rank_correlation": {
            name: rank_correlation(values, target_accuracy) for name, values in scores.items()
        },
    }


def select_checkpoints(
    workdir: str | Path, *, last_k: int = LAST_K, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Scores every checkpoint of every method in a run folder (see the module).

    Returns:
      method -> :func:`summarise`'s record.

    Raises:
      ValueError: the folder holds no run, a method has no checkpoint, or the
        target has no labels to report the oracle with.
    """
    folder = RunFolder(Path(workdir))
    config = folder.config()
    data = experiment.load_data(config, progress=progress)
    if np.all(data.target_test.labels < 0):
        raise ValueError(f"{workdir}'s target has no labels: there is no oracle to report.")
    conform = data.training.preprocess.conform
    source_validation = (data.source_test.inputs, data.source_test.labels)
    source_train = _sample(data.training.source, conform, SAMPLE)
    target = _sample(data.training.target, conform, SAMPLE)
    results = {}
    for method, settings in experiment.settings_of(config).items():
        manager = folder.checkpoints(method, keep=None)
        steps = list(manager.all_steps()) if manager is not None else []
        if not steps:
            raise ValueError(f"{workdir} has no checkpoint of {method} (checkpoints/{method}).")
        scores = {name: [] for name in validators.VALIDATORS}
        accuracies, probabilities = [], []
        for step in tqdm(steps, desc=method, disable=not progress, unit="checkpoint"):
            trained = experiment.checkpointed(folder, method, settings, config, data, step)
            outputs = candidate_outputs(trained, source_validation, source_train, target)
            for name in scores:
                scores[name].append(validators.score(name, outputs))
            test_logits = trained.logits(data.target_test.inputs)[0]
            test_probabilities = validators.softmax_probabilities(test_logits)
            probabilities.append(test_probabilities)
            accuracies.append(
                float(np.mean(test_probabilities.argmax(-1) == data.target_test.labels))
            )
        mean_last = np.mean(probabilities[-last_k:], axis=0).argmax(-1)
        last_k_accuracy = float(np.mean(mean_last == data.target_test.labels))
        results[method] = summarise(steps, scores, accuracies, last_k_accuracy, last_k)
    return results


def selection_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The choices as markdown: a row per validator and convention, a column per method
    (the chosen step's target accuracy, its step, and the validator's rank correlation)."""
    methods = list(results)
    header = "| choice | " + " | ".join(methods) + " |"
    lines = [header, "|---|" + "---|" * len(methods)]

    def cell(choice: Mapping[str, Any], correlation: float | None = None) -> str:
        text = f"{choice['target_accuracy']:.3f}"
        if "step" in choice:
            text += f" (step {choice['step']})"
        if correlation is not None:
            text += f", rank corr. {correlation:+.2f}"
        return text

    first = results[methods[0]]
    for name in first["picks"]:
        cells = [
            cell(results[m]["picks"][name], results[m]["rank_correlation"][name]) for m in methods
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    conventions = ["last", *(key for key in first if key.startswith("mean_of_last_")), "oracle"]
    for key in conventions:
        label = "oracle (target labels; reported, never chosen on)" if key == "oracle" else key
        lines.append(f"| {label} | " + " | ".join(cell(results[m][key]) for m in methods) + " |")
    return "\n".join(lines) + "\n"


def seeds_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """Choices summarised over seeds, as markdown: a row per choice, a column per method.

    Args:
      summary: method -> ``target_accuracy`` (choice -> [mean, std]),
        ``rank_correlation`` (validator -> mean over seeds, or None) and, for a
        sweep, ``picked`` (validator -> setting -> seeds that picked it).
    """
    methods = list(summary)
    lines = ["| choice | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for choice in next(iter(summary.values()))["target_accuracy"]:
        cells = []
        for method in methods:
            mean, std = summary[method]["target_accuracy"][choice]
            text = f"{mean:.3f} ± {std:.3f}"
            correlation = summary[method]["rank_correlation"].get(choice)
            if correlation is not None:
                text += f", rank corr. {correlation:+.2f}"
            picked = summary[method].get("picked", {}).get(choice)
            if picked:
                text += "; picked " + ", ".join(f"{s} ({n})" for s, n in picked.items())
            cells.append(text)
        label = (
            "oracle (target labels; reported, never chosen on)" if choice == "oracle" else choice
        )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(workdir: str | Path, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Writes ``selection.json`` and ``selection.md`` into the run folder."""
    folder = RunFolder(Path(workdir))
    folder.write_json("selection.json", results)
    text = (
        "# Checkpoint choice without target labels\n\nTarget test accuracy of each choice "
        "(its step; rank corr.: Spearman's rank correlation of the validator's scores with target "
        "accuracy over the checkpoints).\n\n" + selection_table(results)
    )
    folder.file("selection.md").write_text(text)
