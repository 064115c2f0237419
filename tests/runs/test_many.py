"""Many seeds in one compiled program give every seed the run it would get alone."""

import json

import pytest

from dann_jax import configs, runs


def small_config():
    """The moons toy, briefly: each seed draws its own points (CI time: the default's
    MNIST network and t-SNE of 630 test images took a minute here)."""
    config = configs.load("moons")
    config.steps, config.log_every, config.steps_per_dispatch = 200, 100, 100
    config.method = "dann,train_on_target"
    config.parallel, config.input_mode = "none", "device"
    return config


def records(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_seeds_in_one_program_give_each_seed_its_own_run(tmp_path):
    config = small_config()
    together = runs.run_seeds(config, [0, 1], tmp_path / "together", progress=False)
    for seed in (0, 1):
        folder = tmp_path / "together" / f"seed={seed}"
        assert json.loads((folder / "config.json").read_text())["seed"] == seed
        assert (folder / "features.png").exists() and (folder / "results.json").exists()
    assert together[0]["dann"]["target_accuracy"] != together[1]["dann"]["target_accuracy"]
    # Seed 1, not the first of the program, run alone (CI time: every seed of
    # fit_seeds is compared with its own run in tests/core/test_fit.py).
    config.seed = 1
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
