"""The train state and the pure steps: train, scanned train, evaluation, features.

Everything a step needs comes in through ``state`` and ``batch``. The adaptation
factor lambda_p and the learning rate mu_p are functions of ``state.step``, so
a new lambda never recompiles and a state restored at step k applies mu(k).
The state's network and settings are static (hashable, compared by value), so
equal networks and settings reuse one compiled step.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from dann_jax import augment, global_batch, optimizers
from dann_jax import variables as variables_lib
from dann_jax.data import arrays, preprocess
from dann_jax.models import DANN
from dann_jax.settings import StepSettings, TrainSettings

Batch = Mapping[str, Any]
# Folded into a step's dropout key to give its augmentation key.
_AUGMENTATION_STREAM = 1
Metrics = dict[str, jax.Array]


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
      hyperparameters: float32 scalars of :data:`dann_jax.settings.HYPERPARAMETERS`
        (mu_0, the domain-loss weight, gamma): traced, so the members of a sweep
        share one compiled step. Set from the settings, never checkpointed.
      input_normalization: ``mean`` and ``std`` float32 of the inputs' shape, with
        which the train step finishes its batch's stored images
        (:func:`dann_jax.data.preprocess.network_inputs`: uint8 scaled, resized
        up, grey to RGB, centred); scalars 0 and 1 (the default) take float
        inputs as they are. Set from the data, never checkpointed.
      network: the :class:`~dann_jax.models.DANN` (static).
      settings: the :class:`~dann_jax.settings.StepSettings` (static).
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
        return self.settings.adaptation_schedule(self.hyperparameters["gamma"])(step)

    def learning_rate(self, step: jax.Array) -> jax.Array:
        """mu at ``step``: the learning rate the update of that step applies."""
        mu_0 = self.hyperparameters["learning_rate"]
        return self.settings.learning_rate_schedule(mu_0)(step)

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


def _hyperparameters(values: Mapping[str, float]) -> dict[str, jax.Array]:
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
        (see :func:`dann_jax.variables.merge`).
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
    hyperparameters = _hyperparameters(step_settings.hyperparameters())
    return _state(
        network,
        step_settings,
        jnp.zeros((), jnp.int32),
        arrays,
        hyperparameters,
        preprocess.IDENTITY if input_normalization is None else input_normalization,
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
    :data:`dann_jax.settings.HYPERPARAMETERS` that differ from ``settings``' (one
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
    values = [step_settings.hyperparameters() | dict(override) for override in overrides]
    hyperparameters = _hyperparameters(
        {name: [value[name] for value in values] for name in values[0]}
    )
    normalizations = input_normalizations or [preprocess.IDENTITY] * len(seeds)
    stacked = {name: np.stack([n[name] for n in normalizations]) for name in normalizations[0]}
    return _state(
        network, step_settings, jnp.zeros(len(seeds), jnp.int32), arrays, hyperparameters, stacked
    )


def _in_dtype(tree: Any, dtype: jnp.dtype) -> Any:
    """The floating arrays of ``tree`` cast to ``dtype``."""
    return jax.tree.map(
        lambda leaf: leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf,
        tree,
    )


def train_step(
    state: TrainState,
    batch: Batch,
    *,
    axis_name: str | None = None,
    single_pass: bool | None = None,
) -> tuple[TrainState, Metrics]:
    """One step on label loss (source) + weighted domain loss (source and target).

    The label loss is the softmax cross-entropy's mean over the source half; the
    domain loss is the logistic loss's mean over the joint batch (source 0,
    target 1). The JMLR paper's equations sum the two domains' means instead,
    twice this for equal halves: set ``domain_loss_weight=2`` for that form.

    The network runs with ``train=True``. A network with model state (BatchNorm)
    sees source and target in one forward pass, so its batch statistics cover
    both domains; the source-only baseline's statistics come from the source
    alone (its target pass only trains the domain head). Under a parallel
    launcher, BatchNorm and dropout act on the global batch
    (:mod:`dann_jax.global_batch`) and the model state is averaged over devices.
    With ``settings.crop_size``, each stored image first becomes its training
    view, drawn on the device (:mod:`dann_jax.augment`).

    Args:
      state: the TrainState.
      batch: ``source_image`` (B_s, ...), ``source_label`` (B_s,) int32,
        ``target_image`` (B_t, ...): network inputs (float32), or stored images
        (uint8 or float32, see :meth:`~dann_jax.data.preprocess.Preprocess.stored`)
        that ``state.input_normalization`` finishes.
      axis_name: when the step runs per device under pmap or shard_map, the
        mapped axis: gradients, model state and metrics are averaged over it.
      single_pass: DANN's forward pass over both domains' images at once (True)
        or one pass per domain (False): the same function, computed in other
        kernels. None picks the faster (BENCHMARKS.md): one pass on
        accelerators, two on CPUs; always one for a network with model state.
        The source-only baseline always takes two (its target features need no
        backward pass).

    Returns:
      The new state and a flat dict of float32 scalars: loss, label_loss,
      domain_loss, source_accuracy, domain_accuracy, lambda, learning_rate.
    """
    domain_gradient = state.settings.domain_gradient
    # The source-only baseline reports lambda = 0: no domain gradient reaches its features.
    lambda_ = state.adaptation_factor(state.step) if domain_gradient else jnp.zeros(())
    dtype = state.settings.dtype
    dropout_key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    source_count = batch["source_image"].shape[0]
    source_rows, target_rows, global_rows = global_batch.rows(
        source_count, batch["target_image"].shape[0], axis_name
    )
    collections = list(state.model_state)
    source_images, target_images = (
        preprocess.network_inputs(batch[name], state.input_normalization)
        for name in ("source_image", "target_image")
    )
    if state.settings.crop_size:
        views = functools.partial(
            augment.training_views,
            key=jax.random.fold_in(dropout_key, _AUGMENTATION_STREAM),
            augmentation=state.settings.augmentation,
            size=state.settings.crop_size,
        )
        source_images, target_images = (
            views(source_images, rows=source_rows),
            views(target_images, rows=target_rows),
        )

    def loss_fn(params):
        variables = {"params": _in_dtype(params, dtype), **state.model_state}

        def logits(images, rows):
            with global_batch.layers(axis_name, rows, global_rows):
                outputs, updated = state.network.apply(
                    variables,
                    images.astype(dtype),
                    lambda_,
                    domain_gradient=domain_gradient,
                    train=True,
                    rngs={"dropout": dropout_key},
                    mutable=collections,
                )
            return _in_dtype(outputs, jnp.float32), updated

        one_pass = jax.default_backend() != "cpu" if single_pass is None else single_pass
        one_pass = one_pass or bool(collections)  # BatchNorm: statistics over both domains
        if domain_gradient and one_pass:
            both = jnp.concatenate([source_images, target_images])
            (class_logits, domain_logits), model_state = logits(
                both, jnp.concatenate([source_rows, target_rows])
            )
            source_logits = class_logits[:source_count]
        else:
            (source_logits, source_domain_logits), model_state = logits(source_images, source_rows)
            # The target's batch statistics are not kept: the source-only baseline's
            # come from the source alone.
            (_, target_domain_logits), _ = logits(target_images, target_rows)
            domain_logits = jnp.concatenate([source_domain_logits, target_domain_logits])
        label_loss = optax.softmax_cross_entropy_with_integer_labels(
            source_logits, batch["source_label"]
        ).mean()
        domain_labels = (jnp.arange(domain_logits.shape[0]) >= source_count).astype(
            domain_logits.dtype
        )
        domain_loss = optax.sigmoid_binary_cross_entropy(domain_logits, domain_labels).mean()
        loss = label_loss + state.hyperparameters["domain_loss_weight"] * domain_loss
        metrics = {
            "loss": loss,
            "label_loss": label_loss,
            "domain_loss": domain_loss,
            "source_accuracy": (source_logits.argmax(-1) == batch["source_label"]).mean(),
            "domain_accuracy": ((domain_logits > 0) == (domain_labels > 0.5)).mean(),
        }
        return loss, (metrics, model_state)

    grads, (metrics, model_state) = jax.grad(loss_fn, has_aux=True)(state.params)
    model_state = jax.tree.map(
        lambda new, old: new.astype(old.dtype), model_state, state.model_state
    )
    metrics |= {"lambda": lambda_, "learning_rate": state.learning_rate(state.step)}
    metrics = {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}
    if axis_name is not None:
        grads, model_state, metrics = jax.lax.pmean((grads, model_state, metrics), axis_name)
    return state.apply_gradients(grads=grads, model_state=model_state), metrics


def train_steps(
    state: TrainState,
    data: Mapping[str, jax.Array],
    source_indices: jax.Array,
    target_indices: jax.Array,
    *,
    axis_name: str | None = None,
) -> tuple[TrainState, Metrics]:
    """K train steps in one dispatch over data resident on the device (``lax.scan``).

    Args:
      state: the TrainState.
      data: ``source_image`` (N_s, ...), ``source_label`` (N_s,) int32,
        ``target_image`` (N_t, ...), images as in :func:`train_step`'s batch
        (stored uint8 stays a quarter of float32), already on the device: passed
        in, never closed over, so XLA does not embed the dataset as a constant.
      source_indices: (K, B_s) int32, the source rows of each step's batch.
      target_indices: (K, B_t) int32, the target rows of each step's batch.
      axis_name: as in :func:`train_step`; each device then gathers its own
        rows (its slice of the indices' second axis).

    Returns:
      The state after K steps and the metrics of every step, each of shape (K,).
    """

    def body(state, indices):
        return train_step(state, arrays.gather_batch(data, *indices), axis_name=axis_name)

    return jax.lax.scan(body, state, (source_indices, target_indices))


def logits(network: nn.Module, variables: Any, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Class logits (N, classes) and domain logits (N,) in evaluation mode (``train=False``)
    for float32 inputs (N, ...); ``variables`` are ``{"params": ..., **model_state}``."""
    return network.apply(variables, inputs)


def _extract_features(network: DANN, inputs: jax.Array) -> jax.Array:
    return network.features(inputs)


def features(network: nn.Module, variables: Any, inputs: jax.Array) -> jax.Array:
    """The feature extractor's output (N, F) in evaluation mode for float32 inputs (N, ...)."""
    return network.apply(variables, inputs, method=_extract_features)


def eval_step(state: TrainState, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Class logits (N, classes) and domain logits (N,) for float32 inputs (N, ...)."""
    return logits(state.network, state.variables, inputs)
