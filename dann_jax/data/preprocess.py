"""Raw images to the network's inputs: scaled, resized, channels, centred."""

from __future__ import annotations

import dataclasses

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

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """Conformed images minus the mean (divided by the std when there is one)."""
        centred = images - self.mean
        return centred if self.std is None else centred / self.std

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 or float images (N, h, w[, c]) -> float32 network inputs ``(N, *shape)``."""
        return self.normalize(self.conform(images))
