"""The paper's networks: feature extractors G_f, label heads G_y, domain heads G_d.

Every network is a :class:`DANN`: G_f feeds G_y directly and G_d through the
gradient reversal layer, which sits at the input of G_d as in the paper.

References:
  Ganin et al., JMLR 2016, section 5.2 and figure 4 (MNIST architecture),
  section 5.2.2-5.2.4 and the supplement (SVHN and GTSRB architectures);
  section 5.1.1 (the shallow network of the two-moons toy problem).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from dann_jax.grl import GradientReversal
from dann_jax.layers import ConvReluPool

MODEL_NAMES = ("mnist", "svhn", "gtsrb", "shallow")


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
        for filters in (64, 64):
            x = nn.relu(nn.Conv(filters, (5, 5), padding="SAME")(x))
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        x = nn.relu(nn.Conv(128, (5, 5), padding="SAME")(x))
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
    """G_f of the JMLR toy problem: one hidden layer of sigmoid units, (N, D) -> (N, 15)."""

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


class DANN(nn.Module):
    """Feature extractor feeding a label head and, through the GRL, a domain head."""

    feature_extractor: nn.Module
    label_head: nn.Module
    domain_head: nn.Module

    def __call__(
        self,
        inputs: jax.Array,
        adaptation_factor: float | jax.Array = 1.0,
        *,
        domain_gradient: bool = True,
    ) -> tuple[jax.Array, jax.Array]:
        """Class and domain logits.

        Args:
          inputs: images (N, H, W, C) or feature vectors (N, D), float32.
          adaptation_factor: lambda, the scale of the reversed gradient.
          domain_gradient: False trains the domain head on detached features:
            the source-only baseline, whose features never see the domain loss.

        Returns:
          ``(class_logits, domain_logits)`` of shapes (N, classes) and (N,).
        """
        features = self.feature_extractor(inputs)
        domain_input = features if domain_gradient else jax.lax.stop_gradient(features)
        return self.label_head(features), self.domain_head(domain_input, adaptation_factor)


def check_model_name(name: str) -> None:
    """Raises ValueError unless ``name`` is one of :data:`MODEL_NAMES`."""
    if name not in MODEL_NAMES:
        raise ValueError(f"Unknown model {name!r}; choose one of {MODEL_NAMES}.")


def build_model(name: str, num_classes: int) -> DANN:
    """The paper's network called ``name`` (one of :data:`MODEL_NAMES`) with ``num_classes``
    outputs."""
    check_model_name(name)
    if name == "mnist":
        return DANN(
            feature_extractor=MNISTFeatures(),
            label_head=MLPHead((100, 100), num_classes),
            domain_head=DomainHead((100,)),
        )
    if name == "svhn":
        return DANN(
            feature_extractor=SVHNFeatures(),
            label_head=MLPHead((3072, 2048), num_classes),
            domain_head=DomainHead((1024, 1024)),
        )
    if name == "gtsrb":
        return DANN(
            feature_extractor=GTSRBFeatures(),
            label_head=MLPHead((512,), num_classes),
            domain_head=DomainHead((1024, 1024)),
        )
    return DANN(  # "shallow"
        feature_extractor=ShallowFeatures(),
        label_head=MLPHead((), num_classes),
        domain_head=DomainHead(()),
    )
