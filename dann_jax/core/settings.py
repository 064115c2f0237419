"""The training settings: one frozen, validated, hashable object, built once per run.

This module is the one source of every training default and its meaning. Each
field of :class:`StepSettings` (what the train step computes with) and
:class:`TrainSettings` (what the loop around it needs) carries its default and a
line saying what it means; the classes' attribute docs, the experiment configs'
keys, ``dann train --help`` and the guide's table of config keys are all
generated from them. :data:`NETWORK_DEFAULTS` holds the settings a packaged
network trains with where they differ from the paper's, and :data:`RUN_DEFAULTS`
the few a run folder (``dann train``) starts from instead of ``fit``'s.

A state holds only its step settings, so runs that differ in seed or log cadence
share one compiled step, and equal settings give the same compiled step (they
are equal and hash alike). Every value is checked here, once, when the object is
built: a bad one raises one ``ValueError`` naming it and its valid values.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import optax

from dann_jax.core import inputs, launchers, optimizers, schedules
from dann_jax.data import augment

# What the step computes: DANN, or the same network and schedules with no domain
# gradient reaching the features (the source-only baseline).
METHODS = ("source_only", "dann")
ADAPTATIONS = ("annealed", "constant")
INPUT_MODES = ("auto", *inputs.INPUT_MODES)
COMPUTE_DTYPES = ("float32", "bfloat16")
# Settings a state carries as traced values: the members of one compiled program
# (a sweep) may differ in them.
HYPERPARAMETERS = ("learning_rate", "domain_loss_weight", "gamma")


def _setting(default: Any, meaning: str) -> Any:
    """A settings field: its default and what it means (one line, for docs and --help)."""
    return dataclasses.field(default=default, metadata={"meaning": meaning})


def meanings(cls: type) -> dict[str, str]:
    """Field name -> what it means, for a settings class (every field, in order)."""
    return {field.name: field.metadata["meaning"] for field in dataclasses.fields(cls)}


def defaults(cls: type) -> dict[str, Any]:
    """Field name -> its default, for the fields of a settings class that have one."""
    return {
        field.name: field.default
        for field in dataclasses.fields(cls)
        if field.default is not dataclasses.MISSING
    }


def _document(cls: type) -> type:
    """Appends the fields' meanings and defaults to ``cls``' docstring (Google style)."""
    lines = ["", "    Attributes:"]
    for field in dataclasses.fields(cls):
        default = "" if field.default is dataclasses.MISSING else f" Default {field.default!r}."
        lines.append(f"      {field.name}: {field.metadata['meaning']}.{default}")
    cls.__doc__ = cls.__doc__.rstrip() + "\n" + "\n".join(lines) + "\n"
    return cls


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


@_document
@dataclasses.dataclass(frozen=True, kw_only=True)
class StepSettings:
    """What the train step computes with; the paper's values are the defaults."""

    steps: int = dataclasses.field(
        metadata={"meaning": "the run's length in steps; the schedules reach p = 1 there"}
    )
    method: str = _setting(
        "dann",
        "dann, or source_only: the same network and schedules, but no domain gradient "
        "reaches the features",
    )
    learning_rate: float = _setting(0.01, "mu_0, the initial learning rate")
    anneal_learning_rate: bool = _setting(
        True, "mu_p = mu_0 / (1 + 10 p) ** 0.75 if True, else mu_0 throughout"
    )
    momentum: float = _setting(0.9, "SGD momentum")
    adaptation: str = _setting(
        "annealed", "annealed: lambda_p = 2 / (1 + exp(-gamma p)) - 1; constant: lambda = 1"
    )
    gamma: float = _setting(10.0, "the steepness of the annealed lambda_p")
    domain_loss_weight: float = _setting(
        1.0,
        "the domain loss's weight; the loss is a mean over the joint batch, so 2 gives "
        "JMLR's sum of the two domains' means (see dann_jax.dann_loss)",
    )
    optimizer: str = _setting("sgd", "sgd (momentum; the paper's), nesterov, or adamw")
    weight_decay: float = _setting(
        0.0, "sgd and nesterov: L2 added to the gradient; adamw: decoupled decay; 0: none"
    )
    learning_rate_multipliers: tuple[tuple[str, float], ...] = _setting(
        (),
        "{part: multiplier}: a part's learning rate as a multiple of mu, 0 freezing it; "
        "a part is a path in the params (feature_extractor, or deeper, e.g. "
        "feature_extractor/feature_extractor for a backbone under a bottleneck)",
    )
    compute_dtype: str = _setting(
        "float32", "float32, or bfloat16: the passes in bfloat16, params and losses in float32"
    )
    crop_size: int = _setting(
        0,
        "the network sees crop_size squares of the stored images (evaluation: the "
        "centre one); 0: the stored images whole",
    )
    augmentation: str = _setting(
        "none",
        "how training draws its squares: crop_flip, resized_crop_flip, or none (the centre)",
    )

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

    def traced_values(self) -> dict[str, float]:
        """What a train state carries as traced arrays: :meth:`hyperparameters` and
        ``steps``, the run's length (so runs of other lengths share a compiled step)."""
        return self.hyperparameters() | {"steps": float(self.steps)}

    def inert_hyperparameters(self) -> tuple[str, ...]:
        """The traced hyper-parameters that cannot change the features and classes these
        settings train: without a domain gradient (source-only) the domain-loss weight
        (only the domain head trains with it) and gamma; with a constant lambda, gamma."""
        if not self.domain_gradient:
            return ("domain_loss_weight", "gamma")
        return ("gamma",) if self.adaptation == "constant" else ()

    def adaptation_schedule(self, gamma: Any = None, *, steps: Any = None) -> optax.Schedule:
        """step -> lambda, the GRL's scale (``gamma``, ``steps``: traced values in place
        of ours)."""
        if self.adaptation == "annealed":
            return schedules.adaptation_factor(
                self.steps if steps is None else steps, self.gamma if gamma is None else gamma
            )
        return optax.constant_schedule(1.0)

    def learning_rate_schedule(
        self, learning_rate: Any = None, *, steps: Any = None
    ) -> optax.Schedule:
        """step -> mu, the learning rate applied at that step (``learning_rate``,
        ``steps``: a traced mu_0 and run length in place of ours)."""
        mu_0 = self.learning_rate if learning_rate is None else learning_rate
        if self.anneal_learning_rate:
            return schedules.annealed_learning_rate(self.steps if steps is None else steps, mu_0)
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


@_document
@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainSettings(StepSettings):
    """Everything a training run is set by: the step's settings and the loop's."""

    batch_size: int = _setting(
        128, "the global batch, even: batch_size // 2 source and batch_size // 2 target"
    )
    seed: int = _setting(
        0, "seeds initialisation, batch order and dropout (a run's data split and blend too)"
    )
    input_mode: str = _setting(
        "auto",
        "stream (each step's rows read on the host), device (the data on the devices, "
        "many steps per dispatch) or auto (device when it fits); both see the same batches",
    )
    parallel: str = _setting(
        "auto",
        "shard_map, pmap or none (one device); auto: shard_map over every device when "
        "there are several",
    )
    steps_per_dispatch: int = _setting(100, "steps per lax.scan dispatch in device mode")
    log_every: int = _setting(
        100, "steps per log record (metrics leave the devices only then) and progress update"
    )
    checkpoint_every: int = _setting(
        0, "steps between checkpoints, independent of log_every; 0: none during training"
    )

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
        _check_choice("parallel", self.parallel, launchers.PARALLELS)
        _check_integer("steps_per_dispatch", self.steps_per_dispatch, 1)
        _check_integer("log_every", self.log_every, 1)
        _check_integer("checkpoint_every", self.checkpoint_every, 0)


# The Office protocol for the ImageNet backbones (ICML 2015 section 5.2; tllib): 32 + 32
# images, the backbone (under the bottleneck) at a tenth of the new layers' rate, 224
# squares cropped from 256 and flipped; the paper's mu_p and lambda_p.
_OFFICE = {
    "batch_size": 64,
    "learning_rate_multipliers": {"feature_extractor/feature_extractor": 0.1},
    "crop_size": 224,
    "augmentation": "crop_flip",
}
#: Packaged network -> the settings it trains with where they differ from the paper's
#: digit settings (the field defaults above); fit() and the configs start from them. A
#: user's network gets the paper's.
NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    # The JMLR toy problem as the paper's authors trained it in their code
    # (GRAAL-Research/domain_adversarial_neural_network, experiments_moons.py and
    # DANN.py): plain SGD at a constant 0.05, one source and one target example per
    # update, lambda = 6 weighting the sum of the two domains' losses (here a mean
    # over the joint batch, so a weight of 12), 500 passes over 300 source points.
    "shallow": {
        "steps": 150_000,
        "batch_size": 2,
        "parallel": "none",  # a batch of two is not shared across devices
        "learning_rate": 0.05,
        "anneal_learning_rate": False,
        "momentum": 0.0,
        "adaptation": "constant",  # the reversal at -1 throughout; the weight is lambda
        "domain_loss_weight": 12.0,
        "log_every": 5000,
        "steps_per_dispatch": 5000,
    },
    "resnet50": _OFFICE,
    "alexnet": _OFFICE,
    # tllib's DANN on Office-Home with ViT-B/16 (examples/.../dann.sh): 24 + 24 images.
    "vit_b16": {**_OFFICE, "batch_size": 48},
}
#: Where a run folder (``dann train``, the experiment configs) starts from other values than
#: fit(): finer records for its metrics.jsonl and curves, a dispatch per record, and
#: checkpoints to resume from (fit keeps nothing on disk). ``steps`` has no default in fit.
RUN_DEFAULTS: dict[str, Any] = {
    "steps": 1000,
    "log_every": 50,
    "steps_per_dispatch": 50,
    "checkpoint_every": 500,
}


def network_defaults(model: object) -> dict[str, Any]:
    """The settings ``model`` trains with by default (:data:`NETWORK_DEFAULTS`): keyword
    arguments of :class:`TrainSettings`, empty for the paper's and users' networks."""
    return dict(NETWORK_DEFAULTS.get(model, {})) if isinstance(model, str) else {}
