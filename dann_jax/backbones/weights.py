"""Pretrained weights from wherever they are, through one path: read into a ``state_dict``
(torchvision's names -> arrays), then :func:`~dann_jax.backbones.torchvision.convert`.

Where they can be (:func:`load_pretrained`'s ``source``, the configs' ``pretrained``):

- a Hugging Face Hub repository, ``owner/name`` or ``owner/name@revision`` (its
  ``model.safetensors``, fetched with ``huggingface_hub`` into its cache, which its
  offline mode ``HF_HUB_OFFLINE=1`` reads without a connection). ResNet-50's and
  ViT-B/16's ImageNet weights are :data:`HUB_WEIGHTS` (ResNet-50's torchvision's own, in
  safetensors under timm's names, which for ResNet-50 are torchvision's).
- a ``.safetensors`` file;
- a ``.pth`` file (``torch.save(model.state_dict(), path)``: needs PyTorch);
- ``"torchvision"``: torchvision's download (needs PyTorch and a connection).

Only ``.pth`` files and torchvision's download need PyTorch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dann_jax.backbones import torchvision

logger = logging.getLogger(__name__)

# The ImageNet weights of each backbone on the Hub, where it has them, each pinned to a
# commit of its repository (a run reads the same file whatever the repository gets
# later): ResNet-50's are torchvision's IMAGENET1K_V1 (the same arrays as torchvision's
# download), ViT-B/16's timm's augreg ImageNet-21k weights fine-tuned on ImageNet-1k
# (inputs normalised by mean and std 0.5). Each commit is the one several unrelated
# public projects pin for that repository's model.safetensors (ViT-B/16's: 346,284,714
# bytes, SHA-256 32aa17d6...d722405b); neither could be fetched where this was written.
HUB_WEIGHTS = {
    "resnet50": "timm/resnet50.tv_in1k@78f3ecfdb38e06d9b8397f662e7ab8fee96026fa",
    "vit_b16": (
        "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k@063c6c38a5d8510b2e57df480445e94b231dad2c"
    ),
}
# The file of a Hub repository that holds the weights.
HUB_FILE = "model.safetensors"
# owner/name, optionally @revision (a branch, tag or commit).
_HUB_NAME = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")
_TORCH_SUFFIXES = (".pth", ".pt")


def describe_source(source: str) -> str:
    """What kind of ``source`` :func:`read_state_dict` takes it for: "torchvision",
    "safetensors", "pth" or "hub".

    Raises:
      ValueError: it is none of them; the message lists the forms.
    """
    if source == "torchvision":
        return "torchvision"
    suffix = Path(source).suffix
    if suffix == ".safetensors":
        return "safetensors"
    if suffix in _TORCH_SUFFIXES:
        return "pth"
    if _HUB_NAME.match(source) and not Path(source).exists():
        return "hub"
    raise ValueError(
        f"pretrained weights {source!r}: give a Hugging Face Hub repository (owner/name, "
        f"e.g. {HUB_WEIGHTS['resnet50']}), a .safetensors or .pth file, or 'torchvision'."
    )


def _hub_file(source: str) -> Path:
    """The Hub repository's :data:`HUB_FILE`, from the cache or fetched into it."""
    from huggingface_hub import hf_hub_download  # only Hub weights need it

    repository, _, revision = source.partition("@")
    fetch = f"hf download {repository} {HUB_FILE}" + (f" --revision {revision}" if revision else "")
    try:
        path = Path(hf_hub_download(repository, HUB_FILE, revision=revision or None))
    except Exception as error:  # offline and not cached, no such repository, a failed fetch
        raise ValueError(
            f"{HUB_FILE} of the Hub repository {repository} is not in the Hugging Face cache "
            f"and could not be fetched ({type(error).__name__}). On a machine with a "
            f"connection run `{fetch}` and copy its cache "
            "(~/.cache/huggingface, or $HF_HOME) here, or give the file's path "
            "(--config.pretrained=FILE.safetensors)."
        ) from None
    # The cache keeps each revision under snapshots/<commit>/: say which one was read.
    logger.info("Pretrained weights: %s at commit %s", repository, path.parent.name)
    return path


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.is_file():
        raise ValueError(f"safetensors file {path} not found.")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path} is not a safetensors file that reads ({error}).") from None


def read_state_dict(source: str | Path) -> Mapping[str, Any]:
    """The arrays of a Hub repository, a ``.safetensors`` or a ``.pth`` file (see the
    module) under their checkpoint names: name -> NumPy array (torch tensor from
    ``.pth``).

    Raises:
      ImportError: a ``.pth`` file without PyTorch.
      ValueError: ``source`` is of no known form (or is "torchvision", which
        :func:`load_pretrained` downloads), missing, unreadable, or not cached and not
        fetched; the message says what to do.
    """
    source = str(source)
    kind = describe_source(source)
    if kind == "torchvision":
        raise ValueError("'torchvision' names a download: load_pretrained(name, 'torchvision').")
    if kind == "pth":
        return torchvision.read_pth(Path(source))
    return _read_safetensors(_hub_file(source) if kind == "hub" else Path(source))


def load_pretrained(name: str, source: str | Path, *, include_top: bool = False) -> dict[str, Any]:
    """Flax variables of :func:`~dann_jax.backbones.backbone` (``name``) from pretrained
    weights wherever they are (see the module): a Hub repository, a ``.safetensors`` or
    ``.pth`` file, or ``"torchvision"``.

    Args:
      name: one of :data:`~dann_jax.backbones.BACKBONES`.
      source: where the weights are.
      include_top: False drops the classifier, so the variables fit
        ``backbone(name)``; True keeps it (the weights must have one).

    Returns:
      ``{"params": ..., "batch_stats": ...}`` (AlexNet: ``{"params": ...}``) of float32
      NumPy arrays, as :func:`~dann_jax.backbones.convert` returns them.

    Raises:
      ImportError: a ``.pth`` file or torchvision's download without PyTorch.
      ValueError: an unknown name; weights missing, unreadable or of another network
        (the message names the first key that does not fit).
    """
    torchvision.check_name(name)
    if str(source) == "torchvision":
        state_dict = torchvision.download_imagenet(name)
    else:
        state_dict = read_state_dict(source)
    return torchvision.with_top(name, torchvision.convert(name, state_dict), include_top)
