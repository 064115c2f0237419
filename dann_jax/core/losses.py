"""The DANN objective as a pure function: label loss on the source, domain loss on both.

:func:`dann_loss` is what :func:`dann_jax.core.step.train_step` minimises, and what a
user's own train step around :func:`dann_jax.grad_reverse` can minimise too (as
tllib's ``DomainAdversarialLoss`` serves its scripts and its users' alike). The
gradient reversal itself is not here: it sits in the network, between the features
and the domain head, so one ordinary gradient of this loss trains the domain head to
tell the domains apart and the features to make that impossible.

References:
  Ganin et al., JMLR 2016, section 4 (the objective and its optimisation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def dann_loss(
    class_logits: jax.Array,
    source_labels: jax.Array,
    domain_logits: jax.Array,
    *,
    domain_loss_weight: float | jax.Array = 1.0,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The DANN loss of one batch and its metrics.

    The label loss is the softmax cross-entropy's mean over the source examples; the
    domain loss is the logistic loss's mean over the joint batch, source (domain 0)
    and target (domain 1). The JMLR paper's equations sum the two domains' means
    instead, which is twice this for equal halves: ``domain_loss_weight=2`` gives that
    form (ADAPT and skada follow the equations).

    Args:
      class_logits: (B_s, C) float class logits of the source examples.
      source_labels: (B_s,) int class ids of the source examples.
      domain_logits: (B_s + B_t,) float domain logits of the source examples first,
        then the target's (a logit > 0 says "target").
      domain_loss_weight: the domain loss's weight in the total (may be traced).

    Returns:
      ``(loss, metrics)``: the weighted total, a float scalar, and float scalars
      ``loss``, ``label_loss``, ``domain_loss``, ``source_accuracy`` and
      ``domain_accuracy`` (the domain head's accuracy on this batch).
    """
    source_count = class_logits.shape[0]
    label_loss = optax.softmax_cross_entropy_with_integer_labels(class_logits, source_labels).mean()
    domain_labels = (jnp.arange(domain_logits.shape[0]) >= source_count).astype(domain_logits.dtype)
    domain_loss = optax.sigmoid_binary_cross_entropy(domain_logits, domain_labels).mean()
    loss = label_loss + domain_loss_weight * domain_loss
    metrics = {
        "loss": loss,
        "label_loss": label_loss,
        "domain_loss": domain_loss,
        "source_accuracy": (class_logits.argmax(-1) == source_labels).mean(),
        "domain_accuracy": ((domain_logits > 0) == (domain_labels > 0.5)).mean(),
    }
    return loss, metrics
