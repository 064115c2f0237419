"""The paper's networks: feature extractors G_f, label heads G_y, domain heads G_d.

Every network is a :class:`DANN`: G_f feeds G_y directly and G_d through the
gradient reversal layer, which sits at the input of G_d as in the paper.

References:
  Ganin et al., JMLR 2016, section 5.2 and figure 4 (MNIST architecture),
  section 5.2.2-5.2.4 and the supplement (SVHN and GTSRB architectures);
  section 5.1.1 (the shallow network of the two-moons toy problem).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax

from dann_jax.grl import GradientReversal
from dann_jax.layers import ConvReluPool

MODEL_NAMES = ("mnist", "svhn", "gtsrb", "shallow", "resnet50", "alexnet")
BACKBONE_NAMES = ("resnet50", "alexnet")

# The settings each packaged network is trained with where they differ from the
# paper's digit settings (the defaults of dann_jax.TrainSettings); fit() and the
# configs start from them. A user's network gets the paper's.
NETWORK_SETTINGS = {
    # The JMLR toy problem as the paper's authors trained it in their code
    # (GRAAL-Research/domain_adversarial_neural_network, experiments_moons.py and
    # DANN.py): plain SGD at a constant 0.05, one source and one target example per
    # update, lambda = 6 weighting the sum of the two domains' losses (here a mean
    # over the joint batch, so a weight of 12), 500 passes over 300 source points.
    "shallow": {
        "steps": 150_000,
        "batch_size": 2,
        "parallel": "none",  # a batch of two is not shared across devices
        "learning_rate": 0.05,
        "anneal_learning_rate": False,
        "momentum": 0.0,
        "adaptation": "constant",  # the reversal at -1 throughout; the weight is lambda
        "domain_loss_weight": 12.0,
        "log_every": 5000,
        "steps_per_dispatch": 5000,
    },
}
# The Office protocol for the ImageNet backbones (ICML 2015 section 5.2; tllib): 32 + 32
# images, the backbone (under the bottleneck) at a tenth of the new layers' rate, 224
# squares cropped from 256 and flipped; the paper's mu_p and lambda_p.
_OFFICE_SETTINGS = {
    "batch_size": 64,
    "learning_rate_multipliers": {"feature_extractor/feature_extractor": 0.1},
    "crop_size": 224,
    "augmentation": "crop_flip",
}
NETWORK_SETTINGS |= {name: _OFFICE_SETTINGS for name in BACKBONE_NAMES}


def default_settings(model: object) -> dict:
    """The settings ``model`` is trained with by default (:data:`NETWORK_SETTINGS`):
    keyword arguments for :class:`dann_jax.TrainSettings`, empty for the paper's."""
    return dict(NETWORK_SETTINGS.get(model, {})) if isinstance(model, str) else {}


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
    """G_f of the JMLR toy problem: one hidden layer of sigmoid units, (N, D) -> (N, 15).

    ``model="shallow"`` trains with the authors' toy settings by default
    (:data:`NETWORK_SETTINGS`: batch 2, constant learning rate 0.05 without
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
    """The paper's heads around any feature extractor (a Flax linen module (N, ...) -> (N, F)).

    Args:
      feature_extractor: G_f, the user's module.
      num_classes: the label head's outputs.
      bottleneck_units: a fully connected ReLU layer of this width after G_f (the
        paper's Office networks use 256), or None for none.
      label_hidden_units: G_y's hidden layers before its linear output layer.
      domain_hidden_units: G_d's hidden layers (the paper's 1024-1024 by default),
        after the gradient reversal layer, before its one logit.
    """
    if bottleneck_units is not None:
        feature_extractor = Bottleneck(feature_extractor, bottleneck_units)
    return DANN(
        feature_extractor=feature_extractor,
        label_head=MLPHead(tuple(label_hidden_units), num_classes),
        domain_head=DomainHead(tuple(domain_hidden_units)),
    )


NetworkFactory = Callable[[int], DANN]
# Names given with @register_network: name -> (num_classes -> DANN).
_REGISTERED: dict[str, NetworkFactory] = {}


def register_network(name: str) -> Callable[[NetworkFactory], NetworkFactory]:
    """Registers a function ``num_classes -> DANN`` under ``name``, so that
    ``fit(model=name)`` and a config's ``model`` key can name it::

        @dann_jax.register_network("tiny")
        def tiny(num_classes):
            return dann_jax.dann_network(MyNet(), num_classes)
    """
    if name in MODEL_NAMES or ":" in name:
        raise ValueError(f"{name!r} cannot be registered: it names a packaged network or a path.")

    def register(factory: NetworkFactory) -> NetworkFactory:
        _REGISTERED[name] = factory
        return factory

    return register


Model = str | DANN
MODEL_FORMS = (
    f"one of {MODEL_NAMES}, a name given with @dann_jax.register_network, an import path "
    "'package.module:function' of a function num_classes -> DANN, or a dann_jax.DANN"
)


def _imported(path: str) -> NetworkFactory | DANN:
    module_name, _, attribute = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"model {path!r}: cannot import {attribute!r} from {module_name!r} ({error}); "
            "is the package on the Python path?"
        ) from None


def _factory(model: Model) -> NetworkFactory | DANN:
    if isinstance(model, DANN):
        return model
    if isinstance(model, nn.Module):
        raise ValueError(
            f"model is a {type(model).__name__}, not a dann_jax.DANN; give it the paper's "
            f"heads with dann_jax.dann_network({type(model).__name__}(...), num_classes) "
            "or build DANN(feature_extractor=..., label_head=..., domain_head=...)."
        )
    if not isinstance(model, str):
        raise ValueError(f"Unknown model {model!r}; give {MODEL_FORMS}.")
    if model in MODEL_NAMES:
        return lambda num_classes: build_model(model, num_classes)
    if model in _REGISTERED:
        return _REGISTERED[model]
    if ":" in model:
        found = _imported(model)
        if isinstance(found, DANN) or callable(found):
            return found
        raise ValueError(f"model {model!r} is a {type(found).__name__}; name a function or a DANN.")
    registered = f" or registered {tuple(_REGISTERED)}" if _REGISTERED else ""
    raise ValueError(
        f"Unknown model {model!r}; choose one of {MODEL_NAMES}{registered}, or give {MODEL_FORMS}."
    )


def check_model(model: Model) -> None:
    """Raises ValueError unless ``model`` names or is a network (see :func:`resolve_network`)."""
    _factory(model)


def resolve_network(model: Model, num_classes: int) -> DANN:
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
    network = found if isinstance(found, DANN) else found(num_classes)
    if not isinstance(network, DANN):
        raise ValueError(
            f"model {model!r} returned a {type(network).__name__}, not a dann_jax.DANN; return "
            "dann_jax.dann_network(feature_extractor, num_classes) or a DANN(...)."
        )
    return network


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


def check_outputs(network: DANN, example_inputs: jax.Array, num_classes: int) -> None:
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


def build_model(name: str, num_classes: int) -> DANN:
    """The paper's network called ``name`` (one of :data:`MODEL_NAMES`) with ``num_classes``
    outputs. "resnet50" and "alexnet" are the ImageNet backbones of
    :mod:`dann_jax.backbones` under the paper's Office head: a 256-unit bottleneck,
    a linear label head, the domain head 1024-1024-1."""
    if name not in MODEL_NAMES:
        raise ValueError(f"Unknown model {name!r}; choose one of {MODEL_NAMES}.")
    if name in BACKBONE_NAMES:
        from dann_jax import backbones  # the backbones load only when asked for

        return dann_network(backbones.backbone(name), num_classes, bottleneck_units=256)
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
