"""dann_jax: domain-adversarial training (DANN) in JAX and Flax.

The names here are what users call: the trainers and the trained model (and
``load_trained``, a run folder's), the settings, the training data, the gradient
reversal layer, the networks and their registry, the DANN loss and its schedules.
Everything else lives in the subpackages, which are the library's layers, each
importing only those below it:

- :mod:`dann_jax.cli`: the ``dann`` command, one module per command;
- :mod:`dann_jax.runs`: a config read into a plan, run folders, many runs in one
  program, sweeps, plots, provenance;
- :mod:`dann_jax.configs`: the packaged experiment configs;
- :mod:`dann_jax.evaluation`: metrics, label-free validators, selection;
- :mod:`dann_jax.core`: settings, networks, the loss, the state and the pure
  step, launchers, input modes, the loop, ``fit``, checkpoints;
- :mod:`dann_jax.data` and :mod:`dann_jax.backbones`: domains, sources,
  preprocessing, batches, dataset builders; pretrained feature extractors;
- :mod:`dann_jax.grl`: the gradient reversal layer, which imports nothing of ours.

Importing it loads JAX, Flax and optax only; the data sets, plots, checkpoints
and the command line load their libraries when used.

References:
  Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015.
  Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 17(59), 2016.
"""

from dann_jax.core.fit import fit, fit_sources
from dann_jax.core.losses import dann_loss
from dann_jax.core.members import fit_members, fit_seeds
from dann_jax.core.networks import DANN, DomainHead, MLPHead, dann_network
from dann_jax.core.nnx_parts import nnx_part
from dann_jax.core.registry import build_model, register_network
from dann_jax.core.schedules import adaptation_factor, annealed_learning_rate
from dann_jax.core.settings import StepSettings, TrainSettings
from dann_jax.core.trained import TrainedDANN
from dann_jax.data.domains import TrainingData
from dann_jax.grl import GradientReversal, NNXGradientReversal, grad_reverse

__version__ = "0.3.0"


def __getattr__(name: str):  # PEP 562: what needs the runs' libraries loads when asked for
    if name == "load_trained":
        from dann_jax.runs.evaluate import load_trained

        return load_trained
    raise AttributeError(f"module 'dann_jax' has no attribute {name!r}")


__all__ = [
    "DANN",
    "DomainHead",
    "GradientReversal",
    "MLPHead",
    "NNXGradientReversal",
    "StepSettings",
    "TrainSettings",
    "TrainedDANN",
    "TrainingData",
    "adaptation_factor",
    "annealed_learning_rate",
    "build_model",
    "dann_loss",
    "dann_network",
    "fit",
    "fit_members",
    "fit_seeds",
    "fit_sources",
    "grad_reverse",
    "load_trained",
    "nnx_part",
    "register_network",
]
