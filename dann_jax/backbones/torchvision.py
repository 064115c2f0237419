"""torchvision's ImageNet backbones (and timm's ViT-B/16) as Flax modules, and their
PyTorch weights as Flax variables.

:func:`backbone` builds the module of a name in :data:`BACKBONES`;
:func:`convert` turns a torchvision (timm, for the ViT) ``state_dict`` into that module's
``{"params": ..., "batch_stats": ...}``, and :func:`load_torchvision` reads one
from a ``.pth`` file or downloads torchvision's ImageNet weights first. The
checks name the first key or shape that does not fit, so a checkpoint of the
wrong network fails clearly rather than deep inside Flax.

PyTorch is needed only to read ``.pth`` files (``pip install 'dann_jax[torchvision]'``);
it is imported when :func:`load_torchvision` runs.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from dann_jax.backbones.alexnet import AlexNet
from dann_jax.backbones.resnet import ResNet50
from dann_jax.backbones.vit import VisionTransformer

BACKBONES = ("resnet50", "alexnet", "vit_b16")
# Whose layer names and weights each backbone follows.
_WEIGHTS_OF = {"resnet50": "torchvision's", "alexnet": "torchvision's", "vit_b16": "timm's"}

# torchvision's ImageNet weights expect RGB in [0, 1] normalised per channel by these.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The IMAGENET1K_V1 weights of torchvision.models.ResNet50_Weights and AlexNet_Weights; the
# eight hex digits in a name are the start of the file's SHA-256, checked on download.
IMAGENET_WEIGHTS = {
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "alexnet": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
}

# Each network's classifier: its torchvision name and the Flax module holding it.
_TOP_TORCH = {"resnet50": "fc", "alexnet": "classifier.6", "vit_b16": "head"}
_TOP_FLAX = {"resnet50": "fc", "alexnet": "fc8", "vit_b16": "head"}

_ALEXNET_TORCH_NAMES = {
    "conv1": "features.0",
    "conv2": "features.3",
    "conv3": "features.6",
    "conv4": "features.8",
    "conv5": "features.10",
    "fc6": "classifier.1",
    "fc7": "classifier.4",
    "fc8": "classifier.6",
}
_RESNET_TORCH_NAMES = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}

# (collection, Flax variable name) -> torchvision parameter or buffer name.
_TORCH_LEAVES = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
    ("params", "cls_token"): "cls_token",
    ("params", "pos_embed"): "pos_embed",
}

# A torch convolution weight (O, I, H, W) -> Flax's (H, W, I, O); a linear weight
# (out, in) -> (in, out); vectors stay.
_TO_FLAX_AXES = {4: (2, 3, 1, 0), 2: (1, 0)}
_TO_TORCH_AXES = {4: (3, 2, 0, 1), 2: (1, 0)}


def check_name(name: str) -> None:
    """Raises ValueError unless ``name`` is one of :data:`BACKBONES`."""
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; choose one of {BACKBONES}.")


def backbone(
    name: str,
    *,
    include_top: bool = False,
    frozen_batch_norm: bool = False,
    stage_sizes: Sequence[int] | None = None,
) -> nn.Module:
    """The Flax module of torchvision's ``name`` network.

    Args:
      name: one of :data:`BACKBONES`.
      include_top: False returns the feature extractor (ResNet-50: pooled (N,
        2048); AlexNet: fc7's (N, 4096); ViT-B/16: the class token's (N, 768)); True
        adds the 1000-way ImageNet classifier.
      frozen_batch_norm: ResNet-50 only: BatchNorm keeps its running averages in
        training (see :class:`ResNet50`).
      stage_sizes: ResNet-50 only: blocks per stage in place of (3, 4, 6, 3).

    Raises:
      ValueError: an unknown name, or a ResNet option given for another network.
    """
    check_name(name)
    num_classes = 1000 if include_top else None
    if name != "resnet50" and (frozen_batch_norm or stage_sizes is not None):
        raise ValueError(
            f"{name} has neither BatchNorm nor stages; frozen_batch_norm and stage_sizes "
            "apply to resnet50 only."
        )
    if name == "alexnet":
        return AlexNet(num_classes=num_classes)
    if name == "vit_b16":
        return VisionTransformer(num_classes=num_classes)
    stages = {} if stage_sizes is None else {"stage_sizes": tuple(stage_sizes)}
    return ResNet50(num_classes=num_classes, frozen_batch_norm=frozen_batch_norm, **stages)


def _torch_module_name(name: str, path: tuple[str, ...]) -> str:
    """The torchvision name of the Flax submodule at ``path``, e.g. ("layer1_0",
    "downsample_bn") -> "layer1.0.downsample.1"."""
    if name == "alexnet":
        return ".".join(_ALEXNET_TORCH_NAMES[part] for part in path)
    if name == "vit_b16":  # blocks_3 -> blocks.3; the patch embedding is timm's patch_embed.proj
        return ".".join(
            "patch_embed.proj" if part == "patch_embed" else part.replace("blocks_", "blocks.")
            for part in path
        )
    return ".".join(_RESNET_TORCH_NAMES.get(part, part.replace("_", ".")) for part in path)


@functools.cache
def _torch_layout(name: str, num_classes: int | None) -> dict[str, tuple[tuple[str, ...], tuple]]:
    """torchvision key -> (path of the Flax variable, shape in torch's layout), for every
    variable of the full-depth module in the order the layers create them (nothing is
    computed: the shapes come from tracing)."""
    module = backbone(name).clone(num_classes=num_classes)
    # Within each collection Flax creates the variables layer by layer, so the first missing
    # key is the earliest layer's; the traced result comes back with its keys sorted, so the
    # order is recorded inside.
    creation_order = []

    def init(images: jax.Array) -> dict[str, Any]:
        variables = module.init(jax.random.key(0), images)
        creation_order.extend(traverse_util.flatten_dict(variables))
        return variables

    images = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    shapes = traverse_util.flatten_dict(jax.eval_shape(init, images))
    layout = {}
    for path in creation_order:
        collection, *modules, variable = path
        key = ".".join(
            [_torch_module_name(name, tuple(modules))] * bool(modules)
            + [_TORCH_LEAVES[collection, variable]]
        )
        shape = shapes[path].shape
        axes = _TO_TORCH_AXES.get(len(shape))
        layout[key] = (path, shape if axes is None else tuple(shape[a] for a in axes))
    return layout


def _check_fits(name: str, shapes: Mapping[str, tuple], layout: Mapping[str, Any]) -> None:
    """Raises ValueError naming the first key missing from or unexpected in ``shapes``
    (checkpoint key -> shape), or the first whose shape differs from ``layout``'s."""
    question = f"is it a checkpoint of {_WEIGHTS_OF[name]} {name}?"
    missing = [key for key in layout if key not in shapes]
    unexpected = [key for key in shapes if key not in layout]
    if missing or unexpected:
        found = []
        if missing:
            found.append(f"{len(missing)} missing key(s), the first {missing[0]!r}")
        if unexpected:
            found.append(f"{len(unexpected)} unexpected key(s), the first {unexpected[0]!r}")
        raise ValueError(f"The checkpoint does not fit {name}: {'; '.join(found)}; {question}")
    for key, (_, shape) in layout.items():
        if shapes[key] != shape:
            raise ValueError(
                f"The checkpoint's {key!r} has shape {shapes[key]}, but {name}'s has {shape}; "
                f"{question}"
            )


def _flax_array(value: Any) -> np.ndarray:
    """A torch tensor or array in torch's layout as a float32 NumPy array in Flax's."""
    if hasattr(value, "detach"):  # a torch tensor; .float() also reads bfloat16, unlike NumPy
        value = value.detach().cpu().float().numpy()
    value = np.asarray(value)
    axes = _TO_FLAX_AXES.get(value.ndim)
    return np.array(value if axes is None else value.transpose(axes), dtype=np.float32)


def convert(name: str, state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """torchvision ``state_dict`` -> Flax variables of :func:`backbone` (``name``).

    Args:
      name: one of :data:`BACKBONES`.
      state_dict: torchvision's names (``layer1.0.conv1.weight``, ``bn1.running_mean``,
        ``features.0.weight``, ``classifier.1.weight``, ...) -> torch tensors or
        NumPy arrays. ``num_batches_tracked`` entries are ignored. With the
        classifier (``fc`` / ``classifier.6``) the variables include it, for as
        many classes as it has; without it they fit the feature extractor.

    Returns:
      ``{"params": ..., "batch_stats": ...}`` (AlexNet: ``{"params": ...}``) of
      float32 NumPy arrays: convolution kernels (H, W, I, O), dense kernels (in,
      out), BatchNorm ``scale``/``bias`` and ``mean``/``var``.

    Raises:
      ValueError: an unknown name; a key missing or unexpected, or a shape that
        differs (the message names the first).
    """
    check_name(name)
    shapes = {
        key: tuple(np.shape(value))
        for key, value in state_dict.items()
        if not key.endswith("num_batches_tracked")
    }
    # A classifier of any width fits (e.g. one fine-tuned on fewer classes); one that is
    # not a matrix is checked against ImageNet's, which reports its shape.
    top_shape = shapes.get(f"{_TOP_TORCH[name]}.weight")
    num_classes = None
    if top_shape is not None:
        num_classes = top_shape[0] if len(top_shape) == 2 else 1000
    layout = _torch_layout(name, num_classes)
    _check_fits(name, shapes, layout)
    flat = {path: _flax_array(state_dict[key]) for key, (path, _) in layout.items()}
    return traverse_util.unflatten_dict(flat)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "Reading torchvision weights needs PyTorch: pip install 'dann_jax[torchvision]'."
        ) from None
    return torch


def download_imagenet(name: str) -> Mapping[str, Any]:
    """torchvision's ImageNet ``state_dict`` of ``name`` (:data:`IMAGENET_WEIGHTS`,
    IMAGENET1K_V1), downloaded into torch.hub's cache (its SHA-256 checked).

    Raises:
      ImportError: PyTorch is not installed.
      ValueError: torchvision has no weights of ``name``, or the download failed; the
        message says where to get them instead.
    """
    if name not in IMAGENET_WEIGHTS:
        raise ValueError(
            f"torchvision has no {name} weights; read {_WEIGHTS_OF[name]} from the Hugging Face "
            "Hub (dann_jax.backbones.HUB_WEIGHTS) or a .safetensors file."
        )
    torch = _import_torch()
    try:
        return torch.hub.load_state_dict_from_url(
            IMAGENET_WEIGHTS[name], map_location="cpu", check_hash=True, weights_only=True
        )
    except OSError as error:  # no connection, or a refused or failed download
        raise ValueError(
            f"torchvision's {name} weights could not be downloaded from "
            f"{IMAGENET_WEIGHTS[name]} ({error}); on a machine without internet, fetch "
            "that file elsewhere and give its path (--config.pretrained=FILE)."
        ) from None


def read_pth(path: Path) -> Mapping[str, Any]:
    """The ``state_dict`` a ``.pth`` file holds (``torch.load(weights_only=True)``).

    Raises:
      ImportError: PyTorch is not installed.
      ValueError: the file is missing or holds no state_dict.
    """
    torch = _import_torch()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"torchvision checkpoint {path} not found.")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(
            f"{path} is not a state_dict that torch.load(weights_only=True) reads "
            f"({type(error).__name__})."
        ) from None
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"{path} holds a {type(state_dict).__name__}, not a state_dict; save "
            "torch.save(model.state_dict(), path)."
        )
    return state_dict


def with_top(name: str, variables: dict[str, Any], include_top: bool) -> dict[str, Any]:
    """``variables`` (:func:`convert`'s) without the classifier, or, with
    ``include_top``, checked to have one.

    Raises:
      ValueError: ``include_top`` and the variables have no classifier.
    """
    params = variables["params"]
    if not include_top:
        params.pop(_TOP_FLAX[name], None)
    elif _TOP_FLAX[name] not in params:
        raise ValueError(
            f"The checkpoint has no classifier ({_TOP_TORCH[name]!r}) for include_top=True; "
            "load it with include_top=False."
        )
    return variables


def load_torchvision(
    name: str, path: str | Path | None = None, *, include_top: bool = False
) -> dict[str, Any]:
    """Flax variables of :func:`backbone` (``name``) from torchvision weights
    (:func:`dann_jax.backbones.load_pretrained` reads the other forms too: Hub
    repositories and ``.safetensors`` files, without PyTorch).

    Args:
      name: one of :data:`BACKBONES`.
      path: a ``.pth`` file holding a ``state_dict`` (``torch.save(model.state_dict(),
        path)``), or None to download torchvision's ImageNet weights
        (:data:`IMAGENET_WEIGHTS`, IMAGENET1K_V1) into torch.hub's cache.
      include_top: False drops the classifier, so the variables fit
        ``backbone(name)``; True keeps it (the checkpoint must have one) for
        ``backbone(name, include_top=True)``.

    Returns:
      The variables, as :func:`convert` returns them.

    Raises:
      ImportError: PyTorch is not installed.
      ValueError: an unknown name; the download failed; ``path`` does not exist or
        holds no state_dict; the checkpoint does not fit the network (see
        :func:`convert`), or lacks the classifier that include_top asks for.
    """
    check_name(name)
    state_dict = download_imagenet(name) if path is None else read_pth(Path(path))
    return with_top(name, convert(name, state_dict), include_top)


def under_bottleneck(variables: Mapping[str, Any]) -> dict[str, Any]:
    """A backbone's variables placed where a DANN with a bottleneck keeps them
    (``feature_extractor/feature_extractor``: :func:`dann_jax.dann_network` with
    ``bottleneck_units``, and ``model="resnet50"`` / ``"alexnet"``), as ``init_variables``."""
    return {
        collection: {"feature_extractor": {"feature_extractor": tree}}
        for collection, tree in variables.items()
    }
