"""A trained DANN: class ids, logits and features of raw inputs, compiled once."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from dann_jax.backbones import convolution
from dann_jax.core import registry, step
from dann_jax.core.state import TrainState
from dann_jax.data import augment
from dann_jax.data.preprocess import Preprocess


@functools.cache
def _compiled(function: Callable, platform: str, cpu_products: str) -> Callable:
    """``function`` jitted for ``platform``'s devices, products on a CPU in
    ``cpu_products``' library; compiled once per network and input shape, whatever the
    settings or seed."""
    options = convolution.compiler_options(platform, cpu_products)
    return jax.jit(function, static_argnums=0, compiler_options=options)


@dataclasses.dataclass
class TrainedDANN:
    """The result of :func:`dann_jax.fit`: a trained network that predicts class ids.

    Attributes:
      state: the final :class:`~dann_jax.core.state.TrainState`.
      history: the log records of training (dicts of step and metrics).
      preprocess: raw inputs -> network inputs, as in training.
      model: the network as :func:`dann_jax.fit` was given it (a name or a DANN).
      class_names: what each class id means (class id i is ``class_names[i]``): the
        training data's (image folders' class folders, a TFDS dataset's label names),
        else the ids as text.
    """

    state: TrainState
    history: list[dict[str, Any]]
    preprocess: Preprocess
    model: Any
    class_names: tuple[str, ...] = ()

    @property
    def params(self) -> Any:
        """The trained parameters (a pytree of float32 arrays)."""
        return self.state.params

    @property
    def input_mean(self) -> np.ndarray:
        """Per-channel mean (C,) float32 subtracted from every input."""
        return self.preprocess.mean

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one stored input, e.g. (28, 28, 3) (the network sees its centre
        ``crop_size`` square when the settings have one)."""
        return tuple(self.preprocess.shape)

    def _apply(self, function: Callable, inputs: np.ndarray, batch_size: int) -> Any:
        """``function(network, variables, chunk)`` over raw ``inputs`` in chunks of one
        shape (the last padded, so it compiles once), results concatenated. Fewer
        inputs than ``batch_size`` go in one chunk of the next power of two: a handful
        of inputs is not padded to a thousand, and the sizes compiled stay few."""
        inputs = np.asarray(inputs)
        registry.check_inputs("inputs", inputs, self.model)
        inputs = self.preprocess.conform(inputs)
        if inputs.shape[1:] != self.input_shape:
            raise ValueError(
                f"inputs examples have shape {inputs.shape[1:]} but the network was trained "
                f"on {self.input_shape}; preprocess them the same way."
            )
        inputs = self.preprocess.normalize(inputs)
        if self.state.settings.crop_size:
            inputs = augment.centre_crop(inputs, self.state.settings.crop_size)
        batch_size = min(batch_size, 1 << max(len(inputs) - 1, 0).bit_length())
        products = convolution.cpu_products(self.state.network)
        function = _compiled(function, jax.default_backend(), products)
        outputs = []
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start : start + batch_size]
            padded = np.pad(chunk, [(0, batch_size - len(chunk))] + [(0, 0)] * (chunk.ndim - 1))
            count = len(chunk)
            result = jax.device_get(function(self.state.network, self.state.variables, padded))
            outputs.append(jax.tree.map(lambda value: value[:count], result))  # noqa: B023
        return jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)

    def logits(self, inputs: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Class logits (N, classes) and domain logits (N,), float32, for raw inputs.

        ``inputs`` are like the training inputs: uint8 in [0, 255] or float
        (N, ...), made ``input_shape`` by the training preprocessing (resize,
        grey to RGB).
        """
        return self._apply(step.logits, inputs, batch_size)

    def features(self, inputs: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """The feature extractor's output (N, F) float32 for raw inputs (as :meth:`logits`)."""
        return self._apply(step.features, inputs, batch_size)

    def features_and_logits(
        self, inputs: np.ndarray, batch_size: int = 1024
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`features` and :meth:`logits` in one pass over raw inputs: features
        (N, F), class logits (N, classes) and domain logits (N,), float32."""
        return self._apply(step.features_and_logits, inputs, batch_size)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Class ids (N,) int64 for raw inputs (N, ...), uint8 or float (as :meth:`logits`)."""
        return self.logits(inputs)[0].argmax(-1)
