"""A run killed with SIGKILL and started again ends exactly like one never stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from dann_jax import checkpoint, cli
from dann_jax.models import build_model
from dann_jax.train import create_train_state

ROOT = Path(__file__).resolve().parents[1]
ARGUMENTS = [
    "-m",
    "dann_jax.cli",
    "train",
    "--noprogress",
    f"--config={ROOT / 'experiments' / 'configs' / 'moons.py'}",
    "--config.steps=600",
    "--config.log_every=50",
    "--config.checkpoint_every=100",
    "--config.keep_checkpoints=2",
]


def start(workdir):
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "1"}
    return subprocess.Popen(
        [sys.executable, *ARGUMENTS, f"--workdir={workdir}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def final_params(workdir, method):
    template = create_train_state(build_model("shallow", 2), np.zeros((1, 2), np.float32), steps=1)
    state, _ = checkpoint.restore(checkpoint.manager(workdir / "checkpoints" / method), template)
    return jax.device_get(state.params)


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    rng = np.random.default_rng()
    method, kill_at = rng.choice(["source_only", "dann"]), int(rng.choice([100, 200, 300, 400]))
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
            jax.tree.leaves(final_params(killed, name)),
            jax.tree.leaves(final_params(whole, name)),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)  # bit for bit: XLA:CPU is deterministic
        kept = sorted(int(p.name) for p in (killed / "checkpoints" / name).iterdir())
        assert kept == [500, 600]
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


def test_checkpoints_must_fall_on_log_steps(tmp_path, capsys):
    status = cli.main(
        [
            "train",
            "--config.log_every=50",
            "--config.checkpoint_every=75",
            f"--workdir={tmp_path / 'w'}",
        ]
    )
    assert status == 2
    assert "must be a multiple of config.log_every=50" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("keep", [1])
def test_a_checkpoint_of_another_network_gets_one_clear_error(tmp_path, keep):
    small = create_train_state(build_model("shallow", 2), np.zeros((1, 2), np.float32), steps=1)
    checkpoint.save(checkpoint.manager(tmp_path, keep=keep), small)
    other = create_train_state(build_model("shallow", 3), np.zeros((1, 2), np.float32), steps=1)
    with pytest.raises(ValueError, match="does not fit this config's network"):
        checkpoint.restore(checkpoint.manager(tmp_path), other)
