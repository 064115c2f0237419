"""Which forms of the on-device DANN step are fastest here: the measurements behind
the choices in ``step.train_step`` and ``layers`` (BENCHMARKS.md).

    python experiments/step_variants.py [--batch_size=128] [--steps=1000] [--repeats=3]
    XLA_FLAGS=... python experiments/step_variants.py --variants=one-pass  # a flag's effect

Every variant runs our on-device loop (``dann_jax.train_loop`` with a
``DeviceData`` input and the variant's launcher, ``--steps`` steps per
``lax.scan`` dispatch) on the MNIST network at one global batch. All variants
compile first, then their timed dispatches take turns (so a machine's drift
hits them alike); the medians go to stdout and to
``<--output>/step-variants-<device>.json``. Variants:

- ``default``: the library's step as ``fit`` runs it; the others change one
  thing of it:
- ``two-pass``: one forward pass per domain (``step.train_step(..., single_pass=False)``,
  the default on CPUs);
- ``one-pass``: one forward pass over both domains' images
  (``single_pass=True``, the default on accelerators);
- ``unroll-N``: ``lax.scan(..., unroll=N)``;
- ``xla-conv`` / ``patch-conv`` / ``s2d-conv``: the layers' convolution forced to
  ``lax.conv_general_dilated``, to the patch GEMM, or to convolution and
  pooling at once on space-to-depth images (``layers.ConvReluPool``);
- ``flax-pool``: ``flax.linen.max_pool`` instead of ``layers.max_pool_2x2``
  (after the default convolution of a separate pooling: :class:`FlaxPoolFeatures`);
- ``flat-optimizer``: the optimiser working on one flat vector of all
  parameters (``optax.flatten``, :class:`FlatOptimizerState`): fewer, larger kernels;
- ``precision-P``: the step traced under ``jax.default_matmul_precision(P)``
  (P: highest = full float32, tensorfloat32, bfloat16), which sets the
  convolutions' and matrix products' arithmetic.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import statistics
import time
from pathlib import Path

import flax.linen as nn
import jax
import optax
from absl import app, flags

# experiments/ is on sys.path when this runs; its flags --steps, --repeats,
# --dataset_size and --output serve here too.
from benchmark import TOTAL_STEPS, make_data

from dann_jax.core import launchers, layers, networks, step
from dann_jax.core.inputs import DeviceData
from dann_jax.core.loop import train_loop
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import TrainState, create_train_state
from dann_jax.data import arrays
from dann_jax.runs import provenance

flags.DEFINE_integer("batch_size", 128, "Global batch (half source, half target).")
flags.DEFINE_list(
    "variants",
    [
        "default",
        "two-pass",
        "one-pass",
        "unroll-4",
        "xla-conv",
        "patch-conv",
        "s2d-conv",
        "flax-pool",
    ],
    "What to time.",
)
FLAGS = flags.FLAGS
CONV_VARIANTS = {"xla-conv": "xla", "patch-conv": "patches", "s2d-conv": "space_to_depth"}


class FlaxPoolFeatures(nn.Module):
    """The MNIST feature extractor with a separate convolution (patches on CPUs, XLA
    elsewhere), ReLU and ``flax.linen.max_pool``."""

    @nn.compact
    def __call__(self, images):
        convolve = layers.conv_patches if jax.default_backend() == "cpu" else layers.conv_xla
        x = images
        for index, filters in enumerate((32, 48)):
            shape = (5, 5, x.shape[-1], filters)
            kernel = self.param(f"kernel_{index}", nn.initializers.lecun_normal(), shape)
            bias = self.param(f"bias_{index}", nn.initializers.zeros, (filters,))
            x = nn.relu(convolve(x, kernel) + bias[None, None, None, :])
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        return x.reshape(x.shape[0], -1)


class FlatOptimizerState(TrainState):
    """The library's state with its optimiser on one flat vector of all parameters."""

    @property
    def tx(self):
        return optax.flatten(self.settings.update_direction())


def scanned(train_step, unroll: int = 1):
    """``step.train_steps`` for any step body and scan unroll."""

    def steps(state, data, source_indices, target_indices, *, axis_name=None):
        def body(state, indices):
            return train_step(state, arrays.gather_batch(data, *indices), axis_name=axis_name)

        return jax.lax.scan(body, state, (source_indices, target_indices), unroll=unroll)

    return steps


def runner(variant: str, data):
    """A function timing one dispatch of ``--steps`` steps of ``variant``."""
    passes = {"one-pass": True, "two-pass": False}
    train_step = functools.partial(step.train_step, single_pass=passes.get(variant))
    unroll, features, precision = 1, networks.MNISTFeatures(), None
    if variant.startswith("unroll-"):
        unroll = int(variant.removeprefix("unroll-"))
    elif variant in CONV_VARIANTS:
        features = networks.MNISTFeatures(conv_implementation=CONV_VARIANTS[variant])
    elif variant == "flax-pool":
        features = FlaxPoolFeatures()
    elif variant.startswith("precision-"):
        precision = variant.removeprefix("precision-")
    elif variant not in (*passes, "default", "flat-optimizer"):
        raise app.UsageError(f"unknown variant {variant!r}")
    network = networks.DANN(features, networks.MLPHead((100, 100), 10), networks.DomainHead((100,)))
    settings = TrainSettings(
        steps=TOTAL_STEPS,
        batch_size=FLAGS.batch_size,
        steps_per_dispatch=FLAGS.steps,
        log_every=FLAGS.steps,
    )
    state = create_train_state(network, data["source_image"][:1], settings)
    if variant == "flat-optimizer":
        fields = {field.name: getattr(state, field.name) for field in dataclasses.fields(state)}
        fields["opt_state"] = optax.flatten(state.tx).init(state.params)
        state = FlatOptimizerState(**fields)
    inputs = DeviceData.create(data, FLAGS.batch_size, seed=0)
    launcher = launchers.Launcher(train_step, scanned(train_step, unroll))

    def run():
        nonlocal state
        with jax.default_matmul_precision(precision):
            state, _ = train_loop(
                state, inputs, settings=settings, steps=FLAGS.steps, launcher=launcher,
                progress=False,
            )  # fmt: skip
        jax.block_until_ready(state)

    return run


def main(argv):
    del argv
    data = make_data(FLAGS.dataset_size)
    runs, first_seconds = {}, {}
    for variant in FLAGS.variants:
        runs[variant] = runner(variant, data)
        start = time.perf_counter()
        runs[variant]()  # compiles
        first_seconds[variant] = time.perf_counter() - start
    seconds = {variant: [] for variant in runs}
    for _ in range(FLAGS.repeats):
        for variant, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[variant].append(time.perf_counter() - start)
    results = {}
    for variant in runs:
        steps_per_second = FLAGS.steps / statistics.median(seconds[variant])
        results[variant] = {
            "steps_per_second": steps_per_second,
            "seconds": seconds[variant],
            "first_dispatch_seconds": first_seconds[variant],
        }
        first = first_seconds[variant]
        print(f"{variant:14s} {steps_per_second:9.1f} steps/s (first: {first:.1f} s)")
    machine = provenance.describe_machine()
    output = Path(FLAGS.output)
    output.mkdir(parents=True, exist_ok=True)
    slug = machine["device"].lower().replace(" ", "-")
    (output / f"step-variants-{slug}.json").write_text(
        json.dumps({"machine": machine, "batch_size": FLAGS.batch_size, "steps": FLAGS.steps,
                    "results": results}, indent=2) + "\n"
    )  # fmt: skip


if __name__ == "__main__":
    app.run(main)
