"""Syn Digits, the TFDS dataset ``syn_digits``: rendered house-number-like digits, offline.

A stand-in for the Syn Numbers of Ganin et al., JMLR 2016 (section 5.2.3), built without any
download: each 32 x 32 example renders 1 to 3 digits in one of the TrueType fonts that matplotlib
ships, with random foreground and background colours (of a minimum contrast), size, position,
small rotation and Gaussian blur. Like SVHN's cropped digits, the labelled digit sits in the
centre, its neighbours partly visible at the sides. Configs: ``full`` (default) has the sizes of
Ganin's Syn Numbers, 479,400 train and 9,553 test; ``small`` has 20,000 and 2,000. Example ``i``
of a split is drawn from ``numpy.random.default_rng([split seed, i])``, so it is the same on
every machine (with the same matplotlib fonts and Pillow).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
from collections.abc import Iterator
from typing import Any, ClassVar

import matplotlib
import numpy as np
import tensorflow_datasets as tfds
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dann_jax.data.builders import common

SIDE = 32
SPLIT_SEEDS = {"train": 0, "test": 1}
FONT_NAMES = (
    *(f"DejaVuSans{style}.ttf" for style in ("", "-Bold", "-Oblique", "-BoldOblique")),
    *(f"DejaVuSansMono{style}.ttf" for style in ("", "-Bold", "-Oblique", "-BoldOblique")),
    *(f"DejaVuSerif{style}.ttf" for style in ("", "-Bold", "-Italic", "-BoldItalic")),
    *(f"STIXGeneral{style}.ttf" for style in ("", "Bol", "Italic", "BolIta")),
    *(f"{name}.ttf" for name in ("cmr10", "cmb10", "cmss10", "cmti10", "cmtt10")),
)
# Digits are drawn at a fixed em size on a canvas, then mapped onto the (supersampled) output.
_EM = 64
_CANVAS = (200, 200)  # Covers the output at the smallest em size, rotated and shifted.
_SUPERSAMPLE = 2
# Ranges of the random draws; lengths in output pixels.
EM_RANGE = (16.0, 36.0)  # Digit heights of about 37% to 82% of the image.
MAX_SHIFT = 2.0
MAX_ROTATION_DEGREES = 12.0
GAP_RANGE = (0.0, 0.25)  # Extra space between digits, in em.
BLUR_SIGMA_RANGE = (0.0, 1.0)
MIN_CONTRAST = 64  # Minimum luma difference of foreground and background, out of 255.
_LUMA = np.array([0.299, 0.587, 0.114])


@functools.cache
def font(name: str) -> ImageFont.FreeTypeFont:
    """One of ``FONT_NAMES`` from matplotlib's font directory, at the canvas em size."""
    return ImageFont.truetype(pathlib.Path(matplotlib.get_data_path(), "fonts", "ttf", name), _EM)


def _digit_mask(text: str, center: int, face: ImageFont.FreeTypeFont, gap: float) -> Image.Image:
    """Grey ("L") canvas with ``text`` drawn white, ``text[center]`` centred on the canvas."""
    canvas = Image.new("L", _CANVAS)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = face.getbbox(text[center], anchor="ls")
    origin = _CANVAS[0] / 2 - (left + right) / 2
    baseline = _CANVAS[1] / 2 - (top + bottom) / 2
    origins = np.cumsum([0.0] + [face.getlength(digit) + gap * _EM for digit in text[:-1]])
    for digit, x in zip(text, origins - origins[center] + origin, strict=True):
        draw.text((x, baseline), digit, fill=255, font=face, anchor="ls")
    return canvas


def _colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background RGB colours (3,) float64, at least ``MIN_CONTRAST`` apart."""
    while True:
        foreground, background = rng.integers(0, 256, size=(2, 3)).astype(np.float64)
        if abs(_LUMA @ (foreground - background)) >= MIN_CONTRAST:
            return foreground, background


def render_example(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Renders one example.

    Args:
      rng: draws everything about the example.

    Returns:
      the image (32, 32, 3) uint8 and its label, the centre digit, in 0..9.
    """
    face = font(FONT_NAMES[rng.integers(len(FONT_NAMES))])
    text = "".join(str(digit) for digit in rng.integers(10, size=rng.integers(1, 4)))
    center = int(rng.integers(len(text)))
    mask = _digit_mask(text, center, face, rng.uniform(*GAP_RANGE))
    # Affine map from supersampled output pixels to canvas pixels: scale, rotate, shift.
    out_side = SIDE * _SUPERSAMPLE
    scale = _EM / (rng.uniform(*EM_RANGE) * _SUPERSAMPLE)
    angle = math.radians(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES))
    shift_x, shift_y = out_side / 2 + rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * _SUPERSAMPLE
    a, b = scale * math.cos(angle), -scale * math.sin(angle)
    d, e = -b, a
    affine = (
        a,
        b,
        _CANVAS[0] / 2 - a * shift_x - b * shift_y,
        d,
        e,
        _CANVAS[1] / 2 - d * shift_x - e * shift_y,
    )
    mask = mask.transform(
        (out_side, out_side), Image.Transform.AFFINE, affine, Image.Resampling.BILINEAR
    )
    mask = mask.reduce(_SUPERSAMPLE).filter(
        ImageFilter.GaussianBlur(rng.uniform(*BLUR_SIGMA_RANGE))
    )
    foreground, background = _colors(rng)
    alpha = np.asarray(mask, np.float64)[..., None] / 255.0
    image = background + alpha * (foreground - background)
    return np.rint(image).astype(np.uint8), int(text[center])


@dataclasses.dataclass(eq=False)
class SynDigitsConfig(tfds.core.BuilderConfig):
    """Split sizes of a Syn Digits variant."""

    num_train: int = 479_400
    num_test: int = 9_553


class SynDigits(tfds.core.GeneratorBasedBuilder):
    """Rendered 32 x 32 digits, centre digit labelled (a Syn Numbers stand-in)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS: ClassVar[list[SynDigitsConfig]] = [
        SynDigitsConfig(name="full", description="The sizes of Syn Numbers: 479,400 / 9,553."),
        SynDigitsConfig(
            name="small", description="20,000 train / 2,000 test.", num_train=20_000, num_test=2_000
        ),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return common.image_dataset_info(
            self, __doc__, SIDE, 10, "https://jmlr.org/papers/v17/15-239.html"
        )

    def _split_generators(
        self, dl_manager: tfds.download.DownloadManager
    ) -> dict[str, Iterator[tuple[int, dict[str, Any]]]]:
        del dl_manager  # Nothing to download.
        config = self.builder_config
        sizes = {"train": config.num_train, "test": config.num_test}
        return {
            split: self._generate_examples(sizes[split], seed)
            for split, seed in SPLIT_SEEDS.items()
        }

    def _generate_examples(self, count: int, seed: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yields (i, {"image": (32, 32, 3) uint8, "label": int}) for i < ``count``."""
        for index in range(count):
            image, label = render_example(np.random.default_rng([seed, index]))
            yield index, {"image": image, "label": label}
