"""The settings: built once, checked once, equal and hashable by value, read from configs."""

import dataclasses

import pytest

from dann_jax.configs import base_config
from dann_jax.core.settings import StepSettings, TrainSettings
from dann_jax.runs.plan import settings_of


def test_equal_settings_are_equal_and_hash_alike():
    first, second = TrainSettings(steps=10, seed=1), TrainSettings(steps=10, seed=1)
    assert first == second and hash(first) == hash(second)
    assert first != TrainSettings(steps=10, seed=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.steps = 5


def test_the_step_settings_leave_out_the_loops():
    one = TrainSettings(steps=10, seed=1, log_every=3, batch_size=16, learning_rate=0.5)
    other = TrainSettings(steps=10, seed=2, log_every=7, batch_size=64, learning_rate=0.5)
    assert one.step_settings() == other.step_settings()
    assert type(one.step_settings()) is StepSettings
    assert one.step_settings().learning_rate == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps must be a positive integer"),
        ({"steps": 2.5}, "steps must be a positive integer"),
        ({"method": "coral"}, "Unknown method 'coral'"),
        ({"adaptation": "linear"}, "Unknown adaptation 'linear'"),
        ({"learning_rate": -0.1}, "learning_rate must be a finite number >= 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
        ({"momentum": 1.5}, r"momentum must be a finite number in \[0.0, 1.0\]"),
        ({"anneal_learning_rate": "yes"}, "anneal_learning_rate must be True or False"),
        ({"domain_loss_weight": float("inf")}, "domain_loss_weight must be finite"),
        ({"batch_size": 7}, "batch_size must be an even integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"input_mode": "disk"}, "Unknown input_mode 'disk'"),
        ({"parallel": "tpu"}, "Unknown parallel 'tpu'"),
        ({"steps_per_dispatch": 0}, "steps_per_dispatch must be a positive integer"),
        ({"log_every": 0}, "log_every must be a positive integer"),
        ({"checkpoint_every": -5}, "checkpoint_every must be an integer >= 0"),
    ],
)
def test_a_bad_value_gets_one_error_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(**{"steps": 10, **changes})


def test_settings_from_a_config_read_every_field_by_its_name():
    config = base_config()
    config.steps, config.seed, config.checkpoint_every = 123, 4, 7
    config.learning_rate_multipliers.feature_extractor = 0.1
    settings = settings_of(config, "dann")
    for field in dataclasses.fields(TrainSettings):
        if field.name not in ("method", "learning_rate_multipliers"):
            assert getattr(settings, field.name) == config[field.name], field.name
    assert settings.method == "dann"
    # Stored as sorted pairs, without the multipliers of 1 that change nothing.
    assert settings.learning_rate_multipliers == (("feature_extractor", 0.1),)
    config.batch_size = 7
    with pytest.raises(ValueError, match="config: batch_size must be an even integer"):
        settings_of(config, "dann")
