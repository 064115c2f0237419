"""Speed of the backbones' max pooling, forward and backward, in JAX and PyTorch.

    python experiments/pooling_speed.py [--repeats=7] [--output=DIR]

For each 3 x 3 / 2 max pooling of AlexNet and ResNet-50 at the Office batch (64
images: 32 source + 32 target), the jitted forward and backward pass of
``flax.linen.max_pool`` (autodiff's gradient, a select-and-scatter), of
:func:`dann_jax.backbones.pooling.max_pool` (compiled as the library compiles), and,
when torch is installed, of PyTorch's ``max_pool2d``; the gradients of the first two
are checked equal. Random inputs with ties (values rounded to 1/50). Medians of
``--repeats`` calls after two warm-up calls. Writes
``<output>/pooling-speed-<device>.{json,md}``.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from dann_jax.backbones import convolution, pooling
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_integer("repeats", 7, "Timed calls per variant.")
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the result.")
FLAGS = flags.FLAGS

# (name, input (N, H, W, C), padding): the 3 x 3 / 2 poolings of 32 + 32 images of 224.
POOLINGS = [
    ("AlexNet, after conv1", (64, 55, 55, 64), 0),
    ("AlexNet, after conv2", (64, 27, 27, 192), 0),
    ("AlexNet, after conv5", (64, 13, 13, 256), 0),
    ("ResNet-50, after conv1", (64, 112, 112, 64), 1),
]


def _median_seconds(run) -> float:
    run()
    run()
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _jax_seconds(pool, images, cotangent, pad: int) -> tuple[float, np.ndarray]:
    """Median seconds of the jitted forward and backward pass, and the gradient."""

    def forward_backward(images, cotangent):
        def pooled(images):
            return pool(images, (3, 3), strides=(2, 2), padding=((pad, pad), (pad, pad)))

        return jax.vjp(pooled, images)[1](cotangent)[0]

    options = convolution.compiler_options(jax.default_backend())
    compiled = jax.jit(forward_backward, compiler_options=options)
    seconds = _median_seconds(lambda: compiled(images, cotangent).block_until_ready())
    return seconds, np.asarray(compiled(images, cotangent))


def _torch_seconds(images: np.ndarray, cotangent: np.ndarray, pad: int) -> float:
    import torch

    x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    grad = torch.from_numpy(cotangent.transpose(0, 3, 1, 2).copy())

    def run():
        pooled = torch.nn.functional.max_pool2d(x, 3, 2, padding=pad)
        return torch.autograd.grad(pooled, x, grad)

    return _median_seconds(run)


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    rows = []
    for name, shape, pad in POOLINGS:
        images = np.round(rng.random(shape, np.float32) * 50) / 50
        out = jax.eval_shape(
            lambda x, pad=pad: nn.max_pool(x, (3, 3), (2, 2), ((pad, pad), (pad, pad))), images
        )
        cotangent = rng.random(out.shape, np.float32)
        flax_seconds, flax_gradient = _jax_seconds(
            nn.max_pool, jnp.asarray(images), jnp.asarray(cotangent), pad
        )
        ours_seconds, ours_gradient = _jax_seconds(
            pooling.max_pool, jnp.asarray(images), jnp.asarray(cotangent), pad
        )
        np.testing.assert_allclose(ours_gradient, flax_gradient, rtol=1e-5, atol=1e-5)
        row = {"pooling": name, "input": shape, "flax": flax_seconds, "dann_jax": ours_seconds}
        if torch is not None:
            row["torch"] = _torch_seconds(images, cotangent, pad)
        rows.append(row)
        print(row, flush=True)
    record = {"poolings": rows, "machine": machine}
    if torch is not None:
        record["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    reference = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch (not installed)"
    lines = [
        "# Max pooling 3 x 3 / 2, forward and backward, seconds (median)",
        "",
        f"| pooling | input | `flax.linen.max_pool` | `dann_jax.backbones.pooling.max_pool` "
        f"| {reference} |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        torch_seconds = f"{row['torch']:.4f}" if "torch" in row else ""
        lines.append(
            f"| {row['pooling']} | {' x '.join(map(str, row['input']))} | {row['flax']:.4f} "
            f"| {row['dann_jax']:.4f} | {torch_seconds} |"
        )
    device = machine["device"].lower().replace(" ", "-")
    stem = Path(FLAGS.output) / f"pooling-speed-{device}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    print(provenance.write_result(stem, record, lines))


if __name__ == "__main__":
    app.run(main)
