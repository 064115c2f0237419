"""What an experiment's training data takes on the device, and how fast it trains.

    python experiments/device_data.py [--config=NAME_OR_FILE] [--config.KEY=VALUE ...]
        [--mnist_images=t10k-images-idx3-ubyte.gz]

Loads the config's data (seed ``config.seed``), reads both training domains whole as
the on-device input mode does (``DeviceData.read``) and reports the bytes of the
arrays put on the device, by array and dtype; then trains every method of the
config on the device (``fit_sources``, the settings of ``dann train``, no
checkpoints) and reports its wall time (compilation included) and test accuracies.
With ``--mnist_images`` (an idx file of uint8 digits, e.g. the MNIST test set) it
also reads those digits, as both domains of the MNIST network (RGB inputs), the
same way and reports their bytes: what a uint8 dataset takes.
Writes ``experiments/results/device-data-<config name>-<device>.{json,md}``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from dann_jax import configs
from dann_jax.core.fit import fit_sources
from dann_jax.core.inputs import DeviceData
from dann_jax.data import arrays, mnist_files
from dann_jax.data.domains import TrainingData
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import ArraySource
from dann_jax.evaluation import metrics
from dann_jax.runs import provenance
from dann_jax.runs.data import load_data
from dann_jax.runs.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
config_flags.DEFINE_config_file("config", str(configs.config_file("default")))
flags.DEFINE_string("mnist_images", None, "An idx file of uint8 digits (optional).")
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the tables.")
FLAGS = flags.FLAGS


def on_device(training: TrainingData, batch_size: int, seed: int) -> dict[str, dict]:
    """Array -> its shape, dtype and bytes once ``DeviceData.read`` put it on the device."""
    arrays = jax.device_put(
        dict(DeviceData.read(training, batch_size, seed, progress=False).arrays)
    )
    return {
        name: {"shape": list(value.shape), "dtype": str(value.dtype), "bytes": int(value.nbytes)}
        for name, value in arrays.items()
    }


def digits(path: str) -> TrainingData:
    """The idx digits (N, 28, 28) uint8 as both domains of an RGB network."""
    images = mnist_files.read_idx(path)[..., None]
    labels = np.zeros(len(images), np.int32)
    mean = np.full(3, arrays.to_float(images).mean(), np.float32)
    return TrainingData(
        ArraySource(images, labels), ArraySource(images), Preprocess((28, 28, 3), mean), 10
    )


def table(stored: dict[str, dict]) -> list[str]:
    total = sum(entry["bytes"] for entry in stored.values())
    return [
        "| array | shape | dtype | MB |",
        "|---|---|---|---|",
        *(
            f"| {name} | {tuple(entry['shape'])} | {entry['dtype']} | {entry['bytes'] / 1e6:.2f} |"
            for name, entry in stored.items()
        ),
        f"| all | | | {total / 1e6:.2f} |",
    ]


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    config = FLAGS.config
    config.checkpoint_every = 0
    plan = make_plan(config)
    data = load_data(plan, progress=False)
    stored = on_device(data.training, config.batch_size, config.seed)
    total = sum(entry["bytes"] for entry in stored.values())
    trained = {}
    for method, settings in plan.methods.items():
        settings = dataclasses.replace(settings, input_mode="device", parallel="none")
        start = time.perf_counter()
        network = fit_sources(data.training_for(method), settings, model=config.model,
                              progress=False)  # fmt: skip
        seconds = time.perf_counter() - start
        scores = metrics.evaluate(network, data.source_test, data.target_test)
        trained[method] = {"wall_time_s": seconds, **scores}
    record = {
        "config": config.to_dict(),
        "device_arrays": stored,
        "device_bytes": total,
        "training": trained,
        "machine": machine,
    }
    device = machine["device"].lower().replace(" ", "-")
    lines = [
        f"# {config.name}: the training data on the device, and the training time",
        "",
        *table(stored),
        "",
        f"| method ({config.steps} steps of {config.batch_size // 2} + {config.batch_size // 2}, "
        "on the device) | wall time (s), compilation included | target accuracy |",
        "|---|---|---|",
        *(
            f"| {method} | {entry['wall_time_s']:.1f} | {entry['target_accuracy']:.4f} |"
            for method, entry in trained.items()
        ),
        "",
        f"Seed {config.seed}.",
    ]
    if FLAGS.mnist_images:
        record["uint8_digits"] = on_device(digits(FLAGS.mnist_images), config.batch_size, 0)
        lines += ["", f"uint8 digits ({Path(FLAGS.mnist_images).name}) as both domains of an "
                  "RGB network:", "", *table(record["uint8_digits"])]  # fmt: skip
    Path(FLAGS.output).mkdir(parents=True, exist_ok=True)
    out = Path(FLAGS.output) / f"device-data-{config.name}-{device}"
    print(provenance.write_result(out, record, lines))


if __name__ == "__main__":
    app.run(main, argv=configs.with_config_file(sys.argv)[0])
