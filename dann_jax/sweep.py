"""Sweeps: a grid of settings and seeds trained in one program, chosen without target labels.

A sweep's members are every combination of the given values of the traced
hyper-parameters (learning rate, domain-loss weight, gamma) for every seed. They train
together, one compiled program per method (:func:`dann_jax.members.run_members`),
each into its own run folder with its checkpoints. Every checkpoint of every member is
then a candidate: for each seed, each label-free validator picks one candidate (a
setting and a step) among the members of that seed, as
:mod:`dann_jax.checkpoint_choice` does within one run. The oracle (target test
accuracy) and each setting's last step are reported beside the picks; no choice reads
target labels. ``dann sweep`` runs it and writes ``sweep.json`` and ``sweep.md``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from dann_jax import checkpoint_choice, provenance
from dann_jax import members as members_lib
from dann_jax.settings import HYPERPARAMETERS


@dataclass(frozen=True)
class Member:
    """One run of a sweep: its values of the swept hyper-parameters and its seed."""

    values: tuple[tuple[str, float], ...]
    seed: int

    @property
    def setting(self) -> str:
        """The swept values as text, e.g. ``learning_rate=0.01,gamma=10`` ("config" if none)."""
        return ",".join(f"{name}={value:g}" for name, value in self.values) or "config"

    @property
    def name(self) -> str:
        """The member's run folder, e.g. ``learning_rate=0.01,seed=0``."""
        return f"{self.setting},seed={self.seed}" if self.values else f"seed={self.seed}"

    def overrides(self) -> dict[str, float]:
        """The config keys that make this member (see :func:`dann_jax.members.run_members`)."""
        return {**dict(self.values), "seed": self.seed}


def grid(values: Mapping[str, Sequence[float]], seeds: Sequence[int]) -> list[Member]:
    """Every combination of ``values`` (hyper-parameter -> its values) for every seed,
    in order: seeds outermost, then the hyper-parameters as given.

    Raises:
      ValueError: a name other than :data:`dann_jax.settings.HYPERPARAMETERS`, an
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


def choose(
    members: Sequence[Member], selections: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each validator's pick among the checkpoints of ``members`` (of one seed).

    Args:
      members: the members of one seed.
      selections: member name -> :func:`dann_jax.checkpoint_choice.select_checkpoints`'
        record of its run (method -> steps, scores, target accuracies).

    Returns:
      method -> ``picks`` (validator -> setting, step, target accuracy; the first
      candidate on ties), ``oracle`` (the same, for the best target accuracy:
      reported only), ``last`` (setting -> its last step's target accuracy) and
      ``rank_correlation`` (validator -> Spearman's over all candidates).
    """
    chosen = {}
    for method in selections[members[0].name]:
        candidates, scores = _candidates(members, selections, method)
        accuracies = [candidate["target_accuracy"] for candidate in candidates]
        chosen[method] = {
            "picks": {name: candidates[int(np.argmax(values))] for name, values in scores.items()},
            "oracle": candidates[int(np.argmax(accuracies))],
            "last": {
                member.setting: selections[member.name][method]["last"]["target_accuracy"]
                for member in members
            },
            "rank_correlation": {
                name: checkpoint_choice.rank_correlation(values, accuracies)
                for name, values in scores.items()
            },
        }
    return chosen


def _candidates(
    members: Sequence[Member], selections: Mapping[str, Mapping[str, Any]], method: str
) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Every checkpoint of ``method`` in ``members`` (setting, step, target accuracy),
    and each validator's scores of them, in the same order."""
    candidates, scores = [], {}
    for member in members:
        record = selections[member.name][method]
        for index, step in enumerate(record["steps"]):
            accuracy = record["target_accuracy"][index]
            candidates.append(
                {"setting": member.setting, "step": step, "target_accuracy": accuracy}
            )
            for name, values in record["scores"].items():
                scores.setdefault(name, []).append(values[index])
    return candidates, scores


def summarise(per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """method -> ``target_accuracy`` (choice -> [mean, std] over seeds, std with
    ddof=0), ``rank_correlation`` (validator -> mean over the seeds where defined)
    and ``picked`` (validator -> setting -> how many seeds picked it)."""
    summary = {}
    for method, first in next(iter(per_seed.values())).items():
        records = [chosen[method] for chosen in per_seed.values()]
        accuracies = {
            name: [record["picks"][name]["target_accuracy"] for record in records]
            for name in first["picks"]
        }
        accuracies["oracle"] = [record["oracle"]["target_accuracy"] for record in records]
        for setting in first["last"]:
            accuracies[f"last step, {setting}"] = [record["last"][setting] for record in records]
        summary[method] = {
            "target_accuracy": {
                name: [float(np.mean(values)), float(np.std(values))]
                for name, values in accuracies.items()
            },
            "rank_correlation": {
                name: _mean_defined([record["rank_correlation"][name] for record in records])
                for name in first["picks"]
            },
            "picked": {
                name: _counts([record["picks"][name]["setting"] for record in records])
                for name in first["picks"]
            },
        }
    return summary


def _mean_defined(values: Sequence[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None


def _counts(settings: Sequence[str]) -> dict[str, int]:
    return {setting: settings.count(setting) for setting in dict.fromkeys(settings)}


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
      ``members``, ``per_seed`` (:func:`choose`'s record for each seed) and
      ``summary`` (:func:`summarise`).

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
    members_lib.run_members(config, {m.name: m.overrides() for m in members}, runs,
                           progress=progress)  # fmt: skip
    selections = {}
    for member in members:
        folder = runs / member.name
        selections[member.name] = checkpoint_choice.select_checkpoints(folder, progress=progress)
        checkpoint_choice.write(folder, selections[member.name])
    per_seed = {
        seed: choose([m for m in members if m.seed == seed], selections)
        for seed in dict.fromkeys(m.seed for m in members)
    }
    result = {
        "machine": machine,
        "config": config.to_dict(),
        "members": {m.name: m.overrides() for m in members},
        "checkpoint_every": config.checkpoint_every,
        "per_seed": per_seed,
        "summary": summarise(per_seed),
    }
    (runs / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    seeds_text = ", ".join(str(seed) for seed in per_seed)
    grid_text = " x ".join(f"{name} {{{', '.join(f'{v:g}' for v in options)}}}"
                           for name, options in values.items())  # fmt: skip
    (runs / "sweep.md").write_text(
        f"# Sweep of {config.name}: settings and checkpoints chosen without target labels\n\n"
        f"Grid: {grid_text or 'the config'}, seeds {seeds_text}: {len(members)} members in one "
        f"program per method, one run folder each. Each validator picks one of every "
        f"member's {candidates} checkpoints (every {config.checkpoint_every} steps) per seed; "
        "target test accuracy of the pick, mean ± std over the seeds.\n\n"
        f"{checkpoint_choice.seeds_table(result['summary'])}\n{provenance.summary(machine)}\n"
        f"Command: `{machine['command']}`\n"
    )
    return result
