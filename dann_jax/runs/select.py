"""``dann select``'s work: every checkpoint of a run folder scored, each validator's pick.

Every checkpoint of every method of a run folder is a candidate; the validators
score each from its outputs on the run's held-out source test split and on a
sample of the unlabelled target training images
(:func:`dann_jax.evaluation.selection.score_candidate`), and each picks its best
(:func:`dann_jax.evaluation.selection.pick_checkpoints`); one validator's pick is the
run's chosen checkpoint, which ``dann predict`` and ``load_trained(checkpoint="chosen")``
use. No target label is read to pick. Where the target has labels, each candidate's
target test accuracy (the oracle) is reported beside the picks; an unlabelled target
(an image folder without class folders) gets the picks alone. :func:`write` puts
``selection.json`` and ``selection.md`` into the run folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dann_jax.evaluation import selection, validators
from dann_jax.runs.data import load_data
from dann_jax.runs.evaluate import checkpointed, fresh_state
from dann_jax.runs.folder import RunFolder
from dann_jax.runs.plan import saved_plan


def select_checkpoints(
    workdir: str | Path,
    *,
    last_k: int = selection.LAST_K,
    validator: str = selection.RECOMMENDED,
    model: str | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Scores every checkpoint of every method in a run folder (see the module).

    Args:
      workdir: the run folder.
      last_k: checkpoints in the mean-prediction convention (reported with target labels).
      validator: the validator whose pick is each method's chosen checkpoint.
      model: the run's model import path, to import it (see
        :func:`~dann_jax.runs.plan.saved_plan`).
      progress: show progress bars.

    Returns:
      method -> :func:`dann_jax.evaluation.selection.pick_checkpoints`' record.

    Raises:
      ValueError: the folder holds no run, a method has no checkpoint, or
        ``validator`` is none.
    """
    if validator not in validators.VALIDATORS:
        raise ValueError(
            f"unknown validator {validator!r}; choose one of {', '.join(validators.VALIDATORS)}."
        )
    folder = RunFolder(Path(workdir))
    plan = saved_plan(folder.config(), model=model)
    data = load_data(plan, progress=progress)
    labels = data.target_test.labels
    labelled = not np.all(labels < 0)
    training = data.training
    inputs = (training.preprocess, training.class_names)
    conform = training.preprocess.conform
    source_validation = (data.source_test.inputs, data.source_test.labels)
    source_train = selection.sample(training.source, conform)
    target = selection.sample(training.target, conform)
    results = {}
    for method in plan.methods:
        saved = folder.file("checkpoints") / method
        manager = folder.checkpoints(method, keep=None) if saved.is_dir() else None
        steps = list(manager.all_steps()) if manager is not None else []
        if not steps:
            raise ValueError(f"{workdir} has no checkpoint of {method} (checkpoints/{method}).")
        template = fresh_state(plan, method, training.preprocess, training.num_classes)
        scores = {name: [] for name in validators.VALIDATORS}
        probabilities = []
        for step in tqdm(steps, desc=method, disable=not progress, unit="checkpoint", leave=False):
            trained = checkpointed(folder, plan, method, inputs, step, template)
            for name, score in selection.score_candidate(
                trained, source_validation, source_train, target
            ).items():
                scores[name].append(score)
            if labelled:  # the oracle, reported beside the picks
                logits = trained.logits(data.target_test.inputs)[0]
                probabilities.append(validators.softmax_probabilities(logits))
        accuracies = last_k_accuracy = None
        if labelled:
            accuracies = [float(np.mean(p.argmax(-1) == labels)) for p in probabilities]
            mean_last = np.mean(probabilities[-last_k:], axis=0).argmax(-1)
            last_k_accuracy = float(np.mean(mean_last == labels))
        results[method] = selection.pick_checkpoints(
            steps, scores, accuracies, last_k_accuracy, last_k, chosen_by=validator
        )
    return results


def report(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The picks as markdown: the table and what to know about it."""
    notes = "\n".join(f"- {note}" for note in selection.selection_notes(results))
    return f"{selection.selection_table(results)}\n{notes}\n"


def write(workdir: str | Path, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Writes ``selection.json`` and ``selection.md`` into the run folder."""
    folder = RunFolder(Path(workdir))
    folder.write_json("selection.json", results)
    labelled = selection.labelled(next(iter(results.values())))
    what = (
        "the step each validator picks, its target test accuracy and the validator's rank "
        "correlation with target accuracy over the checkpoints (Spearman's)"
        if labelled
        else "the step each validator picks (the target has no labels)"
    )
    folder.write_text(
        "selection.md",
        f"# Checkpoint selection without target labels\n\nPer method, {what}.\n\n"
        + report(results),
    )
