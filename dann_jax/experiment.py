"""Runs one experiment config: its methods on its domains, results into a run folder.

The config is dissolved here, once: :func:`settings_of` turns it into one
:class:`~dann_jax.settings.TrainSettings` per method, checked before anything is
written; :func:`dann_jax.experiment_data.load_data` into the domains. What a run folder holds is
:mod:`dann_jax.run_folder`'s concern.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections

from dann_jax import backbones, checkpoint, metrics, parallel, plots
from dann_jax.configs import base_config  # noqa: F401  (config files of earlier versions import it here)
from dann_jax.experiment_data import ExperimentData, load_data
from dann_jax.fit import fit_sources, network_example
from dann_jax.loop import Stopped
from dann_jax.models import BACKBONE_NAMES, check_model, resolve_network
from dann_jax.run_folder import MetricsWriter, RunFolder, results_table
from dann_jax.settings import METHODS as TRAIN_METHODS
from dann_jax.settings import TrainSettings
from dann_jax.step import TrainState, create_train_state
from dann_jax.trained import TrainedDANN

# train_on_target: the source-only network trained on the labelled target, the upper reference.
METHODS = (*TRAIN_METHODS, "train_on_target")


def methods_of(config: ml_collections.ConfigDict) -> list[str]:
    """The comma-separated ``config.method``, checked, in order."""
    methods = [method.strip() for method in config.method.split(",") if method.strip()]
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ValueError(
            f"config.method={config.method!r}: name one or more of {METHODS}, comma-separated, "
            "e.g. --config.method=source_only,dann."
        )
    return methods


def settings_of(config: ml_collections.ConfigDict) -> dict[str, TrainSettings]:
    """Method -> its training settings, every value checked; train_on_target trains
    as source_only (on the target's labels).

    Raises:
      ValueError: a method, the model, the init_variables file or a training
        value is invalid; the message names the key.
    """
    check_model(config.model)
    if config.get("init_variables") and not Path(config.init_variables).is_file():
        raise ValueError(f"config: init_variables file {config.init_variables} not found.")
    pretrained = config.get("pretrained")
    if pretrained and config.model not in BACKBONE_NAMES:
        raise ValueError(
            f"config: pretrained weights are for model={BACKBONE_NAMES}, not {config.model!r}."
        )
    if pretrained not in ("", "torchvision", None) and not Path(pretrained).is_file():
        raise ValueError(f"config: pretrained file {pretrained} not found.")

    return {
        method: TrainSettings.from_config(
            config, "source_only" if method == "train_on_target" else method
        )
        for method in methods_of(config)
    }


def starting_variables(config: ml_collections.ConfigDict) -> Any:
    """What the config's networks start from: the backbone's ImageNet weights
    (``pretrained``), an ``init_variables`` file, or None (fresh)."""
    if config.get("pretrained"):
        path = None if config.pretrained == "torchvision" else config.pretrained
        return backbones.under_bottleneck(backbones.load_torchvision(config.model, path))
    return config.get("init_variables") or None


def evaluate_methods(
    trained_by_method: dict[str, TrainedDANN], data: ExperimentData, seed: int, folder: RunFolder
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


def _paper(config: ml_collections.ConfigDict) -> dict[str, float] | None:
    paper = config.get("paper_target_accuracy")
    return paper.to_dict() if paper else None


def _say(text: str) -> None:
    """Prints ``text`` in process 0 (the other processes of a run train in silence)."""
    if jax.process_index() == 0:
        print(text)


def _restored(
    settings: TrainSettings,
    config: ml_collections.ConfigDict,
    data: ExperimentData,
    restore: Callable[[TrainState], tuple[TrainState, dict]],
) -> TrainedDANN:
    """A method's trained network from its checkpoint (``restore`` of a fresh state)."""
    network = resolve_network(config.model, data.training.num_classes)
    example = network_example(data.training, settings)
    state, _ = restore(create_train_state(network, example, settings))
    return TrainedDANN(state, [], data.training.preprocess, config.model)


def checkpointed(
    folder: RunFolder,
    method: str,
    settings: TrainSettings,
    config: ml_collections.ConfigDict,
    data: ExperimentData,
    step: int | None = None,
) -> TrainedDANN:
    """``method``'s trained network from its checkpoint at ``step`` (default: the latest)
    in ``folder``, for ``config``'s network and ``data``."""
    if not (folder.file("checkpoints") / method).is_dir():
        raise ValueError(f"{folder.path} has no checkpoint of {method} (checkpoints/{method}).")
    restore = functools.partial(
        checkpoint.restore, folder.checkpoints(method, keep=None), step=step
    )
    return _restored(settings, config, data, restore)


def load_trained(workdir: str | Path, method: str, *, progress: bool = False) -> TrainedDANN:
    """A finished run's trained ``method`` (its latest checkpoint), ready to predict.

    Raises:
      ValueError: ``workdir`` holds no run, or no checkpoint of ``method``.
    """
    folder = RunFolder(Path(workdir))
    config = folder.config()
    settings = settings_of(config)
    if method not in settings:
        raise ValueError(f"{workdir} trained {list(settings)}, not {method}.")
    data = load_data(config, progress=progress)
    return checkpointed(folder, method, settings[method], config, data)


def evaluate_run(workdir: Path, *, progress: bool = True) -> dict[str, dict[str, float]]:
    """Re-evaluates a finished run folder from its config and checkpoints.

    Rebuilds each method's network, restores its final checkpoint, recomputes
    the test metrics, ``evaluation.json`` and ``features.png``, and writes the
    scores to ``eval.json``.

    Raises:
      ValueError: ``workdir`` holds no run, or a checkpoint does not fit its config.
    """
    folder = RunFolder(workdir)
    config = folder.config()
    data = load_data(config, progress=progress)
    histories = folder.records()
    trained_by_method = {}
    for method, settings in settings_of(config).items():
        trained_by_method[method] = checkpointed(folder, method, settings, config, data)
        trained_by_method[method].history[:] = histories.get(method, [])
    scores = evaluate_methods(trained_by_method, data, config.seed, folder)
    folder.write_json("eval.json", scores)
    print(results_table(scores, _paper(config)))
    print(
        f"Wrote {folder.file('eval.json')} (these scores), {folder.file('evaluation.json')} "
        f"(the proxy A-distance and its classifier) and {folder.file('features.png')}."
    )
    return scores


def _train(
    method: str,
    settings: TrainSettings,
    config: ml_collections.ConfigDict,
    data: ExperimentData,
    folder: RunFolder,
    log: MetricsWriter,
    *,
    saved_step: int | None,
    should_stop: Callable[[], bool] | None,
    progress: bool,
) -> TrainedDANN:
    """Trains one method, checkpointing into (and resuming from) the run folder.

    Raises:
      Stopped: ``should_stop`` said so; the state is saved at the step reached.
    """
    checkpoints = folder.checkpoints(method, keep=config.keep_checkpoints or None)
    # The saved arrays go into this config's fresh state (its network and settings).
    restore = functools.partial(checkpoint.restore_everywhere, checkpoints)
    if saved_step == settings.steps:
        _say(f"{method}: trained to step {saved_step} before; its checkpoint is used")
        return _restored(settings, config, data, restore)
    start_text = f", from step {saved_step}" if saved_step is not None else ""
    _say(f"Training {method} ({settings.steps} steps, seed {settings.seed}{start_text})")
    start = time.perf_counter()
    try:
        trained = fit_sources(
            data.training_for(method),
            settings,
            model=config.model,
            init_variables=starting_variables(config),
            on_log=functools.partial(log.write, method),
            on_checkpoint=(
                None if checkpoints is None else functools.partial(checkpoint.save, checkpoints)
            ),
            restore=restore if saved_step is not None else None,
            should_stop=should_stop,
            progress=progress,
        )
    except Stopped as stopped:
        raise Stopped(stopped.step, method) from None
    finally:
        folder.add_wall_time(method, time.perf_counter() - start)
    if checkpoints is not None and checkpoints.latest_step() != settings.steps:
        checkpoint.save(checkpoints, trained.state)
    return trained


def run(
    config: ml_collections.ConfigDict,
    workdir: Path,
    *,
    progress: bool = True,
    overwrite: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, dict[str, float]]:
    """Trains every method of ``config`` and writes the run folder ``workdir``.

    Each method's state is saved every ``config.checkpoint_every`` steps and at
    its end (``checkpoints/<method>/``). A ``workdir`` holding an unfinished run
    of the same config is resumed from its latest checkpoints, exactly as if it
    had never stopped; one holding any other run is refused, untouched, unless
    ``overwrite``. In a multi-process run every process calls it with the same
    config (checked) and trains; only process 0 evaluates and writes the run
    folder, and on resuming it reads the checkpoints and hands them to the others.

    Args:
      config: an experiment config (see :mod:`dann_jax.configs`).
      workdir: the run folder: new, or an unfinished run of ``config``.
      progress: show progress bars.
      overwrite: replace a run already in ``workdir`` (its files only, once the
        data has loaded) instead of refusing or resuming.
      should_stop: asked between training dispatches (e.g. whether Ctrl-C was
        pressed); True saves the training state and raises
        :class:`~dann_jax.loop.Stopped`, and the same call resumes the run.

    Returns:
      method -> {source_accuracy, target_accuracy, domain_accuracy,
      proxy_a_distance, wall_time_s} (empty in processes other than 0).
    """
    parallel.check_processes_agree("config", config.to_json())
    settings = settings_of(config)
    parallel.check_batch_size(config.parallel, config.batch_size)
    folder = RunFolder(workdir)
    check = functools.partial(folder.check_resumable, overwrite=overwrite)
    resume = parallel.decide_in_process_zero(check, config, list(settings))
    data = load_data(config, progress=progress and folder.writer)
    folder.start(config, overwrite=overwrite)  # only now: a failed start keeps the old run
    saved = folder.saved_steps(list(settings)) if resume else {}
    earlier = folder.keep_records_until(saved) if resume else {}
    if resume:
        where = ", ".join(f"{method} at step {step}" for method, step in saved.items())
        _say(f"Resuming {workdir}: {where or 'no checkpoint yet, from step 0'}")
    trained_by_method = {}
    with folder.metrics_writer(tensorboard=config.tensorboard) as log:
        for method, method_settings in settings.items():
            trained = _train(
                method,
                method_settings,
                config,
                data,
                folder,
                log,
                saved_step=saved.get(method),
                should_stop=should_stop,
                progress=progress,
            )
            trained.history[:0] = earlier.get(method, [])
            trained_by_method[method] = trained
    if not folder.writer:
        return {}
    return finish(folder, trained_by_method, data, config)


def finish(
    folder: RunFolder,
    trained_by_method: dict[str, TrainedDANN],
    data: ExperimentData,
    config: ml_collections.ConfigDict,
) -> dict[str, dict[str, float]]:
    """Evaluates the trained methods into the run folder: ``results.json`` and ``.md``,
    the evaluation, the plots; returns method -> scores and wall time."""
    scores = evaluate_methods(trained_by_method, data, config.seed, folder)
    wall_times = folder.wall_times()
    results = {method: {**scores[method], "wall_time_s": wall_times[method]} for method in scores}
    folder.write_json("results.json", results)
    table = results_table(results, _paper(config))
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
