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
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import optax

from dann_jax import augment, optimizers, parallel, schedules

METHODS = ("dann", "source_only")
ADAPTATIONS = ("annealed", "constant")
INPUT_MODES = ("auto", "stream", "device")
COMPUTE_DTYPES = ("float32", "bfloat16")
# Settings a state carries as traced values: members of one compiled program (a sweep)
# may differ in them.
HYPERPARAMETERS = ("learning_rate", "domain_loss_weight", "gamma")


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
      optimizer: "sgd" (paper), "nesterov" or "adamw" (see :mod:`dann_jax.optimizers`).
      weight_decay: L2 on the gradient for SGD, decoupled decay for AdamW (0: none).
      learning_rate_multipliers: {part: multiplier}, a part being a path in the
        params ("feature_extractor", "feature_extractor/feature_extractor", ...);
        0 freezes the part. Stored as sorted pairs (hashable).
      compute_dtype: "float32", or "bfloat16": the forward and backward passes in
        bfloat16 with float32 params, optimiser state and losses.
      crop_size: the network sees ``crop_size`` squares of the stored images
        (0: the stored images as they are); evaluation takes the centre square.
      augmentation: how training draws its squares: "crop_flip" (uniform crop,
        flip), "resized_crop_flip" (random-resized crop, flip) or "none" (the
        centre square); see :mod:`dann_jax.augment`.
    """

    steps: int
    method: str = "dann"
    learning_rate: float = 0.01
    anneal_learning_rate: bool = True
    momentum: float = 0.9
    adaptation: str = "annealed"
    gamma: float = 10.0
    domain_loss_weight: float = 1.0
    optimizer: str = "sgd"
    weight_decay: float = 0.0
    learning_rate_multipliers: optimizers.Multipliers = ()
    compute_dtype: str = "float32"
    crop_size: int = 0
    augmentation: str = "none"

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
        _check_choice("optimizer", self.optimizer, optimizers.OPTIMIZERS)
        _check_number("weight_decay", self.weight_decay, 0.0)
        _check_choice("compute_dtype", self.compute_dtype, COMPUTE_DTYPES)
        _check_integer("crop_size", self.crop_size, 0)
        _check_choice("augmentation", self.augmentation, augment.AUGMENTATIONS)
        if self.augmentation != "none" and not self.crop_size:
            raise ValueError(
                f"augmentation={self.augmentation!r} draws crops: set crop_size, e.g. 224."
            )
        multipliers = self.learning_rate_multipliers
        pairs = multipliers.items() if isinstance(multipliers, Mapping) else multipliers
        try:
            pairs = list(pairs)
            valid = all(len(pair) == 2 for pair in pairs)
        except TypeError:
            valid = False
        if not valid:
            raise ValueError(
                "learning_rate_multipliers must map parts to multipliers, e.g. "
                f"{{'feature_extractor': 0.1}}, got {multipliers!r}."
            )
        for part, multiplier in pairs:
            if not isinstance(part, str) or not part:
                raise ValueError(f"learning_rate_multipliers: {part!r} is not a part's name.")
            _check_number(f"learning_rate_multipliers[{part!r}]", multiplier, 0.0)
        normalized = optimizers.normalize_multipliers(tuple(pairs))
        object.__setattr__(self, "learning_rate_multipliers", normalized)

    @property
    def domain_gradient(self) -> bool:
        """Whether the domain loss's gradient reaches the features (False: source-only)."""
        return self.method == "dann"

    def hyperparameters(self) -> dict[str, float]:
        """The values of :data:`HYPERPARAMETERS`, which a train state carries as arrays."""
        return {name: float(getattr(self, name)) for name in HYPERPARAMETERS}

    def adaptation_schedule(self, gamma: Any = None) -> optax.Schedule:
        """step -> lambda, the GRL's scale (``gamma``: a traced value in place of ours)."""
        if self.adaptation == "annealed":
            return schedules.adaptation_factor(self.steps, self.gamma if gamma is None else gamma)
        return optax.constant_schedule(1.0)

    def learning_rate_schedule(self, learning_rate: Any = None) -> optax.Schedule:
        """step -> mu, the learning rate applied at that step (``learning_rate``: a
        traced mu_0 in place of ours)."""
        mu_0 = self.learning_rate if learning_rate is None else learning_rate
        if self.anneal_learning_rate:
            return schedules.annealed_learning_rate(self.steps, mu_0)
        return optax.constant_schedule(mu_0)

    def update_direction(self) -> optax.GradientTransformation:
        """The update direction (optimiser, weight decay, per-part multipliers). The
        train step scales it by -mu(state.step), so the applied rate follows the
        state's step."""
        base = optimizers.direction(self.optimizer, self.momentum, self.weight_decay)
        return optimizers.with_multipliers(base, self.learning_rate_multipliers)

    def input_shape(self, stored_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The network's input shape for stored inputs of ``stored_shape`` (the crop's)."""
        if not self.crop_size:
            return tuple(stored_shape)
        return (self.crop_size, self.crop_size, *stored_shape[2:])

    @property
    def dtype(self) -> jnp.dtype:
        """The compute dtype."""
        return jnp.dtype(self.compute_dtype)

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
            if field.name != "method" and field.name in config
        }
        multipliers = values.get("learning_rate_multipliers")
        if hasattr(multipliers, "to_dict"):
            values["learning_rate_multipliers"] = multipliers.to_dict()
        try:
            return cls(method=method, **values)
        except ValueError as error:
            raise ValueError(f"config: {error}") from None
