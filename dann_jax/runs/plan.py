"""An experiment config read once, into a plan that the rest of a run is handed.

:func:`make_plan` checks the config and turns it into a :class:`RunPlan`: one
:class:`~dann_jax.core.settings.TrainSettings` per method, the network, where the
networks start from (loaded once, when first asked for), the paper's figures, and
what the run folder keeps. Nothing is written and no data is read: a bad config
fails here, before a run folder exists. The data keys are read by
:func:`dann_jax.runs.data.load_data`, from the plan.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import ml_collections

from dann_jax.backbones import weights
from dann_jax.core import registry
from dann_jax.core import variables as variables_lib
from dann_jax.core.settings import HYPERPARAMETERS, METHODS, TrainSettings

# A run's methods: the step's two and train_on_target, the source-only network trained
# on the labelled target (the upper reference), which trains as source_only.
RUN_METHODS = (*METHODS, "train_on_target")
TRAINS_AS = {"train_on_target": "source_only"}
# What the members of one program (seeds, sweep points) may differ in: the seed and
# the traced hyper-parameters.
MEMBER_KEYS = ("seed", *HYPERPARAMETERS)


def methods_of(config: ml_collections.ConfigDict) -> list[str]:
    """The comma-separated ``config.method``, checked, in order.

    Raises:
      ValueError: no method, or one that is not in :data:`RUN_METHODS`.
    """
    methods = [method.strip() for method in config.method.split(",") if method.strip()]
    unknown = [method for method in methods if method not in RUN_METHODS]
    if unknown or not methods:
        raise ValueError(
            f"config.method={config.method!r}: name one or more of {RUN_METHODS}, "
            "comma-separated, e.g. --config.method=source_only,dann."
        )
    return methods


def settings_of(config: ml_collections.ConfigDict, method: str) -> TrainSettings:
    """``method``'s settings: the config's keys named as the fields of
    :class:`~dann_jax.core.settings.TrainSettings`.

    Raises:
      ValueError: a value is invalid; the message names the key.
    """
    values = {
        field.name: config[field.name]
        for field in dataclasses.fields(TrainSettings)
        if field.name != "method" and field.name in config
    }
    multipliers = values.get("learning_rate_multipliers")
    if hasattr(multipliers, "to_dict"):
        values["learning_rate_multipliers"] = multipliers.to_dict()
    try:
        return TrainSettings(method=TRAINS_AS.get(method, method), **values)
    except ValueError as error:
        raise ValueError(f"config: {error}") from None


@dataclasses.dataclass(frozen=True, eq=False)
class RunPlan:
    """What a run does, read from its config once.

    Attributes:
      config: the config, as given (the run folder's ``config.json``; the data keys).
      methods: method -> its settings, in the config's order.
      model: the network: a packaged or registered name, or an import path.
      pretrained: a backbone's ImageNet weights (a Hub repository, a ``.safetensors`` or
        ``.pth`` file, or "torchvision": :func:`dann_jax.backbones.load_pretrained`), or "".
      init_variables: an ``.npz`` of starting variables, or "".
      paper_target_accuracy: method -> the paper's target accuracy, or None.
      keep_checkpoints: the latest checkpoints kept per method (None: all).
      tensorboard: whether to write TensorBoard event files too.
      plots: whether to draw the figures (training curves, features, decision boundaries).
    """

    config: ml_collections.ConfigDict
    methods: dict[str, TrainSettings]
    model: str
    pretrained: str
    init_variables: str
    paper_target_accuracy: dict[str, float] | None
    keep_checkpoints: int | None
    tensorboard: bool
    plots: bool

    @property
    def name(self) -> str:
        """The experiment's name (run folders default to ``runs/<name>-<time>``)."""
        return self.config.name

    @property
    def seed(self) -> int:
        """The run's seed: its data split, initialisation and batch order."""
        return self.config.seed

    @property
    def main_method(self) -> str:
        """The method whose network a run is for: dann when it trains it, else its first."""
        return "dann" if "dann" in self.methods else next(iter(self.methods))

    @functools.cached_property
    def starting_variables(self) -> Any:
        """What every method's network starts from: the backbone's ImageNet weights, the
        ``init_variables`` file's arrays, or None (fresh); read once, when first asked."""
        if self.pretrained:
            from dann_jax import backbones  # reads weights only when asked to

            variables = backbones.load_pretrained(self.model, self.pretrained)
            return backbones.under_bottleneck(variables)
        if self.init_variables:
            return variables_lib.load(self.init_variables)
        return None

    def for_member(self, overrides: dict[str, float]) -> RunPlan:
        """This plan with a member's seed and hyper-parameters (:data:`MEMBER_KEYS`).

        Raises:
          ValueError: ``overrides`` sets another key, or an invalid value.
        """
        unknown = sorted(set(overrides) - set(MEMBER_KEYS))
        if unknown:
            raise ValueError(
                f"a member sets {unknown}; the members of one program may differ only in "
                f"{MEMBER_KEYS}."
            )
        config = ml_collections.ConfigDict(self.config.to_dict())
        for key, value in overrides.items():
            config[key] = int(value) if key == "seed" else float(value)
        return make_plan(config)


def _check_run_keys(config: ml_collections.ConfigDict) -> None:
    """The keys a run reads beside the training settings: types and ranges, so that a
    bad value fails before a run folder exists rather than inside orbax or the data."""
    shape = config.get("input_shape")
    if config.get("dataset") in ("tfds", "image_folder") and not (
        isinstance(shape, (tuple, list))
        and len(shape) == 3
        and all(isinstance(side, int) and not isinstance(side, bool) for side in shape)
        and min(shape) >= 1
        and shape[-1] in (1, 3)
    ):
        raise ValueError(
            f"config: input_shape must be (height, width, channels), positive integers with "
            f"1 or 3 channels, e.g. --config.input_shape='(28, 28, 3)'; got {shape!r}."
        )
    for key, minimum in (("keep_checkpoints", 0), ("mean_sample", 1)):
        value = config.get(key, minimum)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"config: {key} must be an integer >= {minimum}, got {value!r}.")
    for key in ("tensorboard", "plots"):
        if not isinstance(config.get(key, False), bool):
            raise ValueError(f"config: {key} must be True or False, got {config.get(key)!r}.")
    normalization = config.get("input_normalization", "dataset")
    if normalization not in ("dataset", "imagenet"):
        raise ValueError(
            f"config: input_normalization must be 'dataset' or 'imagenet', got {normalization!r}."
        )


def make_plan(config: ml_collections.ConfigDict) -> RunPlan:
    """The plan of ``config``, every value checked: the network is built once (for two
    classes; the data gives the real count) so that a model that is no network fails
    here.

    Raises:
      ValueError: a method, the model, the init_variables or pretrained file, or a
        training or run value is invalid; the message names the key.
    """
    registry.build_model(config.model, 2)
    _check_run_keys(config)
    init_variables = config.get("init_variables") or ""
    if init_variables and not Path(init_variables).is_file():
        raise ValueError(f"config: init_variables file {init_variables} not found.")
    pretrained = config.get("pretrained") or ""
    if pretrained and config.model not in registry.BACKBONE_NAMES:
        raise ValueError(
            f"config: pretrained weights are for model={registry.BACKBONE_NAMES}, not "
            f"{config.model!r}."
        )
    if pretrained:
        kind = weights.describe_source(pretrained)
        if kind in ("safetensors", "pth") and not Path(pretrained).is_file():
            raise ValueError(f"config: pretrained file {pretrained} not found.")
    paper = config.get("paper_target_accuracy")
    return RunPlan(
        config=config,
        methods={method: settings_of(config, method) for method in methods_of(config)},
        model=config.model,
        pretrained=pretrained,
        init_variables=init_variables,
        paper_target_accuracy=paper.to_dict() if paper else None,
        keep_checkpoints=config.get("keep_checkpoints", 3) or None,
        tensorboard=config.get("tensorboard", False),
        plots=config.get("plots", True),
    )


def saved_plan(config: ml_collections.ConfigDict, *, model: str | None = None) -> RunPlan:
    """The plan of a run folder's saved ``config``. A run folder is data, not code: a
    model it names by import path (``package.module:function``) is imported only when
    ``model`` (the user's ``--model``) names the same path; packaged and registered
    networks are built as ever.

    Raises:
      ValueError: the saved model is an import path that ``model`` does not name, or
        ``model`` names another network than the run's.
    """
    saved = config.model
    if model is not None and model != saved:
        raise ValueError(f"the run was trained with model={saved!r}, not {model!r}.")
    is_code = isinstance(saved, str) and ":" in saved and saved not in registry.registered_names()
    if is_code and model is None:
        raise ValueError(
            f"the run's config.json names code to import (model={saved!r}); a run folder "
            f"is not trusted as code. Pass --model={saved} (load_trained(..., "
            "model=...)) to import it, if you trust the folder."
        )
    return make_plan(config)
