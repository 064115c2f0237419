"""The network registry: names -> networks, for ``fit(model=...)`` and a config's ``model``.

One registry holds the packaged networks (:data:`MODEL_NAMES`: the paper's digit and
sign networks, the toy network and the ImageNet backbones under the Office head) and
the names users give with :func:`register_network`. :func:`build_model` turns any
form a user may give into a :class:`~dann_jax.core.networks.DANN`: a registered
name, an import path ``"package.module:function"``, or a DANN itself; a packaged
network also says what inputs it takes (:func:`input_requirements`), which the
checks of user arrays read.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from flax import nnx

from dann_jax.core.networks import (
    DANN,
    DomainHead,
    GTSRBFeatures,
    MLPHead,
    MNISTFeatures,
    ShallowFeatures,
    SVHNFeatures,
    dann_network,
)
from dann_jax.data import arrays

NetworkFactory = Callable[[int], DANN]
Model = str | DANN


@dataclasses.dataclass(frozen=True)
class InputRequirements:
    """What a network takes: ``rank`` 4 (images N, H, W, C) or 2 (vectors N, D), or None
    for either (a user's network); images at least ``min_side`` pixels a side."""

    rank: int | None = None
    min_side: int = 1


@dataclasses.dataclass(frozen=True)
class _Entry:
    factory: NetworkFactory
    inputs: InputRequirements


_REGISTRY: dict[str, _Entry] = {}


def _packaged(
    name: str, rank: int, min_side: int = 1
) -> Callable[[NetworkFactory], NetworkFactory]:
    def register(factory: NetworkFactory) -> NetworkFactory:
        _REGISTRY[name] = _Entry(factory, InputRequirements(rank, min_side))
        return factory

    return register


# The smallest sides: two 5x5 valid convolutions and two 2x2 poolings must leave a pixel
# (MNIST); the backbones' strides and pooling windows must fit.
@_packaged("mnist", rank=4, min_side=16)
def _mnist(num_classes: int) -> DANN:
    return DANN(
        feature_extractor=MNISTFeatures(),
        label_head=MLPHead((100, 100), num_classes),
        domain_head=DomainHead((100,)),
    )


@_packaged("svhn", rank=4)
def _svhn(num_classes: int) -> DANN:
    return DANN(
        feature_extractor=SVHNFeatures(),
        label_head=MLPHead((3072, 2048), num_classes),
        domain_head=DomainHead((1024, 1024)),
    )


@_packaged("gtsrb", rank=4)
def _gtsrb(num_classes: int) -> DANN:
    return DANN(
        feature_extractor=GTSRBFeatures(),
        label_head=MLPHead((512,), num_classes),
        domain_head=DomainHead((1024, 1024)),
    )


@_packaged("shallow", rank=2)
def _shallow(num_classes: int) -> DANN:
    return DANN(
        feature_extractor=ShallowFeatures(),
        label_head=MLPHead((), num_classes),
        domain_head=DomainHead(()),
    )


def _office_head(backbone_name: str) -> NetworkFactory:
    """The paper's Office head (a 256-unit bottleneck, a linear label head, the domain
    head 1024-1024-1) on an ImageNet backbone of :mod:`dann_jax.backbones`."""

    def build(num_classes: int) -> DANN:
        from dann_jax import backbones  # the backbones load only when asked for

        return dann_network(backbones.backbone(backbone_name), num_classes, bottleneck_units=256)

    return build


_packaged("resnet50", rank=4, min_side=32)(_office_head("resnet50"))
_packaged("alexnet", rank=4, min_side=63)(_office_head("alexnet"))
# 16: one patch; the position embeddings then fix the size (224 crops for the weights).
_packaged("vit_b16", rank=4, min_side=16)(_office_head("vit_b16"))

MODEL_NAMES = tuple(_REGISTRY)
BACKBONE_NAMES = ("resnet50", "alexnet", "vit_b16")
MODEL_FORMS = (
    f"one of {MODEL_NAMES}, a name given with @dann_jax.register_network, an import path "
    "'package.module:function' of a function num_classes -> DANN, or a dann_jax.DANN"
)


def register_network(name: str) -> Callable[[NetworkFactory], NetworkFactory]:
    """Registers a function ``num_classes -> DANN`` under ``name``, so that
    ``fit(model=name)`` and a config's ``model`` key can name it::

        @dann_jax.register_network("tiny")
        def tiny(num_classes):
            return dann_jax.dann_network(MyNet(), num_classes)

    Registering a name again replaces the earlier function (a notebook cell run twice).

    Raises:
      ValueError: ``name`` is a packaged network's or holds ":" (an import path's mark).
    """
    if name in MODEL_NAMES or ":" in name:
        raise ValueError(f"{name!r} cannot be registered: it names a packaged network or a path.")

    def register(factory: NetworkFactory) -> NetworkFactory:
        _REGISTRY[name] = _Entry(factory, InputRequirements())
        return factory

    return register


def _import(module_name: str) -> Any:
    """The module ``module_name``, found as ``python -m`` would find it: on the Python path
    or in the current folder (which a console script such as ``dann`` does not put on
    the path)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        top = module_name.split(".")[0]
        here = Path.cwd()
        if error.name != top or not ((here / f"{top}.py").is_file() or (here / top).is_dir()):
            raise
        sys.path.insert(0, str(here))
        return importlib.import_module(module_name)


def _imported(path: str) -> NetworkFactory | DANN:
    module_name, _, attribute = path.partition(":")
    try:
        return getattr(_import(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"model {path!r}: cannot import {attribute!r} from {module_name!r} ({error}); "
            "is the package on the Python path (or its file in the current folder)?"
        ) from None


def _factory(model: Model) -> NetworkFactory | DANN:
    if isinstance(model, DANN):
        return model
    if isinstance(model, nn.Module | nnx.Module):
        raise ValueError(
            f"model is a {type(model).__name__}, not a dann_jax.DANN; give it the paper's "
            f"heads with dann_jax.dann_network({type(model).__name__}(...), num_classes) "
            "or build DANN(feature_extractor=..., label_head=..., domain_head=...)."
        )
    if not isinstance(model, str):
        raise ValueError(f"Unknown model {model!r}; give {MODEL_FORMS}.")
    if model in _REGISTRY:
        return _REGISTRY[model].factory
    if ":" in model:
        found = _imported(model)
        if isinstance(found, DANN) or callable(found):
            return found
        raise ValueError(f"model {model!r} is a {type(found).__name__}; name a function or a DANN.")
    registered = [name for name in _REGISTRY if name not in MODEL_NAMES]
    also = f" or registered {tuple(registered)}" if registered else ""
    raise ValueError(
        f"Unknown model {model!r}; choose one of {MODEL_NAMES}{also}, an import path "
        "'package.module:function' of a function num_classes -> DANN, or a dann_jax.DANN."
    )


def registered_names() -> tuple[str, ...]:
    """The names :func:`build_model` knows: the packaged networks and the registered ones."""
    return tuple(_REGISTRY)


def check_model(model: Model) -> None:
    """Raises ValueError unless ``model`` names or is a network (see :func:`build_model`)."""
    _factory(model)


def build_model(model: Model, num_classes: int) -> DANN:
    """The network ``model`` gives for ``num_classes`` classes.

    Args:
      model: a packaged name (:data:`MODEL_NAMES`), a name given with
        :func:`register_network`, an import path ``"package.module:function"`` of a
        function ``num_classes -> DANN`` (or of a DANN), or a :class:`DANN`.
      num_classes: the label head's outputs (a given DANN must already have them).

    Raises:
      ValueError: ``model`` is none of these; the message says which forms exist.
    """
    found = _factory(model)
    try:
        network = found if isinstance(found, DANN) else found(num_classes)
    except TypeError as error:  # a function of other arguments (model=os:getcwd)
        raise ValueError(
            f"model {model!r} cannot be called as a function num_classes -> DANN ({error})."
        ) from None
    if not isinstance(network, DANN):
        raise ValueError(
            f"model {model!r} returned a {type(network).__name__}, not a dann_jax.DANN; return "
            "dann_jax.dann_network(feature_extractor, num_classes) or a DANN(...)."
        )
    return network


def input_requirements(model: Model) -> InputRequirements:
    """What inputs ``model`` takes: a packaged network's rank and smallest side; any
    rank for others."""
    entry = _REGISTRY.get(model) if isinstance(model, str) else None
    return entry.inputs if entry is not None else InputRequirements()


def check_inputs(name: str, inputs: np.ndarray, model: Model) -> None:
    """Raises ValueError unless the user's ``inputs`` suit ``model`` (see
    :func:`dann_jax.data.arrays.check_inputs`); the message says how to fix them."""
    packaged = isinstance(model, str) and model in MODEL_NAMES
    requirements = input_requirements(model)
    arrays.check_inputs(
        name,
        inputs,
        network=model if packaged else None,
        rank=requirements.rank,
        min_side=requirements.min_side,
    )


def _check_train_parameters(network: DANN) -> None:
    """Raises ValueError unless every part's ``train`` parameter (if any) takes a bool keyword."""
    for name in ("feature_extractor", "label_head", "domain_head"):
        part = getattr(network, name)
        parameter = inspect.signature(type(part).__call__).parameters.get("train")
        if parameter is None:
            continue
        keyword = parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        annotation = parameter.annotation
        if not keyword or annotation not in (parameter.empty, bool, "bool"):
            raise ValueError(
                f"{name} ({type(part).__name__}) declares {parameter}, but dann_jax passes "
                "train=True in training and train=False in evaluation: declare it as a "
                "keyword `train: bool`."
            )


def check_outputs(network: DANN, example_inputs: Any, num_classes: int) -> None:
    """Raises ValueError unless ``network`` maps (N, ...) inputs to class logits
    (N, num_classes) and domain logits (N,) in evaluation and in training (with
    batch statistics and dropout), found abstractly (nothing is computed), and its
    parts take ``train`` as a bool keyword."""
    _check_train_parameters(network)
    count = example_inputs.shape[0]
    key = jax.random.key(0)
    for train in (False, True):
        outputs = jax.eval_shape(
            lambda train=train: network.init_with_output(
                {"params": key, "dropout": key}, example_inputs, train=train
            )[0]
        )
        shapes = jax.tree.map(lambda leaf: tuple(leaf.shape), outputs)
        if (
            not isinstance(outputs, tuple)
            or len(outputs) != 2
            or not all(hasattr(part, "shape") for part in outputs)
            or outputs[0].shape != (count, num_classes)
            or outputs[1].shape != (count,)
        ):
            raise ValueError(
                f"the network maps inputs {tuple(example_inputs.shape)} to {shapes} (train="
                f"{train}), but a DANN must return (class_logits, domain_logits) of shapes "
                f"({count}, {num_classes}) and ({count},): check the label head's outputs "
                f"({num_classes} classes) and that the domain head returns one logit per example."
            )
