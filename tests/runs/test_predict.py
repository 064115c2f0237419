"""The practitioner's path on image folders with an unlabelled target: train, select
without labels, predict files and arrays into a CSV, load the chosen network in Python."""

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import dann_jax
from dann_jax import cli
from dann_jax.runs import select
from dann_jax.runs.evaluate import chosen_step
from dann_jax.runs.folder import RunFolder

# Whole runs, subprocesses or many processes: the slow tier (make test-slow).
pytestmark = pytest.mark.slow

CLASSES = ("circle", "cross", "square")


def draw(shape, shift, rng):
    """A 28 x 28 RGB picture of ``shape`` in white on a noisy background (``shift``
    darkens the background: the target's look)."""
    picture = rng.uniform(0, 60 + shift, size=(28, 28, 3))
    y, x = np.mgrid[:28, :28]
    if shape == "circle":
        mask = (y - 14) ** 2 + (x - 14) ** 2 < 64
    elif shape == "cross":
        mask = (abs(y - 14) < 3) | (abs(x - 14) < 3)
    else:
        mask = (abs(y - 14) < 8) & (abs(x - 14) < 8)
    picture[mask] = 250
    return Image.fromarray(picture.astype(np.uint8))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run of the image_folders config on shapes (source, class folders) -> shapes on
    darker noise (target, no class folders), with three checkpoints each."""
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for shape in CLASSES:
        for index in range(8):
            (root / "drawn" / shape).mkdir(parents=True, exist_ok=True)
            draw(shape, 0, rng).save(root / "drawn" / shape / f"{index}.png")
    (root / "noisy").mkdir()
    for index in range(9):
        draw(CLASSES[index % 3], 120, rng).save(root / "noisy" / f"{index:02d}.jpg")
    workdir = root / "run"
    arguments = [
        "train", "--config", "image_folders", f"--config.data_dir={root}",
        "--config.source=drawn", "--config.target=noisy", "--config.steps=30",
        "--config.checkpoint_every=10", "--config.batch_size=16", "--config.log_every=10",
        "--config.steps_per_dispatch=10", "--config.plots=False", "--noprogress",
        f"--workdir={workdir}",
    ]  # fmt: skip
    assert cli.main(arguments) == 0
    return workdir


def test_the_run_keeps_what_prediction_needs_and_says_its_figures_are_transductive(run):
    inputs = json.loads((run / "inputs.json").read_text())
    assert inputs["class_names"] == list(CLASSES) and inputs["input_shape"] == [28, 28, 3]
    table = (run / "results.md").read_text()
    assert "source accuracy (training data)" in table and "target accuracy" not in table
    assert "Proxy A-distance: 2 (1 - 2 e)" in table


def test_selection_picks_without_target_labels_and_records_the_chosen_checkpoint(run, capsys):
    assert cli.main(["select", f"--workdir={run}", "--noprogress"]) == 0
    printed = capsys.readouterr().out
    assert "information_maximization** (chosen)" in printed
    assert "The target has no labels" in printed and "| oracle" not in printed
    results = json.loads((run / "selection.json").read_text())
    for record in results.values():
        assert record["steps"] == [10, 20, 30] and "target_accuracy" not in record
        assert record["chosen"]["validator"] == "information_maximization"
        assert record["chosen"]["step"] == record["picks"]["information_maximization"]["step"]
    step, validator = chosen_step(RunFolder(run), "dann")
    assert (step, validator) == (results["dann"]["chosen"]["step"], "information_maximization")
    again = select.select_checkpoints(run, validator="batch_nuclear_norm", progress=False)
    assert again["dann"]["chosen"]["validator"] == "batch_nuclear_norm"


def test_predict_writes_a_row_per_file_with_class_names(run, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    noisy = run.parent / "noisy"
    arguments = ["predict", f"--workdir={run}", str(noisy), f"--out={out}", "--noprogress"]
    assert cli.main([*arguments, "--probabilities"]) == 0
    printed = capsys.readouterr().out
    assert "Labelled 9 inputs with dann at step" in printed and "chosen by" in printed
    with open(out) as file:
        rows = list(csv.DictReader(file))
    assert [row["input"] for row in rows] == [str(noisy / f"{i:02d}.jpg") for i in range(9)]
    assert {row["class"] for row in rows} <= set(CLASSES)
    for row in rows:
        probabilities = [float(row[f"p({name})"]) for name in CLASSES]
        assert sum(probabilities) == pytest.approx(1, abs=1e-5)
        assert float(row["probability"]) == pytest.approx(max(probabilities), abs=1e-6)
    trained = dann_jax.load_trained(run, checkpoint="chosen")
    images = np.stack([np.asarray(Image.open(noisy / f"{i:02d}.jpg")) for i in range(9)])
    expected = [trained.class_names[i] for i in trained.predict(images)]
    assert [row["class"] for row in rows] == expected
    assert cli.main(arguments) == 2  # the CSV exists: refused, untouched
    assert "exists; nothing was changed" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 10


def test_predict_takes_arrays_and_any_checkpoint(run, tmp_path, capsys):
    images = np.stack([np.asarray(Image.open(p)) for p in sorted((run.parent / "noisy").iterdir())])
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / "from-array.csv"
    arguments = ["predict", f"--workdir={run}", str(tmp_path / "images.npy"), f"--out={out}"]
    assert cli.main([*arguments, "--checkpoint=20", "--method=source_only", "--noprogress"]) == 0
    assert "source_only at step 20 (asked for)" in capsys.readouterr().out
    with open(out) as file:
        rows = list(csv.DictReader(file))
    assert rows[3]["input"] == f"{tmp_path / 'images.npy'}[3]"
    trained = dann_jax.load_trained(run, checkpoint=20, method="source_only")
    assert [row["class"] for row in rows] == [
        trained.class_names[i] for i in trained.predict(images)
    ]
    assert cli.main([*arguments, "--checkpoint=25", "--overwrite", "--noprogress"]) == 2
    assert "no checkpoint of dann at step 25; it has steps 10, 20, 30" in capsys.readouterr().err


def test_predict_labels_a_tfds_split(run, tmp_path, capsys):
    import tensorflow_datasets as tfds

    out = tmp_path / "mnist.csv"
    with tfds.testing.mock_data(num_examples=5):  # grey 28 x 28 digits, made RGB
        status = cli.main(
            ["predict", f"--workdir={run}", "--tfds=mnist:test", f"--out={out}", "--noprogress"]
        )
    assert status == 0 and "Labelled 5 inputs" in capsys.readouterr().out
    with open(out) as file:
        rows = list(csv.DictReader(file))
    assert [row["input"] for row in rows] == [f"mnist:test[{i}]" for i in range(5)]
    assert {row["class"] for row in rows} <= set(CLASSES)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "name what to label"),
        (["/no/such/folder"], "/no/such/folder does not exist"),
        (["--checkpoint=best", "x.npy"], "give 'last', 'chosen' or a step number"),
        (["--tfds=mnist_m"], "--tfds takes NAME:SPLIT"),
    ],
)
def test_bad_predictions_get_one_line(run, tmp_path, capsys, arguments, message):
    command = ["predict", f"--workdir={run}", f"--out={tmp_path / 'p.csv'}", *arguments]
    assert cli.main(command) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_a_run_folder_predicts_without_its_training_data(run, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(run, moved / "run")
    config = json.loads((moved / "run" / "config.json").read_text())
    config["data_dir"] = str(tmp_path / "gone")  # as if the images had stayed elsewhere
    (moved / "run" / "config.json").write_text(json.dumps(config))
    trained = dann_jax.load_trained(moved / "run")
    assert trained.class_names == CLASSES and trained.input_shape == (28, 28, 3)
    assert trained.predict(np.zeros((2, 28, 28, 3), np.uint8)).shape == (2,)
    with pytest.raises(ValueError, match="has no chosen checkpoint of dann: run `dann select"):
        (moved / "run" / "selection.json").unlink()
        dann_jax.load_trained(moved / "run", checkpoint="chosen")
