"""The packaged experiment configs (ml_collections), each with its paper figures.

``dann train --config NAME`` runs one by name (:data:`NAMES`); ``--config FILE``
takes any config file, e.g. a copy of one of these. Every config starts from
:func:`base_config`, which lists every key with its meaning and the paper's value.
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import ml_collections

from dann_jax.configs import office

NAMES = (
    "default",
    "moons",
    "mnist_local_to_mnist_m_local",
    "mnist_to_mnist_m",
    "svhn_to_mnist",
    "syn_digits_to_svhn",
    "syn_signs_to_gtsrb",
)


# Every key of an experiment config: its default (the paper's value where the paper
# gives one) and what it means. Configs override some; `dann train --help` lists them.
KEYS = {
    "name": ("experiment", "the run's name; run folders default to runs/<name>-<time>"),
    "dataset": (
        "digits_to_blended_digits",
        "an offline dataset (digits_to_blended_digits, moons), mnist_local, tfds, or "
        "image_folder (data_dir/<domain>/<class>/*.jpg; source and target name domains)",
    ),
    "source": ("", "the source's TFDS name (e.g. mnist) or image folder (e.g. amazon)"),
    "target": ("", "the target's TFDS name (e.g. mnist_m) or image folder"),
    "data_dir": ("", "prepared TFDS datasets; empty: $TFDS_DATA_DIR or ~/tensorflow_datasets"),
    "train_split": ("train", "dataset=tfds: the training split of both domains"),
    "test_split": ("test", "dataset=tfds: the test split of both domains"),
    "input_shape": ((28, 28, 3), "dataset=tfds: images are resized and made RGB to this"),
    "mean_sample": (10_000, "dataset=tfds: records per domain behind the input mean"),
    "model": (
        "mnist",
        "the network: mnist, svhn, gtsrb, shallow, a registered name, or package.module:function",
    ),
    "method": ("source_only,dann", "comma-separated: source_only, dann, train_on_target"),
    "steps": (1000, "SGD steps per method; the schedules reach p = 1 there"),
    "batch_size": (128, "the global batch: half source, half target"),
    "seed": (0, "seeds the data split, initialisation and batch order"),
    "learning_rate": (0.01, "mu_0"),
    "anneal_learning_rate": (True, "mu_p = mu_0 / (1 + 10 p) ** 0.75; False: mu_0 throughout"),
    "momentum": (0.9, "SGD momentum"),
    "adaptation": ("annealed", "lambda_p = 2 / (1 + exp(-gamma p)) - 1, or constant: 1"),
    "gamma": (10.0, "the steepness of the annealed lambda_p"),
    "domain_loss_weight": (
        1.0,
        "weight of the domain loss (a joint-batch mean; 2 gives JMLR's sum of two means)",
    ),
    "optimizer": ("sgd", "sgd (momentum; paper), nesterov, or adamw"),
    "weight_decay": (0.0, "sgd: L2 on the gradient; adamw: decoupled decay; 0: none"),
    "learning_rate_multipliers": (
        {"feature_extractor": 1.0, "label_head": 1.0, "domain_head": 1.0},
        "each part's learning rate as a multiple of mu, 0 freezing it "
        "(--config.learning_rate_multipliers.feature_extractor=0.1); config files may name "
        "deeper parts, e.g. feature_extractor/feature_extractor",
    ),
    "compute_dtype": ("float32", "float32, or bfloat16 with float32 params and losses"),
    "init_variables": (
        "",
        "an .npz of variables to start from (dann_jax.variables.save); empty: fresh",
    ),
    "pretrained": (
        "",
        "model=resnet50 or alexnet: ImageNet weights for the backbone, 'torchvision' "
        "(downloaded by torch) or a torchvision .pth file; empty: none",
    ),
    "input_normalization": (
        "dataset",
        "dataset: subtract the domains' per-channel mean; imagenet: ImageNet's mean and std",
    ),
    "crop_size": (0, "the network sees crop_size squares of the stored images; 0: whole"),
    "augmentation": (
        "none",
        "training crops: crop_flip, resized_crop_flip, or none (the centre square)",
    ),
    "log_every": (50, "steps per record in metrics.jsonl (and per progress-bar update)"),
    "input_mode": ("auto", "device (data on the device, lax.scan), stream, or auto"),
    "steps_per_dispatch": (50, "steps per lax.scan in device mode"),
    "parallel": ("auto", "shard_map (auto: when there are several devices), pmap or none"),
    "checkpoint_every": (500, "steps between checkpoints, any number; 0: only the final state"),
    "keep_checkpoints": (3, "the latest checkpoints kept per method; 0: all (for dann select)"),
    "tensorboard": (False, "also write TensorBoard event files (tensorboardX, no TensorFlow)"),
    "compilation_cache": (
        "auto",
        "JAX's persistent compilation cache: auto ($XDG_CACHE_HOME or ~/.cache, then "
        "dann_jax/jax), a folder, or empty (off)",
    ),
    "paper_target_accuracy": ({}, "the paper's target accuracy per method, beside ours"),
}


def base_config() -> ml_collections.ConfigDict:
    """Every key an experiment config has (:data:`KEYS`), at its default.

    The training keys (``steps`` to ``checkpoint_every``) are the fields of
    :class:`dann_jax.settings.TrainSettings`, by the same names.
    """
    return ml_collections.ConfigDict({name: default for name, (default, _) in KEYS.items()})


def describe(config: ml_collections.ConfigDict) -> str:
    """The keys of ``config``, a line each: ``--config.KEY=VALUE`` and what it means."""
    names = [name for name in KEYS if name in config]
    names += sorted(name for name in config if name not in KEYS)
    lines = []
    for name in names:
        value = config[name]
        value = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
        meaning = KEYS[name][1] if name in KEYS else "a key of this config (see its file)"
        lines.append(f"  --config.{name}={value}\n      {meaning}")
    return "\n".join(lines)


# Configs made by one function from a name (config_flags' FILE:ARGUMENT form).
GENERATED = {name: "office" for name in office.NAMES}
FAMILIES = "office31_<source>_<target>, office_home_<source>_<target>"


def _file_and_argument(name_or_path: str | Path) -> tuple[Path, str | None]:
    """The config file a name or path gives, and the argument its ``get_config`` takes."""
    text = str(name_or_path)
    if text in NAMES:
        return Path(str(resources.files(__name__) / f"{text}.py")), None
    if text in GENERATED:
        return Path(str(resources.files(__name__) / f"{GENERATED[text]}.py")), text
    path, separator, argument = text.rpartition(":")
    if separator and path.endswith(".py"):
        return Path(path), argument
    return Path(text), None


def load(name_or_path: str | Path) -> ml_collections.ConfigDict:
    """The config of a packaged config's name or of a config file (its ``get_config()``,
    or ``get_config(ARGUMENT)`` for ``FILE.py:ARGUMENT``).

    Raises:
      ValueError: there is no such file or packaged config.
    """
    path, argument = _file_and_argument(name_or_path)
    if not path.is_file():
        raise ValueError(
            f"config file {path} not found; pass --config=FILE or the name of a packaged "
            f"config: {', '.join(NAMES)}, {FAMILIES}."
        )
    spec = importlib.util.spec_from_file_location(f"dann_jax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config() if argument is None else module.get_config(argument)


def config_file(name_or_path: str | Path) -> Path:
    """The file of a packaged config called ``name_or_path`` (see :data:`NAMES` and
    :data:`GENERATED`), or the file ``name_or_path`` names."""
    return _file_and_argument(name_or_path)[0]


def config_argument(name_or_path: str | Path) -> str:
    """What ``--config`` gives ``ml_collections.config_flags``: a file, or FILE:ARGUMENT."""
    path, argument = _file_and_argument(name_or_path)
    return str(path) if argument is None else f"{path}:{argument}"


def with_config_file(argv: list[str], default: str = "default") -> tuple[list[str], str]:
    """``argv`` with a packaged config's name after ``--config`` made its file (or
    FILE:ARGUMENT), for ``ml_collections.config_flags``, which takes files only, and the
    config it names (``default`` when there is no ``--config``), for :func:`load`."""
    argv = list(argv)
    for index, argument in enumerate(argv):
        if argument.startswith("--config="):
            name = argument.split("=", 1)[1]
            argv[index] = f"--config={config_argument(name)}"
            return argv, name
        if argument == "--config" and index + 1 < len(argv):
            name = argv[index + 1]
            argv[index + 1] = config_argument(name)
            return argv, name
    return argv, default
