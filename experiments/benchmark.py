"""Training throughput of the DANN step (MNIST network) against a PyTorch reference.

    python experiments/benchmark.py [--batch_sizes=128,1024] [--steps=30] [--repeats=5]

The PyTorch reference needs torch: ``pip install -e '.[bench]'`` (on a CPU-only
machine install the CPU wheel first, e.g. ``pip install torch==2.13.0`` where a
local wheel exists, or torch's CPU index, so that no CUDA build is pulled in).

For every global batch (half source, half target) it times the full DANN step
(forward, both losses, backward, SGD-momentum update) of:

- ``pytorch``: a reference written the way the PyTorch peers write DANN (tllib,
  fungtion/DANN): an ``autograd.Function`` GRL, an eager loop, NCHW, the same
  network, batch, schedules and optimiser; batches move host -> device each step;
- ``jax-stream``: our loop, one jitted step per host batch (``input_mode="stream"``);
- ``jax-device``: our loop with the dataset on the device and ``--steps`` steps per
  ``lax.scan`` dispatch (``input_mode="device"``).

Each implementation runs ``--steps`` steps once to warm up (compilation, caches),
then ``--repeats`` more times, interleaved with the others so that drift in the
machine's speed touches all alike; the table gives the medians. Results go to
``experiments/results/benchmark-<device>.md`` and ``.json``.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from dann_jax.core.inputs import DeviceData, StreamInput
from dann_jax.core.loop import train_loop
from dann_jax.core.members import StackedPositions, members_launcher
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state, create_train_states
from dann_jax.data.batches import PairedPositions
from dann_jax.data.domains import TrainingData
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import ArraySource
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_list("batch_sizes", ["128", "1024"], "Global batches (half source, half target).")
flags.DEFINE_integer("steps", 30, "Steps per timed repeat (and per lax.scan dispatch).")
flags.DEFINE_integer("repeats", 5, "Timed repeats after one warm-up; the median is reported.")
flags.DEFINE_integer("dataset_size", 4096, "Random images per domain.")
flags.DEFINE_list("implementations", ["pytorch", "jax-stream", "jax-device"], "What to time.")
flags.DEFINE_list(
    "members", [], "Also time N runs in one program (fit_seeds' vmapped step), e.g. 1,4,16."
)
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the tables.")
FLAGS = flags.FLAGS

IMAGE_SHAPE = (28, 28, 3)
TOTAL_STEPS = 10_000  # the schedules' horizon; any value works for timing


def make_data(size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 images and labels standing in for the two domains (NHWC)."""
    rng = np.random.default_rng(seed)
    return {
        "source_image": rng.random((size, *IMAGE_SHAPE), np.float32),
        "source_label": rng.integers(10, size=size).astype(np.int32),
        "target_image": rng.random((size, *IMAGE_SHAPE), np.float32),
    }


def jax_runner(data: dict[str, np.ndarray], batch_size: int, mode: str) -> Callable[[], None]:
    """A function running ``--steps`` steps of our training loop and waiting for them."""
    settings = TrainSettings(
        steps=TOTAL_STEPS,
        batch_size=batch_size,
        parallel="none",
        steps_per_dispatch=FLAGS.steps,
        log_every=FLAGS.steps,
    )
    state = create_train_state(build_model("mnist", 10), data["source_image"][:1], settings)
    if mode == "device":
        inputs = DeviceData.create(data, batch_size, seed=0)
    else:
        domains = TrainingData(
            ArraySource(data["source_image"], data["source_label"]),
            ArraySource(data["target_image"]),
            preprocess=Preprocess(IMAGE_SHAPE, np.zeros(3, np.float32)),
            num_classes=10,
        )
        inputs = StreamInput(domains, batch_size, seed=0)

    def run() -> None:
        nonlocal state
        state, _ = train_loop(state, inputs, settings=settings, steps=FLAGS.steps, progress=False)
        jax.block_until_ready(state)

    return run


def members_runner(
    data: dict[str, np.ndarray], batch_size: int, members: int
) -> Callable[[], None]:
    """``--steps`` steps of ``members`` runs in one program (what ``fit_seeds`` and the
    sweeps compile: the step vmapped over members, each with its own seed and batch
    order, the data on the device), waiting for them."""
    settings = TrainSettings(
        steps=TOTAL_STEPS,
        batch_size=batch_size,
        steps_per_dispatch=FLAGS.steps,
        log_every=FLAGS.steps,
    )
    seeds = list(range(members))
    state = create_train_states(build_model("mnist", 10), data["source_image"][:1], settings, seeds)
    size = len(data["source_image"])
    positions = StackedPositions([PairedPositions(size, size, batch_size, s) for s in seeds])
    stacked = {name: np.stack([value] * members) for name, value in data.items()}
    inputs = DeviceData(stacked, positions)
    launcher = members_launcher()

    def run() -> None:
        nonlocal state
        state, _ = train_loop(
            state, inputs, settings=settings, launcher=launcher, steps=FLAGS.steps, progress=False
        )
        jax.block_until_ready(state)

    return run


def pytorch_runner(data: dict[str, np.ndarray], batch_size: int) -> Callable[[], None]:
    """A function running ``--steps`` steps of the PyTorch reference and waiting for them."""
    import torch
    from torch import nn
    from torch_reference import gradient_reversal

    class TorchDANN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            )  # fmt: skip
            self.label = nn.Sequential(
                nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)
            )
            self.domain = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))

        def forward(self, images, coefficient):
            features = self.features(images)
            reversed_features = gradient_reversal().apply(features, coefficient)
            return self.label(features), self.domain(reversed_features).squeeze(1)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = TorchDANN().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (1 + 10 * step / TOTAL_STEPS) ** -0.75
    )
    pin = device.type == "cuda"
    source = torch.from_numpy(data["source_image"]).permute(0, 3, 1, 2).contiguous()
    target = torch.from_numpy(data["target_image"]).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(data["source_label"]).long()
    if pin:
        source, target, labels = source.pin_memory(), target.pin_memory(), labels.pin_memory()
    half = batch_size // 2
    domain_labels = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    generator = torch.Generator().manual_seed(0)
    step = 0

    def run() -> None:
        nonlocal step
        for _ in range(FLAGS.steps):
            source_index = torch.randint(len(source), (half,), generator=generator)
            target_index = torch.randint(len(target), (half,), generator=generator)
            images = torch.cat([source[source_index], target[target_index]])
            images = images.to(device, non_blocking=pin)
            batch_labels = labels[source_index].to(device, non_blocking=pin)
            coefficient = 2 / (1 + math.exp(-10 * step / TOTAL_STEPS)) - 1
            class_logits, domain_logits = model(images, coefficient)
            loss = nn.functional.cross_entropy(class_logits[:half], batch_labels)
            loss = loss + nn.functional.binary_cross_entropy_with_logits(
                domain_logits, domain_labels
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


def time_interleaved(runners: dict[str, Callable[[], None]]) -> dict[str, list[float]]:
    """Seconds per repeat for each runner, after one warm-up each.

    Repeats alternate between the runners (A B C A B C ...), so drift in the
    machine's speed touches every implementation alike and the ratios hold.
    """
    for run in runners.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(FLAGS.repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def markdown(rows: list[dict], machine: dict) -> str:
    lines = [
        f"# DANN training throughput, MNIST network: {machine['device']}",
        "",
        "| batch (source + target) | implementation | images/s | steps/s | vs PyTorch "
        "| per run, vs one run in the program |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row['vs_pytorch']:.2f}x" if row["vs_pytorch"] is not None else "n/a"
        per_run = row.get("per_run_vs_one_run")
        lines.append(
            f"| {row['batch_size'] // 2} + {row['batch_size'] // 2} | {row['implementation']} "
            f"| {row['images_per_second']:,.0f} | {row['steps_per_second']:,.1f} | {ratio} "
            f"| {'' if per_run is None else f'{per_run:.2f}x'} |"
        )
    lines += [
        "",
        f"Medians of {FLAGS.repeats} interleaved repeats of {FLAGS.steps} steps after one "
        "warm-up each. jax-members-N: N runs (own seeds and batch orders) in one program; "
        "its images/s and steps/s count every run's. "
        f"{machine['date']}; {machine['processor']}; commit {machine['commit']}; " + ", ".join(
            f"{name} {version}" for name, version in machine["versions"].items()
        ) + ".",
        f"Command: `{machine['command']}`",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    del argv  # flags are parsed; the command line is recorded from sys.argv
    rows = []
    versions = {}
    data = make_data(FLAGS.dataset_size)
    for batch_size in map(int, FLAGS.batch_sizes):
        runners = {}
        for implementation in FLAGS.implementations:
            if implementation == "pytorch":
                import torch

                versions["torch"] = torch.__version__
                runners[implementation] = pytorch_runner(data, batch_size)
            else:
                mode = implementation.removeprefix("jax-")
                runners[implementation] = jax_runner(data, batch_size, mode)
        for members in map(int, FLAGS.members):
            runners[f"jax-members-{members}"] = members_runner(data, batch_size, members)
        timings = time_interleaved(runners)
        reference = timings.get("pytorch")
        for implementation, seconds in timings.items():
            median = statistics.median(seconds)
            runs = int(implementation.rsplit("-", 1)[1]) if "members" in implementation else 1
            print(
                f"{batch_size:5d} {implementation:16s} {runs * FLAGS.steps / median:8.1f} steps/s"
            )
            rows.append({
                "batch_size": batch_size,
                "implementation": implementation,
                "runs": runs,
                "images_per_second": runs * batch_size * FLAGS.steps / median,
                "steps_per_second": runs * FLAGS.steps / median,
                "seconds_per_repeat": seconds,
                "vs_pytorch": runs * statistics.median(reference) / median if reference else None,
            })  # fmt: skip
        one = next((r for r in rows if r["implementation"] == "jax-members-1"
                    and r["batch_size"] == batch_size), None)  # fmt: skip
        for row in rows:
            if one and row["batch_size"] == batch_size and row["runs"] > 1:
                row["per_run_vs_one_run"] = (
                    row["steps_per_second"] / row["runs"] / one["steps_per_second"]
                )
    machine = provenance.describe_machine()
    machine["versions"] |= versions
    output = Path(FLAGS.output)
    output.mkdir(parents=True, exist_ok=True)
    slug = machine["device"].lower().replace(" ", "-")
    (output / f"benchmark-{slug}.json").write_text(
        json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n"
    )
    table = markdown(rows, machine)
    (output / f"benchmark-{slug}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    app.run(main)
