"""The gradient reversal layer (GRL).

Identity on the forward pass; on the backward pass it multiplies the incoming
cotangent by ``-lambda_``. Placed between a feature extractor and a domain
classifier it lets one ordinary backward pass train the classifier to tell the
domains apart while it trains the features to make them indistinguishable.

References:
  Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation",
  ICML 2015, section 3.2. Ganin et al., "Domain-Adversarial Training of Neural
  Networks", JMLR 17(59), 2016, section 4.2, equations (16)-(17).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

PyTree = Any


@jax.custom_vjp
def _reverse(x: PyTree, lambda_: jax.Array) -> PyTree:
    return x


def _reverse_forward(x: PyTree, lambda_: jax.Array) -> tuple[PyTree, jax.Array]:
    return x, lambda_


def _scale_cotangent(cotangent: jax.Array, factor: jax.Array) -> jax.Array:
    # Integer primals have float0 cotangents, which carry nothing to scale.
    if cotangent.dtype == jax.dtypes.float0:
        return cotangent
    return cotangent * factor.astype(cotangent.dtype)


def _reverse_backward(lambda_: jax.Array, cotangent: PyTree) -> tuple[PyTree, jax.Array]:
    factor = -lambda_
    reversed_cotangent = jax.tree.map(lambda g: _scale_cotangent(g, factor), cotangent)
    # lambda_ is a schedule value, not a parameter: no gradient flows into it.
    return reversed_cotangent, jnp.zeros_like(lambda_)


_reverse.defvjp(_reverse_forward, _reverse_backward)


def grad_reverse(x: PyTree, lambda_: float | jax.Array = 1.0) -> PyTree:
    """Gradient reversal: identity forward, ``-lambda_ * cotangent`` backward.

    Args:
      x: an array or any pytree of arrays, of any shape and dtype. Float leaves
        (bf16, fp16, fp32, fp64) keep their dtype in both directions.
      lambda_: the adaptation factor, a Python scalar or a scalar array; it may
        be traced, so a jitted caller does not recompile when it changes. No
        gradient flows into it.

    Returns:
      ``x`` unchanged (same pytree, shapes and dtypes).

    References:
      Ganin & Lempitsky, ICML 2015, section 3.2; Ganin et al., JMLR 2016,
      section 4.2.
    """
    lambda_ = jnp.asarray(lambda_, dtype=jnp.result_type(float))
    if lambda_.ndim != 0:
        raise ValueError(
            f"grad_reverse: lambda_ must be a scalar, got shape {lambda_.shape}; "
            "pass one adaptation factor, e.g. lambda_=0.5."
        )
    return _reverse(x, lambda_)


class GradientReversal(nn.Module):
    """Flax linen layer wrapping :func:`grad_reverse`; it has no parameters.

    ``GradientReversal()(features, lambda_)`` returns ``features`` unchanged
    and reverses (and scales by ``lambda_``) the gradient flowing back.
    """

    @nn.compact
    def __call__(self, x: PyTree, lambda_: float | jax.Array = 1.0) -> PyTree:
        return grad_reverse(x, lambda_)


class NNXGradientReversal(nnx.Module):
    """Flax nnx layer wrapping :func:`grad_reverse`; it has no parameters.

    ``NNXGradientReversal()(features, lambda_)`` returns ``features`` unchanged
    and reverses (and scales by ``lambda_``) the gradient flowing back.
    """

    def __call__(self, x: PyTree, lambda_: float | jax.Array = 1.0) -> PyTree:
        return grad_reverse(x, lambda_)
