"""The networks: the paper's feature extractors G_f, label heads G_y, domain heads G_d,
and :class:`DANN`, which joins any three parts.

Every network is a :class:`DANN`: G_f feeds G_y directly and G_d through the
gradient reversal layer, which sits at the input of G_d as in the paper.
:func:`dann_network` puts the paper's heads around any feature extractor; the
names a config or ``fit(model=...)`` may give are :mod:`dann_jax.core.registry`'s.

References:
  Ganin et al., JMLR 2016, section 5.2 and figure 4 (MNIST architecture),
  section 5.2.2-5.2.4 and the supplement (SVHN and GTSRB architectures);
  section 5.1.1 (the shallow network of the two-moons toy problem).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
from flax import nnx

from dann_jax.backbones import convolution, pooling
from dann_jax.core.layers import ConvReluPool
from dann_jax.core.nnx_parts import nnx_part
from dann_jax.grl import GradientReversal


class MNISTFeatures(nn.Module):
    """G_f for MNIST: conv 5x5x32, ReLU, maxpool 2/2; conv 5x5x48, ReLU, maxpool 2/2.

    Maps images (N, H, W, C) float32 to features (N, F); for 28x28 inputs F = 768.
    ``conv_implementation`` picks the layers' form (see ``layers.ConvReluPool``).
    """

    conv_implementation: str = "auto"

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images
        for index, filters in enumerate((32, 48)):
            x = ConvReluPool(
                filters, (5, 5), implementation=self.conv_implementation, name=f"Conv_{index}"
            )(x)
        return x.reshape(x.shape[0], -1)


class SVHNFeatures(nn.Module):
    """G_f for the SVHN pairs: conv 5x5x64, ReLU, maxpool 3/2; conv 5x5x64, ReLU,
    maxpool 3/2; conv 5x5x128, ReLU.

    SAME padding throughout (the paper gives no padding; with VALID the third
    convolution would leave nothing of a 32x32 input). Maps images (N, 32, 32, C)
    float32 to features (N, 8 * 8 * 128 = 8192).
    """

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images
        # Trained in a lax.scan, where XLA:CPU runs autodiff's convolutions slowly; its
        # pooling gradient (a select-and-scatter) is slow on a CPU anywhere.
        conv = functools.partial(
            nn.Conv, padding="SAME", conv_general_dilated=convolution.conv_general_dilated
        )
        for filters in (64, 64):
            x = nn.relu(conv(filters, (5, 5))(x))
            x = pooling.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        x = nn.relu(conv(128, (5, 5))(x))
        return x.reshape(x.shape[0], -1)


class GTSRBFeatures(nn.Module):
    """G_f for Syn Signs -> GTSRB: conv 5x5x96, ReLU, maxpool 2/2; conv 3x3x144, ReLU,
    maxpool 2/2; conv 5x5x256, ReLU, maxpool 2/2.

    Maps images (N, 40, 40, C) float32 to features (N, 2 * 2 * 256 = 1024).
    """

    conv_implementation: str = "auto"

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images
        for index, (filters, size) in enumerate(((96, 5), (144, 3), (256, 5))):
            x = ConvReluPool(
                filters, (size, size), implementation=self.conv_implementation, name=f"Conv_{index}"
            )(x)
        return x.reshape(x.shape[0], -1)


class ShallowFeatures(nn.Module):
    """G_f of the JMLR toy problem: one hidden layer of sigmoid units, (N, D) -> (N, 15).

    ``model="shallow"`` trains with the authors' toy settings by default
    (:data:`dann_jax.core.settings.NETWORK_DEFAULTS`: batch 2, constant learning rate 0.05 without
    momentum, lambda = 1, domain-loss weight 12, 150,000 steps)."""

    hidden_units: int = 15

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        return nn.sigmoid(nn.Dense(self.hidden_units)(inputs))


class MLPHead(nn.Module):
    """Fully connected ReLU layers then a linear output layer: (N, F) -> (N, outputs)."""

    hidden_units: Sequence[int]
    outputs: int

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        x = features
        for units in self.hidden_units:
            x = nn.relu(nn.Dense(units)(x))
        return nn.Dense(self.outputs)(x)


class DomainHead(nn.Module):
    """G_d: gradient reversal, then an MLP with one logit (source 0, target 1).

    Maps features (N, F) and the adaptation factor lambda (scalar) to domain
    logits (N,).
    """

    hidden_units: Sequence[int]

    @nn.compact
    def __call__(self, features: jax.Array, adaptation_factor: float | jax.Array) -> jax.Array:
        reversed_features = GradientReversal()(features, adaptation_factor)
        return MLPHead(self.hidden_units, outputs=1)(reversed_features)[:, 0]


def takes_train(part: nn.Module) -> bool:
    """Whether ``part.__call__`` takes a ``train`` keyword (training mode: BatchNorm's
    batch statistics, dropout)."""
    return "train" in inspect.signature(type(part).__call__).parameters


def call_part(part: nn.Module, *args: Any, train: bool) -> Any:
    """``part(*args)``, with ``train=train`` when the part takes it."""
    return part(*args, train=train) if takes_train(part) else part(*args)


def _check_train(train: Any) -> None:
    if not isinstance(train, bool):
        raise ValueError(f"train must be True or False, got {train!r}.")


class DANN(nn.Module):
    """Feature extractor feeding a label head and, through the GRL, a domain head.

    Any part whose ``__call__`` takes a ``train`` keyword gets ``train=True`` in
    training and ``train=False`` in evaluation and feature extraction (e.g.
    ``nn.BatchNorm(use_running_average=not train)``, ``nn.Dropout(rate,
    deterministic=not train)``).
    """

    feature_extractor: nn.Module
    label_head: nn.Module
    domain_head: nn.Module

    def __call__(
        self,
        inputs: jax.Array,
        adaptation_factor: float | jax.Array = 1.0,
        *,
        domain_gradient: bool = True,
        train: bool = False,
    ) -> tuple[jax.Array, jax.Array]:
        """Class and domain logits.

        Args:
          inputs: images (N, H, W, C) or feature vectors (N, D), float32 (or the
            compute dtype).
          adaptation_factor: lambda, the scale of the reversed gradient.
          domain_gradient: False trains the domain head on detached features:
            the source-only baseline, whose features never see the domain loss.
          train: training mode, passed to the parts that take it.

        Returns:
          ``(class_logits, domain_logits)`` of shapes (N, classes) and (N,).
        """
        _check_train(train)
        features = call_part(self.feature_extractor, inputs, train=train)
        return self.heads(features, adaptation_factor, domain_gradient=domain_gradient, train=train)

    def heads(
        self,
        features: jax.Array,
        adaptation_factor: float | jax.Array = 1.0,
        *,
        domain_gradient: bool = True,
        train: bool = False,
    ) -> tuple[jax.Array, jax.Array]:
        """Class and domain logits, (N, classes) and (N,), of features (N, F) (arguments
        as :meth:`__call__`'s)."""
        _check_train(train)
        domain_input = features if domain_gradient else jax.lax.stop_gradient(features)
        return (
            call_part(self.label_head, features, train=train),
            call_part(self.domain_head, domain_input, adaptation_factor, train=train),
        )

    def features(self, inputs: jax.Array, *, train: bool = False) -> jax.Array:
        """The feature extractor's output (N, F)."""
        _check_train(train)
        return call_part(self.feature_extractor, inputs, train=train)


class Bottleneck(nn.Module):
    """A feature extractor followed by a fully connected ReLU layer of ``units`` units:
    (N, ...) -> (N, units), the bottleneck the paper puts after pretrained backbones."""

    feature_extractor: nn.Module
    units: int

    @nn.compact
    def __call__(self, inputs: jax.Array, *, train: bool = False) -> jax.Array:
        features = call_part(self.feature_extractor, inputs, train=train)
        return nn.relu(nn.Dense(self.units)(features))


def dann_network(
    feature_extractor: nn.Module,
    num_classes: int,
    *,
    bottleneck_units: int | None = None,
    label_hidden_units: Sequence[int] = (),
    domain_hidden_units: Sequence[int] = (1024, 1024),
) -> DANN:
    """The paper's heads around any feature extractor (N, ...) -> (N, F): a Flax NNX or
    linen module.

    Args:
      feature_extractor: G_f, the user's module: an ``nnx.Module`` (every run starts
        from its weights; :func:`~dann_jax.core.nnx_parts.nnx_part` of a function
        ``rngs -> module`` draws them per seed) or a linen module.
      num_classes: the label head's outputs.
      bottleneck_units: a fully connected ReLU layer of this width after G_f (the
        paper's Office networks use 256), or None for none.
      label_hidden_units: G_y's hidden layers before its linear output layer.
      domain_hidden_units: G_d's hidden layers (the paper's 1024-1024 by default),
        after the gradient reversal layer, before its one logit.
    """
    if isinstance(feature_extractor, nnx.Module):
        feature_extractor = nnx_part(feature_extractor)
    if bottleneck_units is not None:
        feature_extractor = Bottleneck(feature_extractor, bottleneck_units)
    return DANN(
        feature_extractor=feature_extractor,
        label_head=MLPHead(tuple(label_hidden_units), num_classes),
        domain_head=DomainHead(tuple(domain_hidden_units)),
    )
