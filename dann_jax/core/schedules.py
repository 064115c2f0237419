"""The paper's schedules as optax-style functions of the step count.

Both take the training progress p = step / total_steps, clipped to [0, 1].

References:
  Ganin & Lempitsky, ICML 2015, section 4 ("Training details"); Ganin et al.,
  JMLR 2016, section 5.2.2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def _progress(step: jnp.ndarray, total_steps: int | jnp.ndarray) -> jnp.ndarray:
    # step * (1 / total_steps), not step / total_steps: XLA rewrites a division by a
    # constant so, and a traced length then gives the bits a constant one gave.
    reciprocal = 1.0 / jnp.asarray(total_steps, jnp.float32)
    return jnp.clip(jnp.asarray(step, jnp.float32) * reciprocal, 0.0, 1.0)


def _check_total_steps(total_steps: int | jnp.ndarray) -> None:
    # A JAX array (a train state's length, traced so that runs of any length share a
    # compiled step) was checked where it was set; Python and NumPy numbers here.
    if not isinstance(total_steps, jax.Array) and total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps}.")


def adaptation_factor(total_steps: int | jnp.ndarray, gamma: float = 10.0) -> optax.Schedule:
    """The GRL's lambda_p = 2 / (1 + exp(-gamma * p)) - 1.

    Rises from 0 at the start to almost 1 at the end, so the noisy domain signal
    of early training does not disturb the features.

    Args:
      total_steps: steps of the whole run (p reaches 1 there); may be traced.
      gamma: steepness; the paper uses 10 in all experiments.

    Returns:
      A function from the step count (int scalar, may be traced) to lambda_p
      (float32 scalar in [0, 1)).
    """
    _check_total_steps(total_steps)

    def schedule(step: jnp.ndarray) -> jnp.ndarray:
        return 2.0 / (1.0 + jnp.exp(-gamma * _progress(step, total_steps))) - 1.0

    return schedule


def annealed_learning_rate(
    total_steps: int | jnp.ndarray,
    initial_learning_rate: float = 0.01,
    alpha: float = 10.0,
    beta: float = 0.75,
) -> optax.Schedule:
    """The learning rate mu_p = mu_0 / (1 + alpha * p) ** beta.

    Args:
      total_steps: steps of the whole run (p reaches 1 there); may be traced.
      initial_learning_rate: mu_0; the paper uses 0.01.
      alpha: the paper uses 10.
      beta: the paper uses 0.75.

    Returns:
      A function from the step count (int scalar, may be traced) to mu_p
      (float32 scalar), usable as an optax learning-rate schedule.
    """
    _check_total_steps(total_steps)

    def schedule(step: jnp.ndarray) -> jnp.ndarray:
        return initial_learning_rate / (1.0 + alpha * _progress(step, total_steps)) ** beta

    return schedule
