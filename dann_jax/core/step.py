"""The pure steps: train, scanned train, evaluation, features.

Everything a step needs comes in through ``state`` and ``batch``. The adaptation
factor lambda_p and the learning rate mu_p are functions of ``state.step``, so
a new lambda never recompiles and a state restored at step k applies mu(k); the
run's length, like mu_0, is a traced value of the state, so runs of other lengths
lower to one program.
The state's network and settings are static (hashable, compared by value), so
equal networks and settings reuse one compiled step.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from dann_jax.core import global_batch
from dann_jax.core.losses import dann_loss
from dann_jax.core.networks import DANN
from dann_jax.core.state import TrainState
from dann_jax.data import arrays, augment, preprocess

Batch = Mapping[str, Any]
# Folded into a step's dropout key to give its augmentation key.
_AUGMENTATION_STREAM = 1
Metrics = dict[str, jax.Array]


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
    """One step on :func:`~dann_jax.core.losses.dann_loss`: the label loss (source) plus
    the weighted domain loss (source and target; a mean over the joint batch, so
    ``domain_loss_weight=2`` gives the JMLR equations' sum of two means).

    The network runs with ``train=True``. A network with model state (BatchNorm)
    sees source and target in one forward pass, so its batch statistics cover
    both domains; the source-only baseline's statistics come from the source
    alone (its target pass only trains the domain head). Under a parallel
    launcher, BatchNorm and dropout act on the global batch
    (:mod:`dann_jax.core.global_batch`) and the model state is averaged over devices.
    With ``settings.crop_size``, each stored image first becomes its training
    view, drawn on the device (:mod:`dann_jax.data.augment`).

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
        loss, metrics = dann_loss(
            source_logits,
            batch["source_label"],
            domain_logits,
            domain_loss_weight=state.hyperparameters["domain_loss_weight"],
        )
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


def _features_and_logits(network: DANN, inputs: jax.Array) -> tuple[jax.Array, ...]:
    features = network.features(inputs)
    return (features, *network.heads(features))


def features_and_logits(
    network: nn.Module, variables: Any, inputs: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`features` and :func:`logits` in one pass: features (N, F), class logits
    (N, classes) and domain logits (N,), in evaluation mode."""
    return network.apply(variables, inputs, method=_features_and_logits)


def eval_step(state: TrainState, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Class logits (N, classes) and domain logits (N,) for float32 inputs (N, ...)."""
    return logits(state.network, state.variables, inputs)
