"""What the PyTorch references of the benchmarks share: the gradient reversal layer, and
torchvision imported where its compiled ops do not load.

Imported by ``experiments/benchmark.py`` and ``experiments/backbone_speed.py`` only when
they time PyTorch; it imports torch when its functions run.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

# The op schemas torchvision's import needs, defined here where it cannot load its own;
# dropping the library object that holds them deletes them.
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_SHIM: list[Any] = []


@functools.cache
def gradient_reversal() -> Any:
    """A ``torch.autograd.Function``: identity forward, ``-coefficient`` times the
    gradient backward; ``GradientReversal.apply(features, coefficient)``."""
    import torch

    class GradientReversal(torch.autograd.Function):
        @staticmethod
        def forward(context, features, coefficient):
            context.coefficient = coefficient
            return features.view_as(features)

        @staticmethod
        def backward(context, gradient):
            return gradient.neg() * context.coefficient, None

    return GradientReversal


def import_torchvision() -> Any:
    """torchvision, also where it was built for another torch: it then registers fake
    kernels for ops whose schemas it cannot load, so the two it needs are defined first
    (a working torchvision has them already; its models use none of its ops)."""
    import torch

    if not _SHIM:
        _SHIM.append(torch.library.Library("torchvision", "DEF"))
        for schema in _SCHEMAS:
            with contextlib.suppress(RuntimeError):
                _SHIM[0].define(schema)
    import torchvision

    return torchvision
