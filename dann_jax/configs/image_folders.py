"""Your own images in folders: ``DATA_DIR/<domain>/<class>/<image>``, the target with or
without class folders (an unlabelled target holds its images directly).

- ``image_folders``: small images (digits, icons, glyphs), the paper's MNIST network on
  28 x 28 RGB, batch 64 + 64, the paper's schedules, 1,600 steps (the offline default's
  budget: minutes on 2 CPU cores).
- ``image_folders_resnet50``: photos, an ImageNet-pretrained ResNet-50 under the paper's
  Office head, trained as the Office configs train it (32 + 32 crops of 224 from 256,
  the backbone at a tenth of the rate, torchvision's weights; 20,000 steps, an
  accelerator's job: one step takes tens of seconds on 2 CPU cores, BENCHMARKS.md).

Both keep a checkpoint every tenth of the run, all of them, so that ``dann select``
can choose one without target labels, and ``dann predict`` labels files with it::

    dann train --config image_folders --config.data_dir=DIR --config.source=digits \\
        --config.target=photos
    dann select --workdir runs/image_folders-...
    dann predict --workdir runs/image_folders-... DIR/photos --out predictions.csv

The protocol is transductive: every domain is trained on and evaluated whole, so the
source's accuracy is a training accuracy and the target's (where it has labels) a
transductive one.
"""

from __future__ import annotations

NAMES = ("image_folders", "image_folders_resnet50")


def get_config(name: str = "image_folders"):
    """The config ``name`` (one of :data:`NAMES`)."""
    from dann_jax.backbones.weights import HUB_WEIGHTS
    from dann_jax.configs import base_config
    from dann_jax.core.settings import NETWORK_DEFAULTS

    if name not in NAMES:
        raise ValueError(f"Unknown config {name!r}; choose one of {NAMES}.")
    config = base_config()
    config.name = name
    config.dataset = "image_folder"
    config.method = "source_only,dann"
    if name == "image_folders":
        config.model = "mnist"
        config.input_shape = (28, 28, 3)
        config.steps = 1600
    else:
        config.model = "resnet50"
        config.pretrained = HUB_WEIGHTS["resnet50"]
        config.input_shape = (256, 256, 3)
        config.input_normalization = "imagenet"
        settings = NETWORK_DEFAULTS["resnet50"]
        config.batch_size = settings["batch_size"]
        config.crop_size = settings["crop_size"]
        config.augmentation = settings["augmentation"]
        config.learning_rate_multipliers.update(settings["learning_rate_multipliers"])
        config.steps = 20_000
        config.log_every = config.steps_per_dispatch = 100
    config.checkpoint_every = config.steps // 10
    config.keep_checkpoints = 0  # every candidate, for dann select
    return config
