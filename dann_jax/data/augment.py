"""Views of stored images for the network: random crops and flips in training, centre
crops in evaluation (the ImageNet recipe that Office experiments follow).

Images are stored at one size (e.g. 256 x 256) and the network sees ``crop_size``
squares. Training views are drawn inside the compiled step, on the device,
whatever the input mode; each example's view is keyed by the run's key, the step
and the example's row in the global batch, so every launcher, both input modes
and a resumed run draw the same views.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

AUGMENTATIONS = ("none", "crop_flip", "resized_crop_flip")
# torchvision's RandomResizedCrop defaults: the crop's share of the image's area
# and its aspect ratio (log-uniform).
AREA_SCALE = (0.08, 1.0)
ASPECT_RATIO = (3 / 4, 4 / 3)


def _crop_flip(image: jax.Array, key: jax.Array, size: int) -> jax.Array:
    """A uniformly placed ``size`` square of ``image`` (H, W, C), flipped left-right half
    the time."""
    height, width, channels = image.shape
    key_top, key_left, key_flip = jax.random.split(key, 3)
    top = jax.random.randint(key_top, (), 0, height - size + 1)
    left = jax.random.randint(key_left, (), 0, width - size + 1)
    crop = jax.lax.dynamic_slice(image, (top, left, 0), (size, size, channels))
    return jnp.where(jax.random.bernoulli(key_flip), crop[:, ::-1], crop)


def _resized_crop_flip(image: jax.Array, key: jax.Array, size: int) -> jax.Array:
    """A box of random area (8-100 %) and aspect ratio (3/4-4/3) of ``image`` (H, W, C),
    clipped to it, resized bilinearly to ``size`` x ``size``, flipped half the time
    (torchvision's RandomResizedCrop with one draw instead of its retries)."""
    height, width, channels = image.shape
    keys = jax.random.split(key, 5)
    area = jax.random.uniform(keys[0], (), minval=AREA_SCALE[0], maxval=AREA_SCALE[1])
    log_ratio = jax.random.uniform(
        keys[1], (), minval=math.log(ASPECT_RATIO[0]), maxval=math.log(ASPECT_RATIO[1])
    )
    box_width = jnp.clip(jnp.sqrt(area * height * width * jnp.exp(log_ratio)), 1.0, width)
    box_height = jnp.clip(jnp.sqrt(area * height * width / jnp.exp(log_ratio)), 1.0, height)
    top = jax.random.uniform(keys[2], ()) * (height - box_height)
    left = jax.random.uniform(keys[3], ()) * (width - box_width)
    scale = jnp.stack([size / box_height, size / box_width])
    view = jax.image.scale_and_translate(
        image,
        (size, size, channels),
        (0, 1),
        scale,
        -jnp.stack([top, left]) * scale,
        method="linear",
        antialias=False,
    )
    return jnp.where(jax.random.bernoulli(keys[4]), view[:, ::-1], view)


def centre_crop(images: jax.Array | np.ndarray, size: int) -> jax.Array | np.ndarray:
    """The centre ``size`` square of images (N, H, W, C) (torchvision's CenterCrop
    placement), NumPy or JAX alike."""
    height, width = images.shape[1:3]
    top, left = round((height - size) / 2), round((width - size) / 2)
    return images[:, top : top + size, left : left + size]


def training_views(
    images: jax.Array, key: jax.Array, rows: jax.Array, *, augmentation: str, size: int
) -> jax.Array:
    """Each image's training view: (N, H, W, C) -> (N, size, size, C), same dtype.

    Args:
      images: the stored images of this device's rows.
      key: the step's augmentation key.
      rows: (N,) int32, the images' rows in the global batch: an example's view
        depends on its row, not on the device that holds it.
      augmentation: one of :data:`AUGMENTATIONS` ("none": the centre crop).
      size: the view's side.
    """
    if augmentation == "none":
        return centre_crop(images, size)
    view = _crop_flip if augmentation == "crop_flip" else _resized_crop_flip
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, rows)
    return jax.vmap(lambda image, image_key: view(image, image_key, size))(images, keys).astype(
        images.dtype
    )


def check_crop(stored_shape: tuple[int, ...], size: int) -> None:
    """Raises ValueError unless images of ``stored_shape`` (H, W, C) hold a ``size`` square."""
    if size and (len(stored_shape) != 3 or min(stored_shape[:2]) < size):
        raise ValueError(
            f"crop_size {size} does not fit inputs of shape {tuple(stored_shape)}: store "
            f"images of at least {size} x {size} (the config's input_shape), or lower crop_size."
        )
