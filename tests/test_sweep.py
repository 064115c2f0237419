"""A sweep in one program: members that differ in learning rate, domain-loss weight or
gamma share one compiled step, and each equals its separate run."""

import jax
import numpy as np
import pytest

import dann_jax

SETTINGS = {"steps": 40, "batch_size": 16, "log_every": 20, "steps_per_dispatch": 20}
GRID = [
    {"learning_rate": 0.05},
    {"learning_rate": 0.01, "domain_loss_weight": 3.0},
    {"gamma": 2.0, "learning_rate": 0.02},
]


def test_a_sweep_compiles_once_and_each_member_equals_its_separate_run(host_data, compiled):
    data = host_data(size=40)
    arrays = (data["source_image"], data["source_label"], data["target_image"])
    with compiled() as programs:
        members = dann_jax.fit_seeds(
            *([array] * len(GRID) for array in arrays), seeds=[7] * len(GRID),
            member_settings=GRID, model="shallow", progress=False, **SETTINGS,
        )  # fmt: skip
    assert programs.count("jit(train_steps)") == 1
    for trained, override in zip(members, GRID, strict=True):
        alone = dann_jax.fit(
            *arrays, model="shallow", seed=7, input_mode="device", parallel="none",
            progress=False, **SETTINGS, **override,
        )  # fmt: skip
        for got, want in zip(
            jax.tree.leaves(trained.params), jax.tree.leaves(alone.params), strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            trained.history[-1]["learning_rate"], alone.history[-1]["learning_rate"], rtol=1e-6
        )
    assert not np.allclose(members[0].params["label_head"]["Dense_0"]["kernel"],
                           members[1].params["label_head"]["Dense_0"]["kernel"])  # fmt: skip


@pytest.mark.parametrize(
    ("member_settings", "message"),
    [
        ([{"momentum": 0.5}, {}], "may set .* not \\['momentum'\\]"),
        ([{"learning_rate": -1.0}, {}], "learning_rate must be a finite number"),
        ([{}], "got 1 member_settings for 2 runs"),
    ],
)
def test_bad_member_settings_get_one_clear_error(host_data, member_settings, message):
    data = host_data(size=16)
    arrays = (data["source_image"], data["source_label"], data["target_image"])
    with pytest.raises(ValueError, match=message):
        dann_jax.fit_seeds(
            *([array] * 2 for array in arrays), seeds=[0, 1], member_settings=member_settings,
            model="shallow", progress=False, **SETTINGS,
        )  # fmt: skip
