"""Selection without target labels: each validator's pick among candidates, and tables.

A candidate is a trained network: one checkpoint of one run, or, in a sweep, one
checkpoint of one member. Each label-free validator
(:mod:`dann_jax.evaluation.validators`) scores every candidate from its outputs on
the source validation split (held out, never trained on) and on unlabelled target
training images (:func:`score_candidate`); it picks its best-scoring candidate.
Two conventions are reported too: the last step, and the mean of the last k
checkpoints' predicted probabilities. The target test accuracy of each candidate
(the oracle) is only reported, to show how far each pick lands from the best
possible; no pick reads it. Reading candidates from run folders is
:mod:`dann_jax.runs.select`'s and :mod:`dann_jax.runs.sweep`'s job.

References:
  Musgrave, Belongie & Lim, "Three New Validators and a Large-Scale Benchmark
  Ranking for Unsupervised Domain Adaptation", 2022 (the rank correlation of a
  validator with target accuracy over candidates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dann_jax.core.trained import TrainedDANN
from dann_jax.data.sources import RandomAccessSource, read
from dann_jax.evaluation import validators

# Examples of each training domain fed to the validators (evenly spaced over the domain).
SAMPLE = 2000
LAST_K = 3
ORACLE = "oracle (target labels; reported, never chosen on)"
# The validator whose pick is a run's chosen checkpoint by default: in the guide's
# experiments (the default, MNIST -> MNIST-M, the moons sweep) information maximisation
# was never far from the oracle, within a run and across settings.
RECOMMENDED = "information_maximization"


def sample(source: RandomAccessSource, conform: Any, count: int = SAMPLE) -> np.ndarray:
    """Up to ``count`` evenly spaced records of ``source``, conformed (N, ...) float32."""
    positions = np.linspace(0, len(source) - 1, min(count, len(source))).astype(np.int64)
    return conform(read(source, positions)["image"])


def candidate_outputs(
    trained: TrainedDANN,
    source_validation: tuple[np.ndarray, np.ndarray],
    source_train: np.ndarray,
    target: np.ndarray,
) -> dict[str, np.ndarray]:
    """What the validators read of one candidate (see :func:`validators.score`).

    Args:
      trained: the candidate.
      source_validation: held-out source inputs (N_v, ...) and labels (N_v,).
      source_train: source training inputs (N_s, ...) (DEV's domain classifier).
      target: unlabelled target training inputs (N_t, ...).
    """
    inputs, labels = source_validation
    features, logits, _ = trained.features_and_logits(inputs)
    target_features, target_logits, _ = trained.features_and_logits(target)
    log_probabilities = np.log(np.clip(validators.softmax_probabilities(logits), 1e-12, None))
    return {
        "source_validation_logits": logits,
        "source_validation_labels": labels,
        "source_validation_features": features,
        "source_validation_losses": -log_probabilities[np.arange(len(labels)), labels],
        "source_train_features": trained.features(source_train),
        "target_logits": target_logits,
        "target_features": target_features,
    }


def score_candidate(
    trained: TrainedDANN,
    source_validation: tuple[np.ndarray, np.ndarray],
    source_train: np.ndarray,
    target: np.ndarray,
) -> dict[str, float]:
    """Every validator's score of one candidate (arguments as :func:`candidate_outputs`)."""
    outputs = candidate_outputs(trained, source_validation, source_train, target)
    return {name: validators.score(name, outputs) for name in validators.VALIDATORS}


def rank_correlation(scores: Sequence[float], accuracies: Sequence[float]) -> float | None:
    """Spearman's rank correlation, or None when either side is constant."""
    from scipy.stats import spearmanr  # scikit-learn's dependency; only selection needs it

    if len(set(scores)) < 2 or len(set(accuracies)) < 2:
        return None
    return float(spearmanr(scores, accuracies).statistic)


def pick_checkpoints(
    steps: Sequence[int],
    scores: Mapping[str, Sequence[float]],
    target_accuracy: Sequence[float] | None = None,
    last_k_accuracy: float | None = None,
    last_k: int = LAST_K,
    chosen_by: str = RECOMMENDED,
) -> dict[str, Any]:
    """One run's picks among its checkpoints, for one method.

    Args:
      steps: the checkpoints' steps, in order.
      scores: validator -> its score of each checkpoint.
      target_accuracy: each checkpoint's target test accuracy (reported only), or
        None when the target has no labels.
      last_k_accuracy: the target accuracy of the last ``last_k`` checkpoints' mean
        predicted probabilities (None without target labels).
      last_k: how many checkpoints that mean takes.
      chosen_by: the validator whose pick is the run's chosen checkpoint.

    Returns:
      ``steps``, ``scores``; ``picks`` (validator -> the step of its highest score, the
      earlier on ties, and its target accuracy where known); ``last`` (the last step);
      ``chosen`` (``chosen_by`` and its pick's step). With target labels also
      ``target_accuracy``, ``oracle`` (the step of the best target accuracy),
      ``mean_of_last_<k>`` and ``rank_correlation`` (validator -> Spearman's with
      target accuracy over the checkpoints). Picks read only ``scores``.

    Raises:
      ValueError: ``chosen_by`` is no validator of ``scores``.
    """
    if chosen_by not in scores:
        raise ValueError(f"no validator {chosen_by!r}; choose one of {sorted(scores)}.")

    def at(index: int) -> dict[str, Any]:
        found = {"step": steps[index]}
        if target_accuracy is not None:
            found["target_accuracy"] = target_accuracy[index]
        return found

    picks = {name: at(int(np.argmax(values))) for name, values in scores.items()}
    record = {
        "steps": list(steps),
        "scores": {name: list(values) for name, values in scores.items()},
        "picks": picks,
        "last": at(len(steps) - 1),
        "chosen": {"validator": chosen_by, "step": picks[chosen_by]["step"]},
    }
    if target_accuracy is None:
        return record
    return record | {
        "target_accuracy": list(target_accuracy),
        "oracle": at(int(np.argmax(target_accuracy))),
        f"mean_of_last_{last_k}": {"target_accuracy": last_k_accuracy},
        "rank_correlation": {
            name: rank_correlation(values, target_accuracy) for name, values in scores.items()
        },
    }


def labelled(record: Mapping[str, Any]) -> bool:
    """Whether a pick record (of :func:`pick_checkpoints` or :func:`pick_settings`)
    reports target accuracies: the target had labels."""
    return "oracle" in record


def pick_settings(picks_by_setting: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each validator's pick among the checkpoints of many settings (a sweep's members
    of one seed).

    Args:
      picks_by_setting: setting (e.g. ``learning_rate=0.01``) -> method ->
        :func:`pick_checkpoints`' record of that member's run.

    Returns:
      method -> ``picks`` (validator -> setting, step and, with target labels, target
      accuracy; the first candidate on ties) and, with target labels, ``oracle`` (the
      same, for the best target accuracy: reported only), ``last`` (setting -> its last
      step's target accuracy) and ``rank_correlation`` (validator -> Spearman's over all
      candidates).
    """
    chosen = {}
    for method in next(iter(picks_by_setting.values())):
        records = {setting: picks[method] for setting, picks in picks_by_setting.items()}
        known = all(labelled(record) for record in records.values())
        candidates, scores = [], {}
        for setting, record in records.items():
            for index, step in enumerate(record["steps"]):
                candidate = {"setting": setting, "step": step}
                if known:
                    candidate["target_accuracy"] = record["target_accuracy"][index]
                candidates.append(candidate)
                for name, values in record["scores"].items():
                    scores.setdefault(name, []).append(values[index])
        chosen[method] = {
            "picks": {name: candidates[int(np.argmax(values))] for name, values in scores.items()}
        }
        if known:
            accuracies = [candidate["target_accuracy"] for candidate in candidates]
            chosen[method] |= {
                "oracle": candidates[int(np.argmax(accuracies))],
                "last": {
                    setting: record["last"]["target_accuracy"]
                    for setting, record in records.items()
                },
                "rank_correlation": {
                    name: rank_correlation(values, accuracies) for name, values in scores.items()
                },
            }
    return chosen


def _mean_defined(values: Sequence[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None


def _counts(settings: Sequence[str]) -> dict[str, int]:
    return {setting: settings.count(setting) for setting in dict.fromkeys(settings)}


def over_seeds(per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The picks of many seeds summarised, for :func:`seeds_table`.

    Args:
      per_seed: seed -> :func:`pick_settings`' record (method -> picks and, with target
        labels, oracle, last, rank_correlation).

    Returns:
      method -> ``picked`` (validator -> setting -> how many seeds picked it) and, with
      target labels, ``target_accuracy`` (choice -> [mean, std] over seeds, std with
      ddof=0) and ``rank_correlation`` (validator -> mean over the seeds where defined).
    """
    summary = {}
    for method, first in next(iter(per_seed.values())).items():
        records = [chosen[method] for chosen in per_seed.values()]
        summary[method] = {
            "picked": {
                name: _counts([record["picks"][name]["setting"] for record in records])
                for name in first["picks"]
            }
        }
        if not all(labelled(record) for record in records):
            continue
        accuracies = {
            name: [record["picks"][name]["target_accuracy"] for record in records]
            for name in first["picks"]
        }
        accuracies["oracle"] = [record["oracle"]["target_accuracy"] for record in records]
        for setting in first["last"]:
            accuracies[f"last step, {setting}"] = [record["last"][setting] for record in records]
        summary[method] |= {
            "target_accuracy": {
                name: [float(np.mean(values)), float(np.std(values))]
                for name, values in accuracies.items()
            },
            "rank_correlation": {
                name: _mean_defined([record["rank_correlation"][name] for record in records])
                for name in first["picks"]
            },
        }
    return summary


def selection_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """One run's picks as markdown: a row per validator and convention, a column per
    method (the picked step and, with target labels, its target accuracy and the
    validator's rank correlation); the chosen validator's row says so.

    Args:
      results: method -> :func:`pick_checkpoints`' record.
    """
    methods = list(results)
    first = results[methods[0]]
    lines = ["| choice | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]

    def cell(choice: Mapping[str, Any], correlation: float | None = None) -> str:
        parts = []
        if "step" in choice:
            parts.append(f"step {choice['step']}")
        if "target_accuracy" in choice:
            parts.append(f"{choice['target_accuracy']:.3f}")
        text = ", ".join(parts)
        if correlation is not None:
            text += f", rank corr. {correlation:+.2f}"
        return text

    chosen_by = first["chosen"]["validator"]
    for name in first["picks"]:
        cells = [
            cell(results[m]["picks"][name], results[m].get("rank_correlation", {}).get(name))
            for m in methods
        ]
        label = f"**{name}** (chosen)" if name == chosen_by else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    conventions = ["last"]
    if labelled(first):
        conventions += [*(key for key in first if key.startswith("mean_of_last_")), "oracle"]
    for key in conventions:
        label = ORACLE if key == "oracle" else key
        lines.append(f"| {label} | " + " | ".join(cell(results[m][key]) for m in methods) + " |")
    return "\n".join(lines) + "\n"


def selection_notes(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What a reader of :func:`selection_table` should know: which checkpoint is chosen
    and why; that an unlabelled target reports no accuracy; that one checkpoint leaves
    nothing to choose, and how to keep more."""
    first = next(iter(results.values()))
    chosen_by = first["chosen"]["validator"]
    steps = ", ".join(f"{method} step {record['chosen']['step']}"
                      for method, record in results.items())  # fmt: skip
    notes = [
        f"Chosen: {steps}, the picks of {chosen_by}"
        + (
            " (recommended: never far from the oracle in the guide's experiments, across "
            "steps and settings)."
            if chosen_by == RECOMMENDED
            else "."
        )
    ]
    if not labelled(first):
        notes.append(
            "The target has no labels: no target accuracy, oracle or rank correlation can "
            "be reported; each cell is the step a validator picks."
        )
    alone = [method for method, record in results.items() if len(record["steps"]) < 2]
    if alone:
        notes.append(
            f"{', '.join(alone)}: one checkpoint, so every validator picks it. To choose "
            "among more, train with --config.checkpoint_every=N (e.g. a tenth of the steps) "
            "and --config.keep_checkpoints=0."
        )
    return notes


def seeds_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """Picks summarised over seeds, as markdown: a row per choice, a column per method.

    Args:
      summary: method -> ``picked`` (validator -> setting -> seeds that picked it, for
        a sweep) and, with target labels, ``target_accuracy`` (choice -> [mean, std])
        and ``rank_correlation`` (validator -> mean over seeds, or None), as
        :func:`over_seeds` makes it.
    """
    methods = list(summary)
    first = next(iter(summary.values()))
    choices = list(first.get("target_accuracy", first.get("picked", {})))
    lines = ["| choice | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for choice in choices:
        cells = []
        for method in methods:
            parts = []
            if "target_accuracy" in summary[method]:
                mean, std = summary[method]["target_accuracy"][choice]
                parts.append(f"{mean:.3f} ± {std:.3f}")
                correlation = summary[method]["rank_correlation"].get(choice)
                if correlation is not None:
                    parts[-1] += f", rank corr. {correlation:+.2f}"
            picked = summary[method].get("picked", {}).get(choice)
            if picked:
                parts.append("picked " + ", ".join(f"{s} ({n})" for s, n in picked.items()))
            cells.append("; ".join(parts))
        label = ORACLE if choice == "oracle" else choice
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
