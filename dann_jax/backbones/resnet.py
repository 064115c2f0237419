"""ResNet-50 as torchvision builds it, in Flax linen, so torchvision's ImageNet weights apply.

The layers and their names follow ``torchvision.models.resnet50``: a 7x7/2
stem convolution, BatchNorm, ReLU and 3x3/2 max pooling, then four stages of
bottleneck blocks whose stride sits on the 3x3 convolution (torchvision's
"ResNet v1.5"), global average pooling and an optional 1000-way classifier.
Paddings are PyTorch's, written out, so the outputs equal PyTorch's
(tests/backbones/test_backbones.py). Submodules are named after torchvision's (``layer1.0``
is ``layer1_0``; a block's ``downsample.0`` and ``downsample.1`` are
``downsample_conv`` and ``downsample_bn``), which :mod:`dann_jax.backbones.torchvision`
relies on.

References:
  He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

from dann_jax.backbones import convolution, pooling

# torchvision initialises convolutions with Kaiming normal (fan_out, ReLU gain), which
# matters only when a ResNet trains from scratch rather than from converted weights.
_KAIMING_FAN_OUT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


@jax.custom_vjp
def channel_product(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x`` (N, H, W, C) times ``kernel`` (C, F) over the channels: (N, H, W, F).

    Its VJP is autodiff's but for the order of one product (below); like every
    ``custom_vjp`` it has no forward-mode derivative (``jax.jvp``).
    """
    return jnp.einsum("nhwc,cf->nhwf", x, kernel)


def _channel_product_forward(x: jax.Array, kernel: jax.Array):
    return channel_product(x, kernel), (x, kernel)


def _channel_product_backward(residuals, grad: jax.Array):
    x, kernel = residuals
    # The kernel's gradient, sum over the N*H*W rows of x^T grad, taken as (grad^T x)^T:
    # with x as the left operand (autodiff's order) XLA:CPU copied x transposed first
    # (BENCHMARKS.md, "ImageNet backbones").
    rows = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
    kernel_grad = jax.lax.dot_general(*rows, (((0,), (0,)), ((), ()))).T
    return jnp.einsum("nhwf,cf->nhwc", grad, kernel), kernel_grad


channel_product.defvjp(_channel_product_forward, _channel_product_backward)


class PointwiseConv(nn.Module):
    """A bias-free 1x1 convolution computed as a matrix product over the channels: the
    same ``kernel`` (1, 1, C, features) and outputs as ``nn.Conv(features, (1, 1),
    strides)`` with no padding, to rounding.

    Maps (N, H, W, C) to (N, ceil(H / strides), ceil(W / strides), features). Why: XLA's
    CPU backend takes the kernel gradient of a 1x1 ``conv_general_dilated`` through a
    transposed copy of the activations and a convolution over the batch; as a product
    (:func:`channel_product`) it is one matrix product, and ResNet-50's DANN step on 2
    CPU cores went from 52.7 s to 29.0 s (BENCHMARKS.md, "ImageNet backbones"; not
    measured on a GPU).
    """

    features: int
    strides: int = 1
    kernel_init: nn.initializers.Initializer = _KAIMING_FAN_OUT

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", self.kernel_init, (1, 1, x.shape[-1], self.features), jnp.float32
        )
        if self.strides > 1:  # a 1x1 window with no padding reads every strides-th pixel
            x = x[:, :: self.strides, :: self.strides, :]
        x, kernel = promote_dtype(x, kernel, dtype=None)  # as nn.Conv promotes
        return channel_product(x, kernel[0, 0])


def _conv(features: int, size: int, strides: int, name: str) -> nn.Module:
    """A bias-free convolution padded like PyTorch's ``Conv2d(padding=size // 2)``
    (1x1: a :class:`PointwiseConv`)."""
    if size == 1:
        return PointwiseConv(features, strides, name=name)
    padding = size // 2
    return nn.Conv(
        features,
        (size, size),
        strides=(strides, strides),
        padding=((padding, padding), (padding, padding)),
        use_bias=False,
        kernel_init=_KAIMING_FAN_OUT,
        conv_general_dilated=convolution.conv_general_dilated,
        name=name,
    )


class BottleneckBlock(nn.Module):
    """1x1 conv, 3x3 conv (carrying the stride), 1x1 conv to ``4 * features`` channels,
    each followed by BatchNorm, added to the (downsampled) input, then ReLU.

    Maps (N, H, W, C) to (N, ceil(H / strides), ceil(W / strides), 4 * features).
    ``use_running_average`` picks BatchNorm's running averages over batch statistics.
    """

    features: int
    strides: int
    downsample: bool
    use_running_average: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        # torchvision's BatchNorm2d(momentum=0.1) keeps 0.9 of the old average per update.
        norm = functools.partial(
            nn.BatchNorm, use_running_average=self.use_running_average, momentum=0.9, epsilon=1e-5
        )
        out = nn.relu(norm(name="bn1")(_conv(self.features, 1, 1, "conv1")(x)))
        out = nn.relu(norm(name="bn2")(_conv(self.features, 3, self.strides, "conv2")(out)))
        out = norm(name="bn3")(_conv(4 * self.features, 1, 1, "conv3")(out))
        identity = x
        if self.downsample:
            identity = _conv(4 * self.features, 1, self.strides, "downsample_conv")(x)
            identity = norm(name="downsample_bn")(identity)
        return nn.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision's ResNet-50: images (N, H, W, 3) float32 -> features (N, 2048) or logits.

    Inputs are RGB in [0, 1] normalised by :data:`dann_jax.backbones.IMAGENET_MEAN` and
    :data:`dann_jax.backbones.IMAGENET_STD`, as torchvision's ImageNet weights expect.

    Attributes:
      stage_sizes: bottleneck blocks per stage; (3, 4, 6, 3) is ResNet-50, fewer
        build a shallower network of the same form (e.g. for tests).
      num_classes: None returns the globally pooled features (N, 2048), the
        feature extractor of a DANN; an int adds the ``fc`` layer and returns
        its logits (N, num_classes).
      frozen_batch_norm: True normalises with the running averages in training
        too and never updates them (usual when fine-tuning with small batches);
        False uses and updates batch statistics when ``train`` is True.
    """

    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    num_classes: int | None = None
    frozen_batch_norm: bool = False

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        """Features (N, 2048) or logits (N, num_classes), float32, of images (N, H, W, 3).

        ``train`` selects BatchNorm's batch statistics (and updates its running
        averages in the mutable ``batch_stats`` collection) unless
        ``frozen_batch_norm`` is set.
        """
        use_running_average = self.frozen_batch_norm or not train
        x = _conv(64, 7, 2, "conv1")(images)
        x = nn.BatchNorm(
            use_running_average=use_running_average, momentum=0.9, epsilon=1e-5, name="bn1"
        )(x)
        x = nn.relu(x)
        x = pooling.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for stage, blocks in enumerate(self.stage_sizes):
            for block in range(blocks):
                x = BottleneckBlock(
                    features=64 * 2**stage,
                    # Stages after the first halve the resolution in their first block.
                    strides=2 if stage > 0 and block == 0 else 1,
                    downsample=block == 0,
                    use_running_average=use_running_average,
                    name=f"layer{stage + 1}_{block}",
                )(x)
        x = jnp.mean(x, axis=(1, 2))
        if self.num_classes is None:
            return x
        return nn.Dense(self.num_classes, name="fc")(x)
