"""The update direction: SGD (the paper's), Nesterov or AdamW, scaled per part.

The train step multiplies the direction by -mu(step), so every optimiser here
follows the run's learning-rate schedule. A part of the network is a path in
its parameters ("feature_extractor", "domain_head", or deeper, e.g.
"feature_extractor/feature_extractor" for a backbone under a bottleneck); a
multiplier scales that part's learning rate, and 0 freezes it (its updates are
zero and it keeps no optimiser state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import optax

OPTIMIZERS = ("sgd", "nesterov", "adamw")
Multipliers = tuple[tuple[str, float], ...]
_REST = ""  # the label of parameters that no multiplier names


def direction(name: str, momentum: float, weight_decay: float) -> optax.GradientTransformation:
    """The update direction of optimiser ``name``, before the learning rate.

    Args:
      name: "sgd" (momentum; paper), "nesterov" (Nesterov momentum) or "adamw"
        (Adam's scaling with decoupled weight decay; ``momentum`` unused).
      momentum: the momentum of "sgd" and "nesterov".
      weight_decay: "sgd"/"nesterov": L2 added to the gradient before momentum
        (PyTorch SGD's ``weight_decay``); "adamw": the decoupled decay rate.
    """
    if name == "adamw":
        return optax.chain(optax.scale_by_adam(), optax.add_decayed_weights(weight_decay))
    trace = optax.trace(decay=momentum, nesterov=name == "nesterov")
    if not weight_decay:
        return trace
    return optax.chain(optax.add_decayed_weights(weight_decay), trace)


def parameter_paths(params: Any) -> list[str]:
    """Every parameter's path, e.g. "feature_extractor/Conv_0/kernel"."""
    paths, _ = jax.tree_util.tree_flatten_with_path(params)
    return [jax.tree_util.keystr(path, simple=True, separator="/") for path, _ in paths]


def _owner(path: str, parts: Sequence[str]) -> str:
    """The longest part that ``path`` lies in, or _REST."""
    owners = [part for part in parts if path == part or path.startswith(part + "/")]
    return max(owners, key=len, default=_REST)


def with_multipliers(
    base: optax.GradientTransformation, multipliers: Multipliers
) -> optax.GradientTransformation:
    """``base`` with each part's updates scaled by its multiplier (0: frozen).

    Args:
      base: the update direction (see :func:`direction`).
      multipliers: (part, multiplier) pairs; a parameter takes the multiplier of
        the longest part it lies in, 1 when none.
    """
    if not multipliers:
        return base
    parts = [part for part, _ in multipliers]

    def labels(tree: Any) -> Any:
        paths, structure = jax.tree_util.tree_flatten_with_path(tree)
        owners = [
            _owner(jax.tree_util.keystr(path, simple=True, separator="/"), parts)
            for path, _ in paths
        ]
        return jax.tree_util.tree_unflatten(structure, owners)

    transforms = {_REST: base}
    for part, multiplier in multipliers:
        transforms[part] = (
            optax.set_to_zero() if multiplier == 0 else optax.chain(base, optax.scale(multiplier))
        )
    return optax.multi_transform(transforms, labels)


def check_parts(multipliers: Multipliers, params: Any) -> None:
    """Raises ValueError unless every part in ``multipliers`` holds parameters of ``params``."""
    paths = parameter_paths(params)
    for part, _ in multipliers:
        if not any(path == part or path.startswith(part + "/") for path in paths):
            tops = sorted({path.split("/")[0] for path in paths})
            seconds = sorted({"/".join(path.split("/")[:2]) for path in paths})
            raise ValueError(
                f"learning_rate_multipliers names {part!r}, which holds no parameters of "
                f"this network; its parts are {tops}, within them {seconds}."
            )


def normalize_multipliers(multipliers: Mapping[str, float] | Multipliers) -> Multipliers:
    """``multipliers`` as sorted (part, multiplier) pairs, without the pairs that change
    nothing (a multiplier of 1 on a part that no other named part contains)."""
    pairs = dict(multipliers.items() if isinstance(multipliers, Mapping) else multipliers)
    kept = {
        part: multiplier
        for part, multiplier in pairs.items()
        if multiplier != 1 or _owner(part, [p for p in pairs if p != part]) != _REST
    }
    return tuple(sorted(kept.items()))
