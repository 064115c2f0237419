"""Many runs in one compiled program: the members of a sweep or of several seeds.

:func:`fit_seeds` (arrays) and :func:`fit_members` (domains) train every member at
once, ``jax.vmap`` over their states and batch orders; the members may differ in
their seed, data and traced hyper-parameters, and share one compiled step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from dann_jax.backbones import convolution
from dann_jax.core import launchers, registry
from dann_jax.core import variables as variables_lib
from dann_jax.core.fit import (
    InitVariables,
    array_data,
    settings_of,
    warn_if_batch_norm_starves,
)
from dann_jax.core.inputs import DeviceData
from dann_jax.core.loop import UNLOGGED, Record, train_loop
from dann_jax.core.registry import Model
from dann_jax.core.settings import HYPERPARAMETERS, TrainSettings
from dann_jax.core.state import TrainState, initial_states
from dann_jax.core.step import train_step, train_steps
from dann_jax.core.trained import TrainedDANN
from dann_jax.data.domains import TrainingData


def fit_seeds(
    source_images: Sequence[np.ndarray],
    source_labels: Sequence[np.ndarray],
    target_images: Sequence[np.ndarray],
    *,
    seeds: Sequence[int],
    model: Model = "mnist",
    num_classes: int | None = None,
    input_means: Sequence[np.ndarray] | None = None,
    init_variables: InitVariables = None,
    member_settings: Sequence[Mapping[str, float]] | None = None,
    on_log: Callable[[Record], None] | None = None,
    progress: bool = True,
    **settings: Any,
) -> list[TrainedDANN]:
    """Trains one network per seed in one compiled program (``jax.vmap`` over seeds).

    Each result equals ``fit(..., seed=seeds[i], input_mode="device",
    parallel="none")`` on the i-th data (tests/core/test_fit.py).

    Args:
      source_images, source_labels, target_images: one array per seed (the same
        array repeated when the data does not depend on the seed), as in
        :func:`fit`; every seed's arrays have the same sizes.
      seeds: seeds of initialisation and batch order, one per run.
      model, num_classes, on_log, progress: as in :func:`fit`; ``on_log`` gets
        records whose every metric is a list, one value per seed.
      input_means: per seed, the per-channel mean (C,) to subtract from the inputs;
        by default each seed's mean over its source and target arrays, as in :func:`fit`.
      init_variables: every run's starting variables (see :func:`fit`).
      member_settings: a sweep: per run, its values of ``learning_rate``,
        ``domain_loss_weight`` and ``gamma`` where they differ from ``settings``
        (e.g. ``[{"learning_rate": 0.01}, {"learning_rate": 0.003}]``); the runs
        still share one compiled program.
      **settings: as in :func:`fit`, but ``seeds`` replaces ``seed``.

    Returns:
      One :class:`~dann_jax.core.trained.TrainedDANN` per seed, in the order of
      ``seeds``, each with its own history.
    """
    if "seed" in settings:
        raise TypeError("fit_seeds takes seeds=[...], one per run, not seed=.")
    registry.check_model(model)
    settings = settings_of("fit_seeds", model, settings)
    if not len(seeds) == len(source_images) == len(source_labels) == len(target_images):
        raise ValueError(
            f"got {len(seeds)} seeds but {len(source_images)} source, {len(source_labels)} "
            f"label and {len(target_images)} target arrays; pass one array per seed."
        )
    means = [None] * len(seeds) if input_means is None else list(input_means)
    data = [
        array_data(*domains, model=model, num_classes=num_classes, input_mean=mean)
        for *domains, mean in zip(source_images, source_labels, target_images, means, strict=True)
    ]
    return fit_members(
        data,
        settings,
        seeds=seeds,
        model=model,
        init_variables=init_variables,
        member_settings=member_settings,
        on_log=on_log,
        progress=progress,
    )


def check_member_settings(
    settings: TrainSettings, member_settings: Sequence[Mapping[str, float]], members: int
) -> None:
    """Raises ValueError unless there is one valid mapping of hyper-parameters per member."""
    if len(member_settings) != members:
        raise ValueError(
            f"got {len(member_settings)} member_settings for {members} runs; pass one each."
        )
    for override in member_settings:
        unknown = set(override) - set(HYPERPARAMETERS)
        if unknown:
            raise ValueError(
                f"member_settings may set {HYPERPARAMETERS} (traced in one program), not "
                f"{sorted(unknown)}: runs that differ in them need a program each."
            )
        dataclasses.replace(settings, **override)  # each value checked as a setting


class StackedPositions:
    """Each member's positions, stepped together: (K, S, B) source and target rows."""

    def __init__(self, positions: Sequence[Any]):
        self._positions = list(positions)

    def steps(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        steps = [positions.steps(start, stop) for positions in self._positions]
        return np.stack([s for s, _ in steps], axis=1), np.stack([t for _, t in steps], axis=1)


# One member per row of every argument; the indices of a dispatch arrive as (K, S, B).
_members_train_step = jax.vmap(train_step)
_members_train_steps = jax.vmap(train_steps, in_axes=(0, 0, 1, 1))


def members_launcher(cpu_products: str = "xla") -> launchers.Launcher:
    """The launcher of many runs in one program: the step vmapped over a leading
    members axis of the state, the data and each dispatch's (K, S, B) indices (products
    on a CPU in ``cpu_products``' library, as :func:`dann_jax.core.launchers.launcher`)."""
    return launchers.launcher("none", _members_train_step, _members_train_steps, cpu_products)


def fit_members(
    data: Sequence[TrainingData],
    settings: TrainSettings,
    *,
    seeds: Sequence[int],
    model: Model = "mnist",
    init_variables: InitVariables = None,
    member_settings: Sequence[Mapping[str, float]] | None = None,
    on_log: Callable[[Record], None] | None = None,
    on_checkpoint: Sequence[Callable[[TrainState, Record], None]] | None = None,
    progress: bool = True,
) -> list[TrainedDANN]:
    """Trains many runs, the members of one compiled program, each on its data and seed.

    Params, optimiser states and batch orders are stacked along a members axis
    and the scanned step is vmapped over it, so on an accelerator N runs cost
    about one. The data is always read onto one device (``settings.input_mode``
    and ``settings.parallel`` are not used); there is no resuming.

    Args:
      data: each member's training domains; every member's domains have the
        same sizes and input shape.
      settings: the members' settings (``settings.seed`` is not used).
      seeds: one per member: its initialisation and batch order.
      model, init_variables, member_settings, on_log, progress: as in :func:`fit_seeds`.
      on_checkpoint: one per member, called every ``settings.checkpoint_every``
        steps with that member's state and loop state, as
        :func:`dann_jax.core.loop.train_loop` calls its own (e.g.
        ``functools.partial(checkpoints.save, manager)``).

    Returns:
      One :class:`~dann_jax.core.trained.TrainedDANN` per member, in order.
    """
    if len(seeds) != len(data):
        raise ValueError(f"got {len(seeds)} seeds for {len(data)} members; pass one each.")
    if member_settings is not None:
        check_member_settings(settings, member_settings, len(data))
    if on_checkpoint is not None and len(on_checkpoint) != len(data):
        raise ValueError(
            f"got {len(on_checkpoint)} on_checkpoint for {len(data)} members; pass one each."
        )
    device_data = [
        DeviceData.read(member, settings.batch_size, seed, progress=False)
        for member, seed in zip(data, seeds, strict=True)
    ]
    shapes = {tuple((k, v.shape) for k, v in member.arrays.items()) for member in device_data}
    if len(shapes) > 1:
        raise ValueError("every member's arrays must have the same shapes to be stacked.")
    state = initial_states(
        model, data, settings, seeds, variables_lib.read(init_variables), member_settings
    )
    warn_if_batch_norm_starves(state, settings)
    stacked = {
        name: np.stack([member.arrays[name] for member in device_data])
        for name in device_data[0].arrays
    }
    inputs = DeviceData(stacked, StackedPositions([member.positions for member in device_data]))

    def save_members(stacked: TrainState, loop_state: Record) -> None:
        for i, save in enumerate(on_checkpoint):
            unlogged = {name: [row[i] for row in rows]
                        for name, rows in loop_state[UNLOGGED].items()}  # fmt: skip
            save(_member(stacked, i), {**loop_state, UNLOGGED: unlogged})

    state, history = train_loop(
        state,
        inputs,
        settings=settings,
        launcher=members_launcher(convolution.cpu_products(state.network)),
        on_log=on_log,
        on_checkpoint=None if on_checkpoint is None else save_members,
        progress=progress,
    )
    return [
        TrainedDANN(
            _member(state, i),
            [{name: v if name == "step" else v[i] for name, v in r.items()} for r in history],
            member.preprocess,
            model,
            member.class_names,
        )
        for i, member in enumerate(data)
    ]


def _member(stacked: Any, index: int) -> Any:
    """Member ``index``'s slice of a tree stacked along a leading members axis."""
    return jax.tree.map(lambda leaf: leaf[index], stacked)
