"""dann_jax: domain-adversarial training (DANN) in JAX and Flax.

Importing it loads JAX, Flax and optax only; the data sets, plots, checkpoints
and the command line load their libraries when used.

References:
  Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015.
  Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 17(59), 2016.
"""

from dann_jax import variables
from dann_jax.fit import fit, fit_members, fit_seeds, fit_sources
from dann_jax.grl import GradientReversal, NNXGradientReversal, grad_reverse
from dann_jax.loop import train_loop
from dann_jax.models import (
    DANN,
    DomainHead,
    MLPHead,
    build_model,
    dann_network,
    register_network,
)
from dann_jax.schedules import adaptation_factor, annealed_learning_rate
from dann_jax.settings import StepSettings, TrainSettings
from dann_jax.step import TrainState, create_train_state, eval_step, train_step, train_steps
from dann_jax.trained import TrainedDANN

__version__ = "0.2.0"

__all__ = [
    "DANN",
    "DomainHead",
    "GradientReversal",
    "MLPHead",
    "NNXGradientReversal",
    "StepSettings",
    "TrainSettings",
    "TrainState",
    "TrainedDANN",
    "adaptation_factor",
    "annealed_learning_rate",
    "build_model",
    "create_train_state",
    "dann_network",
    "eval_step",
    "fit",
    "fit_members",
    "fit_seeds",
    "fit_sources",
    "grad_reverse",
    "register_network",
    "train_loop",
    "train_step",
    "train_steps",
    "variables",
]
