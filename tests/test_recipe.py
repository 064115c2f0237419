"""The guide's recipe for your own images runs as written: its Python makes the folders,
its commands train, select without labels and predict (with fewer steps: CI time)."""

import csv
import re
import shlex
from pathlib import Path

import pytest

from dann_jax import cli

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow

PAGE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "own_images.md"
# The recipe's run, shortened for CI: the same commands, fewer steps, one checkpoint
# per method (selection's seconds are scoring each), no figures.
SHORTER = ["--config.steps=40", "--config.checkpoint_every=40", "--config.plots=False"]
SHORTER += ["--noprogress"]


def test_the_recipe_trains_selects_and_predicts_on_an_unlabelled_target(
    tmp_path, monkeypatch, capsys
):
    page = PAGE.read_text()
    monkeypatch.chdir(tmp_path)
    (python,) = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    exec(python, {})
    recipe = page.split("## Train, choose, predict", 1)[1]
    block = re.search(r"```bash\n(.*?)```", recipe, flags=re.DOTALL).group(1)
    commands = [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()]
    assert [command[1] for command in commands] == ["train", "select", "predict"]
    train, select, predict = (command[1:] for command in commands)
    assert cli.main(train + SHORTER) == 0
    assert "target accuracy" not in capsys.readouterr().out  # the target has no labels
    assert cli.main([*select, "--noprogress"]) == 0
    printed = capsys.readouterr().out
    assert "(chosen)" in printed and "the target has no labels" in printed.lower()
    assert cli.main([*predict, "--noprogress"]) == 0
    assert "Labelled 450 inputs" in capsys.readouterr().out
    with open(tmp_path / "predictions.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 450 and set(rows[0]) == {"input", "class", "probability"}
    assert {row["class"] for row in rows} <= {str(digit) for digit in range(10)}
