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

from dann_jax.configs import image_folders, office
from dann_jax.core import settings

NAMES = (
    "default",
    "moons",
    "mnist_to_mnist_m_local",
    "mnist_local_to_mnist_m_local",
    "mnist_to_mnist_m",
    "svhn_to_mnist",
    "syn_digits_to_svhn",
    "syn_signs_to_gtsrb",
)


# The keys of a run that are not training settings: its data, network, starting point,
# run folder and what it is compared with. Key -> (default, meaning).
_DATA_KEYS = {
    "name": ("experiment", "the run's name; run folders default to runs/<name>-<time>"),
    "dataset": (
        "digits_to_blended_digits",
        "an offline dataset (digits_to_blended_digits, moons), MNIST idx files (mnist_m_local: "
        "the paper's MNIST -> MNIST-M; mnist_local: one set split in halves), tfds, or "
        "image_folder (data_dir/<domain>/<class>/<image>; source and target name domains)",
    ),
    "source": ("", "the source's TFDS name (e.g. mnist) or image folder (e.g. amazon)"),
    "target": ("", "the target's TFDS name (e.g. mnist_m) or image folder"),
    "data_dir": (
        "",
        "tfds: the prepared datasets (empty: $TFDS_DATA_DIR or ~/tensorflow_datasets); "
        "image_folder: the folder of the domain folders",
    ),
    "train_split": ("train", "dataset=tfds: the training split of both domains"),
    "test_split": ("test", "dataset=tfds: the test split of both domains"),
    "input_shape": (
        (28, 28, 3),
        "dataset=tfds or image_folder: images are resized and made RGB to this",
    ),
    "mean_sample": (10_000, "dataset=tfds or image_folder: records per domain behind the mean"),
    "model": (
        "mnist",
        "the network: mnist, svhn, gtsrb, shallow, resnet50, alexnet, vit_b16, a registered name, "
        "or package.module:function",
    ),
}
_RUN_KEYS = {
    "init_variables": (
        "",
        "an .npz of variables to start from (dann_jax.core.variables.save); empty: fresh",
    ),
    "pretrained": (
        "",
        "model=resnet50, alexnet or vit_b16: ImageNet weights for the backbone, a Hugging Face Hub "
        "repository (owner/name[@revision], e.g. timm/resnet50.tv_in1k), a .safetensors or "
        ".pth file, or 'torchvision' (downloaded by torch); empty: none",
    ),
    "input_normalization": (
        "dataset",
        "dataset: subtract the domains' per-channel mean; imagenet: ImageNet's mean and std",
    ),
    "keep_checkpoints": (3, "the latest checkpoints kept per method; 0: all (for dann select)"),
    "tensorboard": (False, "also write TensorBoard event files (tensorboardX, no TensorFlow)"),
    "compilation_cache": (
        "auto",
        "JAX's persistent compilation cache: auto ($XDG_CACHE_HOME or ~/.cache, then "
        "dann_jax/jax), a folder, or empty (off)",
    ),
    "plots": (
        True,
        "draw the figures: training curves, a t-SNE of the test features, moons' decision "
        "boundaries (False: none, e.g. for sweeps; they take seconds per run)",
    ),
    "paper_target_accuracy": ({}, "the paper's target accuracy per method, beside ours"),
}
# Training keys whose config form differs from the setting's: a run names its methods
# comma-separated, and lists the network's three parts so that each can be set alone.
_CONFIG_FORMS = {
    "method": (
        "source_only,dann",
        "comma-separated: source_only, dann, and train_on_target (the source-only network "
        "trained on the labelled target, an upper reference)",
    ),
    "learning_rate_multipliers": (
        {"feature_extractor": 1.0, "label_head": 1.0, "domain_head": 1.0},
        settings.meanings(settings.TrainSettings)["learning_rate_multipliers"]
        + " (--config.learning_rate_multipliers.feature_extractor=0.1; config files may "
        "name deeper parts)",
    ),
}


def _training_keys() -> dict[str, tuple[object, str]]:
    """The training keys: the fields of TrainSettings, with a run's defaults."""
    meanings = settings.meanings(settings.TrainSettings)
    defaults = settings.defaults(settings.TrainSettings) | settings.RUN_DEFAULTS
    return {
        name: _CONFIG_FORMS.get(name, (defaults[name], meaning))
        for name, meaning in meanings.items()
    }


# Every key of an experiment config: its default and what it means. The training keys
# are generated from dann_jax.core.settings, where their defaults and meanings live.
KEYS = _DATA_KEYS | _training_keys() | _RUN_KEYS


def base_config() -> ml_collections.ConfigDict:
    """Every key an experiment config has (:data:`KEYS`), at its default.

    The training keys are the fields of :class:`dann_jax.core.settings.TrainSettings`,
    by the same names.
    """
    return ml_collections.ConfigDict({name: default for name, (default, _) in KEYS.items()})


def keys_table() -> str:
    """Every config key with its default and meaning, as a markdown table (the guide's)."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for name, (default, meaning) in KEYS.items():
        shown = "" if default == "" else f"`{default}`"
        lines.append(f"| `{name}` | {shown} | {meaning.replace('<', '&lt;')} |")
    return "\n".join(lines) + "\n"


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
GENERATED = {name: "office" for name in office.NAMES} | {
    name: "image_folders" for name in image_folders.NAMES
}
FAMILIES = (
    "image_folders, image_folders_resnet50 (your own folders), "
    "office31_<source>_<target>, office_home_<source>_<target>"
)


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
    """What ``--config`` gives ``ml_collections.config_flags``: a file, or ``FILE:ARGUMENT``."""
    path, argument = _file_and_argument(name_or_path)
    return str(path) if argument is None else f"{path}:{argument}"


def with_config_file(argv: list[str], default: str = "default") -> tuple[list[str], str]:
    """``argv`` with a packaged config's name after ``--config`` made its file (or
    ``FILE:ARGUMENT``), for ``ml_collections.config_flags``, which takes files only, and the
    config it names (``default`` when there is no ``--config``), for :func:`load`.

    Raises:
      ValueError: ``--config`` is given more than once.
    """
    argv = list(argv)
    given = [a for a in argv if a == "--config" or a.startswith("--config=")]
    if len(given) > 1:
        raise ValueError(
            f"--config is given {len(given)} times; pass one config (--config.KEY=VALUE "
            "overrides its keys)."
        )
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
