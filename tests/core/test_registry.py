"""The network registry: the packaged networks and users' names in one table, any form a
user gives turned into a DANN, and what a packaged network takes as inputs."""

import numpy as np
import pytest

import dann_jax
from dann_jax.core import registry
from dann_jax.core.networks import DANN


@pytest.mark.parametrize("name", ["mnist", "svhn", "gtsrb", "shallow"])
def test_every_packaged_network_is_a_registered_dann(name):
    assert name in registry.MODEL_NAMES
    assert isinstance(registry.build_model(name, 7), DANN)


def test_the_backbones_are_registered_and_load_only_when_built():
    assert set(registry.BACKBONE_NAMES) <= set(registry.MODEL_NAMES)
    assert registry.input_requirements("resnet50") == registry.InputRequirements(4, 32)


def test_build_model_takes_every_form_a_user_gives():
    network = dann_jax.dann_network(registry.build_model("mnist", 3).feature_extractor, 3)
    assert registry.build_model(network, 3) is network  # a DANN as it is
    by_path = registry.build_model("dann_jax.core.registry:_shallow", 2)  # an import path
    assert by_path == registry.build_model("shallow", 2)


def test_a_users_name_may_be_given_again_but_never_a_packaged_ones():
    @dann_jax.register_network("twice_for_test")
    def first(num_classes):
        return registry.build_model("shallow", num_classes)

    @dann_jax.register_network("twice_for_test")
    def second(num_classes):  # a notebook cell run again: the later function wins
        return registry.build_model("mnist", num_classes)

    assert registry.build_model("twice_for_test", 2) == registry.build_model("mnist", 2)
    for name in ("shallow", "my:net"):
        with pytest.raises(ValueError, match="cannot be registered"):
            dann_jax.register_network(name)
    assert registry.input_requirements("twice_for_test") == registry.InputRequirements()


def test_an_unknown_name_lists_the_packaged_networks_once():
    with pytest.raises(ValueError) as raised:
        registry.build_model("resnet", 10)
    assert str(raised.value).count("'mnist'") == 1


def test_user_inputs_are_checked_against_the_network_they_are_for():
    images = np.zeros((2, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="the mnist network needs at least 16x16"):
        registry.check_inputs("images", images, "mnist")
    with pytest.raises(ValueError, match="model='shallow' takes feature vectors"):
        registry.check_inputs("images", images, "shallow")
    registry.check_inputs("images", images, dann_jax.build_model("shallow", 2))  # a user's: any


def test_an_import_path_finds_a_module_in_the_current_folder_as_python_m_does(
    tmp_path, monkeypatch
):
    (tmp_path / "nets_beside_me.py").write_text(
        "import dann_jax\n\n\ndef make(num_classes):\n"
        "    return dann_jax.build_model('shallow', num_classes)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])
    assert registry.build_model("nets_beside_me:make", 2) == registry.build_model("shallow", 2)
    with pytest.raises(ValueError, match="or its file in the current folder"):
        registry.build_model("nets_nowhere:make", 2)
