"""The Office configs end to end under tfds.testing.mock_data, with small images and
reduced-depth backbones; pretrained backbones placed under the bottleneck."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from dann_jax import backbones, cli, configs
from dann_jax.runs.plan import make_plan

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("config", "model", "shape", "crop"),
    [
        # Office-Home's configs are Office-31's with other domains (CI time: one of them).
        ("office31_amazon_webcam", "small_backbones:resnet", "(40, 40, 3)", 32),
        ("office31_alexnet_dslr_webcam", "small_backbones:alexnet", "(72, 72, 3)", 64),
    ],
)
def test_office_configs_train_end_to_end(tmp_path, config, model, shape, crop):
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=12):
        status = cli.main(
            [
                "train", "--noprogress", f"--config={config}", f"--config.model={model}",
                f"--config.input_shape={shape}", f"--config.crop_size={crop}",
                "--config.pretrained=", "--config.steps=2", "--config.log_every=2",
                "--config.batch_size=8", "--config.input_mode=stream",
                "--config.parallel=none", "--config.method=dann", "--config.plots=False",
                f"--workdir={workdir}",
            ]
        )  # fmt: skip
    assert status == 0
    results = json.loads((workdir / "results.json").read_text())
    assert 0.0 <= results["dann"]["target_accuracy"] <= 1.0
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["augmentation"] == "crop_flip" and saved["input_normalization"] == "imagenet"


def test_every_pair_has_a_config_with_the_protocol():
    assert len(configs.office.NAMES) == 6 + 12 + 3 + 12
    config = configs.load("office_home_clipart_product")
    assert (config.source, config.target) == ("office_home/clipart", "office_home/product")
    assert config.test_split == config.train_split == "train"  # transductive
    assert config.batch_size == 64 and config.crop_size == 224 and config.model == "resnet50"
    assert config.learning_rate_multipliers["feature_extractor/feature_extractor"] == 0.1
    assert configs.load("office31_alexnet_amazon_webcam").paper_target_accuracy.dann == 0.730
    vit = configs.load("office_home_vit_art_clipart")  # tllib's ViT recipe: 24 + 24, 30 epochs
    assert (vit.model, vit.batch_size, vit.steps, vit.crop_size) == ("vit_b16", 48, 30_000, 224)
    assert vit.pretrained == backbones.HUB_WEIGHTS["vit_b16"]
    assert vit.pretrained.startswith("timm/vit_base_patch16_224.augreg2_in21k_ft_in1k@")
    with pytest.raises(ValueError, match="Unknown Office config"):
        configs.office.get_config("office31_amazon_amazon")


def test_pretrained_weights_go_under_the_bottleneck(monkeypatch):
    config = configs.load("office31_amazon_webcam")
    fake = {"params": {"conv1": {"kernel": np.ones(2)}}, "batch_stats": {"bn1": {"mean": 0}}}
    asked = []
    monkeypatch.setattr(backbones, "load_pretrained", lambda *a: asked.append(a) or fake)
    variables = make_plan(config).starting_variables
    assert asked == [("resnet50", backbones.HUB_WEIGHTS["resnet50"])]
    assert variables["params"]["feature_extractor"]["feature_extractor"] == fake["params"]
    assert variables["batch_stats"]["feature_extractor"]["feature_extractor"]["bn1"] == {"mean": 0}
    config.pretrained = "/no/such/weights.pth"
    with pytest.raises(ValueError, match=r"pretrained file /no/such/weights\.pth not found"):
        make_plan(config)
    config.pretrained, config.model = "torchvision", "mnist"
    with pytest.raises(ValueError, match="pretrained weights are for model="):
        make_plan(config)


def write_images(folder, count, rng):
    folder.mkdir(parents=True)
    for index in range(count):
        side = int(rng.integers(12, 30))
        pixels = rng.integers(0, 256, size=(side, side + 3, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.jpg")


def test_image_folders_train_end_to_end_with_an_unlabelled_target(tmp_path, rng):
    for name in ("cat", "dog"):
        write_images(tmp_path / "data" / "paintings" / name, 6, rng)
    write_images(tmp_path / "data" / "photos", 8, rng)  # no class folders: unlabelled
    workdir = tmp_path / "run"
    arguments = [
        "train", "--noprogress", f"--config.data_dir={tmp_path / 'data'}",
        "--config.dataset=image_folder", "--config.source=paintings", "--config.target=photos",
        "--config.input_shape=(20, 20, 3)", "--config.crop_size=16",
        "--config.augmentation=crop_flip", "--config.steps=2", "--config.log_every=2",
        "--config.batch_size=8", "--config.parallel=none", "--config.plots=False",
    ]  # fmt: skip
    assert cli.main([*arguments, "--config.method=dann", f"--workdir={workdir}"]) == 0
    results = json.loads((workdir / "results.json").read_text())
    assert "target_accuracy" not in results["dann"]  # no labels to score on
    assert 0.0 <= results["dann"]["source_accuracy"] <= 1.0
    refused = [*arguments, "--config.method=train_on_target", f"--workdir={tmp_path / 'x'}"]
    assert cli.main(refused) == 2
