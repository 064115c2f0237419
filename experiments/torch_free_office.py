"""An Office config trained end to end without PyTorch, from a .safetensors file.

    python experiments/torch_free_office.py [--steps=2]

Makes ``import torch`` fail in this process (as on a machine where only ``pip install
dann_jax`` ran), writes random ResNet-50 weights under torchvision's names to a
``.safetensors`` file, and runs ``dann train --config office31_amazon_webcam`` from it
on TFDS's mock data (``tfds.testing.mock_data``: random images in the Office-31
domains' shapes), at a small input size so that it finishes in minutes on a CPU.
Writes the run's results with the machine to
``experiments/results/torch-free-office.{json,md}``.
"""

from __future__ import annotations

import importlib.abc
import json
import sys
import tempfile
from pathlib import Path


class NoTorch(importlib.abc.MetaPathFinder):
    """Makes ``import torch`` raise ImportError, as where it is not installed."""

    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"No module named {name!r} (blocked)")


sys.meta_path.insert(0, NoTorch())

import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from absl import app, flags  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

from dann_jax import cli  # noqa: E402
from dann_jax.backbones import torchvision  # noqa: E402
from dann_jax.runs import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_integer("steps", 2, "Training steps per method.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    assert "torch" not in sys.modules
    rng = np.random.default_rng(0)
    layout = torchvision._torch_layout("resnet50", 1000)
    weights = {
        key: rng.normal(0, 0.05, shape).astype(np.float32) for key, (_, shape) in layout.items()
    }
    with tempfile.TemporaryDirectory() as folder:
        file, workdir = Path(folder) / "model.safetensors", Path(folder) / "run"
        save_file(weights, file)
        arguments = [
            "train", "--noprogress", "--config=office31_amazon_webcam",
            f"--config.pretrained={file}", "--config.input_shape=(64, 64, 3)",
            "--config.crop_size=56", f"--config.steps={FLAGS.steps}",
            f"--config.log_every={FLAGS.steps}", "--config.batch_size=8",
            "--config.plots=False", f"--workdir={workdir}",
        ]  # fmt: skip
        with tfds.testing.mock_data(num_examples=16):
            status = cli.main(arguments)
        if status != 0:
            raise SystemExit(status)
        results = json.loads((workdir / "results.json").read_text())
        config = json.loads((workdir / "config.json").read_text())
    assert "torch" not in sys.modules
    record = {
        "machine": machine,
        "torch_importable": False,
        "arguments": arguments[:3] + arguments[4:-1],
        "model": config["model"],
        "results": results,
    }
    table = [
        "# An Office config without PyTorch, from a .safetensors file",
        "",
        "`import torch` fails in the process; random ResNet-50 weights (torchvision's names) "
        "in a .safetensors file; TFDS mock data (16 random images per domain); "
        f"`dann {' '.join(record['arguments'])}`.",
        "",
        "| method | source accuracy | wall time (s) |",
        "|---|---|---|",
        *(
            f"| {method} | {row['source_accuracy']:.3f} | {row['wall_time_s']:.1f} |"
            for method, row in results.items()
        ),
        "",
        "Mock images and random weights: the accuracies show the run finished, nothing more.",
    ]
    print(
        provenance.write_result(
            ROOT / "experiments" / "results" / "torch-free-office", record, table
        )
    )


if __name__ == "__main__":
    app.run(main)
