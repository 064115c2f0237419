"""torchvision's ResNet-50 and AlexNet in Flax: outputs equal PyTorch's under converted weights,
BatchNorm's training modes, and the loading of .pth files with its errors."""

import contextlib
import functools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dann_jax import backbones
from dann_jax.core.networks import dann_network
from dann_jax.core.registry import check_outputs

torch = pytest.importorskip("torch")

# torchvision's compiled ops here were built for a CUDA torch and do not load; importing
# torchvision then registers fake kernels for nms and qnms, which fails unless their schemas
# exist. Its models need none of its ops, so define the two schemas (a working torchvision
# has them already).
_shim = torch.library.Library("torchvision", "DEF")  # kept: dropping it deletes the schemas
for _schema in (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
):
    with contextlib.suppress(RuntimeError):
        _shim.define(_schema)
torchvision = pytest.importorskip("torchvision")


def _randomise_batch_norm(model):
    """Random BatchNorm scales, shifts and running statistics, so that converting them
    wrongly shows; scales below one keep the activations O(1) through the residual sums."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.1, 0.4)
            module.bias.data.uniform_(-0.5, 0.5)
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)


@pytest.fixture(scope="module")
def torch_resnet50():
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    _randomise_batch_norm(model)
    return model.eval()


@pytest.fixture(scope="module")
def torch_alexnet():
    torch.manual_seed(1)
    return torchvision.models.alexnet().eval()


@pytest.fixture(scope="module")
def timm_vit():
    """timm's ViT-B/16 with every parameter random (its biases, norms and tokens too)."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(2)
    model = timm.create_model("vit_base_patch16_224", pretrained=False)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.02 * torch.randn_like(parameter))
    return model.eval()


@pytest.fixture(scope="module")
def resnet50_file(torch_resnet50, tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoints") / "resnet50.pth"
    torch.save(torch_resnet50.state_dict(), path)
    return path


def _torch_features_and_logits(model, classifier, images):
    """PyTorch's logits of NHWC ``images`` and the input of its last layer ``classifier``."""
    captured = []
    hook = classifier.register_forward_hook(lambda module, inputs, output: captured.append(inputs))
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))
    finally:
        hook.remove()
    return captured[0][0].numpy(), logits.numpy()


def _headless(state_dict, classifier):
    return {key: value for key, value in state_dict.items() if not key.startswith(classifier)}


def _apply(module, variables, images):
    return np.asarray(jax.jit(module.apply)(variables, images))


def _assert_close(ours, expected):
    """Equal within float32 rounding: 1e-4 relative, and absolute to 1e-4 of the largest
    output (AlexNet's random logits are about 0.03, ResNet-50's about 1)."""
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def _images(count, size):
    return np.random.default_rng(0).normal(size=(count, size, size, 3)).astype(np.float32)


def _check_equal(name, model, classifier, images, feature_width):
    """Our ``name`` network's logits and features (``classifier``'s input) equal the
    reference ``model``'s, under its converted weights with and without the classifier."""
    features, logits = _torch_features_and_logits(model, classifier, images)
    state_dict = model.state_dict()
    whole = backbones.convert(name, state_dict)
    _assert_close(_apply(backbones.backbone(name, include_top=True), whole, images), logits)
    top = next(name for name, module in model.named_modules() if module is classifier)
    headless = _headless(state_dict, f"{top}.")
    ours = _apply(backbones.backbone(name), backbones.convert(name, headless), images)
    assert ours.shape == (len(images), feature_width)
    _assert_close(ours, features)


@pytest.mark.slow
def test_resnet50_features_and_logits_equal_torchvisions(torch_resnet50):
    _check_equal("resnet50", torch_resnet50, torch_resnet50.fc, _images(2, 64), 2048)


@pytest.mark.slow
def test_vit_b16_features_and_logits_equal_timms(timm_vit):
    _check_equal("vit_b16", timm_vit, timm_vit.head, _images(2, 224), 768)


@pytest.mark.parametrize("size", [224, 127])  # 127: a 3x3 map that the adaptive pool repeats
@pytest.mark.slow
def test_alexnet_features_and_logits_equal_torchvisions(torch_alexnet, size):
    _check_equal("alexnet", torch_alexnet, torch_alexnet.classifier[6], _images(2, size), 4096)


def test_timms_vit_names_map_onto_the_flax_vit(timm_vit, torch_resnet50):
    variables = backbones.convert("vit_b16", timm_vit.state_dict())
    params = variables["params"]
    assert params["cls_token"].shape == (1, 1, 768) and params["pos_embed"].shape == (1, 197, 768)
    assert params["patch_embed"]["kernel"].shape == (16, 16, 3, 768)
    assert params["blocks_11"]["attn"]["qkv"]["kernel"].shape == (768, 2304)
    assert params["head"]["kernel"].shape == (768, 1000) and "batch_stats" not in variables
    with pytest.raises(ValueError, match=r"'patch_embed\.proj\.weight'.*timm's vit_b16\?"):
        backbones.convert("vit_b16", torch_resnet50.state_dict())
    with pytest.raises(ValueError, match="torchvision has no vit_b16 weights"):
        backbones.load_pretrained("vit_b16", "torchvision")


@pytest.mark.parametrize("height, width", [(6, 6), (3, 2), (8, 13), (17, 7)])
def test_adaptive_avg_pool_equals_pytorchs(height, width):
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype(np.float32)
    expected = torch.nn.functional.adaptive_avg_pool2d(
        torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), (6, 6)
    )
    ours = np.asarray(backbones.adaptive_avg_pool(jnp.asarray(x), (6, 6)))
    np.testing.assert_allclose(ours, expected.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def small_resnet():
    """Images (4, 32, 32, 3) and variables of a ResNet with one block per stage: He-normal
    kernels and BatchNorm's initial values, as Flax's initialisers give, but drawn by NumPy
    (compiling the initialisers of its 8 million parameters takes seconds)."""
    images = jnp.asarray(_images(4, 32))
    network = backbones.backbone("resnet50", stage_sizes=(1, 1, 1, 1))
    shapes = jax.eval_shape(network.init, jax.random.key(0), images)
    rng = np.random.default_rng(0)

    def draw(path, leaf):
        name = path[-1].key
        if name == "kernel":
            fan_in = np.prod(leaf.shape[:-1])
            return rng.normal(0, np.sqrt(2 / fan_in), leaf.shape).astype(np.float32)
        return np.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, np.float32)

    return images, jax.tree_util.tree_map_with_path(draw, shapes)


def _batch_norm_runs(small_resnet, frozen_batch_norm):
    """The small ResNet's eval output, train output and batch_stats before and after."""
    images, variables = small_resnet
    network = backbones.backbone(
        "resnet50", stage_sizes=(1, 1, 1, 1), frozen_batch_norm=frozen_batch_norm
    )
    evaluated = jax.jit(network.apply)(variables, images)
    train = jax.jit(functools.partial(network.apply, train=True, mutable=["batch_stats"]))
    trained, updates = train(variables, images)
    return evaluated, trained, variables["batch_stats"], updates["batch_stats"]


def test_resnet_training_uses_and_updates_batch_statistics(small_resnet):
    evaluated, trained, before, after = _batch_norm_runs(small_resnet, frozen_batch_norm=False)

    assert not np.allclose(trained, evaluated)
    changed = jax.tree.leaves(jax.tree.map(lambda a, b: not np.allclose(a, b), before, after))
    assert all(changed)


def test_frozen_batch_norm_trains_with_and_keeps_running_averages(small_resnet):
    evaluated, trained, before, after = _batch_norm_runs(small_resnet, frozen_batch_norm=True)

    np.testing.assert_allclose(trained, evaluated, rtol=1e-6, atol=1e-6)
    jax.tree.map(np.testing.assert_array_equal, before, after)


@pytest.mark.parametrize("name", backbones.BACKBONES)
def test_backbones_are_dann_feature_extractors(name):
    network = dann_network(backbones.backbone(name), num_classes=31, bottleneck_units=256)

    check_outputs(network, jnp.zeros((2, 64, 64, 3)), num_classes=31)


def test_load_torchvision_reads_a_pth_as_convert_converts(torch_resnet50, resnet50_file):
    converted = backbones.convert("resnet50", torch_resnet50.state_dict())

    loaded = backbones.load_torchvision("resnet50", resnet50_file, include_top=True)
    assert jax.tree.structure(loaded) == jax.tree.structure(converted)
    jax.tree.map(np.testing.assert_array_equal, loaded, converted)
    headless = backbones.load_torchvision("resnet50", str(resnet50_file))
    assert set(headless["params"]) == set(converted["params"]) - {"fc"}
    assert headless["batch_stats"].keys() == converted["batch_stats"].keys()


def test_a_safetensors_file_of_torchvision_weights_loads_as_its_pth(
    torch_resnet50, resnet50_file, tmp_path
):
    from safetensors.torch import save_file

    save_file(torch_resnet50.state_dict(), tmp_path / "model.safetensors")
    from_safetensors = backbones.load_pretrained("resnet50", tmp_path / "model.safetensors")
    from_pth = backbones.load_pretrained("resnet50", resnet50_file)
    assert jax.tree.structure(from_safetensors) == jax.tree.structure(from_pth)
    jax.tree.map(np.testing.assert_array_equal, from_safetensors, from_pth)


def test_convert_takes_numpy_arrays_as_tensors(torch_resnet50):
    state_dict = _headless(torch_resnet50.state_dict(), "fc.")
    arrays = {key: value.numpy() for key, value in state_dict.items()}

    converted = backbones.convert("resnet50", arrays)
    jax.tree.map(
        np.testing.assert_array_equal, converted, backbones.convert("resnet50", state_dict)
    )
    assert converted["params"]["conv1"]["kernel"].shape == (7, 7, 3, 64)
    assert converted["params"]["layer1_0"]["downsample_bn"]["scale"].dtype == np.float32


def test_load_torchvision_downloads_torchvisions_imagenet_weights(torch_alexnet, monkeypatch):
    requests = []

    def download(url, **options):
        requests.append((url, options))
        return torch_alexnet.state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", download)

    variables = backbones.load_torchvision("alexnet")
    assert requests == [
        (
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            {"map_location": "cpu", "check_hash": True, "weights_only": True},
        )
    ]
    assert set(variables["params"]) == {f"conv{i}" for i in range(1, 6)} | {"fc6", "fc7"}


def test_a_failed_download_says_to_give_a_file(monkeypatch):
    def offline(url, **options):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ValueError, match=r"could not be downloaded.*--config.pretrained=FILE"):
        backbones.load_torchvision("resnet50")


def test_a_checkpoint_of_another_network_is_refused_by_name(torch_alexnet, resnet50_file):
    with pytest.raises(
        ValueError, match=r"missing key.*'conv1.weight'.*checkpoint of torchvision's resnet50\?"
    ):
        backbones.convert("resnet50", torch_alexnet.state_dict())
    with pytest.raises(
        ValueError, match=r"'features.0.weight'.*checkpoint of torchvision's alexnet\?"
    ):
        backbones.load_torchvision("alexnet", resnet50_file)


def test_a_checkpoint_with_a_wrong_shape_is_refused_by_key(torch_alexnet):
    state_dict = dict(torch_alexnet.state_dict())
    state_dict["features.3.weight"] = torch.zeros(192, 32, 5, 5)

    with pytest.raises(ValueError, match=r"'features.3.weight' has shape \(192, 32, 5, 5\)"):
        backbones.convert("alexnet", state_dict)


def test_load_torchvision_refuses_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        backbones.load_torchvision("resnet50", tmp_path / "absent.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a state_dict"):
        backbones.load_torchvision("resnet50", tmp_path / "garbage.pth")


def test_include_top_needs_a_classifier_in_the_checkpoint(torch_resnet50, monkeypatch):
    headless = _headless(torch_resnet50.state_dict(), "fc.")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda url, **options: headless)

    assert "fc" not in backbones.load_torchvision("resnet50")["params"]
    with pytest.raises(ValueError, match=r"no classifier \('fc'\) for include_top=True"):
        backbones.load_torchvision("resnet50", include_top=True)


def test_unknown_names_and_resnet_options_for_alexnet_are_refused():
    with pytest.raises(ValueError, match="Unknown backbone 'vgg16'"):
        backbones.backbone("vgg16")
    with pytest.raises(ValueError, match="Unknown backbone 'vgg16'"):
        backbones.convert("vgg16", {})
    with pytest.raises(ValueError, match="apply to resnet50 only"):
        backbones.backbone("alexnet", frozen_batch_norm=True)


def test_load_torchvision_without_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError

    with pytest.raises(ImportError, match=r"pip install 'dann_jax\[torchvision\]'"):
        backbones.load_torchvision("resnet50")


def test_importing_the_backbones_does_not_import_torch():
    code = "import sys, dann_jax.backbones; sys.exit('torch' in sys.modules)"

    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
