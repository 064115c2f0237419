"""Speed of one DANN step with an ImageNet backbone at the Office protocol's shapes.

    python experiments/backbone_speed.py [--backbone=resnet50] [--steps=3] [--torch] [--profile]

The step of ``model="resnet50"`` (or ``"alexnet"``, ``"vit_b16"``) at its Office batch
(32 + 32 images; ViT-B/16 24 + 24) stored at 256 x 256, cropped to 224 and flipped
inside the step, forward and backward through the backbone, the bottleneck and both
heads, SGD with the backbone at 0.1x.
Random images (speed does not depend on them). One step compiles and warms up; the
next ``--steps`` are timed one by one. The JAX step runs twice: compiled with XLA's
default settings, and with XLA:CPU's own convolutions instead of YNNPACK's
(:data:`EIGEN_CONVOLUTIONS`; for a whole process, ``XLA_FLAGS=
--xla_cpu_experimental_ynn_fusion_type=-individual_convolution``). With ``--torch`` the
same step in PyTorch runs after them in the same process, timed the same way
(torchvision's ResNet-50 or AlexNet, timm's ViT-B/16; the same bottleneck, heads,
gradient reversal, crops and SGD with momentum). With ``--profile`` one more step of
each JAX variant runs under ``jax.profiler``, and the markdown gets its kernels summed
by kind (XLA's instruction names without their numbers). Writes
``experiments/results/backbone-speed-<backbone>-<device>.{json,md}``.
"""

from __future__ import annotations

import collections
import gzip
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

# experiments/ is on sys.path when this runs.
from trace_events import device_events

from dann_jax.core.registry import BACKBONE_NAMES, build_model
from dann_jax.core.settings import NETWORK_DEFAULTS, TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.core.step import train_step
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_enum("backbone", "resnet50", list(BACKBONE_NAMES), "The backbone.")
flags.DEFINE_integer("steps", 3, "Timed steps after the compiling one.")
flags.DEFINE_bool("torch", False, "Also time the same step in PyTorch (needs torch, timm).")
flags.DEFINE_bool("profile", False, "Also profile one step of each JAX variant, by kernel kind.")
FLAGS = flags.FLAGS

# XLA:CPU hands convolutions, matrix products and reductions to YNNPACK by default; these
# compiler options keep the last two and give convolutions back to XLA's own (Eigen)
# kernels. Per program, where XLA_FLAGS would set it for the whole process.
EIGEN_CONVOLUTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": (
        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
    )
}
JAX_VARIANTS = {"JAX": None, "JAX, XLA's own convolutions": EIGEN_CONVOLUTIONS}
UNTRACED = "(untraced)"


def _torch_step_seconds(backbone: str, batch_size: int, steps: int) -> tuple[float, list]:
    """The first and the timed steps' seconds of the same DANN step in PyTorch."""
    import torch
    from torch_reference import gradient_reversal, import_torchvision

    torchvision = import_torchvision()

    if backbone == "vit_b16":
        import timm

        network, width = timm.create_model("vit_base_patch16_224", num_classes=0), 768
    elif backbone == "resnet50":
        network, width = torchvision.models.resnet50(), 2048
        network.fc = torch.nn.Identity()
    else:
        network, width = torchvision.models.alexnet(), 4096
        network.classifier[6] = torch.nn.Identity()

    nn = torch.nn
    bottleneck = nn.Sequential(nn.Linear(width, 256), nn.ReLU())
    label_head = nn.Linear(256, 31)
    domain_head = nn.Sequential(
        nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1)
    )
    new_layers = [*bottleneck.parameters(), *label_head.parameters(), *domain_head.parameters()]
    optimizer = torch.optim.SGD(
        [{"params": network.parameters(), "lr": 0.001}, {"params": new_layers, "lr": 0.01}],
        momentum=0.9,
    )
    half = batch_size // 2
    images = torch.randn(batch_size, 3, 256, 256)
    labels = torch.randint(31, (half,))
    domains = torch.cat([torch.zeros(half), torch.ones(half)])
    network.train()

    def step() -> None:
        top, left = torch.randint(33, (2,)).tolist()
        crops = images[:, :, top : top + 224, left : left + 224]
        crops = torch.where(torch.rand(batch_size, 1, 1, 1) < 0.5, crops.flip(-1), crops)
        features = bottleneck(network(crops))
        label_loss = nn.functional.cross_entropy(label_head(features[:half]), labels)
        domain_logits = domain_head(gradient_reversal().apply(features, 0.5))[:, 0]
        domain_loss = nn.functional.binary_cross_entropy_with_logits(domain_logits, domains)
        optimizer.zero_grad()
        (label_loss + domain_loss).backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return first, seconds


def _kernels_by_kind(step, state, batch) -> dict[str, float]:
    """One step under ``jax.profiler``: seconds per kernel kind (XLA's instruction names
    without their numbers, e.g. ``ynn_fusion``) and :data:`UNTRACED`, longest first."""
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            start = time.perf_counter()
            state, metrics = step(state, batch)
            jax.block_until_ready(metrics)
            wall = time.perf_counter() - start
        (trace_file,) = Path(folder).rglob("*.trace.json.gz")
        trace = json.loads(gzip.decompress(trace_file.read_bytes()))
    kinds, threads = collections.Counter(), set()
    for thread, event in device_events(trace):
        kinds[re.sub(r"\.\d+$", "", event["name"])] += float(event.get("dur", 0)) / 1e6
        threads.add(thread)
    kinds[UNTRACED] = max(wall * len(threads) - sum(kinds.values()), 0.0)
    return dict(kinds.most_common())


def _jax_step_seconds(network, example, settings, batch, compiler_options):
    """The first step's and the timed steps' seconds of the JAX step compiled with
    ``compiler_options``, and with ``--profile`` its kernels by kind."""
    state = create_train_state(network, example, settings)
    step = jax.jit(train_step, donate_argnums=0, compiler_options=compiler_options)
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
    kinds = _kernels_by_kind(step, state, batch) if FLAGS.profile else {}
    return first, seconds, kinds


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
    variants = {
        name: _jax_step_seconds(network, example, settings, batch, options)
        for name, options in JAX_VARIANTS.items()
    }
    first, seconds, _ = variants["JAX"]
    median = statistics.median(seconds)
    record = {
        "backbone": FLAGS.backbone,
        "batch": f"{half} + {half}",
        "first_step_seconds": first,
        "step_seconds": seconds,
        "steps_per_second": 1 / median,
        "images_per_second": settings.batch_size / median,
        "jax_variants": {
            name: {
                "compiler_options": JAX_VARIANTS[name],
                "first_step_seconds": variant_first,
                "step_seconds": variant_seconds,
                "kernels_by_kind_seconds": kinds,
            }
            for name, (variant_first, variant_seconds, kinds) in variants.items()
        },
        "machine": machine,
    }
    if FLAGS.torch:
        import torch

        torch_first, torch_seconds = _torch_step_seconds(
            FLAGS.backbone, settings.batch_size, FLAGS.steps
        )
        record["torch"] = {
            "version": torch.__version__,
            "threads": torch.get_num_threads(),
            "first_step_seconds": torch_first,
            "step_seconds": torch_seconds,
        }
    device = record["machine"]["device"].lower().replace(" ", "-")
    out = ROOT / "experiments" / "results" / f"backbone-speed-{FLAGS.backbone}-{device}"
    timings = {name: (variant[0], variant[1]) for name, variant in variants.items()}
    if FLAGS.torch:
        timings[f"PyTorch {record['torch']['version']}"] = (torch_first, torch_seconds)
    lines = [
        f"# DANN step with {FLAGS.backbone}, {half} + {half} images (256 stored, 224 crops)",
        "",
        "| framework | first step (compile + run), s | step, s (median) | steps/s | images/s |",
        "|---|---|---|---|---|",
    ]
    for framework, (first_step, timed) in timings.items():
        middle = statistics.median(timed)
        lines.append(
            f"| {framework} | {first_step:.1f} | {middle:.2f} | {1 / middle:.3f} | "
            f"{settings.batch_size / middle:.1f} |"
        )
    lines.append("")
    for framework, (_, timed) in timings.items():
        lines.append(f"{framework}'s timed steps: {', '.join(f'{s:.2f}' for s in timed)} s.")
    if FLAGS.torch:
        for name, (_, timed, _) in variants.items():
            ratio = statistics.median(timed) / statistics.median(torch_seconds)
            lines.append(f"{name} takes {ratio:.2f}x PyTorch's time per step.")
    for name, (_, _, kinds) in variants.items():
        if kinds:
            lines += [
                "",
                f"{name}, one profiled step, kernels by kind (seconds summed over XLA:CPU's "
                f"worker threads; {UNTRACED}: the rest of the threads' time, idle or in "
                "work the trace does not show, such as XLA's own convolutions):",
                "",
                "| kernel kind | s |",
                "|---|---|",
            ]
            lines += [f"| `{kind}` | {total:.2f} |" for kind, total in list(kinds.items())[:12]]
    print(provenance.write_result(out, record, lines))


if __name__ == "__main__":
    app.run(main)
