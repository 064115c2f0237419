"""A run killed with SIGKILL and started again ends exactly like one never stopped."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import stateful_network
from short_runs import MOONS, files_of

from dann_jax import cli, configs, runs
from dann_jax.core import checkpoints
from dann_jax.core.inputs import StreamInput
from dann_jax.core.loop import Stopped, train_loop
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.data.batches import PairedPositions
from dann_jax.data.domains import TrainingData
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import ArraySource

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Checkpoints every 75 steps, records every 50: the cadences need not divide each other.
# The network has BatchNorm (its statistics are checkpointed) and dropout (keyed by step).
ARGUMENTS = [
    "-m",
    "dann_jax.cli",
    "train",
    "--noprogress",
    "--config=moons",
    "--config.plots=False",
    "--config.model=stateful_network:make_network",
    "--config.batch_size=8",
    "--config.steps=600",
    "--config.log_every=50",
    "--config.checkpoint_every=75",
    "--config.keep_checkpoints=2",
]


def shallow_state(classes=2, steps=1):
    settings = TrainSettings(steps=steps)
    return create_train_state(
        build_model("shallow", classes), np.zeros((1, 2), np.float32), settings
    )


def start(workdir):
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    )
    return subprocess.Popen(
        [sys.executable, *ARGUMENTS, f"--workdir={workdir}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def final_variables(workdir, method):
    template = create_train_state(
        stateful_network.make_network(2), np.zeros((1, 2), np.float32), TrainSettings(steps=1)
    )
    state, _ = checkpoints.restore(checkpoints.manager(workdir / "checkpoints" / method), template)
    return jax.device_get(state.variables)


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    rng = np.random.default_rng()
    method, kill_at = rng.choice(["source_only", "dann"]), int(rng.choice([75, 225, 300, 375]))
    print(f"SIGKILL once checkpoints/{method}/{kill_at} exists")
    whole, killed = tmp_path / "whole", tmp_path / "killed"

    reference = start(whole)
    victim = start(killed)
    deadline = time.monotonic() + 240
    while not (killed / "checkpoints" / method / str(kill_at)).is_dir():
        assert victim.poll() is None, victim.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (killed / "results.json").exists()

    resumed = start(killed)
    for process in (reference, resumed):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
    assert "Resuming" in out

    for name in ("source_only", "dann"):
        for got, want in zip(
            jax.tree.leaves(final_variables(killed, name)),
            jax.tree.leaves(final_variables(whole, name)),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)  # bit for bit: XLA:CPU is deterministic
        kept = sorted(int(p.name) for p in (killed / "checkpoints" / name).iterdir())
        assert kept == [525, 600]
    # Every step logged once, and the same numbers as the uninterrupted run (determinism).
    assert (killed / "metrics.jsonl").read_text() == (whole / "metrics.jsonl").read_text()
    records = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    assert [(r["method"], r["step"]) for r in records] == [
        (name, step) for name in ("source_only", "dann") for step in range(50, 601, 50)
    ]
    results = json.loads((killed / "results.json").read_text())
    expected = json.loads((whole / "results.json").read_text())
    for name in expected:
        assert results[name]["target_accuracy"] == expected[name]["target_accuracy"]


def test_a_workdir_with_another_config_is_refused_untouched(tmp_path, capsys):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"steps": 5}))
    (workdir / "metrics.jsonl").write_text("precious\n")
    status = cli.main(["train", "--config.steps=6", f"--workdir={workdir}"])
    assert status == 2
    assert "holds an unfinished run of another config" in capsys.readouterr().err
    assert (workdir / "metrics.jsonl").read_text() == "precious\n"
    assert json.loads((workdir / "config.json").read_text()) == {"steps": 5}


@pytest.mark.parametrize("keep", [1])
def test_a_checkpoint_of_another_network_gets_one_clear_error(tmp_path, keep):
    checkpoints.save(checkpoints.manager(tmp_path, keep=keep), shallow_state(classes=2))
    other = shallow_state(classes=3)
    with pytest.raises(ValueError, match="does not fit this config's network"):
        checkpoints.restore(checkpoints.manager(tmp_path), other)


def test_overwrite_replaces_a_finished_run_and_keeps_other_files(tmp_path, capsys):
    workdir = tmp_path / "run"
    assert cli.main([*MOONS, f"--workdir={workdir}", "--config.seed=1"]) == 0
    (workdir / "notes.txt").write_text("mine\n")
    before = files_of(workdir)

    assert cli.main([*MOONS, f"--workdir={workdir}"]) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    # A missing dataset stops an overwrite before anything of the old run goes.
    missing = ["--config=mnist_to_mnist_m"]
    missing += [f"--config.data_dir={tmp_path / 'nothing'}", f"--workdir={workdir}", "--overwrite"]
    assert cli.main(["train", "--noprogress", *missing]) == 2
    assert "are not prepared" in capsys.readouterr().err
    assert files_of(workdir) == before

    assert cli.main([*MOONS, f"--workdir={workdir}", "--overwrite"]) == 0
    assert json.loads((workdir / "config.json").read_text())["seed"] == 0
    assert (workdir / "notes.txt").read_text() == "mine\n"
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30, 40] * 2  # the old records are gone
    assert sorted(p.name for p in (workdir / "checkpoints" / "dann").iterdir()) == ["20", "40"]


def test_a_non_finite_loss_stops_training_and_the_last_checkpoint_stays(tmp_path, rng):
    size, batch_size = 24, 8
    data = {
        "source_image": rng.normal(size=(size, 2)).astype(np.float32),
        "source_label": rng.integers(2, size=size).astype(np.int32),
        "target_image": rng.normal(size=(size, 2)).astype(np.float32),
    }
    # Poison the first source example that training draws after step 5's checkpoint.
    positions = PairedPositions(size, size, batch_size, seed=0)
    seen_by_step_5 = set(positions.steps(0, 5)[0].ravel())
    later = positions.steps(5, 10)[0].ravel()
    poisoned = next(int(p) for p in later if p not in seen_by_step_5)
    data["source_image"][poisoned] = np.inf
    inputs = StreamInput(
        TrainingData(
            ArraySource(data["source_image"], data["source_label"]),
            ArraySource(data["target_image"]),
            preprocess=Preprocess(data["source_image"].shape[1:], np.zeros((), np.float32)),
            num_classes=2,
        ),
        batch_size=batch_size,
        seed=0,
    )
    settings = TrainSettings(
        steps=20, batch_size=batch_size, parallel="none", log_every=5, checkpoint_every=5
    )
    state = shallow_state(steps=20)
    manager = checkpoints.manager(tmp_path / "checkpoints")
    with pytest.raises(FloatingPointError, match=r"became nan by step 10"):
        train_loop(
            state,
            inputs,
            settings=settings,
            progress=False,
            on_checkpoint=lambda state, loop: checkpoints.save(manager, state, loop),
        )
    assert manager.all_steps() == [5]
    saved, loop = checkpoints.restore(checkpoints.manager(tmp_path / "checkpoints"), state)
    assert int(saved.step) == 5 and loop == {"next_index": 5, "unlogged_metrics": {}}
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(saved.params))


def test_a_run_stopped_on_request_saves_and_resumes_to_the_uninterrupted_result(tmp_path):
    """`should_stop` (Ctrl-C in `dann train`) saves the state at the step reached."""
    config = configs.load("moons")
    config.steps, config.log_every, config.checkpoint_every = 400, 50, 0
    config.plots = False
    whole = runs.run(config, tmp_path / "whole", progress=False)
    asked = []

    def after_three_dispatches():
        asked.append(None)
        return len(asked) > 3

    with pytest.raises(Stopped, match="stopped at step 150 of source_only") as stopped:
        runs.run(config, tmp_path / "stopped", progress=False, should_stop=after_three_dispatches)
    assert stopped.value.step == 150
    assert sorted(
        p.name for p in (tmp_path / "stopped" / "checkpoints" / "source_only").iterdir()
    ) == ["150"]
    resumed = runs.run(config, tmp_path / "stopped", progress=False)
    for method in whole:
        assert resumed[method]["target_accuracy"] == whole[method]["target_accuracy"]
    metrics = [
        (folder / "metrics.jsonl").read_text()
        for folder in (tmp_path / "whole", tmp_path / "stopped")
    ]
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_stops_dann_train_with_one_line_and_a_checkpoint(tmp_path, stop):
    workdir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "dann_jax.cli", "train", "--noprogress", "--config=moons",
         "--config.steps=100000", "--config.log_every=20", "--config.checkpoint_every=0",
         f"--workdir={workdir}"],
        env={**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not (workdir / "metrics.jsonl").is_file() or not (workdir / "metrics.jsonl").read_text():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "no record appeared"
        time.sleep(0.1)
    process.send_signal(stop)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + stop
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    step = int(re.search(r"stopped at step (\d+) of source_only", last).group(1))
    assert "run the same command to resume" in last
    assert (workdir / "checkpoints" / "source_only" / str(step)).is_dir()
