"""Flax NNX modules as parts of a DANN network, driven by the trainer as linen parts are.

:func:`nnx_part` wraps an ``nnx.Module`` (an instance, whose weights are the start of
every run, or a function ``rngs -> module``, drawn afresh from each run's seed) in a
linen module, :class:`NNXPart`. The module's ``nnx.Param`` variables become the part's
linen parameters, and its ``nnx.BatchStat`` variables (BatchNorm's running averages)
its ``batch_stats``, under the module's attribute paths (``linear/kernel``), so they
live in the train state and the checkpoints, and learning-rate multipliers, freezing
and ``init_variables`` name them by path as for linen parts.

On every call the module is rebuilt from those variables (``nnx.merge``: the step
stays pure, and runs under jit, vmap, scan, pmap and shard_map), put in training or
evaluation mode (``nnx.view`` with ``deterministic`` and ``use_running_average``, so
``nnx.BatchNorm``, ``nnx.Dropout`` and a user's own modules that take these
attributes follow ``train``), and its RNG streams are keyed from the step's dropout
key. In training under the parallel launchers its BatchNorm averages over the data
axis and its Dropout keeps the rows of one mask drawn for the global batch, as
:mod:`dann_jax.core.global_batch` does for linen layers, so that a run gives the same
result on one device or eight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

from dann_jax.core import global_batch

# What builds the NNX module: rngs -> module.
Build = Callable[[nnx.Rngs], nnx.Module]


@dataclasses.dataclass(eq=False, frozen=True)
class _Copy:
    """Builds a copy of a given NNX module (its weights, whatever the rngs); hashed by
    identity, as jit's static networks are."""

    graphdef: Any
    state: Any

    def __call__(self, rngs: nnx.Rngs) -> nnx.Module:
        del rngs
        return nnx.merge(self.graphdef, self.state)


def _to_linen(tree: Any) -> Any:
    """A pure state dict with string keys, as linen variables need (``nnx.List`` keys are
    ints)."""
    if isinstance(tree, Mapping):
        return {str(key): _to_linen(value) for key, value in tree.items()}
    return tree


def _from_linen(tree: Any, like: Any) -> Any:
    """:func:`_to_linen`'s inverse: the keys of ``like``, the values of ``tree``."""
    if isinstance(like, Mapping):
        return {key: _from_linen(tree[str(key)], value) for key, value in like.items()}
    return tree


def _typed_key(key: jax.Array) -> jax.Array:
    return key if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(key)


def _keyed(rng_state: nnx.State, key: jax.Array) -> nnx.State:
    """The module's RNG state with every stream's key drawn from ``key`` and its count 0."""
    leaves, tree = jax.tree.flatten(nnx.to_pure_dict(rng_state))
    fresh = [
        jax.random.fold_in(key, index)
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        else jnp.zeros_like(leaf)
        for index, leaf in enumerate(leaves)
    ]
    nnx.replace_by_pure_dict(rng_state, jax.tree.unflatten(tree, fresh))
    return rng_state


class _GlobalRowsDropout(nnx.Dropout):
    """nnx.Dropout that keeps this device's rows of one mask drawn for the global batch
    (:mod:`dann_jax.core.global_batch`'s rule for linen's Dropout)."""

    def __call__(self, inputs, *, deterministic=None, rngs=None):
        rows, global_rows = self._dann_rows  # set by NNXPart for this call alone
        deterministic = self.deterministic if deterministic is None else deterministic
        if deterministic or self.rate in (0.0, 1.0) or inputs.shape[0] != rows.shape[0]:
            return super().__call__(inputs, deterministic=deterministic, rngs=rngs)
        ones = jnp.ones((global_rows, *inputs.shape[1:]), inputs.dtype)
        mask = super().__call__(ones, deterministic=False, rngs=rngs)
        kept = jnp.take(mask, rows, axis=0) != 0
        return jnp.where(kept, inputs / (1.0 - self.rate), jnp.zeros_like(inputs))


def _on_the_global_batch(module: nnx.Module, layers: global_batch.GlobalRows) -> None:
    """Points the module's BatchNorms at the data axis and its Dropouts at the global
    batch's mask, for this call (the module is rebuilt on every call)."""
    for _, node in nnx.iter_graph(module):
        if isinstance(node, nnx.BatchNorm) and layers.axis_name and node.axis_name is None:
            node.axis_name = layers.axis_name
        elif type(node) is nnx.Dropout:
            object.__setattr__(node, "__class__", _GlobalRowsDropout)
            object.__setattr__(node, "_dann_rows", (layers.batch_rows, layers.global_rows))


def _abstract_parts(build: Build) -> tuple[Any, nnx.State, nnx.State, nnx.State]:
    """The module's graph and its parameters, BatchNorm statistics and RNG state, as
    shapes (nothing is computed).

    Raises:
      ValueError: the module holds variables of another kind.
    """
    abstract = nnx.eval_shape(lambda: build(nnx.Rngs(0)))
    graphdef, params, stats, rng_state, rest = nnx.split(
        abstract, nnx.Param, nnx.BatchStat, nnx.RngState, ...
    )
    others = jax.tree.leaves(rest, is_leaf=lambda node: isinstance(node, nnx.Variable))
    if others:
        kinds = sorted({type(variable).__name__ for variable in others})
        raise ValueError(
            f"the NNX module holds variables of kinds {kinds}; the trainer keeps "
            "nnx.Param, nnx.BatchStat and RNG state. Make them one of these (e.g. "
            "nnx.BatchStat for statistics updated in training)."
        )
    return graphdef, params, stats, rng_state


class NNXPart(nn.Module):
    """An NNX module as a linen part of a DANN network (see the module docstring).

    Attributes:
      build: makes the module from ``nnx.Rngs`` (:func:`nnx_part` makes it).
    """

    build: Build

    @nn.compact
    def __call__(self, inputs: jax.Array, *, train: bool = False) -> Any:
        graphdef, params, stats, rng_state = _abstract_parts(self.build)
        made = []

        def starting(kind: type[nnx.Variable], key: jax.Array | None = None) -> dict:
            """The starting values of one kind, from this run's key (built once)."""
            if not made:
                made.append(self.build(nnx.Rngs(self.make_rng("params") if key is None else key)))
            return nnx.to_pure_dict(nnx.state(made[0], kind))

        like_params, like_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(stats)
        param_values = {
            name: self.param(str(name), lambda key, n=name: _to_linen(starting(nnx.Param, key)[n]))
            for name in like_params
        }
        stat_variables = {
            name: self.variable(
                "batch_stats", str(name), lambda n=name: _to_linen(starting(nnx.BatchStat)[n])
            )
            for name in like_stats
        }
        nnx.replace_by_pure_dict(params, _from_linen(param_values, like_params))
        stat_values = {name: variable.value for name, variable in stat_variables.items()}
        nnx.replace_by_pure_dict(stats, _from_linen(stat_values, like_stats))
        key = self.make_rng("dropout") if train and self.has_rng("dropout") else jax.random.key(0)
        module = nnx.merge(graphdef, params, stats, _keyed(rng_state, _typed_key(key)))
        module = nnx.view(
            module, deterministic=not train, use_running_average=not train, raise_if_not_found=False
        )
        layers = global_batch.current()
        if train and layers is not None:
            _on_the_global_batch(module, layers)
        outputs = module(inputs)
        if train and self.is_mutable_collection("batch_stats") and not self.is_initializing():
            updated = nnx.to_pure_dict(nnx.state(module, nnx.BatchStat))
            for name, variable in stat_variables.items():
                variable.value = _to_linen(updated[name])
        return outputs


def nnx_part(module: nnx.Module | Build) -> NNXPart:
    """An NNX module as a part for :func:`~dann_jax.core.networks.dann_network` or
    :class:`~dann_jax.core.networks.DANN` (``dann_network`` wraps an ``nnx.Module``
    itself).

    Args:
      module: an ``nnx.Module`` instance: every run starts from its weights (a copy;
        the instance is left alone); or a function ``rngs -> nnx.Module``, called with
        ``nnx.Rngs`` of the run's key: each seed draws its own weights, as linen
        networks do.

    Returns:
      A linen module (N, ...) -> the module's outputs, taking ``train``.
    """
    if isinstance(module, nn.Module):
        raise TypeError("this is a Flax linen module; pass it to dann_network as it is.")
    if isinstance(module, nnx.Module):
        return NNXPart(_Copy(*nnx.split(module)))
    if not callable(module):
        raise TypeError(
            f"nnx_part takes an nnx.Module or a function rngs -> nnx.Module, not {module!r}."
        )
    return NNXPart(module)
