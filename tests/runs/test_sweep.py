"""A sweep in one program: members that differ in learning rate, domain-loss weight or
gamma share one compiled step, each equals its separate run, and `dann sweep` chooses
among them without target labels."""

import json

import jax
import numpy as np
import pytest

import dann_jax
from dann_jax import cli, runs
from dann_jax.evaluation import selection
from dann_jax.runs import sweep

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow

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


def test_grid_is_every_combination_for_every_seed_and_names_its_folders():
    members = sweep.grid({"learning_rate": [0.01, 0.003], "gamma": [10]}, seeds=[0, 1])
    assert [m.name for m in members] == [
        "learning_rate=0.01,gamma=10,seed=0", "learning_rate=0.003,gamma=10,seed=0",
        "learning_rate=0.01,gamma=10,seed=1", "learning_rate=0.003,gamma=10,seed=1",
    ]  # fmt: skip
    assert members[1].overrides() == {"learning_rate": 0.003, "gamma": 10.0, "seed": 0}
    assert [m.name for m in sweep.grid({}, seeds=[3])] == ["seed=3"]


@pytest.mark.parametrize(
    ("values", "seeds", "message"),
    [
        ({"momentum": [0.9]}, [0], "not \\['momentum'\\]"),
        ({"learning_rate": []}, [0], "one or more values"),
        ({"learning_rate": [0.1, 0.1]}, [0], "repeats a value"),
        ({"learning_rate": [0.1]}, [], "one or more distinct seeds"),
    ],
)
def test_a_bad_grid_gets_one_clear_error(values, seeds, message):
    with pytest.raises(ValueError, match=message):
        sweep.grid(values, seeds)


def picks_of(steps, target_accuracy, scores):
    """A run's record as dann select makes it with target labels (what pick_settings reads)."""
    last = {"step": steps[-1], "target_accuracy": target_accuracy[-1]}
    oracle = {"step": steps[0], "target_accuracy": max(target_accuracy)}
    return {"dann": {"steps": steps, "target_accuracy": target_accuracy, "scores": scores,
                     "last": last, "oracle": oracle}}  # fmt: skip


def by_setting(members, picks):
    return selection.pick_settings({member.setting: picks[member.name] for member in members})


def test_each_validator_picks_its_best_candidate_over_settings_and_never_reads_target_labels():
    members = sweep.grid({"learning_rate": [0.1, 0.01]}, seeds=[0])
    a, b = (m.name for m in members)
    selections = {
        a: picks_of([5, 10], [0.6, 0.7], {"im": [1.0, 3.0], "snd": [2.0, 2.0]}),
        b: picks_of([5, 10], [0.8, 0.5], {"im": [2.0, 0.0], "snd": [2.0, 1.0]}),
    }
    chosen = by_setting(members, selections)["dann"]
    assert chosen["picks"]["im"] == {"setting": "learning_rate=0.1", "step": 10,
                                     "target_accuracy": 0.7}  # fmt: skip
    assert chosen["picks"]["snd"]["setting"] == "learning_rate=0.1"  # ties: the first candidate
    assert chosen["picks"]["snd"]["step"] == 5
    assert chosen["oracle"] == {"setting": "learning_rate=0.01", "step": 5, "target_accuracy": 0.8}
    assert chosen["last"] == {"learning_rate=0.1": 0.7, "learning_rate=0.01": 0.5}
    assert chosen["rank_correlation"]["im"] == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    # Other target labels (other accuracies) change no pick.
    relabelled = {name: picks_of([5, 10], [0.1, 0.2], record["dann"]["scores"])
                  for name, record in selections.items()}  # fmt: skip
    again = by_setting(members, relabelled)["dann"]["picks"]
    assert {k: (v["setting"], v["step"]) for k, v in again.items()} == {
        k: (v["setting"], v["step"]) for k, v in chosen["picks"].items()
    }
    summary = selection.over_seeds(
        {0: by_setting(members, selections), 1: by_setting(members, selections)}
    )
    assert summary["dann"]["target_accuracy"]["im"] == [pytest.approx(0.7), 0.0]
    assert summary["dann"]["picked"]["im"] == {"learning_rate=0.1": 2}
    assert "| last step, learning_rate=0.01 | 0.500 ± 0.000 |" in selection.seeds_table(summary)


def test_dann_sweep_writes_a_run_folder_per_member_each_equal_to_its_separate_run(tmp_path, capsys):
    sweep_folder = tmp_path / "sweep"
    arguments = [
        "sweep", "--noprogress", "--config=moons", "--config.steps=200", "--config.log_every=100",
        "--config.steps_per_dispatch=100", "--config.method=dann", "--config.parallel=none",
        "--config.plots=False", "--sweep.learning_rate=0.05,0.01", "--seeds=1", "--candidates=2",
        f"--runs={sweep_folder}",
    ]  # fmt: skip
    assert cli.main(arguments) == 0
    assert "oracle (target labels; reported, never chosen on)" in capsys.readouterr().out
    result = json.loads((sweep_folder / "sweep.json").read_text())
    assert list(result["members"]) == ["learning_rate=0.05,seed=1", "learning_rate=0.01,seed=1"]
    chosen = result["per_seed"]["1"]["dann"]
    for pick in chosen["picks"].values():
        assert pick["setting"] in ("learning_rate=0.05", "learning_rate=0.01")
        assert (
            pick["step"] in (100, 200)
            and pick["target_accuracy"] <= chosen["oracle"]["target_accuracy"]
        )
    assert "| last step, learning_rate=0.01 |" in (sweep_folder / "sweep.md").read_text()
    member = sweep_folder / "learning_rate=0.01,seed=1"
    saved = json.loads((member / "selection.json").read_text())
    assert saved["dann"]["steps"] == [100, 200]
    config = runs.RunFolder(member).config()
    assert (config.learning_rate, config.seed, config.keep_checkpoints) == (0.01, 1, 0)
    alone = runs.run(config, tmp_path / "alone", progress=False)
    together = json.loads((member / "results.json").read_text())
    for metric in ("source_accuracy", "target_accuracy", "domain_accuracy"):
        assert together["dann"][metric] == pytest.approx(alone["dann"][metric])
    assert cli.main(arguments) == 2  # the folders hold runs now: refused, untouched
    assert "holds a run already" in capsys.readouterr().err
    assert json.loads((sweep_folder / "sweep.json").read_text()) == result


def test_dann_sweep_names_a_bad_value(capsys):
    assert cli.main(["sweep", "--sweep.learning_rate=0.01,fast"]) == 2
    assert "--sweep.learning_rate takes comma-separated numbers" in capsys.readouterr().err


def test_dann_sweep_help_lists_the_config_keys_and_a_missing_config_is_named(capsys):
    assert cli.main(["sweep", "--config", "moons", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--sweep.domain_loss_weight" in out and "config keys of moons" in out
    assert cli.main(["sweep", "--config", "no_such_config"]) == 2
    assert "config file no_such_config not found" in capsys.readouterr().err
