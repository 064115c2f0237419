"""The train state and how a fresh one is made: the one set-up path of every trainer.

A :class:`TrainState` holds the arrays a step updates (params, optimiser state,
model state, key, step) and the traced hyper-parameters and input normalisation,
with the network and step settings as static parts. :func:`initial_state` and
:func:`initial_states` are how ``fit``, the many-run programs and the run folders
make one: the network from the model, a zero example of its inputs, its outputs
checked, then :func:`create_train_state` (or one state per member, stacked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from dann_jax.core import optimizers
from dann_jax.core import variables as variables_lib
from dann_jax.core.networks import DANN
from dann_jax.core.registry import Model, build_model, check_outputs
from dann_jax.core.settings import StepSettings, TrainSettings
from dann_jax.data import augment
from dann_jax.data.domains import TrainingData
from dann_jax.data.preprocess import IDENTITY, Preprocess


class TrainState(struct.PyTreeNode):
    """Step count, params, optimiser state, model state and key, with the network and
    step settings.

    Attributes:
      step: () int32, the number of steps taken.
      params: the network's parameters (a pytree of float32 arrays).
      opt_state: the optimiser's state (SGD's momentum trace).
      model_state: the network's other variable collections, e.g.
        ``{"batch_stats": ...}`` of BatchNorm layers; ``{}`` when it has none.
      rng: (2,) uint32, the run's key data (``jax.random.key_data``): the key of
        step k's dropout is ``fold_in(key, k)``, the same under every launcher
        and after a resume.
      hyperparameters: float32 scalars of :data:`dann_jax.core.settings.HYPERPARAMETERS`
        (mu_0, the domain-loss weight, gamma) and ``steps``, the run's length: traced,
        so the members of a sweep share one compiled step, and so do runs of other
        lengths. Set from the settings, never checkpointed.
      input_normalization: ``mean`` and ``std`` float32 of the inputs' shape, with
        which the train step finishes its batch's stored images
        (:func:`dann_jax.data.preprocess.network_inputs`: uint8 scaled, resized
        up, grey to RGB, centred); scalars 0 and 1 (the default) take float
        inputs as they are. Set from the data, never checkpointed.
      network: the :class:`~dann_jax.core.networks.DANN` (static).
      settings: the :class:`~dann_jax.core.settings.StepSettings` (static).
    """

    step: jax.Array
    params: Any
    opt_state: optax.OptState
    model_state: Any
    rng: jax.Array
    hyperparameters: dict[str, jax.Array]
    input_normalization: dict[str, jax.Array]
    network: DANN = struct.field(pytree_node=False)
    settings: StepSettings = struct.field(pytree_node=False)

    @property
    def apply_fn(self) -> Any:
        """The network's ``apply``."""
        return self.network.apply

    @property
    def tx(self) -> optax.GradientTransformation:
        """The optimiser's update direction (see :meth:`StepSettings.update_direction`)."""
        return self.settings.update_direction()

    @property
    def variables(self) -> dict[str, Any]:
        """Params and model state, as ``network.apply`` takes them."""
        return {"params": self.params, **self.model_state}

    def adaptation_factor(self, step: jax.Array) -> jax.Array:
        """lambda at ``step``: the GRL's scale (float32 scalar)."""
        hyperparameters = self.hyperparameters
        schedule = self.settings.adaptation_schedule(
            hyperparameters["gamma"], steps=hyperparameters["steps"]
        )
        return schedule(step)

    def learning_rate(self, step: jax.Array) -> jax.Array:
        """mu at ``step``: the learning rate the update of that step applies."""
        hyperparameters = self.hyperparameters
        schedule = self.settings.learning_rate_schedule(
            hyperparameters["learning_rate"], steps=hyperparameters["steps"]
        )
        return schedule(step)

    def apply_gradients(self, *, grads: Any, model_state: Any | None = None) -> TrainState:
        """One step: the optimiser's direction scaled by -mu(state.step); the model
        state replaced by ``model_state`` when given."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        step_size = -self.learning_rate(self.step)
        updates = jax.tree.map(
            lambda update: jnp.asarray(step_size, update.dtype) * update, updates
        )
        return self.replace(
            step=self.step + 1,
            params=optax.apply_updates(self.params, updates),
            opt_state=opt_state,
            model_state=self.model_state if model_state is None else model_state,
        )


def _initial_arrays(
    network: DANN,
    settings: StepSettings,
    seed_key: jax.Array,
    example_inputs: jax.Array,
    init_variables: Any,
) -> tuple[Any, Any, optax.OptState, jax.Array]:
    fresh = network.init(seed_key, example_inputs, train=False)
    variables = variables_lib.merge(fresh, init_variables)
    params = variables.pop("params")
    key_data = jax.random.key_data(jax.random.fold_in(seed_key, 1))
    return params, variables, settings.update_direction().init(params), key_data


# Compiled once per network, settings and input shape (not op by op).
_init = jax.jit(_initial_arrays, static_argnums=(0, 1))
_init_stacked = jax.jit(
    jax.vmap(_initial_arrays, in_axes=(None, None, 0, None, None)), static_argnums=(0, 1)
)


def _state(
    network: DANN,
    settings: StepSettings,
    step: jax.Array,
    arrays: tuple,
    hyperparameters: dict[str, jax.Array],
    input_normalization: Mapping[str, Any],
) -> TrainState:
    params, model_state, opt_state, rng = arrays
    optimizers.check_parts(settings.learning_rate_multipliers, params)
    return TrainState(
        step=step,
        params=params,
        opt_state=opt_state,
        model_state=model_state,
        rng=rng,
        hyperparameters=hyperparameters,
        input_normalization={
            name: jnp.asarray(value, jnp.float32) for name, value in input_normalization.items()
        },
        network=network,
        settings=settings,
    )


def _hyperparameters(values: Mapping[str, Any]) -> dict[str, jax.Array]:
    return {name: jnp.asarray(value, jnp.float32) for name, value in values.items()}


def create_train_state(
    network: DANN,
    example_inputs: jax.Array,
    settings: TrainSettings,
    init_variables: Any = None,
    input_normalization: Mapping[str, Any] | None = None,
) -> TrainState:
    """A fresh state (step 0) for ``network``, initialised with ``settings.seed``.

    Args:
      network: the DANN to train.
      example_inputs: a batch (N, ...) float32 fixing the input shape.
      settings: the run's settings; the state keeps their step part.
      init_variables: variables to start from instead of fresh ones, e.g. a
        pretrained feature extractor's: ``{"params": {"feature_extractor": ...}}``
        (see :func:`dann_jax.core.variables.merge`).
      input_normalization: for batches of stored images, the data's
        :meth:`~dann_jax.data.preprocess.Preprocess.normalization`; default: the
        batches hold network inputs already.

    Raises:
      ValueError: ``init_variables`` do not fit the network, or a learning-rate
        multiplier names a part the network lacks.
    """
    step_settings = settings.step_settings()
    variables_lib.check_fit(network, example_inputs, init_variables)
    arrays = _init(
        network,
        step_settings,
        jax.random.key(settings.seed),
        jnp.asarray(example_inputs),
        init_variables,
    )
    hyperparameters = _hyperparameters(step_settings.traced_values())
    return _state(
        network,
        step_settings,
        jnp.zeros((), jnp.int32),
        arrays,
        hyperparameters,
        IDENTITY if input_normalization is None else input_normalization,
    )


def create_train_states(
    network: DANN,
    example_inputs: jax.Array,
    settings: TrainSettings,
    seeds: Sequence[int],
    init_variables: Any = None,
    member_settings: Sequence[Mapping[str, float]] | None = None,
    input_normalizations: Sequence[Mapping[str, Any]] | None = None,
) -> TrainState:
    """One fresh state per seed, stacked along a leading axis (S, ...) of every array.

    ``member_settings`` gives each member's values of
    :data:`dann_jax.core.settings.HYPERPARAMETERS` that differ from ``settings``' (one
    mapping per seed), carried as traced values: the members share one compiled step.
    ``input_normalizations``: each member's data's, as in :func:`create_train_state`.
    """
    step_settings = settings.step_settings()
    variables_lib.check_fit(network, example_inputs, init_variables)
    keys = jnp.stack([jax.random.key(seed) for seed in seeds])
    arrays = _init_stacked(
        network, step_settings, keys, jnp.asarray(example_inputs), init_variables
    )
    overrides = member_settings or [{}] * len(seeds)
    values = [step_settings.traced_values() | dict(override) for override in overrides]
    hyperparameters = _hyperparameters(
        {name: [value[name] for value in values] for name in values[0]}
    )
    normalizations = input_normalizations or [IDENTITY] * len(seeds)
    stacked = {name: np.stack([n[name] for n in normalizations]) for name in normalizations[0]}
    return _state(
        network, step_settings, jnp.zeros(len(seeds), jnp.int32), arrays, hyperparameters, stacked
    )


def network_and_example(
    model: Model, input_shape: tuple[int, ...], num_classes: int, settings: TrainSettings
) -> tuple[DANN, np.ndarray]:
    """The network ``model`` gives for ``num_classes`` classes, its outputs checked, and a
    zero batch (1, ...) float32 of its inputs: stored inputs of ``input_shape``, or their
    ``settings.crop_size`` square.

    Raises:
      ValueError: the model, its outputs or the crop do not fit the data.
    """
    network = build_model(model, num_classes)
    augment.check_crop(tuple(input_shape), settings.crop_size)
    example = np.zeros((1, *settings.input_shape(tuple(input_shape))), np.float32)
    check_outputs(network, example, num_classes)
    return network, example


def initial_state(
    model: Model,
    preprocess: Preprocess,
    num_classes: int,
    settings: TrainSettings,
    init_variables: Any = None,
) -> TrainState:
    """A fresh state of ``model`` for inputs as ``preprocess`` makes them and
    ``num_classes`` classes (see :func:`create_train_state`)."""
    network, example = network_and_example(model, preprocess.shape, num_classes, settings)
    return create_train_state(
        network, example, settings, init_variables, preprocess.normalization()
    )


def initial_states(
    model: Model,
    data: Sequence[TrainingData],
    settings: TrainSettings,
    seeds: Sequence[int],
    init_variables: Any = None,
    member_settings: Sequence[Mapping[str, float]] | None = None,
) -> TrainState:
    """Fresh states of ``model``, one per member (its data and seed), stacked (see
    :func:`create_train_states`); the label head has the most classes of any member."""
    num_classes = max(member.num_classes for member in data)
    network, example = network_and_example(model, data[0].input_shape, num_classes, settings)
    return create_train_states(
        network,
        example,
        settings,
        seeds,
        init_variables,
        member_settings,
        input_normalizations=[member.preprocess.normalization() for member in data],
    )
