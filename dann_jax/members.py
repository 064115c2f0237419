"""Many runs of one config in one compiled program: seeds and sweep members.

A member is the config with its own seed and its own values of the traced
hyper-parameters. :func:`run_members` trains every method of the config for all
members at once (:func:`dann_jax.fit.fit_members`, ``jax.vmap`` over members) and
writes one run folder per member, as :func:`dann_jax.experiment.run` writes one;
:func:`run_seeds` is the case of one member per seed.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import ml_collections

from dann_jax import checkpoint
from dann_jax.experiment import finish, settings_of, starting_variables
from dann_jax.experiment_data import load_data
from dann_jax.fit import fit_members
from dann_jax.run_folder import RunFolder
from dann_jax.settings import HYPERPARAMETERS
from dann_jax.trained import TrainedDANN


def run_seeds(
    config: ml_collections.ConfigDict, seeds: Sequence[int], runs: Path, *, progress: bool = True
) -> dict[int, dict[str, dict[str, float]]]:
    """Trains every method of ``config`` for all ``seeds`` at once (:func:`run_members`
    with one member per seed) into the run folders ``runs/seed<k>``.

    On offline data every seed's result equals :func:`dann_jax.experiment.run`'s for that seed
    (tests/test_experiment.py).

    Returns:
      seed -> method -> metrics, as :func:`run` returns them.
    """
    results = run_members(config, {f"seed{seed}": {"seed": seed} for seed in seeds}, runs,
                          progress=progress)  # fmt: skip
    return {seed: results[f"seed{seed}"] for seed in seeds}


# What members of one program may differ in: the seed and the traced hyper-parameters.
MEMBER_KEYS = ("seed", *HYPERPARAMETERS)


def member_configs(
    config: ml_collections.ConfigDict, members: Mapping[str, Mapping[str, float]]
) -> dict[str, ml_collections.ConfigDict]:
    """Name -> ``config`` with that member's values of :data:`MEMBER_KEYS` in it.

    Raises:
      ValueError: no member, or a member sets another key.
    """
    if not members:
        raise ValueError("name at least one member (a seed or a hyper-parameter value).")
    configs = {}
    for name, overrides in members.items():
        unknown = sorted(set(overrides) - set(MEMBER_KEYS))
        if unknown:
            raise ValueError(
                f"member {name} sets {unknown}; the members of one program may differ only in "
                f"{MEMBER_KEYS}."
            )
        configs[name] = ml_collections.ConfigDict(config.to_dict())
        for key, value in overrides.items():
            configs[name][key] = int(value) if key == "seed" else float(value)
    return configs


def run_members(
    config: ml_collections.ConfigDict,
    members: Mapping[str, Mapping[str, float]],
    runs: Path,
    *,
    progress: bool = True,
) -> dict[str, dict[str, dict[str, float]]]:
    """Trains every method of ``config`` for all ``members`` at once, in one compiled
    program per method (:func:`dann_jax.fit.fit_members`, ``jax.vmap`` over members),
    and writes one run folder per member, ``runs/<name>``, as :func:`dann_jax.experiment.run` would.

    A member is ``config`` with its own seed and its own values of the traced
    hyper-parameters (``{"seed": 1, "learning_rate": 0.003}``); its folder's
    ``config.json`` holds them, so ``dann evaluate`` and ``dann select`` read the
    folder as any run's. Each seed loads its own data (its split, blend and batch
    order), read into memory (the on-device mode). Checkpoints are saved every
    ``config.checkpoint_every`` steps and at the end. A folder's ``wall_time_s``
    is the time of the program that trained all members. Single process, one
    device, no resuming.

    Returns:
      member name -> method -> metrics, as :func:`run` returns them.

    Raises:
      ValueError: before anything is written, when a member is invalid or a
        folder holds a run already.
    """
    if jax.process_count() > 1:
        raise ValueError(
            "run_members trains on one device of one process; use experiment.run() per member."
        )
    configs = member_configs(config, members)
    settings = {name: settings_of(member) for name, member in configs.items()}
    folders = {name: RunFolder(Path(runs) / name) for name in configs}
    for folder in folders.values():
        if folder.holds_run():
            raise ValueError(
                f"{folder.path} holds a run already; nothing was changed. Pass a new --runs folder."
            )
    seeds = sorted({member.seed for member in configs.values()})
    data_by_seed = {}
    for seed in seeds:
        seed_config = ml_collections.ConfigDict(config.to_dict())
        seed_config.seed = seed
        data_by_seed[seed] = load_data(seed_config, progress=progress)
    data = {name: data_by_seed[member.seed] for name, member in configs.items()}
    for name, folder in folders.items():
        folder.start(configs[name])
    trained: dict[str, dict[str, TrainedDANN]] = {name: {} for name in configs}
    with contextlib.ExitStack() as stack:
        logs = {name: stack.enter_context(folder.metrics_writer())
                for name, folder in folders.items()}  # fmt: skip
        for method, shared in settings_of(config).items():
            names = list(configs)
            print(f"Training {method} ({shared.steps} steps, {len(names)} members, one program)")
            keep = config.keep_checkpoints or None
            managers = {name: folders[name].checkpoints(method, keep=keep) for name in names}
            start = time.perf_counter()
            trained_members = fit_members(
                [data[name].training_for(method) for name in names],
                shared,
                seeds=[configs[name].seed for name in names],
                model=config.model,
                init_variables=starting_variables(config),
                member_settings=[settings[name][method].hyperparameters() for name in names],
                on_checkpoint=[functools.partial(checkpoint.save, managers[n]) for n in names],
                progress=progress,
            )
            seconds = time.perf_counter() - start
            for name, member in zip(names, trained_members, strict=True):
                for record in member.history:
                    logs[name].write(method, record)
                if managers[name].latest_step() != shared.steps:
                    checkpoint.save(managers[name], member.state)
                folders[name].add_wall_time(method, seconds)
                trained[name][method] = member
    return {
        name: finish(folder, trained[name], data[name], configs[name])
        for name, folder in folders.items()
    }
