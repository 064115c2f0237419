"""The Office configs' backbones at reduced depth, for end-to-end tests
(``--config.model=small_backbones:resnet`` with this folder on the Python path)."""

import dann_jax
from dann_jax import backbones


def resnet(num_classes):
    """ResNet-50's layers with one bottleneck block per stage, under the Office head."""
    return dann_jax.dann_network(
        backbones.ResNet50(stage_sizes=(1, 1, 1, 1)), num_classes, bottleneck_units=256
    )


def alexnet(num_classes):
    """The AlexNet backbone (it has no depth to reduce) under the Office head."""
    return dann_jax.build_model("alexnet", num_classes)
