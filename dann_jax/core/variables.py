"""Starting variables: given arrays (e.g. a pretrained backbone's) in place of fresh ones.

Variables are a network's ``{"params": ..., "batch_stats": ...}``. Given
variables may cover part of the network (e.g. only
``{"params": {"feature_extractor": ...}}``); the rest keeps its fresh
initialisation. On disk they are an ``.npz`` file whose names are the arrays'
paths, e.g. ``params/feature_extractor/Conv_0/kernel`` (:func:`save`, :func:`load`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

Variables = dict[str, Any]


def _flat(tree: Any) -> dict[str, Any]:
    return traverse_util.flatten_dict(dict(tree), sep="/")


def check_fit(network: nn.Module, example_inputs: jax.Array, given: Any) -> None:
    """Raises ValueError unless every array in ``given`` is a variable of ``network`` (for
    inputs like ``example_inputs``) with the same shape; names the first that is not."""
    if given is None:
        return
    fresh = _flat(
        jax.eval_shape(lambda: network.init(jax.random.key(0), example_inputs, train=False))
    )
    for path, value in _flat(given).items():
        if path not in fresh:
            near = sorted({"/".join(name.split("/")[:3]) for name in fresh})
            raise ValueError(
                f"init_variables holds {path!r}, which this network does not have; its "
                f"variables begin {near}."
            )
        if tuple(np.shape(value)) != fresh[path].shape:
            raise ValueError(
                f"init_variables[{path!r}] has shape {tuple(np.shape(value))}, but the "
                f"network's has {fresh[path].shape}."
            )


def merge(fresh: Variables, given: Any) -> Variables:
    """``fresh`` with each array that ``given`` holds replaced (cast to the fresh dtype)."""
    if given is None:
        return dict(fresh)
    merged = _flat(fresh)
    for path, value in _flat(given).items():
        merged[path] = jnp.asarray(value, merged[path].dtype)
    return traverse_util.unflatten_dict(merged, sep="/")


def read(given: Any) -> Variables | None:
    """``given`` variables as a tree: a path is loaded (:func:`load`); None stays None."""
    if isinstance(given, str | Path):
        return load(given)
    return given


def save(path: str | Path, variables: Any) -> None:
    """Writes ``variables`` (a nested dict of arrays) to an ``.npz`` file at ``path``."""
    np.savez(path, **{name: np.asarray(value) for name, value in _flat(variables).items()})


def load(path: str | Path) -> Variables:
    """The variables in an ``.npz`` file written by :func:`save`.

    Raises:
      ValueError: the file does not exist or is not such a file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"init_variables file {path} not found.")
    try:
        with np.load(path) as arrays:
            flat = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"init_variables file {path} is not an .npz ({error}).") from None
    return traverse_util.unflatten_dict(flat, sep="/")
