"""The train state and the pure steps: train, scanned train, evaluation, features.

Everything a step needs comes in through ``state`` and ``batch``. The adaptation
factor lambda_p and the learning rate mu_p are functions of ``state.step``, so
a new lambda never recompiles and a state restored at step k applies mu(k).
The state's network and settings are static (hashable, compared by value), so
equal networks and settings reuse one compiled step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from dann_jax.data import arrays
from dann_jax.models import DANN
from dann_jax.settings import StepSettings, TrainSettings

Batch = Mapping[str, Any]
Metrics = dict[str, jax.Array]


class TrainState(struct.PyTreeNode):
    """Step count, params and optimiser state, with the network and step settings.

    Attributes:
      step: () int32, the number of steps taken.
      params: the network's parameters (a pytree of float32 arrays).
      opt_state: the optimiser's state (SGD's momentum trace).
      network: the :class:`~dann_jax.models.DANN` (static).
      settings: the :class:`~dann_jax.settings.StepSettings` (static).
    """

    step: jax.Array
    params: Any
    opt_state: optax.OptState
    network: DANN = struct.field(pytree_node=False)
    settings: StepSettings = struct.field(pytree_node=False)

    @property
    def apply_fn(self) -> Any:
        """The network's ``apply``."""
        return self.network.apply

    @property
    def tx(self) -> optax.GradientTransformation:
        """The optimiser's update direction (see :meth:`StepSettings.optimizer`)."""
        return self.settings.optimizer()

    def adaptation_factor(self, step: jax.Array) -> jax.Array:
        """lambda at ``step``: the GRL's scale (float32 scalar)."""
        return self.settings.adaptation_schedule()(step)

    def learning_rate(self, step: jax.Array) -> jax.Array:
        """mu at ``step``: the learning rate the update of that step applies."""
        return self.settings.learning_rate_schedule()(step)

    def apply_gradients(self, *, grads: Any) -> TrainState:
        """One SGD step: the optimiser's direction scaled by -mu(state.step)."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        step_size = -self.learning_rate(self.step)
        updates = jax.tree.map(
            lambda update: jnp.asarray(step_size, update.dtype) * update, updates
        )
        return self.replace(
            step=self.step + 1,
            params=optax.apply_updates(self.params, updates),
            opt_state=opt_state,
        )


def _initial_arrays(
    network: DANN, settings: StepSettings, key: jax.Array, example_inputs: jax.Array
) -> tuple[Any, optax.OptState]:
    params = network.init(key, example_inputs)["params"]
    return params, settings.optimizer().init(params)


# Compiled once per network, settings and input shape (not op by op).
_init = jax.jit(_initial_arrays, static_argnums=(0, 1))
_init_stacked = jax.jit(
    jax.vmap(_initial_arrays, in_axes=(None, None, 0, None)), static_argnums=(0, 1)
)


def create_train_state(
    network: DANN, example_inputs: jax.Array, settings: TrainSettings
) -> TrainState:
    """A fresh state (step 0) for ``network``, initialised with ``settings.seed``.

    Args:
      network: the DANN to train.
      example_inputs: a batch (N, ...) float32 fixing the input shape.
      settings: the run's settings; the state keeps their step part.
    """
    step_settings = settings.step_settings()
    params, opt_state = _init(
        network, step_settings, jax.random.key(settings.seed), jnp.asarray(example_inputs)
    )
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=opt_state,
        network=network,
        settings=step_settings,
    )


def create_train_states(
    network: DANN, example_inputs: jax.Array, settings: TrainSettings, seeds: Sequence[int]
) -> TrainState:
    """One fresh state per seed, stacked along a leading axis (S, ...) of every array."""
    step_settings = settings.step_settings()
    keys = jnp.stack([jax.random.key(seed) for seed in seeds])
    params, opt_state = _init_stacked(network, step_settings, keys, jnp.asarray(example_inputs))
    return TrainState(
        step=jnp.zeros(len(seeds), jnp.int32),
        params=params,
        opt_state=opt_state,
        network=network,
        settings=step_settings,
    )


def train_step(
    state: TrainState,
    batch: Batch,
    *,
    axis_name: str | None = None,
    single_pass: bool | None = None,
) -> tuple[TrainState, Metrics]:
    """One SGD step on label loss (source) + weighted domain loss (source and target).

    The label loss is the softmax cross-entropy's mean over the source half; the
    domain loss is the logistic loss's mean over the joint batch (source 0,
    target 1). The JMLR paper's equations sum the two domains' means instead,
    twice this for equal halves: set ``domain_loss_weight=2`` for that form.

    Args:
      state: the TrainState.
      batch: ``source_image`` (B_s, ...) float32, ``source_label`` (B_s,) int32,
        ``target_image`` (B_t, ...) float32.
      axis_name: when the step runs per device under pmap or shard_map, the
        mapped axis: gradients and metrics are averaged over it.
      single_pass: DANN's forward pass over both domains' images at once (True)
        or one pass per domain (False): the same function, computed in other
        kernels. None picks the faster (BENCHMARKS.md): one pass on
        accelerators, two on CPUs. The source-only baseline always takes two
        (its target features need no backward pass).

    Returns:
      The new state and a flat dict of float32 scalars: loss, label_loss,
      domain_loss, source_accuracy, domain_accuracy, lambda, learning_rate.
    """
    domain_gradient = state.settings.domain_gradient
    # The source-only baseline reports lambda = 0: no domain gradient reaches its features.
    lambda_ = state.adaptation_factor(state.step) if domain_gradient else jnp.zeros(())

    def loss_fn(params):
        def logits(images):
            return state.network.apply(
                {"params": params}, images, lambda_, domain_gradient=domain_gradient
            )

        source_count = batch["source_image"].shape[0]
        one_pass = jax.default_backend() != "cpu" if single_pass is None else single_pass
        if domain_gradient and one_pass:
            both = jnp.concatenate([batch["source_image"], batch["target_image"]])
            class_logits, domain_logits = logits(both)
            source_logits = class_logits[:source_count]
        else:
            source_logits, source_domain_logits = logits(batch["source_image"])
            _, target_domain_logits = logits(batch["target_image"])
            domain_logits = jnp.concatenate([source_domain_logits, target_domain_logits])
        label_loss = optax.softmax_cross_entropy_with_integer_labels(
            source_logits, batch["source_label"]
        ).mean()
        domain_labels = (jnp.arange(domain_logits.shape[0]) >= source_count).astype(
            domain_logits.dtype
        )
        domain_loss = optax.sigmoid_binary_cross_entropy(domain_logits, domain_labels).mean()
        loss = label_loss + state.settings.domain_loss_weight * domain_loss
        metrics = {
            "loss": loss,
            "label_loss": label_loss,
            "domain_loss": domain_loss,
            "source_accuracy": (source_logits.argmax(-1) == batch["source_label"]).mean(),
            "domain_accuracy": ((domain_logits > 0) == (domain_labels > 0.5)).mean(),
        }
        return loss, metrics

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
    metrics |= {"lambda": lambda_, "learning_rate": state.learning_rate(state.step)}
    metrics = {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}
    if axis_name is not None:
        grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
    return state.apply_gradients(grads=grads), metrics


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
      data: ``source_image`` (N_s, ...) float32, ``source_label`` (N_s,) int32,
        ``target_image`` (N_t, ...) float32, already on the device: passed in,
        never closed over, so XLA does not embed the dataset as a constant.
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


def logits(network: nn.Module, params: Any, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Class logits (N, classes) and domain logits (N,) for float32 inputs (N, ...)."""
    return network.apply({"params": params}, inputs)


def _extract_features(network: DANN, inputs: jax.Array) -> jax.Array:
    return network.feature_extractor(inputs)


def features(network: nn.Module, params: Any, inputs: jax.Array) -> jax.Array:
    """The feature extractor's output (N, F) for float32 inputs (N, ...)."""
    return network.apply({"params": params}, inputs, method=_extract_features)


def eval_step(state: TrainState, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Class logits (N, classes) and domain logits (N,) for float32 inputs (N, ...)."""
    return logits(state.network, state.params, inputs)
