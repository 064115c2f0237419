"""AlexNet as torchvision builds it, in Flax linen, so torchvision's ImageNet weights apply.

torchvision's AlexNet is the single-tower variant of "One weird trick" (64, 192,
384, 256, 256 filters), not the two-tower network of 2012. Paddings, pooling and
the flattening order are PyTorch's, so the outputs equal PyTorch's
(tests/backbones/test_backbones.py). The convolutions are named ``conv1`` to ``conv5`` and
the fully connected layers ``fc6`` to ``fc8``; :mod:`dann_jax.backbones.torchvision`
maps torchvision's ``features.*`` and ``classifier.*`` onto them.

References:
  Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
  Neural Networks", NeurIPS 2012.
  Krizhevsky, "One weird trick for parallelizing convolutional neural networks",
  arXiv:1404.5997, 2014.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from dann_jax.backbones import convolution, pooling


def _adaptive_mean(x: jax.Array, axis: int, size: int) -> jax.Array:
    """Means of ``size`` bins along ``axis``: bin i spans [floor(i L / size), ceil((i + 1) L /
    size)) of the axis' length L, PyTorch's bins (neighbouring bins may overlap)."""
    length = x.shape[axis]
    bins = [
        lax.slice_in_dim(x, i * length // size, -(-(i + 1) * length // size), axis=axis)
        for i in range(size)
    ]
    return jnp.concatenate([part.mean(axis=axis, keepdims=True) for part in bins], axis=axis)


def adaptive_avg_pool(x: jax.Array, output_size: tuple[int, int]) -> jax.Array:
    """PyTorch's ``AdaptiveAvgPool2d``: (N, H, W, C) -> (N, out_h, out_w, C), same dtype.

    Each output pixel is the mean of its bin of rows times its bin of columns; a
    mean over such a rectangle is the mean over columns of the row means, so the
    two axes are pooled one after the other. An H, W of ``output_size`` is
    returned unchanged; smaller ones repeat pixels.
    """
    out_h, out_w = output_size
    return _adaptive_mean(_adaptive_mean(x, 1, out_h), 2, out_w)


class AlexNet(nn.Module):
    """torchvision's AlexNet: images (N, H, W, 3) float32 (H, W >= 63) -> features
    (N, 4096) or logits.

    Inputs are RGB in [0, 1] normalised by :data:`dann_jax.backbones.IMAGENET_MEAN` and
    :data:`dann_jax.backbones.IMAGENET_STD`, as torchvision's ImageNet weights expect.

    Attributes:
      num_classes: None returns fc7's ReLU output (N, 4096), the feature
        extractor of the paper's Office networks; an int adds ``fc8`` and
        returns its logits (N, num_classes).
    """

    num_classes: int | None = None

    # Its fully connected layers are products of a batch's rows (64 in an Office step), which
    # YNNPACK's kernels run faster than XLA's own on a CPU (convolution.cpu_products).
    cpu_products: ClassVar[str] = "ynnpack"

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        """Features (N, 4096) or logits (N, num_classes), float32, of images (N, H, W, 3).

        ``train`` turns on the dropout before fc6 and fc7 (rate 0.5), which then
        draws from the ``dropout`` RNG stream.
        """

        def conv(features: int, size: int, strides: int, padding: int, name: str) -> nn.Conv:
            return nn.Conv(
                features,
                (size, size),
                strides=(strides, strides),
                padding=((padding, padding), (padding, padding)),
                conv_general_dilated=convolution.conv_general_dilated,
                name=name,
            )

        def max_pool(x: jax.Array) -> jax.Array:
            return pooling.max_pool(x, (3, 3), strides=(2, 2))

        x = max_pool(nn.relu(conv(64, 11, 4, 2, "conv1")(images)))
        x = max_pool(nn.relu(conv(192, 5, 1, 2, "conv2")(x)))
        x = nn.relu(conv(384, 3, 1, 1, "conv3")(x))
        x = nn.relu(conv(256, 3, 1, 1, "conv4")(x))
        x = max_pool(nn.relu(conv(256, 3, 1, 1, "conv5")(x)))
        x = adaptive_avg_pool(x, (6, 6))
        # Flatten in PyTorch's (C, H, W) order, the order fc6's torchvision weights expect.
        x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)
        x = nn.Dropout(0.5, deterministic=not train)(x)
        x = nn.relu(nn.Dense(4096, name="fc6")(x))
        x = nn.Dropout(0.5, deterministic=not train)(x)
        x = nn.relu(nn.Dense(4096, name="fc7")(x))
        if self.num_classes is None:
            return x
        return nn.Dense(self.num_classes, name="fc8")(x)
