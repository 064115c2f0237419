"""The training settings: one frozen, validated, hashable object, built once per run.

:class:`StepSettings` is what the train step computes with (method, schedules,
optimiser, loss weight); :class:`TrainSettings` adds what the loop around it
needs (batch, seed, input mode, launcher, cadences). A state holds only its
step settings, so runs that differ in seed or log cadence share one compiled
step, and equal settings give the same compiled step (they are equal and hash
alike). Every value is checked here, once, when the object is built: a bad
one raises one ``ValueError`` naming it and its valid values.

``fit(..., steps=1000, learning_rate=0.003)`` builds the settings from keyword
arguments; ``TrainSettings.from_config(config, method)`` from an experiment
config, whose keys have the same names.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import optax

from dann_jax import parallel, schedules

METHODS = ("dann", "source_only")
ADAPTATIONS = ("annealed", "constant")
INPUT_MODES = ("auto", "stream", "device")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {choices}.")


def _check_integer(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}.")


def _check_number(name: str, value: Any, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        bounds = f"in [{low}, {high}]" if math.isfinite(high) else f">= {low}"
        raise ValueError(f"{name} must be a finite number {bounds}, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepSettings:
    """What the train step computes with; the paper's values are the defaults.

    Attributes:
      steps: the run's length; the schedules reach p = 1 there.
      method: "dann", or "source_only" (the same network and schedules, but no
        domain gradient reaches the features).
      learning_rate: mu_0 (paper: 0.01).
      anneal_learning_rate: mu_p = mu_0 / (1 + 10 p) ** 0.75 if True, else mu_0.
      momentum: SGD momentum (paper: 0.9).
      adaptation: "annealed" (the paper's lambda_p) or "constant" (lambda = 1).
      gamma: the steepness of the annealed lambda_p (paper: 10).
      domain_loss_weight: the domain loss's weight in the total loss (paper: 1;
        the loss is the mean over the joint batch, see :func:`dann_jax.train_step`).
    """

    steps: int
    method: str = "dann"
    learning_rate: float = 0.01
    anneal_learning_rate: bool = True
    momentum: float = 0.9
    adaptation: str = "annealed"
    gamma: float = 10.0
    domain_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        _check_integer("steps", self.steps, 1)
        _check_choice("method", self.method, METHODS)
        _check_choice("adaptation", self.adaptation, ADAPTATIONS)
        _check_number("learning_rate", self.learning_rate, 0.0)
        if not isinstance(self.anneal_learning_rate, bool):
            raise ValueError(
                f"anneal_learning_rate must be True or False, got {self.anneal_learning_rate!r}."
            )
        _check_number("momentum", self.momentum, 0.0, 1.0)
        _check_number("gamma", self.gamma, 0.0)
        _check_number("domain_loss_weight", self.domain_loss_weight, 0.0)

    @property
    def domain_gradient(self) -> bool:
        """Whether the domain loss's gradient reaches the features (False: source-only)."""
        return self.method == "dann"

    def adaptation_schedule(self) -> optax.Schedule:
        """step -> lambda, the GRL's scale."""
        if self.adaptation == "annealed":
            return schedules.adaptation_factor(self.steps, self.gamma)
        return optax.constant_schedule(1.0)

    def learning_rate_schedule(self) -> optax.Schedule:
        """step -> mu, the learning rate applied at that step."""
        if self.anneal_learning_rate:
            return schedules.annealed_learning_rate(self.steps, self.learning_rate)
        return optax.constant_schedule(self.learning_rate)

    def optimizer(self) -> optax.GradientTransformation:
        """The update direction: SGD's momentum trace. The train step scales it by
        -mu(state.step), so the applied rate follows the state's step."""
        return optax.trace(decay=self.momentum)

    def step_settings(self) -> StepSettings:
        """These settings as :class:`StepSettings` alone (a :class:`TrainSettings`
        drops its loop settings)."""
        names = [field.name for field in dataclasses.fields(StepSettings)]
        return StepSettings(**{name: getattr(self, name) for name in names})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainSettings(StepSettings):
    """Everything a training run is set by: the step's settings and the loop's.

    Its attributes are :class:`StepSettings`' and these.

    Attributes:
      batch_size: global batch, even: batch_size // 2 source + batch_size // 2 target.
      seed: seeds initialisation and batch order.
      input_mode: "stream" (each step's rows read and preprocessed on the host),
        "device" (the data read once onto the devices, many steps per dispatch)
        or "auto" (device when it fits). Both see the same batches.
      parallel: "auto" (shard_map over every device when there are several),
        "shard_map", "pmap" or "none"; see :mod:`dann_jax.parallel`.
      steps_per_dispatch: steps per ``lax.scan`` dispatch in "device" mode.
      log_every: steps per log record (metrics leave the device only then).
      checkpoint_every: steps between checkpoints, any multiple (0: none during
        training); independent of ``log_every``.
    """

    batch_size: int = 128
    seed: int = 0
    input_mode: str = "auto"
    parallel: str = "auto"
    steps_per_dispatch: int = 100
    log_every: int = 100
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            not isinstance(self.batch_size, numbers.Integral)
            or self.batch_size < 2
            or self.batch_size % 2
        ):
            raise ValueError(
                "batch_size must be an even integer >= 2 (half source, half target), "
                f"got {self.batch_size!r}."
            )
        _check_integer("seed", self.seed, 0)
        _check_choice("input_mode", self.input_mode, INPUT_MODES)
        _check_choice("parallel", self.parallel, parallel.PARALLELS)
        _check_integer("steps_per_dispatch", self.steps_per_dispatch, 1)
        _check_integer("log_every", self.log_every, 1)
        _check_integer("checkpoint_every", self.checkpoint_every, 0)

    @classmethod
    def from_config(cls, config: Any, method: str) -> TrainSettings:
        """The settings of ``method`` ("dann" or "source_only") in an experiment config,
        whose keys are named as the fields here.

        Raises:
          ValueError: a value is invalid; the message names the key.
        """
        values = {
            field.name: config[field.name]
            for field in dataclasses.fields(cls)
            if field.name != "method"
        }
        try:
            return cls(method=method, **values)
        except ValueError as error:
            raise ValueError(f"config: {error}") from None
