"""The Python examples of the README and of the user guide run as written (their
200-step trainings shortened to 20)."""

import re
from pathlib import Path

import jax
import pytest

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# The recipe for your own images runs whole, commands included, in tests/test_recipe.py.
GUIDE = sorted(page for page in (ROOT / "docs").rglob("*.md") if page.name != "own_images.md")


def python_blocks(page):
    """The page's Python examples, those that train the MNIST network for 200 steps
    shortened to 20 (CI time: most of their seconds; the same code runs)."""
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    return [block.replace("steps=200,", "steps=20,") for block in blocks]


def run(block, namespace):
    exec(block, namespace)
    # A hypothesis test the example defines runs its examples too.
    for name, function in list(namespace.items()):
        if name.startswith("test_") and callable(function):
            function()


def test_readme_examples_run_and_give_what_they_say():
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) == 2  # the quickstart; the GRL and the loss in a train step of your own
    readme = {}
    for block in blocks:
        run(block, readme)
    assert readme["predicted"].shape == readme["domains"].target_test.labels.shape
    assert set(readme["metrics"]) == {
        "loss", "label_loss", "domain_loss", "source_accuracy", "domain_accuracy"
    }  # fmt: skip
    # Three steps moved the parameters, the domain head's too (its ordinary gradient).
    first = readme["network"].init(jax.random.key(0), readme["source"], 0.0)
    moved = jax.tree.map(lambda a, b: bool((a != b).any()), first, readme["params"])
    assert all(jax.tree.leaves(moved))


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(block, id=f"{page.relative_to(ROOT)}-{index}")
        for page in GUIDE
        for index, block in enumerate(python_blocks(page))
    ],
)
def test_guide_example_runs(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what an example writes stays out of the checkout
    run(example, {})
