"""Many seeds in one compiled program give every seed the run it would get alone."""

import json

import pytest

from dann_jax import configs, runs

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow


def small_config():
    """The moons toy, briefly: each seed draws its own points (CI time: the default's
    MNIST network and t-SNE of 630 test images took a minute here)."""
    config = configs.load("moons")
    config.steps, config.log_every, config.steps_per_dispatch = 200, 100, 100
    config.method = "dann,train_on_target"
    config.parallel, config.input_mode = "none", "device"
    config.plots = False  # t-SNE is most of such a run; the first test draws them
    return config


def records(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_seeds_in_one_program_give_each_seed_its_own_run(tmp_path):
    config = small_config()
    config.plots = True
    together = runs.run_seeds(config, [0, 1], tmp_path / "together", progress=False)
    for seed in (0, 1):
        folder = tmp_path / "together" / f"seed={seed}"
        assert json.loads((folder / "config.json").read_text())["seed"] == seed
        assert (folder / "features.png").exists() and (folder / "results.json").exists()
    assert together[0]["dann"]["target_accuracy"] != together[1]["dann"]["target_accuracy"]
    # Seed 1, not the first of the program, run alone (CI time: every seed of
    # fit_seeds is compared with its own run in tests/core/test_fit.py).
    config.seed, config.plots = 1, False
    alone = runs.run(config, tmp_path / "alone", progress=False)
    for method in ("dann", "train_on_target"):
        for metric in ("source_accuracy", "target_accuracy", "domain_accuracy"):
            assert together[1][method][metric] == pytest.approx(alone[method][metric])
    got, want = records(tmp_path / "together" / "seed=1"), records(tmp_path / "alone")
    assert [(r["method"], r["step"]) for r in got] == [(r["method"], r["step"]) for r in want]
    for mine, theirs in zip(got, want, strict=True):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5)


def test_seeds_in_one_program_refuse_folders_that_hold_runs(tmp_path):
    config = small_config()
    (tmp_path / "seed=1").mkdir(parents=True)
    (tmp_path / "seed=1" / "metrics.jsonl").write_text("precious\n")
    with pytest.raises(ValueError, match="holds a run already"):
        runs.run_seeds(config, [0, 1], tmp_path, progress=False)
    assert (tmp_path / "seed=1" / "metrics.jsonl").read_text() == "precious\n"


def test_members_that_differ_only_in_what_source_only_never_sees_share_its_run(tmp_path, caplog):
    config = small_config()
    config.method = "source_only,dann"
    members = [runs.Member((("domain_loss_weight", weight),), 0) for weight in (6.0, 12.0)]
    with caplog.at_level("INFO", logger="dann_jax"):
        results = runs.run_members(config, members, tmp_path, progress=False)
    assert "Training source_only (200 steps, 2 members, 1 distinct, one program)" in caplog.text
    assert "Training dann (200 steps, 2 members, 2 distinct, one program)" in caplog.text
    light, heavy = (results[member.name] for member in members)
    assert light["source_only"] == heavy["source_only"]  # one run, shared
    assert light["dann"]["target_accuracy"] != heavy["dann"]["target_accuracy"] or (
        light["dann"]["domain_accuracy"] != heavy["dann"]["domain_accuracy"]
    )
    for member in members:  # each folder holds the shared run's checkpoints
        assert (tmp_path / member.name / "checkpoints" / "source_only").is_dir()
