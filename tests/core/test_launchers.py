"""The launchers of dann_jax.core.launchers run the one step body: same computation as one device.

Eight CPU devices are faked in conftest.py; the multi-process tests start two
JAX processes of two devices each on loopback (gloo collectives).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import distributed_fit
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dann_jax
from dann_jax.core import launchers, step
from dann_jax.core.inputs import DeviceData
from dann_jax.core.loop import train_loop
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.data.offline import load_domains

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = ("pmap", "shard_map")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def mnist_state(steps=20):
    example = jnp.zeros((1, 16, 16, 3))
    return create_train_state(build_model("mnist", 10), example, TrainSettings(steps=steps))


def random_batch(rng, half):
    return {
        "source_image": rng.normal(size=(half, 16, 16, 3)).astype(np.float32),
        "source_label": rng.integers(10, size=half).astype(np.int32),
        "target_image": rng.normal(0.5, 1.0, size=(half, 16, 16, 3)).astype(np.float32),
    }


def max_difference(got, want):
    pairs = zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
    return max(float(np.max(np.abs(a - b))) for a, b in pairs)


def assert_trees_close(got, want):
    for got_leaf, want_leaf in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(got_leaf, want_leaf, **TOLERANCE)


@pytest.mark.parametrize("kind", LAUNCHERS)
def test_launcher_steps_equal_the_single_device_step(rng, kind):
    """Five steps of the one body: params and metrics as on one device, at every step."""
    launcher = launchers.launcher(kind, step.train_step, step.train_steps)
    assert len(launcher.devices) == 8
    single, spread = mnist_state(), launcher.put_state(mnist_state())
    differences = []
    for _ in range(5):
        batch = random_batch(rng, half=16)
        single, single_metrics = jax.jit(step.train_step)(single, batch)
        spread, spread_metrics = launcher.step(spread, launcher.put_batch(batch))
        spread_metrics = launcher.local(spread_metrics)
        assert spread_metrics.keys() == single_metrics.keys()
        assert_trees_close(spread_metrics, single_metrics)
        differences.append(max_difference(launcher.local(spread).params, single.params))
    assert_trees_close(launcher.local(spread).params, single.params)
    assert int(launcher.local(spread).step) == 5
    print(f"{kind}: max abs param difference per step {differences}")


@pytest.mark.parametrize("kind", LAUNCHERS)
def test_launcher_scan_over_device_data_equals_the_single_device_loop(rng, kind):
    data = random_batch(rng, half=48)
    results = {}
    for name in ("none", kind):
        settings = TrainSettings(
            steps=6, batch_size=32, parallel=name, steps_per_dispatch=3, log_every=3
        )
        results[name] = train_loop(
            mnist_state(),
            DeviceData.create(data, batch_size=32, seed=0),
            settings=settings,
            progress=False,
        )
    (single, single_history), (spread, spread_history) = results["none"], results[kind]
    assert_trees_close(spread.params, single.params)
    assert [r["step"] for r in spread_history] == [3, 6]
    for got, want in zip(spread_history, single_history, strict=True):
        np.testing.assert_allclose(list(got.values()), list(want.values()), **TOLERANCE)


def test_fit_on_the_default_experiment_predicts_alike_with_each_launcher():
    domains = load_domains("digits_to_blended_digits", 0)
    logits = {}
    for kind in ("none", *LAUNCHERS):
        trained = dann_jax.fit(
            domains.source_train.inputs,
            domains.source_train.labels,
            domains.target_train.inputs,
            steps=12,
            batch_size=64,
            parallel=kind,
            log_every=6,
            steps_per_dispatch=6,
            progress=False,
        )
        logits[kind] = trained.logits(domains.target_test.inputs)[0]
    for kind in LAUNCHERS:
        np.testing.assert_allclose(logits[kind], logits["none"], rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(logits[kind].argmax(-1), logits["none"].argmax(-1))


def test_auto_shards_over_every_device_when_there_are_several():
    assert launchers.resolve("auto") == "shard_map"
    assert launchers.resolve("pmap") == "pmap"


@pytest.mark.parametrize("kind", ["auto", *LAUNCHERS])
def test_a_batch_the_devices_cannot_share_is_refused_before_training(rng, kind):
    source = rng.normal(size=(32, 2)).astype(np.float32)
    labels = rng.integers(2, size=32)
    with pytest.raises(ValueError, match=r"shared equally by 8 devices.*divisible by 16"):
        dann_jax.fit(source, labels, source, model="shallow", steps=1, batch_size=24, parallel=kind)


def test_unknown_parallel_is_refused():
    with pytest.raises(ValueError, match="Unknown parallel 'tpu'"):
        launchers.check_batch_size("tpu", 16)
    with pytest.raises(ValueError, match="Unknown parallel 'tpu'"):
        TrainSettings(steps=1, parallel="tpu")


def run_python(arguments, devices, faulthandler=False, **kwargs):
    environment = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices), "JAX_PLATFORMS": "cpu"}
    if faulthandler:
        environment["PYTHONFAULTHANDLER"] = "1"
    outputs = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE} | kwargs
    return subprocess.Popen(
        [sys.executable, *arguments], cwd=ROOT, env=environment, text=True, **outputs
    )


def test_a_launcher_asked_for_with_one_device_falls_back_and_says_so():
    script = (
        "import numpy as np\n"
        "import dann_jax\n"
        "x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)\n"
        "dann_jax.fit(x, np.arange(16) % 2, x, model='shallow', steps=2, batch_size=6,"
        " parallel='pmap', progress=False)\n"
        "print('trained')\n"
    )
    process = run_python(["-c", script], devices=1)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "trained" in out
    assert "parallel='pmap' with one device: running the single-device step instead" in err


def free_address():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def run_two_processes(arguments_of):
    """Starts processes 0 and 1 (two CPU devices each); returns their (status, out, err).

    Their output goes to files, not pipes. With pipes, the test read process 0's to
    the end before process 1's: once process 1 had written 64 KiB (a pipe's buffer;
    the distributed runtime's warnings on a loaded machine are enough), its next write
    blocked, process 0 then waited for it in a collective, and the test waited for
    process 0: a hang after both ranks had connected. If they still outlast the
    deadline, each is sent SIGABRT, which makes Python (PYTHONFAULTHANDLER) print
    every thread's stack, and the test fails with those stacks.
    """
    with tempfile.TemporaryDirectory() as folder:
        logs = [(Path(folder) / f"{i}.out", Path(folder) / f"{i}.err") for i in range(2)]
        processes = []
        for index, (out, err) in enumerate(logs):
            with open(out, "w") as out_file, open(err, "w") as err_file:
                processes.append(
                    run_python(
                        arguments_of(index), devices=2, stdout=out_file, stderr=err_file,
                        faulthandler=True,
                    )
                )  # fmt: skip
        deadline = time.monotonic() + 240
        try:
            for process in processes:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for process in processes:
                process.send_signal(signal.SIGABRT)
                process.wait(timeout=30)
            stacks = "\n".join(f"process {i}:\n{err.read_text()[-6000:]}"
                               for i, (_, err) in enumerate(logs))  # fmt: skip
            pytest.fail(f"the two processes outlasted 240 s; their stacks:\n{stacks}")
        return [
            (process.returncode, out.read_text(), err.read_text())
            for process, (out, err) in zip(processes, logs, strict=True)
        ]


def test_two_processes_train_like_one_process_on_the_same_global_batches(tmp_path):
    output = tmp_path / "params.npz"
    address = free_address()
    start = time.perf_counter()
    finished = run_two_processes(
        lambda index: [str(ROOT / "tests" / "distributed_fit.py"), address, str(index), str(output)]
    )
    print(f"two processes: {time.perf_counter() - start:.1f} s")
    for status, _, err in finished:
        assert status == 0, err[-3000:]
    saved = np.load(output)
    reference = jax.tree.leaves(distributed_fit.fit("stream", "none").params)
    for input_mode, kind in distributed_fit.RUNS:
        for index, want in enumerate(reference):
            np.testing.assert_allclose(saved[f"{input_mode}-{kind}-{index}"], want, **TOLERANCE)


def cli_arguments(address, index, workdir, *overrides):
    return [
        "-m",
        "dann_jax.cli",
        "train",
        "--noprogress",
        "--config=moons",
        "--config.steps=20",
        "--config.log_every=10",
        "--config.batch_size=32",  # shared by the 8 devices of the two processes
        "--config.parallel=auto",
        "--config.plots=False",
        f"--workdir={workdir}",
        f"--coordinator_address={address}",
        "--num_processes=2",
        f"--process_id={index}",
        *overrides,
    ]


def test_processes_that_disagree_on_the_config_stop_with_a_clear_error(tmp_path):
    address = free_address()
    finished = run_two_processes(
        lambda index: cli_arguments(address, index, tmp_path / "run", f"--config.seed={index}")
    )
    for status, _, err in finished:
        assert status == 2
        assert "the 2 processes disagree on the config" in err
    assert not (tmp_path / "run").exists()


def test_two_processes_refuse_a_single_device_launcher(tmp_path):
    """parallel='none' would train one model per process; both say so and write nothing."""
    address = free_address()
    finished = run_two_processes(
        lambda index: cli_arguments(
            address, index, tmp_path / f"p{index}", "--config.parallel=none"
        )
    )
    for status, _, err in finished:
        assert status == 2, err[-3000:]
        assert "parallel='none' trains on one device, but this run has 2 processes" in err
    assert not any(tmp_path.iterdir())


def test_two_process_runs_write_from_process_zero_and_resume_like_one_never_stopped(tmp_path):
    """One run folder, written by process 0 alone; a stopped run resumes to the same
    metrics and results. (Each two-process run starts two Pythons: one test, two runs.)"""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    # Checkpoints every 15 steps, records every 10: process 0 hands the others the
    # metrics of the steps after the last record too.
    steps = ["--config.steps=40", "--config.checkpoint_every=15"]

    def run(workdir):
        address = free_address()
        finished = run_two_processes(
            lambda index: (
                cli_arguments(address, index, workdir, *steps)
                if index == 0
                else cli_arguments(address, index, tmp_path / "unused", *steps)
            )
        )
        for status, _, err in finished:
            assert status == 0, err[-3000:]
        return finished

    finished = run(whole)
    records = [json.loads(line) for line in (whole / "metrics.jsonl").open()]
    assert [(r["method"], r["step"]) for r in records] == [
        (method, step) for method in ("source_only", "dann") for step in (10, 20, 30, 40)
    ]
    assert (whole / "results.json").exists() and not (tmp_path / "unused").exists()
    assert "| dann |" in finished[0][1] and "| dann |" not in finished[1][1]
    # The run as if stopped while dann trained: its checkpoint at step 15 is its last.
    shutil.copytree(whole, stopped)
    (stopped / "results.json").unlink()
    for later in ("30", "40"):
        shutil.rmtree(stopped / "checkpoints" / "dann" / later)
    finished = run(stopped)
    assert "Resuming" in finished[0][1]
    assert "source_only at step 40, dann at step 15" in finished[0][1]
    assert "source_only: trained to step 40 before" in finished[0][1]
    assert (stopped / "metrics.jsonl").read_text() == (whole / "metrics.jsonl").read_text()
    results = json.loads((stopped / "results.json").read_text())
    expected = json.loads((whole / "results.json").read_text())
    for method in expected:
        assert results[method]["target_accuracy"] == expected[method]["target_accuracy"]
    assert not (tmp_path / "unused").exists()
