"""Speed of one DANN step with an ImageNet backbone at the Office protocol's shapes.

    python experiments/backbone_speed.py [--backbone=resnet50] [--steps=3]
        [--dispatch_steps=4] [--torch] [--profile] [--output=DIR]

The step of ``model="resnet50"`` (or ``"alexnet"``, ``"vit_b16"``) at its Office batch
(32 + 32 images; ViT-B/16 24 + 24) stored at 256 x 256, cropped to 224 and flipped
inside the step, forward and backward through the backbone, the bottleneck and both
heads, SGD with the backbone at 0.1x.
Random images (speed does not depend on them). Timed in one process:

- ``JAX, one step per dispatch``: the jitted step on a host batch, as the stream input
  mode runs it, compiled as the library compiles it
  (:func:`dann_jax.backbones.convolution.compiler_options`: on a CPU, XLA's own
  convolution kernels and the network's choice of products, YNNPACK's for AlexNet, XLA's
  own for the others); one step compiles and warms up, the next ``--steps`` are
  timed one by one;
- ``JAX, data on the device``: the training loop with uint8 images on the device and
  ``--dispatch_steps`` steps per ``lax.scan`` dispatch, as ``dann train`` runs the
  Office configs (``input_mode="device"``, 100 steps per dispatch there); one dispatch
  compiles and warms up, one more is timed, per step;
- on a CPU, both again for each of ``--cpu_kernels`` that differs from the library's:
  compiled with XLA:CPU's defaults (``default``: convolutions and matrix products in
  YNNPACK), or with XLA's own convolutions and XLA's own or YNNPACK's products
  (``xla_products``, ``ynnpack_products``);
- with ``--torch``, the same step in PyTorch, timed like the first (torchvision's
  ResNet-50 or AlexNet, timm's ViT-B/16; the same bottleneck, heads, gradient reversal,
  crops and SGD with momentum), on the GPU when torch sees one.

Each row also gives the system CPU time and the minor page faults per timed step: on a
CPU, memory that glibc maps afresh for a dispatch (XLA's scratch buffer, PyTorch's
activations) is faulted in and zeroed page by page by the kernel. Whether freed memory
is mapped anew is glibc's choice, set by the environment (e.g. ``MALLOC_ARENA_MAX=1
MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` keep it); the result's command names
those variables. With ``--profile`` one more step of each one-step JAX variant runs
under ``jax.profiler``, and the markdown gets its kernels summed by kind (XLA's
instruction names without their numbers). Writes
``<output>/backbone-speed-<backbone>-<device>.{json,md}``.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
import re
import resource
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

# experiments/ is on sys.path when this runs.
from trace_events import device_events

from dann_jax.backbones import convolution
from dann_jax.core import launchers
from dann_jax.core.inputs import DeviceData
from dann_jax.core.loop import train_loop
from dann_jax.core.registry import BACKBONE_NAMES, build_model
from dann_jax.core.settings import NETWORK_DEFAULTS, TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.core.step import train_step, train_steps
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_enum("backbone", "resnet50", list(BACKBONE_NAMES), "The backbone.")
flags.DEFINE_integer("steps", 3, "Timed steps after the compiling one.")
flags.DEFINE_integer(
    "dispatch_steps", 4, "Steps per lax.scan dispatch with the data on the device (0: skip)."
)
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the result.")
flags.DEFINE_bool("torch", False, "Also time the same step in PyTorch (needs torch, timm).")
flags.DEFINE_bool("profile", False, "Also profile one step of each JAX variant, by kernel kind.")
flags.DEFINE_multi_enum(
    "cpu_kernels",
    ["default", "xla_products", "ynnpack_products"],
    ["default", "xla_products", "ynnpack_products"],
    "On a CPU, the other compilations to time besides the library's (one equal to the "
    "library's is not timed twice).",
)
FLAGS = flags.FLAGS

# The other compilations on a CPU: their names in the tables and their compiler options.
CPU_KERNELS = {
    "default": ("YNNPACK's convolutions and products (XLA:CPU's default)", None),
    "xla_products": ("XLA's own products", convolution.CPU_OPTIONS["xla"]),
    "ynnpack_products": ("YNNPACK's products", convolution.CPU_OPTIONS["ynnpack"]),
}
ON_DEVICE = "JAX, data on the device"
UNTRACED = "(untraced)"


def _timed(run) -> dict[str, float]:
    """Runs ``run()``; its wall seconds, system CPU seconds (all threads) and minor page
    faults (this process)."""
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "system_seconds": after.ru_stime - before.ru_stime,
        "page_faults": after.ru_minflt - before.ru_minflt,
    }


def _per_step(timed: dict[str, float], steps: int) -> dict[str, float]:
    return {name: value / steps for name, value in timed.items()}


def _torch_steps(backbone: str, batch_size: int, steps: int) -> tuple[dict, list[dict]]:
    """The first and the timed steps (:func:`_timed`) of the same DANN step in PyTorch."""
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
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bottleneck = nn.Sequential(nn.Linear(width, 256), nn.ReLU())
    label_head = nn.Linear(256, 31)
    domain_head = nn.Sequential(
        nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1)
    )
    for module in (network, bottleneck, label_head, domain_head):
        module.to(device)
    new_layers = [*bottleneck.parameters(), *label_head.parameters(), *domain_head.parameters()]
    optimizer = torch.optim.SGD(
        [{"params": network.parameters(), "lr": 0.001}, {"params": new_layers, "lr": 0.01}],
        momentum=0.9,
    )
    half = batch_size // 2
    images = torch.randn(batch_size, 3, 256, 256, device=device)
    labels = torch.randint(31, (half,), device=device)
    domains = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    network.train()

    def step() -> None:
        top, left = torch.randint(33, (2,)).tolist()
        crops = images[:, :, top : top + 224, left : left + 224]
        flips = torch.rand(batch_size, 1, 1, 1, device=device) < 0.5
        crops = torch.where(flips, crops.flip(-1), crops)
        features = bottleneck(network(crops))
        label_loss = nn.functional.cross_entropy(label_head(features[:half]), labels)
        domain_logits = domain_head(gradient_reversal().apply(features, 0.5))[:, 0]
        domain_loss = nn.functional.binary_cross_entropy_with_logits(domain_logits, domains)
        optimizer.zero_grad()
        (label_loss + domain_loss).backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()  # timed to the end of the step's kernels

    first = _timed(step)
    return first, [_timed(step) for _ in range(steps)]


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


def _jax_steps(network, example, settings, batch, compiler_options):
    """The first and the timed steps (:func:`_timed`) of the JAX step compiled with
    ``compiler_options``, one step per dispatch, and with ``--profile`` its kernels by kind."""
    state = create_train_state(network, example, settings)
    step = jax.jit(train_step, donate_argnums=0, compiler_options=compiler_options)

    def run() -> None:
        nonlocal state
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)

    first = _timed(run)
    timed = [_timed(run) for _ in range(FLAGS.steps)]
    kinds = _kernels_by_kind(step, state, batch) if FLAGS.profile else {}
    return first, timed, kinds


def _device_steps(network, example, settings, arrays, compiler_options):
    """The compiling dispatch and the timed one, per step (:func:`_timed`), of the
    training loop over ``arrays`` on the device, ``--dispatch_steps`` steps per dispatch,
    compiled with ``compiler_options``."""
    count = FLAGS.dispatch_steps
    settings = dataclasses.replace(settings, steps_per_dispatch=count, log_every=count)
    state = create_train_state(network, example, settings)
    inputs = DeviceData.create(arrays, settings.batch_size, seed=0)
    launcher = launchers.launcher("none", train_step, train_steps)
    launcher.steps = jax.jit(train_steps, donate_argnums=0, compiler_options=compiler_options)

    def run() -> None:
        nonlocal state
        state, _ = train_loop(
            state, inputs, settings=settings, steps=count, launcher=launcher, progress=False
        )
        jax.block_until_ready(state)

    first = _timed(run)
    return first, [_per_step(_timed(run), count)]


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
    platform = jax.default_backend()
    library = convolution.compiler_options(platform, convolution.cpu_products(network))
    compilers = {"": library}
    if platform == "cpu":
        for kernels in FLAGS.cpu_kernels:
            label, options = CPU_KERNELS[kernels]
            if options != library:
                compilers[f", {label}"] = options
    variants, options_of = {}, {}
    for suffix, options in compilers.items():
        name = f"JAX, one step per dispatch{suffix}"
        variants[name] = _jax_steps(network, example, settings, batch, options)
        options_of[name] = options
    if FLAGS.dispatch_steps:
        # Two batches per domain, stored as the Office datasets are: uint8, 256 x 256.
        arrays = {
            "source_image": rng.integers(256, size=(2 * half, 256, 256, 3), dtype=np.uint8),
            "source_label": rng.integers(31, size=2 * half).astype(np.int32),
            "target_image": rng.integers(256, size=(2 * half, 256, 256, 3), dtype=np.uint8),
        }
        for suffix, options in compilers.items():
            name = f"{ON_DEVICE}, {FLAGS.dispatch_steps} steps per dispatch{suffix}"
            first, timed = _device_steps(network, example, settings, arrays, options)
            variants[name] = first, timed, {}
            options_of[name] = options
    if FLAGS.torch:
        import torch

        first, timed = _torch_steps(FLAGS.backbone, settings.batch_size, FLAGS.steps)
        variants[f"PyTorch {torch.__version__}"] = first, timed, {}
    record = {
        "backbone": FLAGS.backbone,
        "batch": f"{half} + {half}",
        "variants": {
            name: {
                "compiler_options": options_of.get(name),
                "first": first,
                "timed_per_step": timed,
                "kernels_by_kind_seconds": kinds,
            }
            for name, (first, timed, kinds) in variants.items()
        },
        "machine": machine,
    }
    if FLAGS.torch:
        record["torch_threads"] = torch.get_num_threads()
    device = record["machine"]["device"].lower().replace(" ", "-")
    out = Path(FLAGS.output) / f"backbone-speed-{FLAGS.backbone}-{device}"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# DANN step with {FLAGS.backbone}, {half} + {half} images (256 stored, 224 crops)",
        "",
        "| framework | first step or dispatch (compile + run), s | step, s (median) | "
        "images/s | system CPU, s per step | minor page faults per step |",
        "|---|---|---|---|---|---|",
    ]

    def median(timed: list[dict], name: str) -> float:
        return statistics.median(step[name] for step in timed)

    for name, (first, timed, _) in variants.items():
        seconds = median(timed, "seconds")
        lines.append(
            f"| {name} | {first['seconds']:.1f} | {seconds:.2f} | "
            f"{settings.batch_size / seconds:.1f} | {median(timed, 'system_seconds'):.2f} | "
            f"{median(timed, 'page_faults'):,.0f} |"
        )
    lines.append("")
    for name, (_, timed, _) in variants.items():
        steps = ", ".join(f"{step['seconds']:.2f}" for step in timed)
        lines.append(f"{name}'s timed steps: {steps} s.")
    if FLAGS.torch:
        reference = median(variants[f"PyTorch {torch.__version__}"][1], "seconds")
        for name, (_, timed, _) in variants.items():
            if name.startswith("JAX"):
                ratio = median(timed, "seconds") / reference
                lines.append(f"{name}: {ratio:.2f}x PyTorch's time per step.")
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
