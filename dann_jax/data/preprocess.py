"""Raw images to the network's inputs: scaled, resized, channels, centred.

On the host, :class:`Preprocess` does all of it. Training keeps the images compact
instead (:meth:`Preprocess.stored`: uint8 stays uint8) and :func:`network_inputs`
does the rest inside the compiled step, from the arrays of
:meth:`Preprocess.normalization`; the two give the same inputs to float rounding.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dann_jax.data import arrays


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """Raw images to the network's inputs: float32 in [0, 1], resized, channels, minus mean
    (and divided by a standard deviation, for networks pretrained so).

    Attributes:
      shape: one input's shape, e.g. (28, 28, 3); a vector shape (D,) only
        scales and centres.
      mean: per-channel mean (C,) float32, computed on the training splits (or
        ImageNet's, for a pretrained backbone).
      std: per-channel standard deviation (C,) float32 to divide by, or None.
    """

    shape: tuple[int, ...]
    mean: np.ndarray
    std: np.ndarray | None = None

    def conform(self, images: np.ndarray) -> np.ndarray:
        """uint8 or float (N, h, w[, c]) -> float32 ``(N, *shape)`` in [0, 1], before centring.

        uint8 is scaled by 1/255; other sizes are resized bilinearly; grey
        becomes RGB by repeating its channel.
        """
        images = arrays.to_float(np.asarray(images))
        if len(self.shape) == 1:
            return images
        if images.ndim == 3:
            images = images[..., None]
        height, width, channels = self.shape
        if images.shape[1:3] != (height, width):
            import skimage.transform  # only resizing needs it: `import dann_jax` stays light

            images = skimage.transform.resize(
                images, (len(images), height, width, images.shape[-1]), order=1, mode="edge"
            ).astype(np.float32)
        if images.shape[-1] == 1 and channels == 3:
            images = np.repeat(images, 3, axis=-1)
        if images.shape[-1] == 3 and channels == 1:
            raise ValueError(
                f"the images are RGB but the network takes grey images {tuple(self.shape)}: "
                "make them grey first, e.g. images.mean(axis=-1, keepdims=True)."
            )
        if images.shape[1:] != tuple(self.shape):
            raise ValueError(
                f"images of shape {images.shape[1:]} cannot be made {tuple(self.shape)}; "
                "give images with 1 or 3 channels."
            )
        return images

    def _downsized(self, images: np.ndarray) -> bool:
        """Whether conforming ``images`` shrinks them (an anti-aliased resize, on the host)."""
        if len(self.shape) == 1:
            return False
        return images.shape[1] > self.shape[0] or images.shape[2] > self.shape[1]

    def stored(self, images: np.ndarray) -> np.ndarray:
        """Raw images (N, h, w[, c]) in the compact form training keeps and sends:
        uint8 stays uint8 (a quarter of float32) and grey keeps one channel, with a
        channel axis; :func:`network_inputs` finishes them on the device. Images
        that conforming shrinks are conformed here (float32 in [0, 1]); other
        numbers become float32.
        """
        images = np.asarray(images)
        if self._downsized(images):
            return self.conform(images)
        if len(self.shape) > 1 and images.ndim == 3:
            images = images[..., None]
        if len(self.shape) > 1 and images.shape[-1] not in (1, self.shape[-1]):
            raise ValueError(
                f"images with {images.shape[-1]} channels cannot be made {tuple(self.shape)}; "
                f"give images with 1 or {self.shape[-1]} channels."
            )
        return images if images.dtype == np.uint8 else images.astype(np.float32, copy=False)

    def normalization(self) -> dict[str, np.ndarray]:
        """``mean`` and ``std``, float32 arrays of the inputs' shape (the per-channel
        values repeated over pixels): what :func:`network_inputs` subtracts and
        divides by, and whose shape it brings the stored images to."""
        std = np.ones_like(self.mean) if self.std is None else self.std
        return {
            "mean": np.broadcast_to(np.asarray(self.mean, np.float32), self.shape).copy(),
            "std": np.broadcast_to(np.asarray(std, np.float32), self.shape).copy(),
        }

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """Conformed images minus the mean (divided by the std when there is one)."""
        centred = images - self.mean
        return centred if self.std is None else centred / self.std

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 or float images (N, h, w[, c]) -> float32 network inputs ``(N, *shape)``."""
        return self.normalize(self.conform(images))


IDENTITY = {"mean": np.zeros((), np.float32), "std": np.ones((), np.float32)}


def network_inputs(images: jax.Array, normalization: dict[str, jax.Array]) -> jax.Array:
    """Stored images (:meth:`Preprocess.stored`) -> float32 network inputs, traceable.

    uint8 is scaled by 1/255; images smaller than ``normalization["mean"]``'s
    (h, w, c) are resized up bilinearly (as the host's resize does, to float
    rounding); grey becomes RGB; then the mean is subtracted and the std divided
    by. With :data:`IDENTITY` (scalars) float inputs pass unchanged.

    Args:
      images: (N, h, w, c) uint8 or float32, or (N, D) for vector inputs.
      normalization: ``mean`` and ``std`` float32 of the inputs' shape, or scalars.
    """
    mean, std = normalization["mean"], normalization["std"]
    inputs = images.astype(jnp.float32)
    if images.dtype == jnp.uint8:
        inputs = inputs / 255.0
    if mean.ndim == 3 and inputs.ndim == 4:
        height, width, channels = mean.shape
        if inputs.shape[1:3] != (height, width):
            size = (inputs.shape[0], height, width, inputs.shape[-1])
            inputs = jax.image.resize(inputs, size, "linear")
        if inputs.shape[-1] == 1 and channels == 3:
            inputs = jnp.repeat(inputs, 3, axis=-1)
    if mean.ndim:  # the batch axis, explicitly (rank promotion may be an error)
        mean, std = mean[None], std[None]
    return (inputs - mean) / std
