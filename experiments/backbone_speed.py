"""Speed of one DANN step with an ImageNet backbone at the Office protocol's shapes.

    python experiments/backbone_speed.py [--backbone=resnet50] [--steps=3]

The step of ``model="resnet50"`` (or ``"alexnet"``, ``"vit_b16"``) at its Office batch
(32 + 32 images; ViT-B/16 24 + 24) stored at 256 x 256, cropped to 224 and flipped
inside the step, forward and backward through the backbone, the bottleneck and both
heads, SGD with the backbone at 0.1x.
Random images (speed does not depend on them). One step compiles and warms up; the
next ``--steps`` are timed one by one. Writes
``experiments/results/backbone-speed-<backbone>-<device>.{json,md}``.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from dann_jax.core.registry import BACKBONE_NAMES, build_model
from dann_jax.core.settings import NETWORK_DEFAULTS, TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.core.step import train_step
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_enum("backbone", "resnet50", list(BACKBONE_NAMES), "The backbone.")
flags.DEFINE_integer("steps", 3, "Timed steps after the compiling one.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()  # the code as it was when the run began
    settings = TrainSettings(steps=20_000, **NETWORK_DEFAULTS[FLAGS.backbone], parallel="none")
    half = settings.batch_size // 2
    rng = np.random.default_rng(0)
    batch = {
        "source_image": rng.normal(size=(half, 256, 256, 3)).astype(np.float32),
        "source_label": rng.integers(31, size=half).astype(np.int32),
        "target_image": rng.normal(size=(half, 256, 256, 3)).astype(np.float32),
    }
    network = build_model(FLAGS.backbone, 31)
    example = np.zeros((1, *settings.input_shape((256, 256, 3))), np.float32)
    state = create_train_state(network, example, settings)
    step = jax.jit(train_step, donate_argnums=0)
    start = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    first = time.perf_counter() - start
    seconds = []
    for _ in range(FLAGS.steps):
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    record = {
        "backbone": FLAGS.backbone,
        "batch": f"{half} + {half}",
        "first_step_seconds": first,
        "step_seconds": seconds,
        "steps_per_second": 1 / median,
        "images_per_second": settings.batch_size / median,
        "machine": machine,
    }
    device = record["machine"]["device"].lower().replace(" ", "-")
    out = ROOT / "experiments" / "results" / f"backbone-speed-{FLAGS.backbone}-{device}"
    lines = [
        f"# DANN step with {FLAGS.backbone}, {half} + {half} images (256 stored, 224 crops)",
        "",
        "| first step (compile + run), s | step, s (median) | steps/s | images/s |",
        "|---|---|---|---|",
        f"| {first:.1f} | {median:.2f} | {1 / median:.3f} | {settings.batch_size / median:.1f} |",
        "",
        f"Timed steps: {', '.join(f'{s:.2f}' for s in seconds)} s.",
    ]
    print(provenance.write_result(out, record, lines))


if __name__ == "__main__":
    app.run(main)
