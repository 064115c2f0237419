"""Choosing checkpoints without target labels: `dann select` on the offline toy data."""

import dataclasses
import json

import numpy as np
import pytest

from dann_jax import cli
from dann_jax.evaluation import validators
from dann_jax.runs import select

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("select") / "run"
    arguments = [
        "train", "--noprogress", "--config=moons", "--config.steps=60", "--config.plots=False",
        "--config.checkpoint_every=20", "--config.keep_checkpoints=0", "--config.log_every=20",
        f"--workdir={workdir}",
    ]  # fmt: skip
    assert cli.main(arguments) == 0
    return workdir


def test_dann_select_scores_every_checkpoint_and_writes_the_tables(run, capsys):
    assert cli.main(["select", f"--workdir={run}", "--noprogress"]) == 0
    assert "oracle (target labels; reported, never chosen on)" in capsys.readouterr().out
    results = json.loads((run / "selection.json").read_text())
    assert set(results) == {"source_only", "dann"}
    for record in results.values():
        assert record["steps"] == [20, 40, 60]
        assert set(record["scores"]) == set(validators.VALIDATORS)
        for name, values in record["scores"].items():
            chosen = record["steps"][int(np.argmax(values))]
            assert record["picks"][name]["step"] == chosen  # the pick reads the scores only
        assert record["oracle"]["target_accuracy"] == max(record["target_accuracy"])
        assert record["last"]["step"] == 60
    table = (run / "selection.md").read_text()
    assert "| choice | source_only | dann |" in table and "| last |" in table


def test_permuting_the_target_labels_changes_no_score_and_no_pick(run, monkeypatch):
    plain = select.select_checkpoints(run, progress=False)
    load_data = select.load_data

    def permuted(plan, progress=True):
        data = load_data(plan, progress)
        labels = np.random.default_rng(0).permutation(data.target_test.labels)
        return dataclasses.replace(
            data, target_test=dataclasses.replace(data.target_test, labels=labels)
        )

    monkeypatch.setattr(select, "load_data", permuted)
    shuffled = select.select_checkpoints(run, progress=False)
    for method, record in plain.items():
        assert shuffled[method]["scores"] == record["scores"]
        assert {n: p["step"] for n, p in shuffled[method]["picks"].items()} == {
            n: p["step"] for n, p in record["picks"].items()
        }


def test_a_run_without_checkpoints_gets_one_clear_error(tmp_path, capsys):
    assert cli.main(["select", f"--workdir={tmp_path}"]) == 2
    assert "holds no run" in capsys.readouterr().err
