"""dann_jax: domain-adversarial training (DANN) in JAX and Flax.

References:
  Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015.
  Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 17(59), 2016.
"""

from dann_jax.grl import GradientReversal, NNXGradientReversal, grad_reverse
from dann_jax.models import DANN, build_model
from dann_jax.schedules import adaptation_factor, annealed_learning_rate
from dann_jax.train import TrainedDANN, TrainState, create_train_state, eval_step, fit, train_step

__version__ = "0.1.0"

__all__ = [
    "DANN",
    "GradientReversal",
    "NNXGradientReversal",
    "TrainState",
    "TrainedDANN",
    "adaptation_factor",
    "annealed_learning_rate",
    "build_model",
    "create_train_state",
    "eval_step",
    "fit",
    "grad_reverse",
    "train_step",
]
