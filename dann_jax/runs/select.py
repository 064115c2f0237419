"""``dann select``'s work: every checkpoint of a run folder scored, each validator's pick.

Every checkpoint of every method of a run folder is a candidate; the validators
score each from its outputs on the run's held-out source test split and on a
sample of the unlabelled target training images
(:func:`dann_jax.evaluation.selection.score_candidate`), and each picks its best
(:func:`dann_jax.evaluation.selection.pick_checkpoints`). The target test accuracy
of each candidate (the oracle) is reported beside the picks, never read by them.
:func:`write` puts ``selection.json`` and ``selection.md`` into the run folder.
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
from dann_jax.runs.plan import make_plan


def select_checkpoints(
    workdir: str | Path, *, last_k: int = selection.LAST_K, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Scores every checkpoint of every method in a run folder (see the module).

    Returns:
      method -> :func:`dann_jax.evaluation.selection.pick_checkpoints`' record.

    Raises:
      ValueError: the folder holds no run, a method has no checkpoint, or the
        target has no labels to report the oracle with.
    """
    folder = RunFolder(Path(workdir))
    plan = make_plan(folder.config())
    data = load_data(plan, progress=progress)
    if np.all(data.target_test.labels < 0):
        raise ValueError(f"{workdir}'s target has no labels: there is no oracle to report.")
    conform = data.training.preprocess.conform
    source_validation = (data.source_test.inputs, data.source_test.labels)
    source_train = selection.sample(data.training.source, conform)
    target = selection.sample(data.training.target, conform)
    results = {}
    for method in plan.methods:
        manager = folder.checkpoints(method, keep=None)
        steps = list(manager.all_steps()) if manager is not None else []
        if not steps:
            raise ValueError(f"{workdir} has no checkpoint of {method} (checkpoints/{method}).")
        template = fresh_state(plan, method, data)
        scores = {name: [] for name in validators.VALIDATORS}
        accuracies, probabilities = [], []
        for step in tqdm(steps, desc=method, disable=not progress, unit="checkpoint"):
            trained = checkpointed(folder, plan, method, data, step, template)
            for name, score in selection.score_candidate(
                trained, source_validation, source_train, target
            ).items():
                scores[name].append(score)
            test_logits = trained.logits(data.target_test.inputs)[0]
            test_probabilities = validators.softmax_probabilities(test_logits)
            probabilities.append(test_probabilities)
            accuracies.append(
                float(np.mean(test_probabilities.argmax(-1) == data.target_test.labels))
            )
        mean_last = np.mean(probabilities[-last_k:], axis=0).argmax(-1)
        last_k_accuracy = float(np.mean(mean_last == data.target_test.labels))
        results[method] = selection.pick_checkpoints(
            steps, scores, accuracies, last_k_accuracy, last_k
        )
    return results


def write(workdir: str | Path, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Writes ``selection.json`` and ``selection.md`` into the run folder."""
    folder = RunFolder(Path(workdir))
    folder.write_json("selection.json", results)
    text = (
        "# Checkpoint selection without target labels\n\nTarget test accuracy of each pick "
        "(its step; rank corr.: Spearman's rank correlation of the validator's scores with target "
        "accuracy over the checkpoints).\n\n" + selection.selection_table(results)
    )
    folder.file("selection.md").write_text(text)
