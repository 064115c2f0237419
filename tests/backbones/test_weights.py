"""Pretrained weights without PyTorch: .safetensors files and Hugging Face Hub repositories
(from its cache, offline) through the one loader, and its errors."""

import re
import sys

import numpy as np
import pytest
from huggingface_hub import constants
from safetensors.numpy import save_file

from dann_jax import backbones, configs
from dann_jax.backbones import torchvision, weights
from dann_jax.runs.plan import make_plan

PINNED = backbones.HUB_WEIGHTS["resnet50"]
REPOSITORY, _, COMMIT = PINNED.partition("@")


@pytest.fixture(scope="module")
def state_dict():
    """Random arrays under torchvision's ResNet-50 names and in its layout (with the
    classifier), as a safetensors file of the Hub holds them."""
    rng = np.random.default_rng(0)
    layout = torchvision._torch_layout("resnet50", 1000)
    return {key: rng.normal(size=shape).astype(np.float32) for key, (_, shape) in layout.items()}


@pytest.fixture(scope="module")
def safetensors_file(state_dict, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    save_file(state_dict, path)
    return path


@pytest.fixture
def without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, offline: what a machine without a connection has."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hub"


def cache(hub_cache, repository, file, commit="0123456789abcdef0123456789abcdef01234567"):
    """Puts ``file`` where huggingface_hub keeps a repository's model.safetensors."""
    folder = hub_cache / f"models--{repository.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    (folder / "snapshots" / commit).mkdir(parents=True)
    (folder / "snapshots" / commit / "model.safetensors").write_bytes(file.read_bytes())


def test_a_safetensors_file_converts_as_its_arrays_do_without_torch(
    state_dict, safetensors_file, without_torch
):
    loaded = backbones.load_pretrained("resnet50", safetensors_file, include_top=True)
    expected = backbones.convert("resnet50", state_dict)
    assert loaded["params"].keys() == expected["params"].keys()
    np.testing.assert_array_equal(
        loaded["params"]["layer2_0"]["conv2"]["kernel"],
        expected["params"]["layer2_0"]["conv2"]["kernel"],
    )
    headless = backbones.load_pretrained("resnet50", str(safetensors_file))
    assert "fc" not in headless["params"] and "fc" in loaded["params"]


def test_a_hub_repository_is_read_from_the_cache_offline_and_names_its_commit(
    state_dict, safetensors_file, hub_cache, without_torch, caplog
):
    cache(hub_cache, REPOSITORY, safetensors_file)
    with caplog.at_level("INFO", logger="dann_jax"):
        variables = backbones.load_pretrained("resnet50", REPOSITORY)
    assert "timm/resnet50.tv_in1k at commit 0123456789abcdef" in caplog.text
    # The default is pinned to a commit, which the cache keeps under its own name.
    assert re.fullmatch("[0-9a-f]{40}", COMMIT)
    cache(hub_cache, REPOSITORY, safetensors_file, commit=COMMIT)
    caplog.clear()
    with caplog.at_level("INFO", logger="dann_jax"):
        backbones.load_pretrained("resnet50", PINNED)
    assert f"timm/resnet50.tv_in1k at commit {COMMIT}" in caplog.text
    np.testing.assert_array_equal(
        variables["params"]["conv1"]["kernel"], state_dict["conv1.weight"].transpose(2, 3, 1, 0)
    )


def test_a_repository_not_cached_offline_is_one_line_naming_it_and_the_way_on(hub_cache):
    with pytest.raises(ValueError) as error:
        backbones.load_pretrained("resnet50", "timm/resnet50.a1_in1k@main")
    message = str(error.value)
    assert "model.safetensors of the Hub repository timm/resnet50.a1_in1k" in message
    assert "hf download timm/resnet50.a1_in1k model.safetensors --revision main" in message
    assert "--config.pretrained=FILE.safetensors" in message


def test_sources_of_no_known_form_and_unreadable_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"give a Hugging Face Hub repository \(owner/name"):
        backbones.load_pretrained("resnet50", "weights.bin")
    with pytest.raises(ValueError, match="not found"):
        backbones.load_pretrained("resnet50", tmp_path / "absent.safetensors")
    (tmp_path / "torn.safetensors").write_bytes(b"\x10\x00")
    with pytest.raises(ValueError, match="is not a safetensors file that reads"):
        backbones.load_pretrained("resnet50", tmp_path / "torn.safetensors")
    assert weights.describe_source("owner/name@v1.0") == "hub"


def test_an_office_config_starts_from_a_safetensors_file_without_torch(
    safetensors_file, without_torch
):
    config = configs.load("office31_amazon_webcam")
    assert config.pretrained == PINNED  # the default: no torch needed
    config.pretrained = str(safetensors_file)
    variables = make_plan(config).starting_variables
    backbone = variables["params"]["feature_extractor"]["feature_extractor"]
    assert backbone["conv1"]["kernel"].shape == (7, 7, 3, 64) and "fc" not in backbone
    config.pretrained = str(safetensors_file.with_name("absent.safetensors"))
    with pytest.raises(ValueError, match=r"pretrained file .*absent\.safetensors not found"):
        make_plan(config)
