"""One run: a config's methods trained on its domains into a run folder, resumable.

The config is read once, into a :class:`~dann_jax.runs.plan.RunPlan`, checked
before anything is written; the data is read once (:func:`dann_jax.runs.data.load_data`).
What a run folder holds is :mod:`dann_jax.runs.folder`'s concern; evaluating what was
trained, :mod:`dann_jax.runs.evaluate`'s.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import ml_collections

from dann_jax.core import checkpoints, distributed, launchers
from dann_jax.core import variables as variables_lib
from dann_jax.core.fit import fit_sources
from dann_jax.core.loop import Stopped
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import network_and_example
from dann_jax.core.trained import TrainedDANN
from dann_jax.runs import lock
from dann_jax.runs.data import RunData, load_data
from dann_jax.runs.evaluate import fresh_state, report, restore_trained
from dann_jax.runs.folder import MetricsWriter, RunFolder
from dann_jax.runs.plan import RunPlan, make_plan

logger = logging.getLogger(__name__)


def _say(text: str) -> None:
    """Logs ``text`` in process 0 (the other processes of a run train in silence)."""
    if jax.process_index() == 0:
        logger.info(text)


def _count_wall_time(folder: RunFolder, method: str, start: float, *, failing: bool = False):
    """Adds the seconds since ``start`` to ``method``'s wall time. While an error is on
    its way up (``failing``), a failure to write (a full disk) is logged, not raised:
    the first error is the one to report."""
    try:
        folder.add_wall_time(method, time.perf_counter() - start)
    except OSError as error:
        if not failing:
            raise
        logger.warning("%s: its wall time was not recorded (%s)", method, error)


def _set_aside_damaged(folder: RunFolder, methods: Sequence[str]) -> None:
    """Moves each method's checkpoints newer than its newest readable one aside
    (``checkpoints/<method>.damaged/``), so that the run resumes from that one."""
    if not folder.writer:
        return
    for method in methods:
        damaged = checkpoints.set_aside_damaged(folder.file("checkpoints") / method)
        for step, why in damaged.items():
            logger.warning(
                "%s: its checkpoint at step %d is unreadable (%s); moved to "
                "checkpoints/%s.damaged/%d, and the run resumes from the one before it",
                method, step, why, method, step,
            )  # fmt: skip


def _train(
    method: str,
    settings: TrainSettings,
    plan: RunPlan,
    data: RunData,
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
    manager = folder.checkpoints(method, keep=plan.keep_checkpoints)
    # The saved arrays go into this plan's fresh state (its network and settings).
    restore = functools.partial(checkpoints.restore_everywhere, manager)
    if saved_step == settings.steps:
        _say(f"{method}: trained to step {saved_step} before; its checkpoint is used")
        training = data.training
        template = fresh_state(plan, method, training.preprocess, training.num_classes)
        inputs = (training.preprocess, training.class_names)
        return restore_trained(plan, inputs, restore, template)
    start_text = f", from step {saved_step}" if saved_step is not None else ""
    _say(f"Training {method} ({settings.steps} steps, seed {settings.seed}{start_text})")
    start = time.perf_counter()
    try:
        trained = fit_sources(
            data.training_for(method),
            settings,
            model=plan.model,
            init_variables=plan.starting_variables,
            on_log=functools.partial(log.write, method),
            on_checkpoint=(
                None if manager is None else functools.partial(checkpoints.save, manager)
            ),
            restore=restore if saved_step is not None else None,
            should_stop=should_stop,
            progress=progress,
        )
    except Stopped as stopped:
        _count_wall_time(folder, method, start, failing=True)
        raise Stopped(stopped.step, method) from None
    except BaseException:
        _count_wall_time(folder, method, start, failing=True)
        raise
    _count_wall_time(folder, method, start)
    if manager is not None and manager.latest_step() != settings.steps:
        checkpoints.save(manager, trained.state)
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
    Process 0 holds the folder's lock (:mod:`dann_jax.runs.lock`) from before it reads
    the folder to the end; every value, the network and the starting variables are
    checked before the folder is started.

    Args:
      config: an experiment config (see :mod:`dann_jax.configs`).
      workdir: the run folder: new, or an unfinished run of ``config``.
      progress: show progress bars.
      overwrite: replace a run already in ``workdir`` (its files only, once the
        data has loaded) instead of refusing or resuming.
      should_stop: asked between training dispatches (e.g. whether Ctrl-C was
        pressed); True saves the training state and raises
        :class:`~dann_jax.core.loop.Stopped`, and the same call resumes the run.

    Returns:
      method -> {source_accuracy, target_accuracy, domain_accuracy,
      proxy_a_distance, wall_time_s} (empty in processes other than 0).
    """
    distributed.check_processes_agree("config", config.to_json())
    plan = make_plan(config)
    launchers.check_batch_size(config.parallel, config.batch_size)
    folder = RunFolder(workdir)
    with contextlib.ExitStack() as held:

        def lock_and_check() -> bool:  # process 0's: it alone writes the folder
            held.enter_context(lock.exclusive(workdir))
            return folder.check_resumable(config, list(plan.methods), overwrite=overwrite)

        resume = distributed.decide_in_process_zero(lock_and_check)
        return _run(plan, folder, resume, progress, overwrite, should_stop)


def _run(
    plan: RunPlan,
    folder: RunFolder,
    resume: bool,
    progress: bool,
    overwrite: bool,
    should_stop: Callable[[], bool] | None,
) -> dict[str, dict[str, float]]:
    """:func:`run` once the folder is locked and checked."""
    workdir, config = folder.path, plan.config
    data = load_data(plan, progress=progress and folder.writer)
    # The network's outputs and its starting variables, checked on the data's shapes
    # (no arrays made) before anything is written: what does not fit fails here.
    training = data.training
    network, example = network_and_example(
        plan.model, training.input_shape, training.num_classes, plan.methods[plan.main_method]
    )
    variables_lib.check_fit(network, example, plan.starting_variables)
    folder.start(config, overwrite=overwrite)  # only now: a failed start keeps the old run
    folder.write_inputs(data.training)
    if resume:
        _set_aside_damaged(folder, plan.methods)
    saved = folder.saved_steps(list(plan.methods)) if resume else {}
    earlier = folder.keep_records_until(saved) if resume else {}
    if resume:
        where = ", ".join(f"{method} at step {step}" for method, step in saved.items())
        _say(f"Resuming {workdir}: {where or 'no checkpoint yet, from step 0'}")
    trained_by_method = {}
    with folder.metrics_writer(tensorboard=plan.tensorboard) as log:
        for method, settings in plan.methods.items():
            trained = _train(
                method,
                settings,
                plan,
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
    return report(folder, trained_by_method, data, plan)
