"""Many runs of one config in one compiled program: its members.

A member is one run of such a program: the config with its own seed and its own
values of the traced hyper-parameters (its setting). :func:`run_members` trains
every method of the config for all members at once
(:func:`dann_jax.core.fit.fit_members`, ``jax.vmap`` over members) and writes one
run folder per member, as :func:`dann_jax.runs.train.run` writes one;
:func:`run_seeds` is the case of one member per seed, a sweep
(:mod:`dann_jax.runs.sweep`) the case of a grid of settings.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import ml_collections

from dann_jax.core import checkpoints
from dann_jax.core.fit import fit_members
from dann_jax.core.trained import TrainedDANN
from dann_jax.runs.data import load_data
from dann_jax.runs.evaluate import report
from dann_jax.runs.folder import RunFolder
from dann_jax.runs.plan import make_plan


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
    program per method (:func:`dann_jax.core.fit.fit_members`, ``jax.vmap`` over
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
    folders = {name: RunFolder(Path(runs) / name) for name in plans}
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
    trained: dict[str, dict[str, TrainedDANN]] = {name: {} for name in names}
    with contextlib.ExitStack() as stack:
        logs = {name: stack.enter_context(folder.metrics_writer())
                for name, folder in folders.items()}  # fmt: skip
        for method, shared in plan.methods.items():
            print(f"Training {method} ({shared.steps} steps, {len(names)} members, one program)")
            managers = {
                n: folders[n].checkpoints(method, keep=plan.keep_checkpoints) for n in names
            }
            start = time.perf_counter()
            trained_members = fit_members(
                [data[name].training_for(method) for name in names],
                shared,
                seeds=[plans[name].seed for name in names],
                model=plan.model,
                init_variables=plan.starting_variables,
                member_settings=[plans[name].methods[method].hyperparameters() for name in names],
                on_checkpoint=[functools.partial(checkpoints.save, managers[n]) for n in names],
                progress=progress,
            )
            seconds = time.perf_counter() - start
            for name, member in zip(names, trained_members, strict=True):
                for record in member.history:
                    logs[name].write(method, record)
                if managers[name].latest_step() != shared.steps:
                    checkpoints.save(managers[name], member.state)
                folders[name].add_wall_time(method, seconds)
                trained[name][method] = member
    return {name: report(folder, trained[name], data[name], plans[name])
            for name, folder in folders.items()}  # fmt: skip
