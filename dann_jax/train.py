"""Training: the state, the pure train and eval steps, the loop, and ``fit``.

The step is written once and is pure: the adaptation factor lambda_p and the
learning rate mu_p are functions of ``state.step``, so a new lambda never
recompiles, and everything the step needs comes in through ``state`` and
``batch``.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training import train_state
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from dann_jax import parallel as parallel_lib
from dann_jax import schedules
from dann_jax.data import arrays, pipeline
from dann_jax.models import DANN, build_model

METHODS = ("dann", "source_only")
INPUT_MODES = ("auto", "stream", "device")
ADAPTATIONS = ("annealed", "constant")
Batch = Mapping[str, Any]
Metrics = dict[str, jax.Array]


class TrainState(train_state.TrainState):
    """Params, optimiser state and step, plus the run's fixed schedules.

    Attributes:
      adaptation_factor: step -> lambda, the GRL's scale.
      learning_rate: step -> mu, the schedule the optimiser follows (for logging).
      domain_gradient: False for the source-only baseline (no domain gradient
        reaches the features).
      domain_loss_weight: the domain loss's weight in the total loss.
    """

    adaptation_factor: optax.Schedule = struct.field(pytree_node=False)
    learning_rate: optax.Schedule = struct.field(pytree_node=False)
    domain_gradient: bool = struct.field(pytree_node=False, default=True)
    domain_loss_weight: float = struct.field(pytree_node=False, default=1.0)


def create_train_state(
    network: DANN,
    example_inputs: jax.Array,
    *,
    steps: int,
    seed: int = 0,
    method: str = "dann",
    learning_rate: float = 0.01,
    anneal_learning_rate: bool = True,
    momentum: float = 0.9,
    adaptation: str = "annealed",
    gamma: float = 10.0,
    domain_loss_weight: float = 1.0,
) -> TrainState:
    """A fresh state for ``network`` with the paper's optimiser and schedules.

    Args:
      network: the DANN to train.
      example_inputs: a batch (N, ...) float32 fixing the input shape.
      steps: the run's length; the schedules reach p = 1 there.
      seed: seeds the parameter initialisation.
      method: "dann", or "source_only" (same network and schedules, but no
        domain gradient reaches the features).
      learning_rate: mu_0 (paper: 0.01).
      anneal_learning_rate: mu_p = mu_0 / (1 + 10 p) ** 0.75 if True, else mu_0.
      momentum: SGD momentum (paper: 0.9).
      adaptation: "annealed" (the paper's lambda_p) or "constant" (lambda = 1).
      gamma: the steepness of the annealed lambda_p (paper: 10).
      domain_loss_weight: the domain loss's weight in the total loss (paper: 1).

    Returns:
      The initial TrainState (step 0).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    if adaptation not in ADAPTATIONS:
        raise ValueError(f"Unknown adaptation {adaptation!r}; choose one of {ADAPTATIONS}.")
    if adaptation == "annealed":
        adaptation_factor = schedules.adaptation_factor(steps, gamma)
    else:
        adaptation_factor = optax.constant_schedule(1.0)
    if anneal_learning_rate:
        learning_rate_fn = schedules.annealed_learning_rate(steps, learning_rate)
    else:
        learning_rate_fn = optax.constant_schedule(learning_rate)
    params = network.init(jax.random.key(seed), example_inputs)["params"]
    return TrainState.create(
        apply_fn=network.apply,
        params=params,
        tx=optax.sgd(learning_rate_fn, momentum=momentum),
        adaptation_factor=adaptation_factor,
        learning_rate=learning_rate_fn,
        domain_gradient=method == "dann",
        domain_loss_weight=domain_loss_weight,
    )


def train_step(
    state: TrainState,
    batch: Batch,
    *,
    axis_name: str | None = None,
    single_pass: bool | None = None,
) -> tuple[TrainState, Metrics]:
    """One SGD step on label loss (source) + weighted domain loss (source and target).

    Args:
      state: the TrainState.
      batch: ``source_image`` (B_s, ...) float32, ``source_label`` (B_s,) int32,
        ``target_image`` (B_t, ...) float32.
      axis_name: when the step runs per device under pmap or shard_map, the
        mapped axis: gradients and metrics are averaged over it.
      single_pass: DANN's forward pass over both domains' images at once (True)
        or one pass per domain (False): the same function, computed in other
        kernels. None picks the faster: one pass on accelerators, two on CPUs.
        The source-only baseline always takes two (its target features need no
        backward pass).

    Returns:
      The new state and a flat dict of float32 scalars: loss, label_loss,
      domain_loss, source_accuracy, domain_accuracy, lambda, learning_rate.
    """
    # The source-only baseline reports lambda = 0: no domain gradient reaches its features.
    lambda_ = state.adaptation_factor(state.step) if state.domain_gradient else jnp.zeros(())

    def loss_fn(params):
        def logits(images):
            return state.apply_fn(
                {"params": params}, images, lambda_, domain_gradient=state.domain_gradient
            )

        source_count = batch["source_image"].shape[0]
        # One pass has half the kernels of two: 1.3x the steps/s on an H200,
        # where kernels bound this small network's step; on CPUs two passes are
        # about 6% faster (BENCHMARKS.md, experiments/step_variants.py).
        one_pass = jax.default_backend() != "cpu" if single_pass is None else single_pass
        if state.domain_gradient and one_pass:
            both = jnp.concatenate([batch["source_image"], batch["target_image"]])
            class_logits, domain_logits = logits(both)
            source_logits = class_logits[:source_count]
        else:
            source_logits, source_domain_logits = logits(batch["source_image"])
            _, target_domain_logits = logits(batch["target_image"])
            domain_logits = jnp.concatenate([source_domain_logits, target_domain_logits])
        label_loss = optax.softmax_cross_entropy_with_integer_labels(
            source_logits, batch["source_label"]
        ).mean()
        domain_labels = (jnp.arange(domain_logits.shape[0]) >= source_count).astype(
            domain_logits.dtype
        )
        domain_loss = optax.sigmoid_binary_cross_entropy(domain_logits, domain_labels).mean()
        loss = label_loss + state.domain_loss_weight * domain_loss
        metrics = {
            "loss": loss,
            "label_loss": label_loss,
            "domain_loss": domain_loss,
            "source_accuracy": (source_logits.argmax(-1) == batch["source_label"]).mean(),
            "domain_accuracy": ((domain_logits > 0) == (domain_labels > 0.5)).mean(),
        }
        return loss, metrics

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
    metrics |= {"lambda": lambda_, "learning_rate": state.learning_rate(state.step)}
    metrics = {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}
    if axis_name is not None:
        grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
    return state.apply_gradients(grads=grads), metrics


def eval_step(state: TrainState, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Class logits (N, classes) and domain logits (N,) for float32 inputs (N, ...)."""
    return state.apply_fn({"params": state.params}, inputs)


def train_steps(
    state: TrainState,
    data: Mapping[str, jax.Array],
    source_indices: jax.Array,
    target_indices: jax.Array,
    *,
    axis_name: str | None = None,
) -> tuple[TrainState, Metrics]:
    """K train steps in one dispatch over data resident on the device (``lax.scan``).

    Args:
      state: the TrainState.
      data: ``source_image`` (N_s, ...) float32, ``source_label`` (N_s,) int32,
        ``target_image`` (N_t, ...) float32, already on the device: passed in,
        never closed over, so XLA does not embed the dataset as a constant.
      source_indices: (K, B_s) int32, the source rows of each step's batch.
      target_indices: (K, B_t) int32, the target rows of each step's batch.
      axis_name: as in :func:`train_step`; each device then gathers its own
        rows (its slice of the indices' second axis).

    Returns:
      The state after K steps and the metrics of every step, each of shape (K,).
    """

    def body(state, indices):
        return train_step(state, arrays.gather_batch(data, *indices), axis_name=axis_name)

    return jax.lax.scan(body, state, (source_indices, target_indices))


def features_step(state: TrainState, inputs: jax.Array) -> jax.Array:
    """The feature extractor's output (N, F) for float32 inputs (N, ...)."""
    return state.apply_fn(
        {"params": state.params}, inputs, method=lambda network, x: network.feature_extractor(x)
    )


_jit_eval_step = jax.jit(eval_step)
_jit_features = jax.jit(features_step)


def choose_input_mode(data_bytes: int) -> str:
    """The faster input mode: "device" when the data fits, else "stream".

    "device" keeps the dataset on the device and runs many steps per dispatch;
    it is chosen when the data takes at most half of the device's free memory
    (or the device reports none, as CPUs do). It is the faster mode on CPUs too
    once the convolutions take their GEMM forms (``layers.ConvReluPool``): with
    ``lax.conv_general_dilated`` inside ``lax.scan`` XLA:CPU ran 10x slower
    (BENCHMARKS.md). In a multi-process run every process takes process 0's choice.
    """
    stats = jax.local_devices()[0].memory_stats() or {}
    free = stats.get("bytes_limit", math.inf) - stats.get("bytes_in_use", 0)
    choice = INPUT_MODES.index("device" if data_bytes <= free / 2 else "stream")
    if jax.process_count() > 1:
        choice = int(multihost_utils.broadcast_one_to_all(np.int32(choice)))
    return INPUT_MODES[choice]


def _mean_metrics(pending: list[Metrics]) -> dict[str, float | list[float]]:
    """Per-metric means over every step in ``pending``: entries are scalars, (K,) or,
    for many seeds, (S, K); the mean is a float, or a list of S floats."""
    fetched = jax.device_get(pending)
    means = {}
    for name in fetched[0]:
        steps = np.concatenate(
            [np.reshape(m[name], (*np.shape(m[name])[:-1], -1)) for m in fetched], -1
        )
        mean = steps.mean(axis=-1)
        means[name] = mean.tolist() if mean.ndim else float(mean)
    return means


def _prefetched(
    batches: Iterator[Batch], put: Callable[[Batch], Any], depth: int = 2
) -> Iterator[Any]:
    """``put(batch)`` for each batch, ``depth`` batches ahead: the next batches'
    transfers to the devices overlap the current step."""
    queue = collections.deque(put(next(batches)) for _ in range(depth))
    while True:
        yield queue.popleft()
        queue.append(put(next(batches)))


def train_loop(
    state: TrainState,
    inputs: pipeline.PairedStream | pipeline.DeviceData,
    steps: int,
    *,
    parallel: str = "none",
    steps_per_dispatch: int = 100,
    log_every: int = 100,
    on_log: Callable[[dict[str, float]], None] | None = None,
    progress: bool = True,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[TrainState], None] | None = None,
) -> tuple[TrainState, list[dict[str, float]]]:
    """Runs ``steps`` train steps and logs metrics averaged over each interval.

    Metrics leave the device only every ``log_every`` steps (and at the end).

    Args:
      state: the TrainState to start from.
      inputs: a :class:`~dann_jax.data.pipeline.PairedStream` of this process's
        host batches (one step per batch, transfers prefetched), or
        :class:`~dann_jax.data.pipeline.DeviceData`: arrays put on the devices
        once and up to ``steps_per_dispatch`` steps per dispatch with
        ``lax.scan``. In a multi-process run every process passes the same
        arrays (DeviceData) or a stream built with the launcher's ``process_rows``.
      steps: how many steps to run.
      parallel: "none", "pmap", "shard_map" or "auto"
        (:func:`dann_jax.parallel.resolve`): how the step runs across devices.
      steps_per_dispatch: steps per ``lax.scan`` with DeviceData.
      log_every: steps per log record.
      on_log: called with each record ``{"step": int, <metric>: float, ...}``.
      progress: show a tqdm progress bar (in process 0 only).
      checkpoint_every: with ``on_checkpoint``, calls it with the state (on one
        local device) at every log step that is a multiple of this (0: never).
      on_checkpoint: saves a state, e.g. with :func:`dann_jax.checkpoint.save`.

    Returns:
      The final state, on one local device, and the list of log records (the history).

    Raises:
      FloatingPointError: a logged metric is NaN or infinite; the message names
        the step and the metric.
      ValueError: an unknown ``parallel``, or a batch the devices cannot share equally.
    """
    launcher = parallel_lib.launcher(parallel, train_step, train_steps)
    return _run(
        launcher, state, inputs, steps, steps_per_dispatch, log_every, on_log, progress,
        checkpoint_every, on_checkpoint,
    )  # fmt: skip


def _run(
    launcher: parallel_lib.Launcher,
    state: TrainState,
    inputs: pipeline.PairedStream | pipeline.DeviceData,
    steps: int,
    steps_per_dispatch: int,
    log_every: int,
    on_log: Callable[[dict[str, Any]], None] | None,
    progress: bool,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[TrainState], None] | None = None,
) -> tuple[TrainState, list[dict[str, Any]]]:
    """:func:`train_loop`'s body, for any launcher of the step (also vmapped over seeds)."""
    first_step = int(np.ravel(jax.device_get(state.step))[0])
    state = launcher.put_state(state)

    if isinstance(inputs, pipeline.DeviceData):
        device_data = launcher.put_data(inputs.arrays)
        chunk_size = steps_per_dispatch

        def run(state: TrainState, count: int) -> tuple[TrainState, Metrics]:
            source_positions, target_positions = inputs.positions.take(count)
            launcher.check_batch(source_positions.shape[-1], target_positions.shape[-1])
            return launcher.steps(
                state,
                device_data,
                launcher.put_indices(source_positions),
                launcher.put_indices(target_positions),
            )

    else:
        chunk_size = 1
        batches = _prefetched(inputs, launcher.put_batch)

        def run(state: TrainState, count: int) -> tuple[TrainState, Metrics]:
            return launcher.step(state, next(batches))

    history: list[dict[str, float]] = []
    pending: list[Metrics] = []
    done = 0
    show = progress and jax.process_index() == 0
    with tqdm(total=steps, disable=not show, unit="step", dynamic_ncols=True) as bar:
        while done < steps:
            # Chunks end at log boundaries, so every record covers whole chunks.
            count = min(chunk_size, log_every - done % log_every, steps - done)
            state, metrics = run(state, count)
            pending.append(launcher.local(metrics))
            done += count
            if done % log_every == 0 or done == steps:
                record = {"step": first_step + done, **_mean_metrics(pending)}
                pending = []
                for name, value in record.items():
                    if not np.all(np.isfinite(value)):
                        raise FloatingPointError(
                            f"{name} became {value} by step {record['step']}; lower the "
                            "learning rate or check the inputs for extreme values."
                        )
                history.append(record)
                if on_log is not None:
                    on_log(record)
                if on_checkpoint and checkpoint_every and record["step"] % checkpoint_every == 0:
                    on_checkpoint(launcher.local(state))
                bar.set_postfix(
                    loss=f"{np.mean(record['loss']):.3f}", lam=f"{np.mean(record['lambda']):.2f}"
                )
            bar.update(count)
    return launcher.local(state), history


@dataclasses.dataclass
class TrainedDANN:
    """The result of :func:`fit`: a trained network that predicts class ids.

    Attributes:
      state: the final TrainState.
      history: the log records of training (dicts of step and metrics).
      preprocess: raw inputs -> network inputs, as in training.
      model: the network's name ("mnist" or "shallow").
    """

    state: TrainState
    history: list[dict[str, float]]
    preprocess: pipeline.Preprocess
    model: str

    @property
    def params(self) -> Any:
        """The trained parameters (a pytree of float32 arrays)."""
        return self.state.params

    @property
    def input_mean(self) -> np.ndarray:
        """Per-channel mean (C,) float32 subtracted from every input."""
        return self.preprocess.mean

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one network input, e.g. (28, 28, 3)."""
        return self.preprocess.shape

    def _apply(self, function: Callable, inputs: np.ndarray, batch_size: int) -> Any:
        """``function(state, chunk)`` over raw ``inputs`` in chunks, results concatenated."""
        inputs = np.asarray(inputs)
        arrays.check_inputs("inputs", inputs, self.model)
        inputs = self.preprocess.conform(inputs)
        if inputs.shape[1:] != self.input_shape:
            raise ValueError(
                f"inputs examples have shape {inputs.shape[1:]} but the network was trained "
                f"on {self.input_shape}; preprocess them the same way."
            )
        inputs = inputs - self.input_mean
        outputs = []
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start : start + batch_size]
            # Pad the last chunk so every call has one shape and compiles once.
            padded = np.pad(chunk, [(0, batch_size - len(chunk))] + [(0, 0)] * (chunk.ndim - 1))
            count = len(chunk)
            result = jax.device_get(function(self.state, padded))
            outputs.append(jax.tree.map(lambda value: value[:count], result))  # noqa: B023
        return jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)

    def logits(self, inputs: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Class logits (N, classes) and domain logits (N,), float32, for raw inputs.

        ``inputs`` are like the training inputs: uint8 or float (N, ...), made
        ``input_shape`` by the training preprocessing (resize, grey to RGB).
        """
        return self._apply(_jit_eval_step, inputs, batch_size)

    def features(self, inputs: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """The feature extractor's output (N, F) float32 for raw inputs (as :meth:`logits`)."""
        return self._apply(_jit_features, inputs, batch_size)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Class ids (N,) int64 for inputs (N, *input_shape), uint8 or float."""
        return self.logits(inputs)[0].argmax(-1)


def check_settings(
    *,
    model: str,
    method: str,
    steps: int,
    batch_size: int,
    adaptation: str,
    input_mode: str,
    steps_per_dispatch: int,
    parallel: str = "none",
) -> None:
    """Raises ValueError naming the first invalid training setting and its valid values.

    ``fit`` calls it first; ``experiment.run`` calls it before it writes anything.
    """
    if model not in arrays.INPUT_RANK:
        raise ValueError(f"Unknown model {model!r}; choose one of {tuple(arrays.INPUT_RANK)}.")
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    if adaptation not in ADAPTATIONS:
        raise ValueError(f"Unknown adaptation {adaptation!r}; choose one of {ADAPTATIONS}.")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    if input_mode not in INPUT_MODES:
        raise ValueError(f"Unknown input_mode {input_mode!r}; choose one of {INPUT_MODES}.")
    if not isinstance(steps_per_dispatch, int) or steps_per_dispatch < 1:
        raise ValueError(
            f"steps_per_dispatch must be a positive integer, got {steps_per_dispatch!r}."
        )
    if not isinstance(batch_size, int) or batch_size < 2 or batch_size % 2:
        raise ValueError(
            "batch_size must be an even integer >= 2 (half source, half target), "
            f"got {batch_size!r}."
        )
    parallel_lib.check_batch_size(parallel, batch_size)


def fit(
    source_images: np.ndarray,
    source_labels: np.ndarray,
    target_images: np.ndarray,
    *,
    model: str = "mnist",
    steps: int,
    batch_size: int = 128,
    seed: int = 0,
    method: str = "dann",
    learning_rate: float = 0.01,
    anneal_learning_rate: bool = True,
    momentum: float = 0.9,
    adaptation: str = "annealed",
    gamma: float = 10.0,
    domain_loss_weight: float = 1.0,
    num_classes: int | None = None,
    input_mode: str = "auto",
    parallel: str = "auto",
    steps_per_dispatch: int = 100,
    log_every: int = 100,
    on_log: Callable[[dict[str, float]], None] | None = None,
    progress: bool = True,
) -> TrainedDANN:
    """Trains a DANN (or its source-only baseline) on in-memory arrays.

    Args:
      source_images: labelled source inputs: images (N_s, H, W, C) with C 1 or 3
        for model="mnist", vectors (N_s, D) for model="shallow"; uint8 in
        [0, 255] or float.
      source_labels: (N_s,) integer class ids in [0, num_classes).
      target_images: unlabelled target inputs, (N_t, ...) like the source.
      model: "mnist" (the paper's MNIST network) or "shallow" (15 sigmoid units).
      steps: SGD steps.
      batch_size: global batch, even: batch_size // 2 source + batch_size // 2 target.
      seed: seeds initialisation and batch order.
      method: "dann", or "source_only" (same network and schedules, no domain
        gradient into the features).
      learning_rate, anneal_learning_rate, momentum, adaptation, gamma,
        domain_loss_weight: see :func:`create_train_state`.
      num_classes: defaults to max(source_labels) + 1.
      input_mode: "stream", "device" or "auto" (:func:`choose_input_mode`);
        see :func:`train_loop`. The batches, and so the result, are the same.
      parallel: "auto" (shard_map over every device when there are several),
        "shard_map", "pmap" or "none"; see :mod:`dann_jax.parallel`. The result
        is the same up to float rounding.
      steps_per_dispatch: steps per ``lax.scan`` in "device" mode.
      log_every: steps per history record.
      on_log: called with each history record as it is made.
      progress: show a progress bar.

    Returns:
      A :class:`TrainedDANN` with ``.predict(images)``, ``.params`` and ``.history``.

    Raises:
      ValueError: inputs or arguments are invalid; the message says how to fix them.
    """
    check_settings(
        model=model,
        method=method,
        steps=steps,
        batch_size=batch_size,
        adaptation=adaptation,
        input_mode=input_mode,
        steps_per_dispatch=steps_per_dispatch,
        parallel=parallel,
    )
    source_images, source_labels, target_images = map(
        np.asarray, (source_images, source_labels, target_images)
    )
    arrays.check_inputs("source_images", source_images, model)
    arrays.check_inputs("target_images", target_images, model)
    arrays.check_same_feature_shape(source_images, target_images)
    num_classes = arrays.check_labels(source_labels, len(source_images), num_classes)
    input_mean = arrays.channel_mean(arrays.to_float(source_images), arrays.to_float(target_images))
    return fit_sources(
        pipeline.ArraySource(source_images, source_labels),
        pipeline.ArraySource(target_images),
        input_shape=source_images.shape[1:],
        input_mean=input_mean,
        num_classes=num_classes,
        model=model,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        method=method,
        learning_rate=learning_rate,
        anneal_learning_rate=anneal_learning_rate,
        momentum=momentum,
        adaptation=adaptation,
        gamma=gamma,
        domain_loss_weight=domain_loss_weight,
        input_mode=input_mode,
        parallel=parallel,
        steps_per_dispatch=steps_per_dispatch,
        log_every=log_every,
        on_log=on_log,
        progress=progress,
    )


def fit_sources(
    source: pipeline.RandomAccessSource,
    target: pipeline.RandomAccessSource,
    *,
    input_shape: tuple[int, ...],
    input_mean: np.ndarray,
    num_classes: int,
    model: str = "mnist",
    steps: int,
    batch_size: int = 128,
    seed: int = 0,
    method: str = "dann",
    learning_rate: float = 0.01,
    anneal_learning_rate: bool = True,
    momentum: float = 0.9,
    adaptation: str = "annealed",
    gamma: float = 10.0,
    domain_loss_weight: float = 1.0,
    input_mode: str = "auto",
    parallel: str = "auto",
    steps_per_dispatch: int = 100,
    log_every: int = 100,
    on_log: Callable[[dict[str, float]], None] | None = None,
    progress: bool = True,
    restore: Callable[[TrainState], TrainState] | None = None,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[TrainState], None] | None = None,
) -> TrainedDANN:
    """Trains a DANN on two random-access sources, e.g. ``tfds.data_source`` splits.

    Records are ``{"image", "label"}`` (the target's labels are never read).
    Raw images are preprocessed on the way in
    (:class:`~dann_jax.data.pipeline.Preprocess`): scaled to [0, 1], resized to
    ``input_shape``, grey made RGB, ``input_mean`` subtracted.

    Args:
      source, target: the domains' training sources.
      input_shape: the network's input shape, e.g. (28, 28, 3).
      input_mean: per-channel mean (C,) float32 of the training inputs.
      num_classes: classes of the label head.
      input_mode: "stream" reads, preprocesses and prefetches each step's rows
        of this process (grain threads); "device" reads everything once and
        keeps it on the devices; "auto" picks "device" when it fits
        (:func:`choose_input_mode`). The batches are the same.
      model, steps, batch_size, seed, method, learning_rate, ...: as :func:`fit`.
      restore: resumes a run: given the fresh state, returns a saved one (e.g.
        from :func:`dann_jax.checkpoint.restore`); training and the input
        streams continue from its step, exactly as if never stopped.
      checkpoint_every, on_checkpoint: see :func:`train_loop`.

    Returns:
      A :class:`TrainedDANN` (its history covers the steps run in this call).
    """
    check_settings(
        model=model,
        method=method,
        steps=steps,
        batch_size=batch_size,
        adaptation=adaptation,
        input_mode=input_mode,
        steps_per_dispatch=steps_per_dispatch,
        parallel=parallel,
    )
    input_shape = tuple(input_shape)
    preprocess = pipeline.Preprocess(input_shape, np.asarray(input_mean, np.float32))
    state = create_train_state(
        build_model(model, num_classes),
        np.zeros((1, *input_shape), np.float32),
        steps=steps,
        seed=seed,
        method=method,
        learning_rate=learning_rate,
        anneal_learning_rate=anneal_learning_rate,
        momentum=momentum,
        adaptation=adaptation,
        gamma=gamma,
        domain_loss_weight=domain_loss_weight,
    )
    if restore is not None:
        state = restore(state)
    start = int(jax.device_get(state.step))
    if input_mode == "auto":
        float_bytes = (len(source) + len(target)) * math.prod(input_shape) * 4
        input_mode = choose_input_mode(float_bytes)
    if input_mode == "device":
        source_inputs, source_labels = pipeline.materialize(
            source, preprocess, description="source", progress=progress
        )
        target_inputs, _ = pipeline.materialize(
            target, preprocess, description="target", progress=progress
        )
        data = {
            "source_image": source_inputs,
            "source_label": source_labels,
            "target_image": target_inputs,
        }
        inputs = pipeline.DeviceData.create(data, batch_size, seed)
    else:
        launcher = parallel_lib.launcher(parallel, train_step, train_steps)
        inputs = pipeline.PairedStream(
            source,
            target,
            batch_size=batch_size,
            seed=seed,
            source_preprocess=preprocess,
            target_preprocess=preprocess,
            process_rows=launcher.process_rows,
        )
    # A stream's position is its step: a resumed run reads on where it stopped.
    (inputs.positions if isinstance(inputs, pipeline.DeviceData) else inputs).set_state(
        {"next_index": start}
    )
    state, history = train_loop(
        state,
        inputs,
        steps - start,
        parallel=parallel,
        steps_per_dispatch=steps_per_dispatch,
        log_every=log_every,
        on_log=on_log,
        progress=progress,
        checkpoint_every=checkpoint_every,
        on_checkpoint=on_checkpoint,
    )
    return TrainedDANN(state, history, preprocess, model)


class _StackedPositions:
    """Each seed's position stream, stepped together: (S, B) source and target rows per step."""

    def __init__(self, streams: list[pipeline.DeviceData]):
        self._streams = [stream.positions for stream in streams]

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(count, S, B) source and target positions: ``count`` steps of every seed."""
        steps = [stream.take(count) for stream in self._streams]
        return np.stack([s for s, _ in steps], axis=1), np.stack([t for _, t in steps], axis=1)


# One seed per row of every argument; the indices of a chunk arrive as (K, S, B).
_seeds_train_step = jax.vmap(train_step)
_seeds_train_steps = jax.vmap(train_steps, in_axes=(0, 0, 1, 1))


def fit_seeds(
    source_images: Sequence[np.ndarray],
    source_labels: Sequence[np.ndarray],
    target_images: Sequence[np.ndarray],
    *,
    seeds: Sequence[int],
    model: str = "mnist",
    steps: int,
    batch_size: int = 128,
    method: str = "dann",
    learning_rate: float = 0.01,
    anneal_learning_rate: bool = True,
    momentum: float = 0.9,
    adaptation: str = "annealed",
    gamma: float = 10.0,
    domain_loss_weight: float = 1.0,
    num_classes: int | None = None,
    steps_per_dispatch: int = 100,
    log_every: int = 100,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    input_means: Sequence[np.ndarray] | None = None,
) -> list[TrainedDANN]:
    """Trains one network per seed in one compiled program (``jax.vmap`` over seeds).

    Params, optimiser states and batch orders are stacked along a seeds axis and
    the scanned step is vmapped over it, so on an accelerator N seeds cost about
    one run. Each result equals ``fit(..., seed=seeds[i], input_mode="device",
    parallel="none")`` on the i-th data (tests/test_train.py).

    Args:
      source_images, source_labels, target_images: one array per seed (the same
        array repeated when the data does not depend on the seed), as in
        :func:`fit`; every seed's arrays have the same sizes.
      seeds: seeds of initialisation and batch order, one per run.
      model, steps, batch_size, method, ...: as in :func:`fit`; on one device.
      on_log: called with each record; every metric is a list, one value per seed.
      input_means: per seed, the per-channel mean (C,) to subtract from the inputs;
        by default each seed's mean over its source and target arrays, as in :func:`fit`.

    Returns:
      One :class:`TrainedDANN` per seed, in the order of ``seeds``, each with
      its own history.
    """
    check_settings(
        model=model,
        method=method,
        steps=steps,
        batch_size=batch_size,
        adaptation=adaptation,
        input_mode="device",
        steps_per_dispatch=steps_per_dispatch,
    )
    if not len(seeds) == len(source_images) == len(source_labels) == len(target_images):
        raise ValueError(
            f"got {len(seeds)} seeds but {len(source_images)} source, {len(source_labels)} "
            f"label and {len(target_images)} target arrays; pass one array per seed."
        )
    runs = []
    means = [None] * len(seeds) if input_means is None else list(input_means)
    for source, labels, target, mean in zip(
        source_images, source_labels, target_images, means, strict=True
    ):
        source, labels, target = map(np.asarray, (source, labels, target))
        arrays.check_inputs("source_images", source, model)
        arrays.check_inputs("target_images", target, model)
        arrays.check_same_feature_shape(source, target)
        classes = arrays.check_labels(labels, len(source), num_classes)
        if mean is None:
            mean = arrays.channel_mean(arrays.to_float(source), arrays.to_float(target))
        preprocess = pipeline.Preprocess(source.shape[1:], mean)
        data = {
            "source_image": preprocess(source),
            "source_label": labels.astype(np.int32),
            "target_image": preprocess(target),
        }
        runs.append((data, preprocess, classes))
    shapes = {tuple((k, v.shape) for k, v in data.items()) for data, _, _ in runs}
    if len(shapes) > 1:
        raise ValueError("every seed's arrays must have the same shapes to be stacked.")
    num_classes = max(classes for _, _, classes in runs)

    network = build_model(model, num_classes)
    example = runs[0][0]["source_image"][:1]
    state = create_train_state(
        network,
        example,
        steps=steps,
        seed=seeds[0],
        method=method,
        learning_rate=learning_rate,
        anneal_learning_rate=anneal_learning_rate,
        momentum=momentum,
        adaptation=adaptation,
        gamma=gamma,
        domain_loss_weight=domain_loss_weight,
    )
    keys = jnp.stack([jax.random.key(seed) for seed in seeds])
    params = jax.vmap(lambda key: network.init(key, example)["params"])(keys)
    state = state.replace(
        params=params,
        opt_state=jax.vmap(state.tx.init)(params),
        step=jnp.zeros(len(seeds), jnp.int32),
    )
    streams = [
        pipeline.DeviceData.create(data, batch_size, seed)
        for (data, _, _), seed in zip(runs, seeds, strict=True)
    ]
    stacked = {name: np.stack([data[name] for data, _, _ in runs]) for name in runs[0][0]}
    inputs = pipeline.DeviceData(stacked, _StackedPositions(streams))
    launcher = parallel_lib.launcher("none", _seeds_train_step, _seeds_train_steps)
    state, history = _run(
        launcher, state, inputs, steps, steps_per_dispatch, log_every, on_log, progress
    )
    return [
        TrainedDANN(
            jax.tree.map(lambda leaf, i=i: leaf[i], state),
            [
                {name: value if name == "step" else value[i] for name, value in r.items()}
                for r in history
            ],
            preprocess,
            model,
        )
        for i, (_, preprocess, _) in enumerate(runs)
    ]
