"""The packaged experiment configs (ml_collections), each with its paper figures.

``dann train --config NAME`` runs one by name (:data:`NAMES`); ``--config FILE``
takes any config file, e.g. a copy of one of these. Every config starts from
:func:`base_config`, which lists every key with its meaning and the paper's value.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import ml_collections

NAMES = (
    "default",
    "moons",
    "mnist_local_to_mnist_m_local",
    "mnist_to_mnist_m",
    "svhn_to_mnist",
    "syn_digits_to_svhn",
    "syn_signs_to_gtsrb",
)


def base_config() -> ml_collections.ConfigDict:
    """Every key an experiment config has, at the paper's values; configs override some.

    The training keys (``steps`` to ``checkpoint_every``) are the fields of
    :class:`dann_jax.settings.TrainSettings`, by the same names.
    """
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
    config.model = "mnist"  # "mnist", "svhn", "gtsrb" or "shallow"
    config.method = "source_only,dann"  # comma-separated; also "train_on_target"
    config.steps = 1000
    config.batch_size = 128  # half source, half target
    config.seed = 0  # seeds the data, initialisation and batch order
    config.learning_rate = 0.01  # mu_0
    config.anneal_learning_rate = True  # mu_p = mu_0 / (1 + 10 p) ** 0.75, else mu_0
    config.momentum = 0.9
    config.adaptation = "annealed"  # lambda_p = 2 / (1 + exp(-gamma p)) - 1, or "constant" 1
    config.gamma = 10.0
    config.domain_loss_weight = 1.0  # of the joint-batch mean; 2 gives JMLR's sum of two means
    config.log_every = 50
    config.input_mode = "auto"  # "device" (data on the device, lax.scan), "stream" or "auto"
    config.steps_per_dispatch = 50  # steps per lax.scan in "device" mode
    config.parallel = "auto"  # "shard_map" over all devices when there are several, "pmap", "none"
    config.checkpoint_every = 0  # steps between checkpoints (any, 0: only the final state)
    config.keep_checkpoints = 3  # the latest checkpoints kept per method
    config.tensorboard = False  # also write TensorBoard event files (tensorboardX, no TensorFlow)
    # JAX's persistent compilation cache for `dann train`: "auto" (the user's cache
    # folder, $XDG_CACHE_HOME or ~/.cache, then dann_jax/jax), a folder, or "" (off).
    config.compilation_cache = "auto"
    # The paper's target accuracy per method, shown beside ours in the results tables.
    config.paper_target_accuracy = ml_collections.ConfigDict()
    return config


def config_file(name_or_path: str | Path) -> Path:
    """The file of a packaged config called ``name_or_path`` (see :data:`NAMES`), or
    ``name_or_path`` itself when it names no packaged config."""
    if str(name_or_path) in NAMES:
        return Path(str(resources.files(__name__) / f"{name_or_path}.py"))
    return Path(name_or_path)


def with_config_file(argv: list[str], default: str = "default") -> tuple[list[str], Path]:
    """``argv`` with a packaged config's name after ``--config`` made its file, and the
    config file it names (``default``'s when there is no ``--config``), for
    ``ml_collections.config_flags``, which takes files only."""
    argv = list(argv)
    for index, argument in enumerate(argv):
        if argument.startswith("--config="):
            path = config_file(argument.split("=", 1)[1])
            argv[index] = f"--config={path}"
            return argv, path
        if argument == "--config" and index + 1 < len(argv):
            path = config_file(argv[index + 1])
            argv[index + 1] = str(path)
            return argv, path
    return argv, config_file(default)
