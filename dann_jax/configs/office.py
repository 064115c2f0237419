"""The Office benchmarks: Office-31's six pairs and Office-Home's twelve, one config each
(and the paper's three with AlexNet, Office-Home's twelve with ViT-B/16), made by one
function (``dann train --config office31_amazon_webcam``).

The protocol of the paper's Office experiments (ICML 2015 section 5.2) as DA code runs it
today (tllib): an ImageNet-pretrained backbone (ResNet-50; AlexNet, the paper's, for
``office31_alexnet_<source>_<target>``) under a 256-unit bottleneck, the domain head
1024-1024-1, 32 + 32 images per step, SGD with momentum 0.9 and the backbone at a tenth of
the new layers' rate, the paper's mu_p and lambda_p, images stored at 256 x 256 and
seen as 224 crops (random and flipped in training, the centre in evaluation) normalised
as for ImageNet. The transductive protocol: the whole target domain, unlabelled, is
trained on, and the same images are the target test set (``test_split="train"``). The
paper gives no step count; 20,000 steps follows tllib (20 epochs of 1,000 iterations).

Prepare the domains first: ``dann prepare office31/amazon --manual_dir DIR`` (and the
others; the archives cannot be downloaded by script). ResNet-50's ImageNet weights are
torchvision's, from the Hugging Face Hub (``pretrained="timm/resnet50.tv_in1k@<commit>"``,
``backbones.HUB_WEIGHTS``: no PyTorch; its cache and ``HF_HUB_OFFLINE=1`` work without a
connection); AlexNet's come from torchvision's download (``pretrained="torchvision"``,
needs torch and a connection). A ``.safetensors`` or ``.pth`` file goes in as
``--config.pretrained=FILE``.

Figures beside ours: the paper's DANN (AlexNet, ICML 2015 Table 2) for its three pairs,
in ``paper_target_accuracy``. Today's reference for ResNet-50 (tllib's DANN, chosen on
target labels): A->W 0.914, D->W 0.979, W->D 1.000, A->D 0.836, D->A 0.733, W->A 0.704
(average 0.861); SKADA-Bench, which selects without target labels, reports about 0.79 on
Office-31 and 0.59 on Office-Home (averages).

``office_home_vit_<source>_<target>``: timm's ViT-B/16 (its ImageNet-21k weights
fine-tuned on ImageNet-1k, ``timm/vit_base_patch16_224.augreg2_in21k_ft_in1k@<commit>``,
``backbones.HUB_WEIGHTS``) in the same head, with tllib's recipe for it
(``examples/domain_adaptation/image_classification/dann.sh``: ``-a vit_base_patch16_224
--no-pool -b 24 --epochs 30``): 24 + 24 images, 30,000 steps, the rest as above,
ImageNet's normalisation as tllib uses it. tllib reports an Office-Home average of 0.786
for DANN with ViT-B/16 (0.652 with ResNet-50), chosen on target labels; we have not
measured ours.
"""

from __future__ import annotations

import itertools

DOMAINS = {
    "office31": ("amazon", "dslr", "webcam"),
    "office_home": ("art", "clipart", "product", "real_world"),
}
# ICML 2015 Table 2: DANN with AlexNet on the three pairs the paper reports.
PAPER_ALEXNET = {
    ("amazon", "webcam"): 0.730,
    ("dslr", "webcam"): 0.964,
    ("webcam", "dslr"): 0.992,
}
NAMES = (
    tuple(
        f"{dataset}_{source}_{target}"
        for dataset, domains in DOMAINS.items()
        for source, target in itertools.permutations(domains, 2)
    )
    + tuple(f"office31_alexnet_{source}_{target}" for source, target in PAPER_ALEXNET)
    + tuple(
        f"office_home_vit_{source}_{target}"
        for source, target in itertools.permutations(DOMAINS["office_home"], 2)
    )
)
# The backbone a name's infix picks (office31_alexnet_..., office_home_vit_...).
_INFIXES = {"alexnet_": "alexnet", "vit_": "vit_b16"}


def _parse(name: str) -> tuple[str, str, str, str]:
    """``name`` -> (dataset, backbone, source, target)."""
    if name not in NAMES:
        raise ValueError(
            f"Unknown Office config {name!r}; choose office31_<source>_<target> or "
            f"office_home_<source>_<target> over {DOMAINS}, office31_alexnet_<source>_<target> "
            f"for the paper's pairs {list(PAPER_ALEXNET)}, or office_home_vit_<source>_<target>."
        )
    dataset = "office_home" if name.startswith("office_home_") else "office31"
    rest = name.removeprefix(f"{dataset}_")
    backbone = "resnet50"
    for infix, name_of_backbone in _INFIXES.items():
        if rest.startswith(infix):
            backbone, rest = name_of_backbone, rest.removeprefix(infix)
    for source, target in itertools.permutations(DOMAINS[dataset], 2):
        if rest == f"{source}_{target}":
            return dataset, backbone, source, target
    raise AssertionError(name)  # every name in NAMES parses


def get_config(name: str):
    """The config of one Office pair, e.g. ``office31_amazon_webcam``."""
    from dann_jax.backbones.weights import HUB_WEIGHTS
    from dann_jax.configs import base_config
    from dann_jax.core.settings import NETWORK_DEFAULTS

    dataset, backbone, source, target = _parse(name)
    config = base_config()
    config.name = name
    config.dataset = "tfds"
    config.source = f"{dataset}/{source}"
    config.target = f"{dataset}/{target}"
    config.train_split = "train"
    config.test_split = "train"  # transductive: the whole target, unlabelled in training
    config.input_shape = (256, 256, 3)
    config.input_normalization = "imagenet"
    config.model = backbone
    # ResNet-50's and ViT-B/16's ImageNet weights from the Hub need no PyTorch; AlexNet's
    # only torchvision has.
    config.pretrained = HUB_WEIGHTS.get(backbone, "torchvision")
    config.method = "source_only,dann"
    settings = NETWORK_DEFAULTS[backbone]
    config.batch_size = settings["batch_size"]
    config.crop_size = settings["crop_size"]
    config.augmentation = settings["augmentation"]
    config.learning_rate_multipliers.update(settings["learning_rate_multipliers"])
    # tllib: 20 epochs of 1,000 iterations; its ViT runs on Office-Home 30.
    config.steps = 30_000 if backbone == "vit_b16" else 20_000
    config.log_every = 100
    config.steps_per_dispatch = 100
    config.checkpoint_every = 1000
    if backbone == "alexnet":
        config.paper_target_accuracy = {"dann": PAPER_ALEXNET[source, target]}
    return config
