"""The Python examples of the README and of the user guide run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = sorted((ROOT / "docs").rglob("*.md"))


def python_blocks(page):
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)


def run(block, namespace):
    exec(block, namespace)
    # A hypothesis test the example defines runs its examples too.
    for name, function in list(namespace.items()):
        if name.startswith("test_") and callable(function):
            function()


def test_readme_examples_run_and_give_what_they_say():
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) == 4  # the quickstart, the GRL in a model, your own network, a VJP test
    readme = {}
    for block in blocks:
        run(block, readme)
    assert readme["predicted"].shape == readme["domains"].target_test.labels.shape
    assert readme["class_logits"].shape == (8, 10)
    assert readme["domain_logits"].shape == (8,)
    assert readme["mine"].params["feature_extractor"]["Dense_0"]["kernel"].shape == (2, 32)


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(block, id=f"{page.relative_to(ROOT)}-{index}")
        for page in GUIDE
        for index, block in enumerate(python_blocks(page))
    ],
)
def test_guide_example_runs(example):
    run(example, {})
