"""Sweeps: a grid of settings and seeds trained in one program, chosen without target labels.

A sweep's members are every combination of the given values of the traced
hyper-parameters (learning rate, domain-loss weight, gamma) for every seed. They train
together, one compiled program per method (:func:`dann_jax.runs.many.run_members`),
each into its own run folder with its checkpoints. Every checkpoint of every member is
then a candidate: for each seed, each label-free validator picks one candidate (a
setting and a step) among the members of that seed
(:func:`dann_jax.evaluation.selection.pick_settings`), as ``dann select`` picks within
one run. The oracle (target test accuracy) and each setting's last step are reported
beside the picks; no pick reads target labels. ``dann sweep`` runs it and writes
``sweep.json`` and ``sweep.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from dann_jax.core.settings import HYPERPARAMETERS
from dann_jax.evaluation import selection
from dann_jax.runs import files, lock, provenance, select
from dann_jax.runs.many import Member, run_members


def grid(values: Mapping[str, Sequence[float]], seeds: Sequence[int]) -> list[Member]:
    """Every combination of ``values`` (hyper-parameter -> its values) for every seed,
    in order: seeds outermost, then the hyper-parameters as given.

    Raises:
      ValueError: a name other than :data:`dann_jax.core.settings.HYPERPARAMETERS`, an
        empty list of values, a repeated value, or no seed.
    """
    unknown = sorted(set(values) - set(HYPERPARAMETERS))
    if unknown:
        raise ValueError(f"a sweep may vary {HYPERPARAMETERS} (one program), not {unknown}.")
    for name, options in values.items():
        if not options:
            raise ValueError(f"give --sweep.{name} one or more values, comma-separated.")
        if len(set(options)) != len(options):
            raise ValueError(f"--sweep.{name} repeats a value: {list(options)}.")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"give one or more distinct seeds, not {list(seeds)}.")
    names = list(values)
    combinations = list(itertools.product(*(values[name] for name in names)))
    return [
        Member(tuple(zip(names, map(float, combination), strict=True)), int(seed))
        for seed in seeds
        for combination in combinations
    ]


def run_sweep(
    config: ml_collections.ConfigDict,
    values: Mapping[str, Sequence[float]],
    seeds: Sequence[int],
    runs: str | Path,
    *,
    candidates: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """Trains the grid of ``values`` and ``seeds`` in one program per method, scores
    every checkpoint of every member and writes ``runs/sweep.json`` and ``sweep.md``.

    Args:
      config: the experiment config every member starts from.
      values: hyper-parameter -> the values to try (see :func:`grid`).
      seeds: the seeds; each setting is trained with each.
      runs: the folder for the members' run folders (``runs/<member name>``).
      candidates: checkpoints per member, evenly spaced, the last at the end.
      progress: show progress bars.

    Returns:
      ``members``, ``per_seed`` (:func:`dann_jax.evaluation.selection.pick_settings`'
      record for each seed) and ``summary``
      (:func:`dann_jax.evaluation.selection.over_seeds`).

    Raises:
      ValueError: before anything is written, for a bad grid or config, or a
        member folder that holds a run already.
    """
    machine = provenance.describe_machine()  # the code as it was when the training began
    members = grid(values, seeds)
    if candidates < 1:
        raise ValueError(f"candidates must be at least 1, not {candidates}.")
    config = ml_collections.ConfigDict(config.to_dict())
    config.checkpoint_every = max(1, config.steps // candidates)
    config.keep_checkpoints = 0  # every candidate is kept
    runs = Path(runs)
    with lock.exclusive(runs):
        return _sweep(config, values, members, runs, candidates, machine, progress)


def _sweep(
    config: ml_collections.ConfigDict,
    values: Mapping[str, Sequence[float]],
    members: Sequence[Member],
    runs: Path,
    candidates: int,
    machine: dict,
    progress: bool,
) -> dict[str, Any]:
    """:func:`run_sweep` once its folder is locked."""
    run_members(config, members, runs, progress=progress)
    picks = {}
    for member in members:
        folder = runs / member.name
        picks[member.name] = select.select_checkpoints(
            folder, model=config.model, progress=progress
        )
        select.write(folder, picks[member.name])
    per_seed = {
        seed: selection.pick_settings({m.setting: picks[m.name] for m in members if m.seed == seed})
        for seed in dict.fromkeys(m.seed for m in members)
    }
    result = {
        "machine": machine,
        "config": config.to_dict(),
        "members": {m.name: m.overrides() for m in members},
        "checkpoint_every": config.checkpoint_every,
        "per_seed": per_seed,
        "summary": selection.over_seeds(per_seed),
    }
    files.write_json(runs / "sweep.json", result)
    seeds_text = ", ".join(str(seed) for seed in per_seed)
    grid_text = " x ".join(f"{name} {{{', '.join(f'{v:g}' for v in options)}}}"
                           for name, options in values.items())  # fmt: skip
    labelled = all("target_accuracy" in record for record in result["summary"].values())
    shown = (
        "target test accuracy of the pick, mean ± std over the seeds, and the settings picked"
        if labelled
        else "the settings picked (the target has no labels: no accuracy can be reported)"
    )
    files.write_text(
        runs / "sweep.md",
        f"# Sweep of {config.name}: settings and checkpoints chosen without target labels\n\n"
        f"Grid: {grid_text or 'the config'}, seeds {seeds_text}: {len(members)} members in one "
        f"program per method, one run folder each. Each validator picks one of every "
        f"member's {candidates} checkpoints (every {config.checkpoint_every} steps) per seed; "
        f"{shown}.\n\n"
        f"{selection.seeds_table(result['summary'])}\n{provenance.summary(machine)}\n"
        f"Command: `{machine['command']}`\n",
    )
    return result
