"""Is the input pipeline the bottleneck? Its throughput beside the training step's appetite.

    python experiments/benchmark_pipeline.py --source=syn_digits/small --target=syn_digits/small \\
        [--data_dir=DIR] [--batch_size=128] [--steps=200] [--threads=0,2]

Times :class:`dann_jax.data.batches.PairedStream` reading two prepared TFDS
datasets (ArrayRecord, no TensorFlow): random access, PNG decoding, resizing
to 28x28x3, centring, batching, with 0 (in the caller) and N grain reader threads;
and, in the same run, the streamed training step of the MNIST network
(``jax-stream`` in experiments/benchmark.py: one jitted step per batch) on
batches already in memory. The pipeline keeps up when its images/s exceed the
step's. Results go to ``experiments/results/pipeline-<device>.md`` and ``.json``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from dann_jax.core import step
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.data import tfds_sources
from dann_jax.data.batches import PairedStream
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import sampled_channel_mean
from dann_jax.runs import provenance

ROOT = Path(__file__).resolve().parents[1]
flags.DEFINE_string("source", "syn_digits/small", "Prepared TFDS dataset of the source.")
flags.DEFINE_string("target", "syn_digits/small", "Prepared TFDS dataset of the target.")
flags.DEFINE_string("split", "train", "Split read from both.")
flags.DEFINE_string("data_dir", None, "Prepared TFDS datasets (default ~/tensorflow_datasets).")
flags.DEFINE_integer("batch_size", 128, "Global batch (half source, half target).")
flags.DEFINE_integer("steps", 200, "Batches (and training steps) per timed repeat.")
flags.DEFINE_integer("repeats", 3, "Timed repeats; the median is reported.")
flags.DEFINE_list("threads", ["0", "2"], "grain reader threads to try.")
flags.DEFINE_string("output", str(ROOT / "experiments" / "results"), "Folder for the tables.")
FLAGS = flags.FLAGS
INPUT_SHAPE = (28, 28, 3)


def median_rate(run, count: int) -> float:
    """Items per second of ``run()`` (which handles ``count`` items), median of repeats."""
    run()  # warm-up: compilation, caches, reader threads
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def main(argv: list[str]) -> None:
    del argv
    source = tfds_sources.data_source(FLAGS.source, FLAGS.split, FLAGS.data_dir)
    target = tfds_sources.data_source(FLAGS.target, FLAGS.split, FLAGS.data_dir)
    conform = Preprocess(INPUT_SHAPE, np.zeros(3, np.float32)).conform
    preprocess = Preprocess(INPUT_SHAPE, sampled_channel_mean([source, target], conform, 1000))
    images_per_run = FLAGS.steps * FLAGS.batch_size
    rows = []
    for threads in map(int, FLAGS.threads):
        batches = PairedStream(
            source, target, batch_size=FLAGS.batch_size, seed=0, threads=threads,
            preprocess=preprocess,
        )  # fmt: skip
        rate = median_rate(lambda b=batches: [next(b) for _ in range(FLAGS.steps)], images_per_run)
        rows.append({"what": f"pipeline, {threads} reader threads", "images_per_s": rate})

    batch = next(PairedStream(
        source, target, batch_size=FLAGS.batch_size, seed=0, preprocess=preprocess
    ))  # fmt: skip
    state = create_train_state(
        build_model("mnist", 10), batch["source_image"][:1], TrainSettings(steps=10_000)
    )
    train_step = jax.jit(step.train_step, donate_argnums=0)

    def train_steps():
        nonlocal state
        for _ in range(FLAGS.steps):
            state, _ = train_step(state, batch)
        jax.block_until_ready(state)

    rows.append(
        {
            "what": "training step (jax-stream)",
            "images_per_s": median_rate(train_steps, images_per_run),
        }
    )
    machine = provenance.describe_machine()
    lines = [
        f"| what ({FLAGS.batch_size // 2} + {FLAGS.batch_size // 2} per step) | images/s |",
        "|---|---|",
        *(f"| {row['what']} | {row['images_per_s']:,.0f} |" for row in rows),
        "",
        f"{FLAGS.source} -> {FLAGS.target} ({FLAGS.split}), medians of {FLAGS.repeats} repeats of "
        f"{FLAGS.steps} batches. {machine['date']}; {machine['device']}, {machine['processor']}; "
        f"jax {jax.__version__}.",
        f"Command: `{machine['command']}`",
    ]
    table = "\n".join(lines)
    print(table)
    name = "pipeline-" + machine["device"].lower().replace(" ", "-")
    output = Path(FLAGS.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{name}.md").write_text(table + "\n")
    (output / f"{name}.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))


if __name__ == "__main__":
    app.run(main)
