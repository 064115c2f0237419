"""Runs one experiment config: its methods on its domains, results into a run folder.

A run folder holds ``config.json``, ``metrics.jsonl`` (one line per log record
and method), ``results.json`` (method -> test metrics and wall time),
``results.md`` (the same as a table), ``evaluation.json`` (the proxy
A-distance of each method's test features and its classifier),
``features.png`` (t-SNE of source and target test features per method, the
paper's Fig. 3), ``training_curves.png``, for 2-D inputs
``decision_boundaries.png``, ``tensorboard/`` (with ``config.tensorboard``),
and ``checkpoints/<method>/`` (orbax: the final
params, optimiser state and step), from which ``dann evaluate`` recomputes
the evaluation into ``eval.json``. ``--overwrite`` removes exactly these
(:data:`RUN_FILES`, :data:`RUN_FOLDERS`); other files in the folder stay.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import ml_collections
import numpy as np
from tensorboardX import SummaryWriter

import dann_jax
from dann_jax import checkpoint, metrics, parallel, plots
from dann_jax.data import arrays, local, tfds_sources
from dann_jax.data.offline import Domains, Split, load_domains
from dann_jax.data.pipeline import (
    ArraySource,
    Preprocess,
    RandomAccessSource,
    channel_mean,
    materialize,
)
from dann_jax.models import build_model
from dann_jax.train import METHODS as TRAIN_METHODS
from dann_jax.train import (
    TrainedDANN,
    check_settings,
    create_train_state,
    fit_seeds,
    fit_sources,
)

# train_on_target: the source-only network trained on the labelled target, the upper reference.
METHODS = (*TRAIN_METHODS, "train_on_target")
COLUMNS = {
    "source_accuracy": "source accuracy",
    "target_accuracy": "target accuracy",
    "domain_accuracy": "domain accuracy",
    "proxy_a_distance": "proxy A-distance",
}


def describe_machine() -> dict:
    """Where and how a result was measured: device, CPU, date, versions, command line."""
    device = jax.devices()[0]
    processor = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        processor = names[0].split(":", 1)[1].strip() if names else processor
    return {
        "device": device.device_kind if device.platform != "cpu" else f"{os.cpu_count()} CPU cores",
        "processor": processor,
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "versions": {
            "dann_jax": dann_jax.__version__,
            "jax": jax.__version__,
            "python": platform.python_version(),
        },
        "command": " ".join(["python", *sys.argv]),
    }


def base_config() -> ml_collections.ConfigDict:
    """Every key an experiment config has, at the paper's values; configs override some."""
    config = ml_collections.ConfigDict()
    config.name = "experiment"
    # dann_jax.data.offline.LOADERS, "mnist_local" (its config adds the file paths) or "tfds":
    config.dataset = "digits_to_blended_digits"
    config.source = ""  # with dataset="tfds": the source's TFDS name, e.g. "mnist"
    config.target = ""  # ... and the target's, e.g. "mnist_m"
    config.data_dir = ""  # prepared TFDS datasets; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets
    config.train_split = "train"
    config.test_split = "test"
    config.input_shape = (28, 28, 3)  # TFDS images are resized / made RGB to this
    config.mean_sample = 10_000  # TFDS: records per domain behind the input mean
    config.model = "mnist"  # "mnist" or "shallow"
    config.method = "source_only,dann"  # comma-separated; also "train_on_target"
    config.steps = 1000
    config.batch_size = 128  # half source, half target
    config.seed = 0  # seeds the data, initialisation and batch order
    config.learning_rate = 0.01  # mu_0
    config.anneal_learning_rate = True  # mu_p = mu_0 / (1 + 10 p) ** 0.75, else mu_0
    config.momentum = 0.9
    config.adaptation = "annealed"  # lambda_p = 2 / (1 + exp(-gamma p)) - 1, or "constant" 1
    config.gamma = 10.0
    config.domain_loss_weight = 1.0
    config.log_every = 50
    config.input_mode = "auto"  # "device" (data on the device, lax.scan), "stream" or "auto"
    config.steps_per_dispatch = 50  # steps per lax.scan in "device" mode (capped by log_every)
    config.parallel = "auto"  # "shard_map" over all devices when there are several, "pmap", "none"
    config.checkpoint_every = 0  # steps between checkpoints (a multiple of log_every); 0: the end
    config.keep_checkpoints = 3  # the latest checkpoints kept per method
    config.tensorboard = False  # also write TensorBoard event files (tensorboardX, no TensorFlow)
    return config


@dataclasses.dataclass(frozen=True)
class ExperimentData:
    """What an experiment trains on (random-access sources) and evaluates on (arrays).

    Attributes:
      source_train, target_train: ``{"image", "label"}`` sources; the target's
        labels are read only by the train_on_target reference.
      source_test, target_test: test inputs, conformed to ``input_shape``
        (float32 in [0, 1], not yet centred), with labels.
      input_shape: one network input's shape.
      input_mean: per-channel mean (C,) of the training inputs.
      num_classes: classes of the label head.
      offline: the in-memory domains, for the offline datasets (plots use them).
    """

    source_train: RandomAccessSource
    target_train: RandomAccessSource
    source_test: Split
    target_test: Split
    input_shape: tuple[int, ...]
    input_mean: np.ndarray
    num_classes: int
    offline: Domains | None = None


def load_data(config: ml_collections.ConfigDict, progress: bool = True) -> ExperimentData:
    """The config's domains: an offline dataset in memory, or two prepared TFDS datasets.

    Raises:
      DatasetUnavailable: a TFDS dataset is not prepared (the message says how to).
    """
    if config.dataset != "tfds":
        if config.dataset == "mnist_local":
            domains = local.mnist_to_blended_mnist(
                config.mnist_images, config.mnist_labels, config.photos_dir, config.seed
            )
        else:
            domains = load_domains(config.dataset, config.seed)
        train_inputs = (domains.source_train.inputs, domains.target_train.inputs)
        return ExperimentData(
            source_train=ArraySource(domains.source_train.inputs, domains.source_train.labels),
            target_train=ArraySource(domains.target_train.inputs, domains.target_train.labels),
            source_test=domains.source_test,
            target_test=domains.target_test,
            input_shape=domains.source_train.inputs.shape[1:],
            input_mean=arrays.channel_mean(*map(arrays.to_float, train_inputs)),
            num_classes=int(domains.source_train.labels.max()) + 1,
            offline=domains,
        )
    data_dir = config.data_dir or None
    source_train, target_train, source_test, target_test = (
        tfds_sources.data_source(name, split, data_dir)
        for name, split in (
            (config.source, config.train_split),
            (config.target, config.train_split),
            (config.source, config.test_split),
            (config.target, config.test_split),
        )
    )
    conform = Preprocess(tuple(config.input_shape), np.zeros(())).conform

    def test_split(source: RandomAccessSource, name: str) -> Split:
        inputs, labels = materialize(source, conform, description=name, progress=progress)
        return Split(inputs, labels)

    return ExperimentData(
        source_train=source_train,
        target_train=target_train,
        source_test=test_split(source_test, f"{config.source} {config.test_split}"),
        target_test=test_split(target_test, f"{config.target} {config.test_split}"),
        input_shape=tuple(config.input_shape),
        input_mean=channel_mean([source_train, target_train], conform, config.mean_sample),
        num_classes=tfds_sources.num_classes(source_train),
    )


def methods_of(config: ml_collections.ConfigDict) -> list[str]:
    """The comma-separated ``config.method``, checked, in order."""
    methods = [method.strip() for method in config.method.split(",") if method.strip()]
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ValueError(
            f"config.method={config.method!r}: name one or more of {METHODS}, comma-separated, "
            "e.g. --config.method=source_only,dann."
        )
    return methods


# What a run writes into its folder, and so all that --overwrite removes.
RUN_FILES = (
    "config.json",
    "metrics.jsonl",
    "results.json",
    "results.md",
    "wall_times.json",
    "evaluation.json",
    "eval.json",
    "features.png",
    "training_curves.png",
    "decision_boundaries.png",
)
RUN_FOLDERS = ("checkpoints", "tensorboard")


def _remove_run(workdir: Path) -> None:
    """Removes a run's files and folders from ``workdir``; anything else there stays."""
    for name in RUN_FILES:
        (workdir / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(workdir / name, ignore_errors=True)


def _resumable(workdir: Path, config: ml_collections.ConfigDict, overwrite: bool = False) -> bool:
    """True when ``workdir`` holds an unfinished run of ``config`` (to resume), False when
    it holds no run or ``overwrite`` is set; raises ValueError, writing nothing, when it
    holds another run or an unreadable checkpoint."""
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"workdir {workdir} is a file; pass a folder with --workdir.")
    if overwrite:
        return False
    keep = "nothing was overwritten. Pass a new --workdir, or --overwrite to replace it."
    if (workdir / "results.json").exists():
        raise ValueError(f"workdir {workdir} already holds a finished run (results.json); {keep}")
    saved = workdir / "config.json"
    if not saved.exists():
        if (workdir / "metrics.jsonl").exists():
            raise ValueError(
                f"workdir {workdir} already holds a run (metrics.jsonl) but no config.json; {keep}"
            )
        return False
    old, new = json.loads(saved.read_text()), json.loads(config.to_json())
    if old != new:
        differing = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
        raise ValueError(
            f"workdir {workdir} holds an unfinished run of another config (it differs in "
            f"{', '.join(differing)}); nothing was overwritten. Resume it with the same config, "
            "pass a new --workdir, or --overwrite to replace it."
        )
    for method in methods_of(config):
        checkpoint.check_readable(workdir / "checkpoints" / method)
    return True


def _keep_records_until(path: Path, last_steps: dict[str, int]) -> dict[str, list[dict]]:
    """Drops the records of ``metrics.jsonl`` after each method's last saved step;
    returns the kept records (without "method") by method."""
    if not path.exists():
        return {}
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
    kept = [r for r in records if r["step"] <= last_steps.get(r["method"], 0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    by_method: dict[str, list[dict]] = {}
    for record in kept:
        record = dict(record)
        by_method.setdefault(record.pop("method"), []).append(record)
    return by_method


def _cell(value: float | list[float], digits: int) -> str:
    """A number, or a [mean, std] pair as "mean ± std"."""
    if isinstance(value, list):
        return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"
    return f"{value:.{digits}f}"


# JMLR 2016 Table 2: target accuracy of source-only, DANN and train-on-target, by config name.
PAPER_TARGET_ACCURACY = {
    "mnist_to_mnist_m": {"source_only": 0.5225, "dann": 0.7666, "train_on_target": 0.9596},
    "mnist_local_to_mnist_m_local": {
        "source_only": 0.5225,
        "dann": 0.7666,
        "train_on_target": 0.9596,
    },
    "syn_digits_to_svhn": {"source_only": 0.8674, "dann": 0.9109, "train_on_target": 0.9220},
    "svhn_to_mnist": {"source_only": 0.5490, "dann": 0.7385, "train_on_target": 0.9942},
    "syn_signs_to_gtsrb": {"source_only": 0.7900, "dann": 0.8865, "train_on_target": 0.9980},
}


def format_table(
    results: dict[str, dict[str, float | list[float]]], paper: dict[str, float] | None = None
) -> str:
    """Results (one value, or [mean, std] per metric) as a markdown table, a row per method;
    with ``paper`` (method -> target accuracy), a column of the paper's figures."""
    names = [name for name in COLUMNS if name in next(iter(results.values()))]
    header = ["method", *(COLUMNS[name] for name in names), "wall time (s)"]
    header += ["paper's target accuracy"] if paper else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, row in results.items():
        cells = [_cell(row[name], 3) for name in names] + [_cell(row["wall_time_s"], 1)]
        if paper:
            cells.append(f"{paper[method]:.4f}" if method in paper else "")
        lines.append(f"| {method} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _settings(config: ml_collections.ConfigDict, method: str) -> dict:
    """The training settings of ``config`` that :func:`check_settings` checks, for ``method``."""
    return {
        "model": config.model,
        "method": "source_only" if method == "train_on_target" else method,
        "steps": config.steps,
        "batch_size": config.batch_size,
        "adaptation": config.adaptation,
        "input_mode": config.input_mode,
        "steps_per_dispatch": config.steps_per_dispatch,
        "parallel": config.parallel,
    }


def _optimiser_settings(config: ml_collections.ConfigDict) -> dict:
    """The config's optimiser, schedule and logging settings, as the fit functions take them."""
    return {
        "learning_rate": config.learning_rate,
        "anneal_learning_rate": config.anneal_learning_rate,
        "momentum": config.momentum,
        "gamma": config.gamma,
        "domain_loss_weight": config.domain_loss_weight,
        "log_every": config.log_every,
    }


def evaluate_methods(
    trained_by_method: dict[str, TrainedDANN], data: ExperimentData, seed: int, workdir: Path
) -> dict[str, dict[str, float]]:
    """Test accuracies and proxy A-distance of each method; writes ``evaluation.json``
    (the PAD and its classifier) and ``features.png`` (t-SNE of source vs target
    test features) into ``workdir``. Returns method -> scores."""
    scores, evaluation, features = {}, {}, {}
    for method, trained in trained_by_method.items():
        scores[method] = metrics.evaluate(trained, data.source_test, data.target_test)
        features[method] = (
            trained.features(data.source_test.inputs),
            trained.features(data.target_test.inputs),
        )
        evaluation[method] = metrics.proxy_a_distance(*features[method], seed=seed)
        scores[method]["proxy_a_distance"] = evaluation[method]["proxy_a_distance"]
    (workdir / "evaluation.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    plots.feature_embedding(features, workdir / "features.png", seed=seed)
    return scores


def evaluate_run(workdir: Path, *, progress: bool = True) -> dict[str, dict[str, float]]:
    """Re-evaluates a finished run folder from its config and checkpoints.

    Rebuilds each method's network, restores its final checkpoint, recomputes
    the test metrics, ``evaluation.json`` and ``features.png``, and writes the
    scores to ``eval.json``.

    Raises:
      ValueError: ``workdir`` holds no run, or a checkpoint does not fit its config.
    """
    workdir = Path(workdir)
    if not (workdir / "config.json").is_file():
        raise ValueError(f"{workdir} holds no run (no config.json); pass a run folder.")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    data = load_data(config, progress=progress)
    histories: dict[str, list[dict]] = {}
    if (workdir / "metrics.jsonl").is_file():
        for line in (workdir / "metrics.jsonl").read_text().splitlines():
            record = json.loads(line)
            histories.setdefault(record.pop("method"), []).append(record)
    preprocess = Preprocess(tuple(data.input_shape), data.input_mean)
    trained_by_method = {}
    for method in methods_of(config):
        folder = workdir / "checkpoints" / method
        if not folder.is_dir():
            raise ValueError(f"{workdir} has no checkpoint of {method} ({folder} is missing).")
        template = create_train_state(
            build_model(config.model, data.num_classes),
            np.zeros((1, *data.input_shape), np.float32),
            steps=config.steps,
            momentum=config.momentum,
        )
        state, _ = checkpoint.restore(checkpoint.manager(folder), template)
        trained_by_method[method] = TrainedDANN(
            state, histories.get(method, []), preprocess, config.model
        )
    scores = evaluate_methods(trained_by_method, data, config.seed, workdir)
    (workdir / "eval.json").write_text(json.dumps(scores, indent=2) + "\n")
    print(format_table({m: {**s, "wall_time_s": float("nan")} for m, s in scores.items()}))
    return scores


def run(
    config: ml_collections.ConfigDict,
    workdir: Path,
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, dict[str, float]]:
    """Trains every method of ``config`` and writes the run folder ``workdir``.

    Each method's state is saved every ``config.checkpoint_every`` steps and at
    its end (``checkpoints/<method>/``). A ``workdir`` holding an unfinished run
    of the same config is resumed from its latest checkpoints, exactly as if it
    had never stopped; one holding any other run is refused, untouched, unless
    ``overwrite``. In a multi-process run every process calls it with the same
    config (checked) and trains; only process 0 evaluates and writes the run
    folder, and on resuming it reads the checkpoints and hands them to the others.

    Args:
      config: an experiment config (see ``experiments/configs/default.py``).
      workdir: the run folder: new, or an unfinished run of ``config``.
      progress: show progress bars.
      overwrite: replace a run already in ``workdir`` (its :data:`RUN_FILES` and
        :data:`RUN_FOLDERS`, once the data has loaded) instead of refusing or resuming.

    Returns:
      method -> {source_accuracy, target_accuracy, domain_accuracy,
      proxy_a_distance, wall_time_s} (empty in processes other than 0).
    """
    parallel.check_processes_agree("config", config.to_json())
    methods = methods_of(config)
    for method in methods:
        check_settings(**_settings(config, method))
    if config.checkpoint_every % config.log_every:
        raise ValueError(
            f"config.checkpoint_every={config.checkpoint_every} must be a multiple of "
            f"config.log_every={config.log_every} (checkpoints are taken at log steps)."
        )
    workdir = Path(workdir)
    writer = jax.process_index() == 0
    resume = parallel.decide_in_process_zero(_resumable, workdir, config, overwrite)
    data = load_data(config, progress=progress and writer)
    if writer:
        if overwrite:  # only now that the data is there: a failed start keeps the old run
            _remove_run(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.json").write_text(config.to_json(indent=2) + "\n")

    def checkpoints_of(method: str):
        return checkpoint.manager(workdir / "checkpoints" / method, keep=config.keep_checkpoints)

    last_steps, earlier = {}, {}
    if resume:
        # Process 0 owns the run folder: it finds the checkpoints, and every
        # process learns their steps (-1: none) and later gets its states.
        found = [checkpoints_of(method).latest_step() if writer else None for method in methods]
        found = parallel.share_from_process_zero(np.array([-1 if s is None else s for s in found]))
        last_steps = {m: int(step) for m, step in zip(methods, found, strict=True) if step >= 0}
        if writer:
            earlier = _keep_records_until(workdir / "metrics.jsonl", last_steps)
            print(f"Resuming {workdir} from steps {last_steps}")
    wall_times_path = workdir / "wall_times.json"
    wall_times = json.loads(wall_times_path.read_text()) if wall_times_path.exists() else {}

    results: dict[str, dict[str, float]] = {}
    trained_by_method: dict[str, TrainedDANN] = {}
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(workdir / "metrics.jsonl", "a")) if writer else None

        events = None
        if writer and config.tensorboard:
            events = stack.enter_context(SummaryWriter(str(workdir / "tensorboard")))

        def write_record(record: dict[str, float], method: str) -> None:
            if log is not None:
                log.write(json.dumps({"method": method, **record}) + "\n")
                log.flush()
            if events is not None:
                for name, value in record.items():
                    if name != "step":
                        events.add_scalar(f"{method}/{name}", value, record["step"])

        for method in methods:
            checkpoints = checkpoints_of(method) if writer else None
            if writer:
                print(f"Training {method} ({config.steps} steps, seed {config.seed})")
            start = time.perf_counter()
            # train_on_target learns the target's labels; its "target" half is the same data.
            labelled = data.target_train if method == "train_on_target" else data.source_train
            trained = fit_sources(
                labelled,
                data.target_train,
                input_shape=data.input_shape,
                input_mean=data.input_mean,
                num_classes=data.num_classes,
                **_settings(config, method),
                **_optimiser_settings(config),
                seed=config.seed,
                on_log=lambda record, method=method: write_record(record, method),
                progress=progress,
                # The saved arrays go into this config's fresh state (its schedules).
                restore=(
                    (lambda fresh, c=checkpoints: checkpoint.restore_everywhere(c, fresh))
                    if method in last_steps
                    else None
                ),
                checkpoint_every=config.checkpoint_every,
                on_checkpoint=(
                    (lambda state, c=checkpoints: checkpoint.save(c, state))
                    if checkpoints is not None
                    else None
                ),
            )
            if writer:
                wall_times[method] = wall_times.get(method, 0.0) + time.perf_counter() - start
                if checkpoints.latest_step() != config.steps:
                    checkpoint.save(checkpoints, trained.state)
                wall_times_path.write_text(json.dumps(wall_times) + "\n")
                trained.history[:0] = earlier.get(method, [])
                results[method] = {"wall_time_s": wall_times[method]}
                trained_by_method[method] = trained
    if not writer:
        return results
    return _finish(workdir, trained_by_method, data, config.seed, results)


def _finish(
    workdir: Path,
    trained_by_method: dict[str, TrainedDANN],
    data: ExperimentData,
    seed: int,
    results: dict[str, dict[str, float]],
) -> dict[str, dict[str, float]]:
    """Evaluates the trained methods into ``workdir``: ``results.json`` and ``.md``, the
    evaluation, the plots; returns method -> scores and ``results``' own entries."""
    for method, scores in evaluate_methods(trained_by_method, data, seed, workdir).items():
        results[method] = {**scores, **results[method]}
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = format_table(results)
    (workdir / "results.md").write_text(table + "\n")
    plots.training_curves(
        {method: trained.history for method, trained in trained_by_method.items()},
        workdir / "training_curves.png",
    )
    if data.offline is not None and data.input_shape == (2,):
        plots.decision_boundaries(
            trained_by_method, data.offline, workdir / "decision_boundaries.png"
        )
    print(table)
    print(f"Run folder: {workdir}")
    return results


def run_seeds(
    config: ml_collections.ConfigDict, seeds: Sequence[int], runs: Path, *, progress: bool = True
) -> dict[int, dict[str, dict[str, float]]]:
    """Trains every method of ``config`` for all ``seeds`` at once, in one compiled
    program per method (:func:`dann_jax.train.fit_seeds`, ``jax.vmap`` over seeds), and
    writes one run folder per seed, ``runs/seed<k>``, as :func:`run` would.

    Each seed loads its own data (its split, blend and batch order); the
    training inputs are read into memory (the on-device mode). On offline data
    every seed's result equals :func:`run`'s for that seed (tests/test_experiment.py).
    A folder's ``wall_time_s`` is the time of the
    program that trained all seeds. Single process, one device; no checkpoints
    along the way (the final states are saved), no resuming.

    Returns:
      seed -> method -> metrics, as :func:`run` returns them.
    """
    if jax.process_count() > 1:
        raise ValueError("run_seeds trains on one device of one process; use run() per seed.")
    methods = methods_of(config)
    for method in methods:
        check_settings(**(_settings(config, method) | {"input_mode": "device"}))
    workdirs = {seed: Path(runs) / f"seed{seed}" for seed in seeds}
    for workdir in workdirs.values():
        if any((workdir / name).exists() for name in (*RUN_FILES, *RUN_FOLDERS)):
            raise ValueError(
                f"{workdir} holds a run already; nothing was changed. Pass a new --runs folder."
            )
    configs, data = {}, {}
    for seed in seeds:
        configs[seed] = ml_collections.ConfigDict(config.to_dict())
        configs[seed].seed = seed
        data[seed] = load_data(configs[seed], progress=progress)
    inputs = {
        seed: {
            name: materialize(
                source, Preprocess(d.input_shape, np.zeros(())).conform, progress=False
            )
            for name, source in (("source", d.source_train), ("target", d.target_train))
        }
        for seed, d in data.items()
    }
    trained_by_seed: dict[int, dict[str, TrainedDANN]] = {seed: {} for seed in seeds}
    results: dict[int, dict[str, dict[str, float]]] = {seed: {} for seed in seeds}
    for method in methods:
        # train_on_target learns the target's labels; its "target" half is the same data.
        labelled = "target" if method == "train_on_target" else "source"
        print(f"Training {method} ({config.steps} steps, seeds {list(seeds)}, one program)")
        settings = _settings(config, method)
        del settings["input_mode"], settings["parallel"]  # on-device, one device
        start = time.perf_counter()
        trained = fit_seeds(
            [inputs[seed][labelled][0] for seed in seeds],
            [inputs[seed][labelled][1] for seed in seeds],
            [inputs[seed]["target"][0] for seed in seeds],
            seeds=seeds,
            **settings,
            **_optimiser_settings(config),
            num_classes=data[seeds[0]].num_classes,
            input_means=[data[seed].input_mean for seed in seeds],
            progress=progress,
        )
        seconds = time.perf_counter() - start
        for seed, one in zip(seeds, trained, strict=True):
            trained_by_seed[seed][method] = one
            results[seed][method] = {"wall_time_s": seconds}
    for seed in seeds:
        workdir = workdirs[seed]
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.json").write_text(configs[seed].to_json(indent=2) + "\n")
        with open(workdir / "metrics.jsonl", "w") as log:
            for method, one in trained_by_seed[seed].items():
                for record in one.history:
                    log.write(json.dumps({"method": method, **record}) + "\n")
        for method, one in trained_by_seed[seed].items():
            checkpoint.save(
                checkpoint.manager(workdir / "checkpoints" / method, keep=config.keep_checkpoints),
                one.state,
            )
        wall_times = {method: row["wall_time_s"] for method, row in results[seed].items()}
        (workdir / "wall_times.json").write_text(json.dumps(wall_times) + "\n")
        _finish(workdir, trained_by_seed[seed], data[seed], seed, results[seed])
    return results
