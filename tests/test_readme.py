"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_flax_model_example_runs():
    (example,) = [block for block in python_blocks() if "class MyDANN" in block]
    namespace = {}
    exec(example, namespace)
    class_logits, domain_logits = namespace["class_logits"], namespace["domain_logits"]
    assert class_logits.shape == (8, 10)
    assert domain_logits.shape == (8,)


def test_custom_loop_example_runs():
    (example,) = [block for block in python_blocks() if "dann_jax.TrainSettings(" in block]
    namespace = {}
    exec(example, namespace)
    state = namespace["state"]
    assert int(state.step) == 0 and state.settings.learning_rate == 0.003
