"""What an experiment's training data takes on the device, and how fast it trains.

    python experiments/device_data.py [--config=NAME_OR_FILE] [--config.KEY=VALUE ...]

Loads the config's data (seed ``config.seed``), reads both training domains whole as
the on-device input mode does (``DeviceData.read``) and reports the bytes of the
arrays put on the device, by array and dtype; then trains every method of the
config on the device (``fit_sources``, the settings of ``dann train``, no
checkpoints) and reports its wall time (compilation included) and test accuracies.
Writes ``experiments/results/device-data-<config name>-<device>.{json,md}``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import jax
from absl import app, flags
from ml_collections import config_flags

from dann_jax import configs, experiment, metrics, provenance
from dann_jax.data.pipeline import DeviceData
from dann_jax.fit import fit_sources

ROOT = Path(__file__).resolve().parents[1]
config_flags.DEFINE_config_file("config", str(configs.config_file("default")))
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the tables.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    machine = provenance.describe_machine()
    config = FLAGS.config
    config.checkpoint_every = 0
    data = experiment.load_data(config, progress=False)
    arrays = DeviceData.read(data.training, config.batch_size, config.seed, progress=False).arrays
    on_device = jax.device_put(dict(arrays))
    stored = {
        name: {"shape": list(value.shape), "dtype": str(value.dtype), "bytes": int(value.nbytes)}
        for name, value in on_device.items()
    }
    total = sum(entry["bytes"] for entry in stored.values())
    trained = {}
    for method, settings in experiment.settings_of(config).items():
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
        "| array | shape | dtype | MB |",
        "|---|---|---|---|",
        *(
            f"| {name} | {tuple(entry['shape'])} | {entry['dtype']} | {entry['bytes'] / 1e6:.2f} |"
            for name, entry in stored.items()
        ),
        f"| all | | | {total / 1e6:.2f} |",
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
    Path(FLAGS.output).mkdir(parents=True, exist_ok=True)
    out = Path(FLAGS.output) / f"device-data-{config.name}-{device}"
    print(provenance.write_result(out, record, lines))


if __name__ == "__main__":
    app.run(main, argv=configs.with_config_file(sys.argv)[0])
