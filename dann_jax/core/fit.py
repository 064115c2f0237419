"""The entry points: settings -> state -> loop -> :class:`TrainedDANN`.

- :func:`fit`: in-memory arrays, settings as keyword arguments;
- :func:`fit_sources`: two random-access domains (e.g. ``tfds.data_source``
  splits) and a :class:`~dann_jax.core.settings.TrainSettings`, resumable;
- many runs in one compiled program: :mod:`dann_jax.core.members`.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from dann_jax.core import launchers, registry
from dann_jax.core import variables as variables_lib
from dann_jax.core.inputs import DeviceData, StreamInput, TrainingInput, choose_input_mode
from dann_jax.core.loop import UNLOGGED, Record, train_loop
from dann_jax.core.registry import Model
from dann_jax.core.settings import TrainSettings, network_defaults
from dann_jax.core.state import TrainState, initial_state
from dann_jax.core.trained import TrainedDANN
from dann_jax.data import arrays
from dann_jax.data.domains import TrainingData
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import ArraySource

logger = logging.getLogger(__name__)
InitVariables = Mapping[str, Any] | str | Path | None
# Fewer examples per domain than this make BatchNorm's batch statistics noise.
BATCH_NORM_MIN_EXAMPLES = 8


def warn_if_batch_norm_starves(state: TrainState, settings: TrainSettings) -> None:
    """Warns when a network with BatchNorm normalises over too few examples per domain.

    Its statistics cover the global batch (on every launcher), so the count is
    ``batch_size // 2`` per domain; below :data:`BATCH_NORM_MIN_EXAMPLES` they are
    noise (the moons config's batch of 2 trained a BatchNorm network to below chance).
    """
    per_domain = settings.batch_size // 2
    if "batch_stats" in state.model_state and per_domain < BATCH_NORM_MIN_EXAMPLES:
        warnings.warn(
            f"the network has BatchNorm and each step normalises over {per_domain} source "
            f"and {per_domain} target examples, too few for its statistics: use a batch_size "
            f"of at least {2 * BATCH_NORM_MIN_EXAMPLES} (--config.batch_size=32), or a network "
            "whose BatchNorm keeps its running averages (e.g. "
            "backbones.backbone(..., frozen_batch_norm=True)) or has none.",
            stacklevel=3,
        )


def settings_of(caller: str, model: Model, keywords: Mapping[str, Any]) -> TrainSettings:
    """The settings that ``caller``'s keyword arguments give ``model``: the network's
    defaults (:data:`~dann_jax.core.settings.NETWORK_DEFAULTS`), then the keywords.

    Raises:
      TypeError: a keyword is no setting (the nearest one named), or ``steps`` is
        missing for a network without a default length.
      ValueError: a value is invalid.
    """
    names = [field.name for field in dataclasses.fields(TrainSettings)]
    for name in keywords:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the settings: {', '.join(names)}."
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}; {hint}")
    values = network_defaults(model) | dict(keywords)
    if "steps" not in values:
        raise TypeError(f"{caller}() needs steps=N, the run's length in steps.")
    return TrainSettings(**values)


def array_data(
    source_images: np.ndarray,
    source_labels: np.ndarray,
    target_images: np.ndarray,
    *,
    model: Model,
    num_classes: int | None = None,
    input_mean: np.ndarray | None = None,
) -> TrainingData:
    """User arrays as :class:`~dann_jax.data.domains.TrainingData`, checked.

    Args:
      source_images, source_labels, target_images: as in :func:`fit`.
      model: the network (see :func:`fit`); a paper network's name fixes the inputs' rank.
      num_classes: defaults to max(source_labels) + 1.
      input_mean: the per-channel mean (C,) to subtract; by default the mean over
        both domains' inputs (uint8 scaled to [0, 1]).

    Raises:
      ValueError: the arrays do not fit the model or each other; the message says
        how to fix them.
    """
    source_images, source_labels, target_images = map(
        np.asarray, (source_images, source_labels, target_images)
    )
    registry.check_inputs("source_images", source_images, model)
    registry.check_inputs("target_images", target_images, model)
    arrays.check_same_feature_shape(source_images, target_images)
    num_classes = arrays.check_labels(source_labels, len(source_images), num_classes)
    if input_mean is None:
        input_mean = arrays.channel_mean(source_images, target_images)
    return TrainingData(
        ArraySource(source_images, source_labels),
        ArraySource(target_images),
        Preprocess(source_images.shape[1:], np.asarray(input_mean, np.float32)),
        num_classes,
    )


def fit(
    source_images: np.ndarray,
    source_labels: np.ndarray,
    target_images: np.ndarray,
    *,
    model: Model = "mnist",
    num_classes: int | None = None,
    init_variables: InitVariables = None,
    on_log: Callable[[Record], None] | None = None,
    progress: bool = True,
    **settings: Any,
) -> TrainedDANN:
    """Trains a DANN (or its source-only baseline) on in-memory arrays.

    Args:
      source_images: labelled source inputs: images (N_s, H, W, C) with C 1 or 3
        for the image networks, vectors (N_s, D) for model="shallow"; uint8 in
        [0, 255] or float.
      source_labels: (N_s,) integer class ids in [0, num_classes).
      target_images: unlabelled target inputs, (N_t, ...) like the source. The
        arrays are used as they are (uint8 stays uint8). On a CPU backend the
        device input mode shares their memory when it starts on a 64-byte
        boundary (:func:`dann_jax.data.arrays.aligned_empty`) and otherwise holds
        a copy: numpy's own large arrays start 16 bytes into a page.
      model: "mnist", "svhn", "gtsrb" (the paper's networks), "shallow" (15
        sigmoid units), "resnet50", "alexnet" or "vit_b16" (ImageNet backbones under the
        Office head; start them from pretrained weights with ``init_variables``,
        see :mod:`dann_jax.backbones`), or the user's own network: a
        :class:`~dann_jax.core.networks.DANN` (e.g.
        ``dann_jax.dann_network(MyNet(), num_classes)``), a name given with
        :func:`~dann_jax.core.registry.register_network`, or an import path
        ``"package.module:function"`` of a function ``num_classes -> DANN``.
      num_classes: defaults to max(source_labels) + 1.
      init_variables: variables to start from, e.g. a pretrained feature
        extractor's ``{"params": {"feature_extractor": ...}}``, or the path of an
        ``.npz`` written by :func:`dann_jax.core.variables.save`; what they do not
        cover is initialised afresh.
      on_log: called with each history record as it is made.
      progress: show progress bars.
      **settings: the fields of :class:`~dann_jax.core.settings.TrainSettings`:
        ``steps``, ``batch_size``, ``seed``, ``method``, ``learning_rate``,
        ``optimizer``, ``learning_rate_multipliers``, ``compute_dtype``, ... Those
        not given are the network's (``model="shallow"``: the authors' toy
        settings, :data:`dann_jax.core.settings.NETWORK_DEFAULTS`), else the paper's;
        ``steps`` is required for every other network.

    Returns:
      A :class:`~dann_jax.core.trained.TrainedDANN` with ``.predict(images)``,
      ``.params`` and ``.history``.

    Raises:
      ValueError: inputs or settings are invalid; the message says how to fix them.
    """
    registry.check_model(model)
    settings = settings_of("fit", model, settings)
    data = array_data(
        source_images, source_labels, target_images, model=model, num_classes=num_classes
    )
    return fit_sources(
        data,
        settings,
        model=model,
        init_variables=init_variables,
        on_log=on_log,
        progress=progress,
    )


def training_input(data: TrainingData, settings: TrainSettings, *, progress: bool) -> TrainingInput:
    """The input mode ``settings.input_mode`` names ("auto": device when the data fits)."""
    mode = settings.input_mode
    if mode == "auto":
        mode, reason = choose_input_mode(data.device_bytes())
        if jax.process_index() == 0:
            logger.info("Input mode: %s (%s)", mode, reason)
    if mode == "device":
        return DeviceData.read(data, settings.batch_size, settings.seed, progress=progress)
    return StreamInput(data, settings.batch_size, settings.seed)


def fit_sources(
    data: TrainingData,
    settings: TrainSettings,
    *,
    model: Model = "mnist",
    init_variables: InitVariables = None,
    on_log: Callable[[Record], None] | None = None,
    on_checkpoint: Callable[[TrainState, Record], None] | None = None,
    restore: Callable[[TrainState], tuple[TrainState, Record]] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> TrainedDANN:
    """Trains a DANN on two random-access domains, e.g. ``tfds.data_source`` splits.

    Records are ``{"image", "label"}`` (the target's labels are never read);
    ``data.preprocess`` makes raw images network inputs (scaled to [0, 1],
    resized, grey made RGB, mean subtracted): the images stay compact on the
    host, in transfers and on the device (uint8 stays uint8), and the train step
    finishes them (:func:`dann_jax.data.preprocess.network_inputs`).

    Args:
      data: the training domains, their preprocessing and class count.
      settings: the run's settings.
      model: the network (see :func:`fit`).
      init_variables: variables to start from (see :func:`fit`).
      on_log: called with each history record as it is made.
      on_checkpoint: saves a state and the loop state beside it (see
        :func:`dann_jax.core.loop.train_loop`), e.g. with :func:`dann_jax.core.checkpoints.save`.
      restore: resumes a run: given the fresh state, returns a saved state and
        its loop state (e.g. :func:`dann_jax.core.checkpoints.restore`); training, the
        input positions and the log records continue from its step exactly as if
        never stopped.
      should_stop: asked between dispatches; True saves the state with
        ``on_checkpoint`` and raises :class:`dann_jax.core.loop.Stopped`
        (see :func:`dann_jax.core.loop.train_loop`).
      progress: show progress bars.

    Returns:
      A :class:`~dann_jax.core.trained.TrainedDANN` (its history covers the steps run
      in this call).
    """
    launchers.check_batch_size(settings.parallel, settings.batch_size)
    state = initial_state(
        model, data.preprocess, data.num_classes, settings, variables_lib.read(init_variables)
    )
    warn_if_batch_norm_starves(state, settings)
    unlogged = None
    if restore is not None:
        state, loop_state = restore(state)
        unlogged = loop_state.get(UNLOGGED)
    state, history = train_loop(
        state,
        training_input(data, settings, progress=progress),
        settings=settings,
        on_log=on_log,
        on_checkpoint=on_checkpoint,
        unlogged_metrics=unlogged,
        should_stop=should_stop,
        progress=progress,
    )
    return TrainedDANN(state, history, data.preprocess, model, data.class_names)
