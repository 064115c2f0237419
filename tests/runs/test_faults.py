"""Everyday faults: a full disk, a torn file, two runs in one folder, a damaged checkpoint,
a diverged run, a run folder that names code, bad values: one line each, nothing lost,
and the same command finishes the run."""

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from short_runs import MOONS, files_of

from dann_jax import cli
from dann_jax.core import checkpoints
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.runs import files, folder, lock, train

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow


def train_moons(workdir, *more):
    return cli.main([*MOONS, f"--workdir={workdir}", *more])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished moons run, copied by the tests that change it."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    assert train_moons(workdir) == 0
    return workdir


def unfinished_copy(finished, tmp_path):
    """A copy of the finished run without its results: as if stopped after its last save."""
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir)
    for name in ("results.json", "results.md", "evaluation.json"):
        (workdir / name).unlink()
    return workdir


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "results.json"
    files.write_json(path, {"a": 1})
    with pytest.raises(OSError), files.replacing(path) as file:
        file.write('{"a": 2, "b"')
        raise OSError(errno.ENOSPC, "No space left on device")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left


def test_a_full_disk_is_one_line_and_the_same_command_finishes_the_run(
    tmp_path, monkeypatch, capsys
):
    workdir = tmp_path / "run"
    save = checkpoints.save

    def disk_full_at_the_last_save(manager, state, *args):
        if int(state.step) == 40:
            raise OSError(errno.ENOSPC, "No space left on device", str(manager.directory))
        return save(manager, state, *args)

    def wall_time_lost_too(*args):
        raise OSError(errno.ENOSPC, "No space left on device", "wall_times.json")

    monkeypatch.setattr(checkpoints, "save", disk_full_at_the_last_save)
    monkeypatch.setattr(folder.RunFolder, "add_wall_time", wall_time_lost_too)
    assert train_moons(workdir) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "No space left on device: " in error and "checkpoints/source_only" in error
    assert "run the same command again" in error
    assert "wall_times.json" not in error  # the first error is the one reported
    monkeypatch.undo()
    assert train_moons(workdir) == 0
    assert "Resuming" in capsys.readouterr().out
    assert set(json.loads((workdir / "results.json").read_text())) == {"source_only", "dann"}


@pytest.mark.parametrize("name", ["config.json", "wall_times.json"])
def test_a_torn_file_is_named_with_the_way_on(finished, tmp_path, capsys, name):
    workdir = unfinished_copy(finished, tmp_path)
    text = (workdir / name).read_text()
    (workdir / name).write_text(text[: len(text) // 2])
    before = files_of(workdir)
    assert train_moons(workdir) == 2
    error = capsys.readouterr().err
    assert f"{workdir / name} is damaged (not JSON" in error and "--overwrite" in error
    assert files_of(workdir) == before


def test_a_second_process_on_a_run_folder_is_refused_and_a_dead_ones_lock_is_not(tmp_path, capsys):
    workdir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from dann_jax.runs import lock
            with lock.exclusive({str(workdir)!r}):
                print("held", flush=True)
                time.sleep(120)
            """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert train_moons(workdir) == 2
        error = capsys.readouterr().err
        assert f"run folder {workdir} is in use by another process (pid {holder.pid}" in error
        assert os.listdir(workdir) == [lock.LOCK_FILE]  # nothing of a run was written
    finally:
        holder.kill()  # as a crash would: the lock file stays, the lock goes with the process
        holder.wait()
    assert (workdir / lock.LOCK_FILE).exists()
    assert train_moons(workdir) == 0


def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_before_it(
    finished, tmp_path, capsys
):
    workdir = unfinished_copy(finished, tmp_path)
    newest = workdir / "checkpoints" / "dann" / "40"
    data_files = (newest / "state" / "d").iterdir()
    largest = max(data_files, key=lambda path: path.stat().st_size)
    largest.write_bytes(largest.read_bytes()[:10])
    # dann evaluate on the same damage says unreadable and takes the one before.
    shutil.copy(finished / "results.json", workdir / "results.json")
    assert cli.main(["evaluate", f"--workdir={workdir}", "--noprogress"]) == 0
    out, err = capsys.readouterr()
    assert "dann: skipped its checkpoint at step 40, unreadable" in out
    assert "Task exception was never retrieved" not in out + err
    (workdir / "results.json").unlink()

    assert train_moons(workdir) == 0
    out, err = capsys.readouterr()
    assert "its checkpoint at step 40 is unreadable" in out
    assert "resumes from the one before it" in out and "dann at step 20" in out
    assert "Task exception was never retrieved" not in out + err
    assert (workdir / "checkpoints" / "dann.damaged" / "40").is_dir()  # kept, not deleted
    assert (workdir / "checkpoints" / "dann" / "40").is_dir()  # trained again
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["method"] == "dann"] == [10, 20, 30, 40]


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_a_run_whose_every_checkpoint_is_damaged_is_refused_untouched(
    finished, tmp_path, capsys, damage
):
    workdir = unfinished_copy(finished, tmp_path)
    for step in ("20", "40"):
        for path in (workdir / "checkpoints" / "dann" / step / "state" / "d").iterdir():
            content = path.read_bytes()
            if damage == "truncate":
                path.write_bytes(content[: len(content) // 2])
            else:
                path.write_bytes(bytes(255 - byte for byte in content))
    before = files_of(workdir)
    assert train_moons(workdir) == 2
    error = capsys.readouterr().err
    assert "step 40" in error and "is unreadable" in error and "--overwrite" in error
    assert files_of(workdir) == before


def test_a_non_finite_state_is_never_saved(tmp_path):
    settings = TrainSettings(steps=1)
    state = create_train_state(build_model("shallow", 2), np.zeros((1, 2), np.float32), settings)
    params = jax.tree.map(lambda leaf: leaf.at[0].set(np.inf), state.params)
    manager = checkpoints.manager(tmp_path)
    with pytest.raises(FloatingPointError, match=r"params became non-finite by step 0 \("):
        checkpoints.save(manager, state.replace(params=params))
    assert manager.all_steps() == []


def test_a_diverging_run_stops_in_one_line_at_its_last_good_checkpoint(tmp_path, capsys):
    default = ["train", "--noprogress", "--config.log_every=10", "--config.checkpoint_every=10"]
    default += ["--config.parallel=none"]  # one device: 8 would sum the huge metrics to inf
    default += ["--config.method=source_only"]  # the faults are the network's, not a method's
    workdir = tmp_path / "run"
    assert cli.main([*default, "--config.steps=20", "--config.learning_rate=1e30",
                     f"--workdir={workdir}"]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "became nan by step 10" in error and "lower the learning rate" in error
    assert not (workdir / "checkpoints" / "source_only" / "10").exists()  # not finite
    # One step at this rate leaves weights finite but so large that features overflow.
    workdir = tmp_path / "overflow"
    assert cli.main([*default, "--config.steps=1", "--config.learning_rate=3e38",
                     f"--workdir={workdir}"]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "gives non-finite features on the test data" in error and error.count("\n") == 1


def test_a_run_folder_is_data_not_code(finished, tmp_path, monkeypatch, capsys):
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir)
    marker = tmp_path / "imported"
    (tmp_path / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\nmake = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = json.loads((workdir / "config.json").read_text())
    (workdir / "config.json").write_text(json.dumps({**config, "model": "planted:make"}))
    for command in ("evaluate", "select"):
        assert cli.main([command, f"--workdir={workdir}", "--noprogress"]) == 2
        assert "not trusted as code. Pass --model=planted:make" in capsys.readouterr().err
    assert cli.main(["predict", f"--workdir={workdir}", str(tmp_path), "--noprogress"]) == 2
    assert "not trusted as code" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--config.keep_checkpoints=-1"], "keep_checkpoints must be an integer >= 0"),
        (["--config.model=os:getcwd"], "cannot be called as a function num_classes -> DANN"),
        (["--config.init_variables=/etc/passwd"], "passwd"),
        (
            ["--config=image_folders", "--config.input_shape=abc", "--config.data_dir=x"],
            "input_shape must be (height, width, channels)",
        ),
    ],
)
def test_bad_values_fail_before_the_workdir_is_made(tmp_path, capsys, arguments, message):
    workdir = tmp_path / "run"
    assert cli.main(["train", "--noprogress", *arguments, f"--workdir={workdir}"]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not workdir.exists()


def test_unexpected_os_errors_are_one_line(tmp_path, monkeypatch, capsys):
    def unreadable(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/mnist")

    monkeypatch.setattr(train, "load_data", unreadable)
    assert train_moons(tmp_path / "run") == 2
    error = capsys.readouterr().err
    assert error == (
        "dann train: error: Permission denied: /data/mnist. Pass a folder you can write "
        "(--workdir) and read (data_dir).\n"
    )
    assert not (tmp_path / "run").exists()  # the folder the lock made is gone again
    monkeypatch.setenv("DANN_DEBUG", "1")
    with pytest.raises(PermissionError):
        train_moons(tmp_path / "run")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="Linux's /sys")
def test_a_folder_no_one_may_write_is_one_line(capsys):
    # /sys refuses a new folder to every user, root too (no test can drop root's rights
    # here: the interpreter lives under /root).
    assert train_moons("/sys/dann-run") == 2
    assert capsys.readouterr().err == (
        "dann train: error: Operation not permitted: /sys/dann-run. Pass a folder you can "
        "write (--workdir) and read (data_dir).\n"
    )


def test_settings_that_do_not_change_the_weights_may_change_on_resume(tmp_path, capsys):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert train_moons(whole) == 0
    assert train_moons(resumed) == 0
    for name in ("results.json", "results.md", "evaluation.json"):
        (resumed / name).unlink()
    shutil.rmtree(resumed / "checkpoints" / "dann" / "40")  # dann resumes from step 20
    assert not list(resumed.glob("*.png"))  # plots=False: no figure
    capsys.readouterr()
    more = ["--config.log_every=20", "--config.keep_checkpoints=5", "--config.tensorboard=True"]
    assert train_moons(resumed, *more, "--config.plots=True") == 0
    assert (resumed / "training_curves.png").exists() and (resumed / "features.png").exists()
    assert "with this command's keep_checkpoints=5 (was 3), log_every=20 (was 10)" in (
        capsys.readouterr().out
    )
    assert json.loads((resumed / "config.json").read_text())["log_every"] == 20
    for method in ("source_only", "dann"):
        manager = checkpoints.manager(resumed / "checkpoints" / method)
        other = checkpoints.manager(whole / "checkpoints" / method)
        template = _template()
        got, _ = checkpoints.restore(manager, template)
        want, _ = checkpoints.restore(other, template)
        for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True):
            np.testing.assert_array_equal(a, b)
    assert train_moons(tmp_path / "whole", "--config.seed=3") == 2  # a finished run
    (whole / "results.json").unlink()
    assert train_moons(whole, "--config.seed=3") == 2
    assert "differs in seed" in capsys.readouterr().err


def _template():
    return create_train_state(
        build_model("shallow", 2), np.zeros((1, 2), np.float32), TrainSettings(steps=1)
    )


def test_the_lock_file_is_no_part_of_a_run(finished):
    assert (finished / lock.LOCK_FILE).exists() and lock.LOCK_FILE not in folder.FILES
    with lock.exclusive(finished):  # the run is done: its lock is free
        pass
