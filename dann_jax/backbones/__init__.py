"""ImageNet-pretrained backbones: torchvision's ResNet-50 and AlexNet, timm's ViT-B/16, in
Flax linen.

The modules reproduce torchvision's layers exactly, so torchvision's ImageNet
weights, converted by :func:`load_pretrained` (from the Hugging Face Hub, a
``.safetensors`` or a ``.pth`` file; :func:`convert` for a ``state_dict`` at hand),
give PyTorch's outputs. Without a classifier they are DANN feature extractors (the
paper's Office experiments start from an ImageNet-trained network)::

    from dann_jax import backbones, dann_network

    extractor = backbones.backbone("resnet50")
    variables = backbones.load_pretrained("resnet50", "timm/resnet50.tv_in1k")  # no torch
    network = dann_network(extractor, num_classes=31, bottleneck_units=256)

    # The backbone sits under the bottleneck: feature_extractor/feature_extractor.
    init_variables = backbones.under_bottleneck(variables)

``init_variables`` then goes to :func:`dann_jax.fit`. Inputs are NHWC RGB in [0, 1], normalised by
:data:`IMAGENET_MEAN` and :data:`IMAGENET_STD`. Importing this package does not
import PyTorch, and only ``.pth`` files and torchvision's download need it.
"""

from dann_jax.backbones.alexnet import AlexNet, adaptive_avg_pool
from dann_jax.backbones.resnet import BottleneckBlock, ResNet50
from dann_jax.backbones.torchvision import (
    BACKBONES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    IMAGENET_WEIGHTS,
    backbone,
    convert,
    load_torchvision,
    under_bottleneck,
)
from dann_jax.backbones.vit import VisionTransformer
from dann_jax.backbones.weights import HUB_WEIGHTS, load_pretrained, read_state_dict

__all__ = [
    "BACKBONES",
    "HUB_WEIGHTS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGENET_WEIGHTS",
    "AlexNet",
    "BottleneckBlock",
    "ResNet50",
    "VisionTransformer",
    "adaptive_avg_pool",
    "backbone",
    "convert",
    "load_pretrained",
    "load_torchvision",
    "read_state_dict",
    "under_bottleneck",
]
