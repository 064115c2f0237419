"""Trained methods -> a run folder's results; and trained methods back from a run folder.

:func:`report` evaluates what a run trained and writes its results, tables and
plots; :func:`evaluate_run` does it again from a finished run's checkpoints
(``dann evaluate``); :func:`load_trained` and :func:`restore_trained` give a
checkpoint back as a :class:`~dann_jax.core.trained.TrainedDANN`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from dann_jax.core import checkpoints
from dann_jax.core.state import TrainState, initial_state
from dann_jax.core.trained import TrainedDANN
from dann_jax.evaluation import metrics
from dann_jax.runs import plots
from dann_jax.runs.data import RunData, load_data
from dann_jax.runs.folder import RunFolder, results_table
from dann_jax.runs.plan import RunPlan, make_plan

Restore = Callable[[TrainState], tuple[TrainState, dict]]


def evaluate_methods(
    trained_by_method: dict[str, TrainedDANN], data: RunData, seed: int, folder: RunFolder
) -> dict[str, dict[str, float]]:
    """Test accuracies and proxy A-distance of each method; writes ``evaluation.json``
    (the PAD and its classifier) and ``features.png`` (t-SNE of source vs target
    test features). Returns method -> scores."""
    scores, evaluation, features = {}, {}, {}
    for method, trained in trained_by_method.items():
        scores[method] = metrics.evaluate(trained, data.source_test, data.target_test)
        features[method] = (
            trained.features(data.source_test.inputs),
            trained.features(data.target_test.inputs),
        )
        evaluation[method] = metrics.proxy_a_distance(*features[method], seed=seed)
        scores[method]["proxy_a_distance"] = evaluation[method]["proxy_a_distance"]
    folder.write_json("evaluation.json", evaluation)
    plots.feature_embedding(features, folder.file("features.png"), seed=seed)
    return scores


def report(
    folder: RunFolder, trained_by_method: dict[str, TrainedDANN], data: RunData, plan: RunPlan
) -> dict[str, dict[str, float]]:
    """Evaluates the trained methods into the run folder: ``results.json`` and ``.md``,
    the evaluation, the plots; prints the table and returns method -> scores and wall
    time."""
    scores = evaluate_methods(trained_by_method, data, plan.seed, folder)
    wall_times = folder.wall_times()
    results = {method: {**scores[method], "wall_time_s": wall_times[method]} for method in scores}
    folder.write_json("results.json", results)
    table = results_table(results, plan.paper_target_accuracy)
    folder.write_text("results.md", table)
    plots.training_curves(
        {method: trained.history for method, trained in trained_by_method.items()},
        folder.file("training_curves.png"),
    )
    if data.offline is not None and data.training.input_shape == (2,):
        plots.decision_boundaries(
            trained_by_method, data.offline, folder.file("decision_boundaries.png")
        )
    print(table)
    print(f"Run folder: {folder.path}")
    return results


def fresh_state(plan: RunPlan, method: str, data: RunData) -> TrainState:
    """A fresh state of ``method``'s network: the template a checkpoint is restored into."""
    return initial_state(plan.model, data.training, plan.methods[method])


def restore_trained(
    plan: RunPlan, data: RunData, restore: Restore, template: TrainState
) -> TrainedDANN:
    """A trained network from a checkpoint: ``restore`` of a fresh state ``template``
    (:func:`fresh_state`; the saved arrays go into its network and settings)."""
    state, _ = restore(template)
    return TrainedDANN(state, [], data.training.preprocess, plan.model)


def checkpointed(
    folder: RunFolder,
    plan: RunPlan,
    method: str,
    data: RunData,
    step: int | None = None,
    template: TrainState | None = None,
) -> TrainedDANN:
    """``method``'s trained network from its checkpoint at ``step`` (default: the latest)
    in ``folder``; ``template``: a fresh state to restore into, made when not given.

    Raises:
      ValueError: the folder holds no checkpoint of ``method``.
    """
    if not (folder.file("checkpoints") / method).is_dir():
        raise ValueError(f"{folder.path} has no checkpoint of {method} (checkpoints/{method}).")
    restore = functools.partial(
        checkpoints.restore, folder.checkpoints(method, keep=None), step=step
    )
    template = fresh_state(plan, method, data) if template is None else template
    return restore_trained(plan, data, restore, template)


def load_trained(workdir: str | Path, method: str, *, progress: bool = False) -> TrainedDANN:
    """A finished run's trained ``method`` (its latest checkpoint), ready to predict.

    Raises:
      ValueError: ``workdir`` holds no run, or no checkpoint of ``method``.
    """
    folder = RunFolder(Path(workdir))
    plan = make_plan(folder.config())
    if method not in plan.methods:
        raise ValueError(f"{workdir} trained {list(plan.methods)}, not {method}.")
    return checkpointed(folder, plan, method, load_data(plan, progress=progress))


def evaluate_run(workdir: Path, *, progress: bool = True) -> dict[str, dict[str, float]]:
    """Re-evaluates a finished run folder from its config and checkpoints.

    Rebuilds each method's network, restores its final checkpoint, recomputes
    the test metrics, ``evaluation.json`` and ``features.png``, and writes the
    scores to ``eval.json``.

    Raises:
      ValueError: ``workdir`` holds no run, or a checkpoint does not fit its config.
    """
    folder = RunFolder(workdir)
    plan = make_plan(folder.config())
    data = load_data(plan, progress=progress)
    histories = folder.records()
    trained_by_method = {}
    for method in plan.methods:
        trained_by_method[method] = checkpointed(folder, plan, method, data)
        trained_by_method[method].history[:] = histories.get(method, [])
    scores = evaluate_methods(trained_by_method, data, plan.seed, folder)
    folder.write_json("eval.json", scores)
    print(results_table(scores, plan.paper_target_accuracy))
    print(
        f"Wrote {folder.file('eval.json')} (these scores), {folder.file('evaluation.json')} "
        f"(the proxy A-distance and its classifier) and {folder.file('features.png')}."
    )
    return scores
