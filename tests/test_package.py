"""The package as users get it: a light import, optional extras named, a wheel that trains."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Loaded where they are used, never by `import dann_jax`.
HEAVY = ("sklearn", "skimage", "matplotlib", "grain", "tensorflow_datasets", "tensorflow",
         "hypothesis", "orbax", "tensorboardX")  # fmt: skip


def python(code, **kwargs):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, **kwargs
    )


def test_import_loads_jax_flax_and_optax_but_nothing_heavy():
    process = python("import json, sys, dann_jax; print(json.dumps(sorted(sys.modules)))")
    assert process.returncode == 0, process.stderr
    loaded = {name.split(".")[0] for name in json.loads(process.stdout)}
    assert {"jax", "flax", "optax"} <= loaded
    assert not loaded & set(HEAVY)


def test_the_testing_helpers_name_their_extra_when_hypothesis_is_missing():
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None  # as if not installed\n"
        "import dann_jax.testing\n"
    )
    process = python(code)
    assert process.returncode == 1
    assert "pip install 'dann_jax[testing]'" in process.stderr


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_trains_from_any_folder(tmp_path):
    """`pip install` of the wheel (not editable): `dann train` finds its packaged default.

    The wheel goes into a folder of its own, first on the path; its dependencies are
    this environment's.
    """
    wheels, site, outside = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    outside.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", wheels, ROOT], check=True, timeout=300)
    (wheel,) = wheels.glob("dann_jax-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True, timeout=120)
    environment = {**os.environ, "PYTHONPATH": str(site), "JAX_PLATFORMS": "cpu"}
    where = python("import dann_jax; print(dann_jax.__file__)", cwd=outside, env=environment)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr
    workdir = outside / "run"
    process = subprocess.run(
        [site / "bin" / "dann", "train", "--noprogress", "--config.steps=20",
         "--config.log_every=10", "--config.method=dann", "--config.plots=False",
         f"--workdir={workdir}"],
        cwd=outside, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    assert list(json.loads((workdir / "results.json").read_text())) == ["dann"]
