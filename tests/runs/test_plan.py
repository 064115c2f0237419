"""A config read once into a plan: settings per method, checked before anything is
written; the starting variables read once per run, however many methods or members."""

import numpy as np
import pytest

from dann_jax import configs, runs
from dann_jax.core import variables
from dann_jax.runs import plan


def small_config():
    config = configs.load("moons")
    config.steps, config.log_every, config.steps_per_dispatch = 200, 100, 100
    config.method = "dann,train_on_target"
    config.parallel, config.input_mode, config.checkpoint_every = "none", "device", 0
    config.plots = False
    return config


def test_a_configs_settings_are_checked_per_method_and_train_on_target_is_source_only():
    config = small_config()
    settings = plan.make_plan(config).methods
    assert list(settings) == ["dann", "train_on_target"]
    assert settings["dann"].method == "dann" and settings["train_on_target"].method == "source_only"
    assert settings["dann"].steps == 200 and settings["dann"].parallel == "none"
    config.model = "vgg"
    with pytest.raises(ValueError, match="Unknown model 'vgg'"):
        plan.make_plan(config)
    config.model, config.method = "shallow", "dann,coral"
    with pytest.raises(ValueError, match="name one or more of"):
        plan.make_plan(config)


def test_a_members_plan_has_its_seed_and_setting_and_nothing_else(tmp_path):
    base = plan.make_plan(small_config())
    member = base.for_member({"seed": 3, "learning_rate": 0.02})
    assert member.seed == 3 and member.methods["dann"].learning_rate == 0.02
    assert base.seed == 0 and base.methods["dann"].learning_rate == 0.05  # untouched
    with pytest.raises(ValueError, match="may differ only in"):
        base.for_member({"steps": 10})


@pytest.mark.slow
def test_the_starting_variables_are_read_once_per_run_and_per_many_run_program(
    tmp_path, monkeypatch
):
    config = small_config()
    start = {"params": {"feature_extractor": {"Dense_0": {"bias": np.full(15, 0.1)}}}}
    variables.save(tmp_path / "start.npz", start)
    config.init_variables = str(tmp_path / "start.npz")
    reads = []
    load = variables.load
    monkeypatch.setattr(variables, "load", lambda path: reads.append(path) or load(path))
    results = runs.run(config, tmp_path / "run", progress=False)
    assert list(results) == ["dann", "train_on_target"] and len(reads) == 1
    runs.run_seeds(config, [0, 1], tmp_path / "seeds", progress=False)  # two members
    assert len(reads) == 2
