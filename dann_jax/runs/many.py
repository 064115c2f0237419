"""Many runs of one config in one compiled program: its members.

A member is one run of such a program: the config with its own seed and its own
values of the traced hyper-parameters (its setting). :func:`run_members` trains
every method of the config for all members at once
(:func:`dann_jax.core.members.fit_members`, ``jax.vmap`` over members) and writes one
run folder per member, as :func:`dann_jax.runs.train.run` writes one;
:func:`run_seeds` is the case of one member per seed, a sweep
(:mod:`dann_jax.runs.sweep`) the case of a grid of settings.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import ml_collections

from dann_jax.core import checkpoints
from dann_jax.core.members import fit_members
from dann_jax.core.settings import TrainSettings
from dann_jax.core.trained import TrainedDANN
from dann_jax.runs import lock
from dann_jax.runs.data import load_data
from dann_jax.runs.evaluate import report
from dann_jax.runs.folder import RunFolder
from dann_jax.runs.plan import RunPlan, make_plan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    """One run of a many-run program: its setting (values of the traced
    hyper-parameters, ``(("learning_rate", 0.01),)``) and its seed."""

    values: tuple[tuple[str, float], ...]
    seed: int

    @property
    def setting(self) -> str:
        """The values as text, e.g. ``learning_rate=0.01,gamma=10`` ("config" if none)."""
        return ",".join(f"{name}={value:g}" for name, value in self.values) or "config"

    @property
    def name(self) -> str:
        """The member's run folder, e.g. ``learning_rate=0.01,seed=0`` or ``seed=0``."""
        return f"{self.setting},seed={self.seed}" if self.values else f"seed={self.seed}"

    def overrides(self) -> dict[str, float]:
        """The config keys that make this member."""
        return {**dict(self.values), "seed": self.seed}


def run_seeds(
    config: ml_collections.ConfigDict, seeds: Sequence[int], runs: Path, *, progress: bool = True
) -> dict[int, dict[str, dict[str, float]]]:
    """Trains every method of ``config`` for all ``seeds`` at once (:func:`run_members`
    with one member per seed) into the run folders ``runs/seed=<k>``.

    On offline data every seed's result equals :func:`dann_jax.runs.train.run`'s for that
    seed (tests/runs/test_many.py).

    Returns:
      seed -> method -> metrics, as :func:`dann_jax.runs.train.run` returns them.
    """
    members = [Member((), seed) for seed in seeds]
    results = run_members(config, members, runs, progress=progress)
    return {member.seed: results[member.name] for member in members}


def run_members(
    config: ml_collections.ConfigDict,
    members: Sequence[Member],
    runs: Path,
    *,
    progress: bool = True,
) -> dict[str, dict[str, dict[str, float]]]:
    """Trains every method of ``config`` for all ``members`` at once, in one compiled
    program per method (:func:`dann_jax.core.members.fit_members`, ``jax.vmap`` over
    members), and writes one run folder per member, ``runs/<member name>``, as
    :func:`dann_jax.runs.train.run` would.

    A member's folder's ``config.json`` holds its seed and setting, so ``dann
    evaluate`` and ``dann select`` read it as any run's. Each seed loads its own data
    (its split, blend and batch order), read into memory (the on-device mode); the
    starting variables are read once. Checkpoints are saved every
    ``config.checkpoint_every`` steps and at the end. A folder's ``wall_time_s`` is
    the time of the program that trained all members. Single process, one device,
    no resuming.

    Returns:
      member name -> method -> metrics, as :func:`dann_jax.runs.train.run` returns them.

    Raises:
      ValueError: before anything is written, when no member is given, a member or
        the config is invalid, or a folder holds a run already.
    """
    if jax.process_count() > 1:
        raise ValueError(
            "run_members trains on one device of one process; use runs.run() per member."
        )
    if not members:
        raise ValueError("name at least one member (a seed or a hyper-parameter value).")
    names = [member.name for member in members]
    if len(set(names)) != len(names):
        raise ValueError(f"the members repeat one another: {names}; name each run once.")
    plan = make_plan(config)
    plans = {member.name: plan.for_member(member.overrides()) for member in members}
    with lock.exclusive(runs):
        return _run_members(plan, plans, members, Path(runs), progress)


def _run_members(
    plan: RunPlan,
    plans: dict[str, RunPlan],
    members: Sequence[Member],
    runs: Path,
    progress: bool,
) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`run_members` once its folder is locked."""
    names = [member.name for member in members]
    folders = {name: RunFolder(runs / name) for name in plans}
    for folder in folders.values():
        if folder.holds_run():
            raise ValueError(
                f"{folder.path} holds a run already; nothing was changed. Pass a new --runs folder."
            )
    data_by_seed = {
        seed: load_data(plan.for_member({"seed": seed}), progress=progress)
        for seed in sorted({member.seed for member in members})
    }
    data = {member.name: data_by_seed[member.seed] for member in members}
    for name, folder in folders.items():
        folder.start(plans[name].config)
        folder.write_inputs(data[name].training)
    trained: dict[str, dict[str, TrainedDANN]] = {name: {} for name in names}
    with contextlib.ExitStack() as stack:
        logs = {name: stack.enter_context(folder.metrics_writer())
                for name, folder in folders.items()}  # fmt: skip
        for method, shared in plan.methods.items():
            groups = _distinct_runs(shared, {n: plans[n].methods[method] for n in names})
            logger.info(
                "Training %s (%d steps, %d members, %d distinct, one program)",
                method, shared.steps, len(names), len(groups),
            )  # fmt: skip
            managers = {
                n: folders[n].checkpoints(method, keep=plan.keep_checkpoints) for n in names
            }
            start = time.perf_counter()
            trained_groups = fit_members(
                [data[group[0]].training_for(method) for group in groups.values()],
                shared,
                seeds=[plans[group[0]].seed for group in groups.values()],
                model=plan.model,
                init_variables=plan.starting_variables,
                member_settings=[dict(values) for _, values in groups],
                on_checkpoint=[
                    functools.partial(_save_each, [managers[n] for n in group])
                    for group in groups.values()
                ],
                progress=progress,
            )
            seconds = time.perf_counter() - start
            for group, member in zip(groups.values(), trained_groups, strict=True):
                for name in group:
                    for record in member.history:
                        logs[name].write(method, record)
                    if managers[name].latest_step() != shared.steps:
                        checkpoints.save(managers[name], member.state)
                    folders[name].add_wall_time(method, seconds)
                    trained[name][method] = member
    results = {name: report(folder, trained[name], data[name], plans[name], announce=False)
               for name, folder in folders.items()}  # fmt: skip
    logger.info("Run folders: %s", ", ".join(str(folder.path) for folder in folders.values()))
    return results


def _distinct_runs(
    shared: TrainSettings, settings: Mapping[str, TrainSettings]
) -> dict[tuple[int, tuple[tuple[str, float], ...]], list[str]]:
    """Member names grouped by the run they train: their seed and hyper-parameters, the
    inert ones (:meth:`~dann_jax.core.settings.StepSettings.inert_hyperparameters`,
    e.g. the domain-loss weight and gamma of source-only, which its features and
    classes never see) set to ``shared``'s (the config's), so members that differ only
    in those train once and share the run (its domain head, trained with the config's
    values, included)."""
    groups: dict[tuple[int, tuple[tuple[str, float], ...]], list[str]] = {}
    for name, member in settings.items():
        values = member.hyperparameters() | {
            key: value
            for key, value in shared.hyperparameters().items()
            if key in member.inert_hyperparameters()
        }
        groups.setdefault((member.seed, tuple(values.items())), []).append(name)
    return groups


def _save_each(managers: Sequence[Any], state: Any, loop_state: dict) -> None:
    """Saves one run's checkpoint into every folder that shares it."""
    for manager in managers:
        checkpoints.save(manager, state, loop_state)
