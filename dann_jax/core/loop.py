"""The training loop: steps of a launcher over an input, metrics logged at a cadence.

The loop knows no files: it hands each log record to ``on_log`` and each
checkpoint to ``on_checkpoint``. Metrics leave the devices only at log and
checkpoint steps. Log and checkpoint steps are absolute (multiples of their
cadences from step 0), so a run resumed from any checkpoint logs and saves at
the same steps as one never stopped; the metrics of steps not yet logged travel
in the checkpoint (:data:`UNLOGGED`), so its records come out equal too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from dann_jax.backbones import convolution
from dann_jax.core import distributed, launchers
from dann_jax.core.inputs import TrainingInput
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import TrainState
from dann_jax.core.step import train_step, train_steps

# The loop state a checkpoint carries besides the train state: the metrics of the
# steps since the last log record, metric -> one float per step.
UNLOGGED = "unlogged_metrics"
Record = dict[str, Any]


class Stopped(Exception):
    """Training stopped on request (``should_stop``) before ``step``; with a checkpoint
    callback, the state was saved there, so the same run resumes from it."""

    def __init__(self, step: int, method: str | None = None):
        super().__init__(f"stopped at step {step}" + (f" of {method}" if method else ""))
        self.step, self.method = step, method


def _per_step(pending: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Metric -> every pending step's values along the last axis: (K,), or (S, K) for
    many runs at once. Entries are scalars (one step) or arrays with a trailing steps axis."""
    fetched = jax.device_get(list(pending))
    return {
        name: np.concatenate(
            [np.reshape(m[name], (*np.shape(m[name])[:-1], -1)) for m in fetched], -1
        )
        for name in fetched[0]
    }


def _means(pending: Sequence[Mapping[str, Any]]) -> dict[str, float | list[float]]:
    """Metric -> its mean over the pending steps: a float, or a list of S floats."""
    means = {}
    for name, values in _per_step(pending).items():
        mean = values.mean(axis=-1)
        means[name] = mean.tolist() if mean.ndim else float(mean)
    return means


def _check_finite(values: Mapping[str, Any], step: int) -> None:
    for name, value in values.items():
        if not np.all(np.isfinite(value)):
            raise FloatingPointError(
                f"{name} became {value if np.ndim(value) == 0 else 'non-finite'} by step {step}; "
                "lower the learning rate or check the inputs for extreme values."
            )


def _stop_requested(should_stop: Callable[[], bool] | None, step: int, log_every: int) -> bool:
    """Whether to stop before ``step``: ``should_stop()`` in one process; in many, process
    0's answer, asked at log steps only (every process takes part in the broadcast)."""
    if should_stop is None:
        return False
    if jax.process_count() == 1:
        return should_stop()
    if step % log_every:
        return False
    return bool(distributed.share_from_process_zero(np.int32(should_stop())))


def _next_stop(step: int, last: int, settings: TrainSettings) -> int:
    """The next step after ``step`` at which the loop logs, checkpoints or ends."""
    cadences = [c for c in (settings.log_every, settings.checkpoint_every) if c > 0]
    return min(last, *((step // cadence + 1) * cadence for cadence in cadences))


def train_loop(
    state: TrainState,
    inputs: TrainingInput,
    *,
    settings: TrainSettings,
    steps: int | None = None,
    launcher: launchers.Launcher | None = None,
    on_log: Callable[[Record], None] | None = None,
    on_checkpoint: Callable[[TrainState, Record], None] | None = None,
    unlogged_metrics: Mapping[str, Sequence[float]] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> tuple[TrainState, list[Record]]:
    """Runs train steps from ``state.step`` and logs metrics averaged over each interval.

    Args:
      state: the TrainState to start from (its step may be any).
      inputs: a :class:`~dann_jax.core.inputs.StreamInput` or
        :class:`~dann_jax.core.inputs.DeviceData`; started at the state's step.
        In a multi-process run every process passes the same one.
      settings: the run's settings: ``steps`` (where the run ends),
        ``log_every``, ``checkpoint_every``, ``steps_per_dispatch``, ``parallel``.
      steps: how many steps to run now (default: up to ``settings.steps``).
      launcher: runs the steps; default the library's step under ``settings.parallel``
        (:func:`dann_jax.core.launchers.launcher`).
      on_log: called with each record ``{"step": int, <metric>: float, ...}``.
      on_checkpoint: called at every multiple of ``settings.checkpoint_every`` with
        the state (on one local device) and the loop state to save beside it:
        ``{"next_index": step, UNLOGGED: {metric: [float, ...]}}``. The loop
        stops at those steps whether or not it is given, so that the processes
        of a multi-process run, of which one saves, run the same dispatches.
      unlogged_metrics: the loop state's metrics from the checkpoint this run
        resumes (so its first record covers the steps before the checkpoint too).
      should_stop: asked before every dispatch (in a multi-process run at log
        steps, process 0's answer); when it says True, the state is saved with
        ``on_checkpoint`` at the step reached and :class:`Stopped` is raised.
      progress: show a tqdm progress bar (in process 0 only), from the end of the
        first dispatch, which compiles.

    Returns:
      The final state, on one local device, and the list of log records (the history).

    Raises:
      FloatingPointError: a metric is NaN or infinite at a log or checkpoint step
        (nothing is saved then); the message names the step and the metric.
      Stopped: ``should_stop`` said so.
      ValueError: a batch the devices cannot share equally.
    """
    if launcher is None:
        products = convolution.cpu_products(state.network)
        launcher = launchers.launcher(settings.parallel, train_step, train_steps, products)
    first = int(np.ravel(jax.device_get(state.step))[0])
    last = first + steps if steps is not None else settings.steps
    dispatch = inputs.start(launcher, first)
    state = launcher.put_state(state)
    pending = []
    if unlogged_metrics:
        pending.append({name: np.asarray(v, np.float32) for name, v in unlogged_metrics.items()})
    history: list[Record] = []

    def save(step: int) -> None:
        unlogged = _per_step(pending) if pending else {}
        _check_finite(unlogged, step)  # a non-finite state is never saved
        if on_checkpoint is not None:
            unlogged = {name: values.tolist() for name, values in unlogged.items()}
            on_checkpoint(launcher.local(state), {"next_index": step, UNLOGGED: unlogged})

    step = saved = first
    bar = None
    try:
        while step < last:
            if _stop_requested(should_stop, step, settings.log_every):
                if step != saved:
                    save(step)
                raise Stopped(step)
            stop = _next_stop(step, last, settings)
            count = min(dispatch.max_steps, settings.steps_per_dispatch, stop - step)
            state, metrics = dispatch.run(state, count)
            pending.append(launcher.local(metrics))
            step += count
            if bar is None:  # after the compiling dispatch, so that its rate and ETA hold
                show = progress and jax.process_index() == 0
                bar = tqdm(initial=step, total=last, disable=not show, unit="step", unit_scale=True)
            else:
                bar.update(count)
            if step % settings.log_every == 0 or step == last:
                record = {"step": step, **_means(pending)}
                pending = []
                _check_finite(record, step)
                history.append(record)
                if on_log is not None:
                    on_log(record)
                bar.set_postfix(
                    loss=f"{np.mean(record['loss']):.3f}", lam=f"{np.mean(record['lambda']):.2f}"
                )
            if settings.checkpoint_every and step % settings.checkpoint_every == 0:
                save(step)
                saved = step
    finally:
        if bar is not None:
            bar.close()
    return launcher.local(state), history
