"""Runs: an experiment config read into a plan, trained into run folders, evaluated, chosen.

- :mod:`~dann_jax.runs.plan`: a config read once into a :class:`~dann_jax.runs.plan.RunPlan`;
- :mod:`~dann_jax.runs.data`: what a run trains and evaluates on;
- :mod:`~dann_jax.runs.folder`: the run folder, its files, resuming;
- :mod:`~dann_jax.runs.train`: one run (``dann train``);
- :mod:`~dann_jax.runs.evaluate`: results into a run folder, trained networks out of one
  (``dann evaluate``);
- :mod:`~dann_jax.runs.select`: every checkpoint scored, each validator's pick (``dann select``);
- :mod:`~dann_jax.runs.many`: many runs, the members of one compiled program;
- :mod:`~dann_jax.runs.sweep`: a grid of settings and seeds, chosen without labels
  (``dann sweep``);
- :mod:`~dann_jax.runs.plots`, :mod:`~dann_jax.runs.provenance`: pictures of a run; where and
  how a result was measured.

The functions most code calls are importable from here.
"""

from dann_jax.runs.evaluate import evaluate_run, load_trained
from dann_jax.runs.folder import RunFolder
from dann_jax.runs.many import Member, run_members, run_seeds
from dann_jax.runs.plan import RunPlan, make_plan
from dann_jax.runs.select import select_checkpoints
from dann_jax.runs.sweep import run_sweep
from dann_jax.runs.train import run

__all__ = [
    "Member",
    "RunFolder",
    "RunPlan",
    "evaluate_run",
    "load_trained",
    "make_plan",
    "run",
    "run_members",
    "run_seeds",
    "run_sweep",
    "select_checkpoints",
]
