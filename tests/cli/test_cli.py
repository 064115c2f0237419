"""End to end: ``dann train`` on tiny configs writes a complete run folder."""

import json
import os
import subprocess
import sys

import pytest

import dann_jax
from dann_jax import cli, configs
from dann_jax.core import settings

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow


def train(*arguments):
    return cli.main(["train", "--noprogress", *arguments])


def test_moons_run_writes_results_metrics_config_and_plots(tmp_path, capsys):
    workdir = tmp_path / "moons"
    status = train(
        f"--config={configs.config_file('moons')}",  # a config file's path
        "--config.steps=200",
        "--config.log_every=100",
        f"--workdir={workdir}",
    )
    assert status == 0
    results = json.loads((workdir / "results.json").read_text())
    assert list(results) == ["source_only", "dann"]
    for metrics in results.values():
        assert 0.0 <= metrics["target_accuracy"] <= 1.0
        assert 0.0 <= metrics["source_accuracy"] <= 1.0
        assert metrics["wall_time_s"] > 0
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["method"], r["step"]) for r in records] == [
        ("source_only", 100),
        ("source_only", 200),
        ("dann", 100),
        ("dann", 200),
    ]
    config = json.loads((workdir / "config.json").read_text())
    assert config["steps"] == 200 and config["model"] == "shallow"
    for picture in ("decision_boundaries.png", "training_curves.png"):
        assert (workdir / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "| source_only |" in printed and "| dann |" in printed


def test_default_config_runs_with_overrides(tmp_path):
    workdir = tmp_path / "default"
    status = train(
        "--config.steps=3",
        "--config.batch_size=16",
        "--config.method=dann",
        "--config.log_every=3",
        "--config.plots=False",
        f"--workdir={workdir}",
    )
    assert status == 0
    results = json.loads((workdir / "results.json").read_text())
    assert list(results) == ["dann"]
    assert (
        json.loads((workdir / "config.json").read_text())["dataset"] == "digits_to_blended_digits"
    )


def test_a_finished_run_is_never_overwritten(tmp_path, capsys):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "results.json").write_text("precious")
    status = train("--config=moons", "--config.steps=2", f"--workdir={workdir}")
    assert status == 2
    error = capsys.readouterr().err
    assert "already holds a finished run" in error and "--overwrite" in error
    assert (workdir / "results.json").read_text() == "precious"
    assert sorted(path.name for path in workdir.iterdir()) == [".dann.lock", "results.json"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--config.stepz=3"], "stepz"),
        (["--config.steps=many"], "steps"),
        (["--config.method=coral"], "config.method='coral'"),
        (["--config.model=vgg"], "Unknown model 'vgg'"),
        (["--config.batch_size=7"], "batch_size must be an even integer"),
        (["--config.input_mode=disk"], "Unknown input_mode 'disk'"),
        (["--config=/nonexistent/config.py"], "nonexistent"),
        (["--config=moonz"], "packaged config: default, moons,"),
        (["--config=mnist_local_to_mnist_m_local"], "pass --config.mnist_images=PATH"),
        (["--config=mnist_to_mnist_m_local"], "pass --config.mnist_train_images=PATH"),
        (["--workdir"], "workdir"),
        (["--steps=100"], "Unknown command line flag 'steps'; did you mean --config.steps?"),
        (["--config.learning_rte=0.1"], "unknown config key 'learning_rte'; did you mean"),
        (["--config=moons", "--config", "default"], "--config is given 2 times; pass one"),
    ],
)
def test_bad_arguments_get_one_clear_error(arguments, message, tmp_path, capsys):
    status = (
        train(*arguments)
        if arguments == ["--workdir"]
        else train(*arguments, f"--workdir={tmp_path / 'w'}")
    )
    assert status == 2
    error = capsys.readouterr().err
    assert message in error
    assert len(error.strip().splitlines()) == 1  # one line, no usage, no traceback
    assert not (tmp_path / "w").exists()  # nothing written: the same --workdir works next time


def test_usage_and_unknown_commands(capsys):
    assert cli.main([]) == 2
    assert cli.main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert all(command in usage for command in ("train", "evaluate", "prepare"))
    assert cli.main(["fly"]) == 2
    assert "unknown command 'fly'; The commands: train," in capsys.readouterr().err
    assert cli.main(["trian"]) == 2
    assert "unknown command 'trian'; did you mean 'train'?" in capsys.readouterr().err
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dann_jax {dann_jax.__version__}"


@pytest.mark.parametrize("asking", ["--help", "-h"])
def test_each_command_lists_its_flags_and_train_its_config_keys(asking, capsys):
    assert cli.main(["train", "--config", "moons", asking]) == 0
    shown = capsys.readouterr().out
    assert "--workdir" in shown and "--[no]overwrite" in shown
    meaning = settings.meanings(settings.TrainSettings)["steps"]  # the one source
    assert f"--config.steps=150000\n      {meaning}" in shown  # moons's value
    assert "--config.checkpoint_every=" in shown and "--config.compilation_cache=auto" in shown
    assert cli.main(["evaluate", asking]) == 0
    assert "--workdir" in capsys.readouterr().out
    assert cli.main(["prepare", asking]) == 0
    assert "--manual_dir" in capsys.readouterr().out


def test_a_run_folder_that_does_not_exist_is_named_so(tmp_path, capsys):
    for command in ("evaluate", "select", "predict"):
        assert cli.main([command, f"--workdir={tmp_path / 'nope'}"]) == 2
        assert f"run folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err


def test_evaluate_recomputes_a_finished_run_from_its_checkpoints(tmp_path, capsys):
    workdir = tmp_path / "moons"
    arguments = ["--config=moons", "--config.steps=200", "--config.log_every=100"]
    assert train(*arguments, "--config.tensorboard=True", f"--workdir={workdir}") == 0
    events = list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    results = json.loads((workdir / "results.json").read_text())
    (workdir / "features.png").unlink()
    capsys.readouterr()
    assert cli.main(["evaluate", f"--workdir={workdir}", "--noprogress"]) == 0
    printed = capsys.readouterr().out
    assert "wall time" not in printed and "nan" not in printed  # no column to fill
    assert f"Wrote {workdir / 'eval.json'} (these scores)" in printed
    evaluated = json.loads((workdir / "eval.json").read_text())
    assert set(evaluated) == set(results) == {"source_only", "dann"}
    for method, scores in evaluated.items():
        for name in ("source_accuracy", "target_accuracy", "domain_accuracy", "proxy_a_distance"):
            assert scores[name] == pytest.approx(results[method][name], abs=1e-6)
    assert (workdir / "features.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "empty").mkdir()
    assert cli.main(["evaluate", f"--workdir={tmp_path / 'empty'}"]) == 2
    assert "holds no run" in capsys.readouterr().err


def test_a_second_run_loads_its_programs_from_the_compilation_cache(tmp_path):
    """`dann train` twice with one cache folder: the second, twice as long (the length is
    traced; both dispatch 20 steps at a time), loads what the first compiled."""
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_LOG_COMPILES": "1"}

    def train_logging_compiles(workdir, steps):
        process = subprocess.run(
            [sys.executable, "-m", "dann_jax.cli", "train", "--noprogress", "--config=moons",
             f"--config.steps={steps}", "--config.log_every=20", "--config.method=dann",
             "--config.plots=False",
             f"--config.compilation_cache={tmp_path / 'cache'}", f"--workdir={workdir}"],
            env=environment, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert process.returncode == 0, process.stderr[-3000:]
        return process.stderr

    first = train_logging_compiles(tmp_path / "first", steps=40)
    kept = [path.name.removesuffix("-cache") for path in (tmp_path / "cache").iterdir()]
    second = train_logging_compiles(tmp_path / "second", steps=80)
    assert any(key.startswith("jit_train_steps") for key in kept)
    hit = "Persistent compilation cache hit for 'jit_train_steps'"
    assert hit not in first and hit in second
    for key in kept:  # all that the first run compiled and kept, the second loads
        assert f"with key '{key}'" in second, key
