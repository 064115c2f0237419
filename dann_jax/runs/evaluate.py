"""Trained methods -> a run folder's results; and trained methods back from a run folder.

:func:`report` evaluates what a run trained and writes its results, tables and
plots; :func:`evaluate_run` does it again from a finished run's checkpoints
(``dann evaluate``); :func:`load_trained` and :func:`restore_trained` give a
checkpoint back as a :class:`~dann_jax.core.trained.TrainedDANN`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dann_jax.core import checkpoints
from dann_jax.core.state import TrainState, initial_state
from dann_jax.core.trained import TrainedDANN
from dann_jax.data.preprocess import Preprocess
from dann_jax.evaluation import metrics
from dann_jax.runs import plots
from dann_jax.runs.data import RunData, load_data
from dann_jax.runs.folder import RunFolder, results_table
from dann_jax.runs.plan import RunPlan, saved_plan

logger = logging.getLogger(__name__)
Restore = Callable[[TrainState], tuple[TrainState, dict]]
# What a run's networks take and give: the preprocessing of raw inputs, the class names.
TrainedOn = tuple[Preprocess, tuple[str, ...]]


def evaluate_methods(
    trained_by_method: dict[str, TrainedDANN], data: RunData, plan: RunPlan, folder: RunFolder
) -> dict[str, dict[str, float]]:
    """Test accuracies and proxy A-distance of each method; writes ``evaluation.json``
    (the PAD and its classifier) and, with ``plan.plots``, ``features.png`` (t-SNE of
    source vs target test features). Returns method -> scores."""
    scores, evaluation, features = {}, {}, {}
    for method, trained in trained_by_method.items():
        # One pass (and one compiled program) per split gives the features and both logits.
        source_features, *source_logits = trained.features_and_logits(data.source_test.inputs)
        target_features, *target_logits = trained.features_and_logits(data.target_test.inputs)
        scores[method] = metrics.scores_from_logits(
            source_logits, target_logits, data.source_test.labels, data.target_test.labels
        )
        features[method] = (source_features, target_features)
        if not all(np.isfinite(part).all() for part in features[method]):
            raise FloatingPointError(
                f"{method}'s trained network gives non-finite features on the test data (its "
                "weights are finite but so large that they overflow); lower the learning rate "
                "and start afresh with --overwrite."
            )
        evaluation[method] = metrics.proxy_a_distance(*features[method], seed=plan.seed)
        scores[method]["proxy_a_distance"] = evaluation[method]["proxy_a_distance"]
    folder.write_json("evaluation.json", evaluation)
    if plan.plots:
        plots.feature_embedding(features, folder.file("features.png"), seed=plan.seed)
    return scores


def report(
    folder: RunFolder,
    trained_by_method: dict[str, TrainedDANN],
    data: RunData,
    plan: RunPlan,
    *,
    announce: bool = True,
) -> dict[str, dict[str, float]]:
    """Evaluates the trained methods into the run folder: ``results.json`` and ``.md``,
    the evaluation, the plots; logs the table (with ``announce``) and returns method ->
    scores and wall time."""
    scores = evaluate_methods(trained_by_method, data, plan, folder)
    wall_times = folder.wall_times()
    results = {method: {**scores[method], "wall_time_s": wall_times[method]} for method in scores}
    folder.write_json("results.json", results)
    table = results_table(results, plan.paper_target_accuracy, transductive=data.transductive)
    folder.write_text("results.md", table)
    if plan.plots:
        plots.training_curves(
            {method: trained.history for method, trained in trained_by_method.items()},
            folder.file("training_curves.png"),
        )
    if plan.plots and data.offline is not None and data.training.input_shape == (2,):
        plots.decision_boundaries(
            trained_by_method, data.offline, folder.file("decision_boundaries.png")
        )
    if announce:
        logger.info("%s\nRun folder: %s", table, folder.path)
    return results


def fresh_state(plan: RunPlan, method: str, preprocess: Preprocess, num_classes: int) -> TrainState:
    """A fresh state of ``method``'s network for inputs as ``preprocess`` makes them: the
    template a checkpoint is restored into."""
    return initial_state(plan.model, preprocess, num_classes, plan.methods[method])


def restore_trained(
    plan: RunPlan, trained_on: TrainedOn, restore: Restore, template: TrainState
) -> TrainedDANN:
    """A trained network from a checkpoint: ``restore`` of a fresh state ``template``
    (:func:`fresh_state`; the saved arrays go into its network and settings)."""
    state, _ = restore(template)
    preprocess, class_names = trained_on
    return TrainedDANN(state, [], preprocess, plan.model, class_names)


def checkpointed(
    folder: RunFolder,
    plan: RunPlan,
    method: str,
    trained_on: TrainedOn,
    step: int | None = None,
    template: TrainState | None = None,
) -> TrainedDANN:
    """``method``'s trained network from its checkpoint at ``step`` (default: the latest)
    in ``folder``; ``trained_on``: the preprocessing and class names of its training
    data; ``template``: a fresh state to restore into, made when not given.

    Raises:
      ValueError: the folder holds no checkpoint of ``method``, or none at ``step``, or
        it is unreadable (by default the latest readable one is taken).
    """
    missing = f"{folder.path} has no checkpoint of {method} (checkpoints/{method})."
    if not (folder.file("checkpoints") / method).is_dir():  # before a manager makes it
        raise ValueError(missing)
    manager = folder.checkpoints(method, keep=None)
    steps = list(manager.all_steps()) if manager is not None else []
    if not steps:
        raise ValueError(missing)
    if step is not None and step not in steps:
        raise ValueError(
            f"{folder.path} has no checkpoint of {method} at step {step}; it has steps "
            f"{', '.join(map(str, steps))}."
        )
    if step is None:  # the latest that reads: a damaged newest one is skipped, said so
        step, damaged = checkpoints.newest_readable(folder.file("checkpoints") / method)
        for bad, why in damaged.items():
            logger.warning(
                "%s: skipped its checkpoint at step %d, unreadable (%s)", method, bad, why
            )
        if step is None:
            raise ValueError(
                f"{folder.path} has no readable checkpoint of {method}: every one is damaged."
            )
    restore = functools.partial(checkpoints.restore, manager, step=step)
    if template is None:
        preprocess, class_names = trained_on
        template = fresh_state(plan, method, preprocess, len(class_names))
    return restore_trained(plan, trained_on, restore, template)


def chosen_step(folder: RunFolder, method: str) -> tuple[int, str]:
    """The step of ``method``'s checkpoint that ``dann select`` chose, and the validator
    that chose it.

    Raises:
      ValueError: the run has no selection of ``method``; the message says how to make one.
    """
    chosen = ((folder.selection() or {}).get(method) or {}).get("chosen")
    if not chosen:
        raise ValueError(
            f"{folder.path} has no chosen checkpoint of {method}: run `dann select --workdir "
            f"{folder.path}` first, or ask for the last one (checkpoint='last')."
        )
    return int(chosen["step"]), chosen["validator"]


def read_trained_on(folder: RunFolder, plan: RunPlan, *, progress: bool = False) -> TrainedOn:
    """What the run's networks take and give: its ``inputs.json``, or, for a run folder
    written before dann_jax 0.3, read from its training data."""
    written = folder.inputs()
    if written is not None:
        return written
    training = load_data(plan, progress=progress).training
    return training.preprocess, training.class_names


def load_trained(
    workdir: str | Path,
    checkpoint: str | int = "last",
    *,
    method: str | None = None,
    model: str | None = None,
    progress: bool = False,
) -> TrainedDANN:
    """A run's trained network, ready to predict: ``trained.predict(images)`` gives class
    ids, ``trained.class_names`` what they mean.

    Args:
      workdir: the run folder.
      checkpoint: "last", "chosen" (the checkpoint ``dann select`` chose without target
        labels) or a step.
      method: which method's network; default "dann" when the run trained it, else its
        first method.
      model: the run's model, when its config names one by import path: a run
        folder is not trusted as code, so its path is imported only when given here
        (:func:`~dann_jax.runs.plan.saved_plan`).
      progress: show progress bars (a run folder written before 0.3 reads its data).

    Raises:
      ValueError: ``workdir`` holds no run, or not that method or checkpoint; the
        message says which there are.
    """
    folder = RunFolder(Path(workdir))
    plan = saved_plan(folder.config(), model=model)
    method = method or plan.main_method
    if method not in plan.methods:
        raise ValueError(f"{workdir} trained {list(plan.methods)}, not {method}.")
    if checkpoint == "chosen":
        step, _ = chosen_step(folder, method)
    elif checkpoint == "last":
        step = None
    else:
        try:
            step = int(checkpoint)
        except (TypeError, ValueError):
            raise ValueError(
                f"checkpoint={checkpoint!r}: give 'last', 'chosen' or a step number."
            ) from None
    inputs = read_trained_on(folder, plan, progress=progress)
    return checkpointed(folder, plan, method, inputs, step)


def evaluate_run(
    workdir: Path, *, model: str | None = None, progress: bool = True
) -> dict[str, dict[str, float]]:
    """Re-evaluates a finished run folder from its config and checkpoints.

    Rebuilds each method's network, restores its final checkpoint, recomputes
    the test metrics, ``evaluation.json`` and ``features.png`` (when the run's
    config draws plots), and writes the scores to ``eval.json``. ``model``: the
    run's model import path, to import it (see :func:`~dann_jax.runs.plan.saved_plan`).

    Raises:
      ValueError: ``workdir`` holds no run, or a checkpoint does not fit its config.
    """
    folder = RunFolder(workdir)
    plan = saved_plan(folder.config(), model=model)
    data = load_data(plan, progress=progress)
    histories = folder.records()
    inputs = (data.training.preprocess, data.training.class_names)
    trained_by_method = {}
    for method in plan.methods:
        trained_by_method[method] = checkpointed(folder, plan, method, inputs)
        trained_by_method[method].history[:] = histories.get(method, [])
    scores = evaluate_methods(trained_by_method, data, plan, folder)
    folder.write_json("eval.json", scores)
    written = [
        f"{folder.file('eval.json')} (these scores)",
        f"{folder.file('evaluation.json')} (the proxy A-distance and its classifier)",
    ]
    if plan.plots:
        written.append(str(folder.file("features.png")))
    logger.info(
        "%s\nWrote %s.",
        results_table(scores, plan.paper_target_accuracy, transductive=data.transductive),
        ", ".join(written),
    )
    return scores
