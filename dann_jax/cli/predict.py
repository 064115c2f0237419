"""``dann predict``: a run's trained network labels image files, arrays or a TFDS split."""

from __future__ import annotations

from absl import flags

from dann_jax.cli import common
from dann_jax.runs import predict

USAGE = """usage: dann predict --workdir RUN [--checkpoint auto|chosen|last|STEP] [--method M]
                    [--out predictions.csv] [--probabilities] [--tfds NAME:SPLIT]
                    IMAGE_OR_FOLDER_OR_NPY ...

Labels images with a run's trained network and writes a CSV: one row per input, its
name, the predicted class's name and its probability (--probabilities: every class's).
Inputs are image files, folders of them (read recursively), NumPy .npy arrays
(N, H, W, C), or a prepared TFDS split (--tfds mnist_m:test). The checkpoint is the one
dann select chose (auto: that, or the last when the run has no selection yet).
"""


def define_flags() -> flags.FlagValues:
    """``dann predict``'s flags."""
    flag_values = common.run_folder_flags()
    flags.DEFINE_string(
        "checkpoint",
        "auto",
        "auto (the chosen checkpoint, else the last), chosen, last, or a step.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "method", None, "Whose network (default: dann, when the run trained it).",
        flag_values=flag_values,
    )  # fmt: skip
    flags.DEFINE_string("out", "predictions.csv", "The CSV to write.", flag_values=flag_values)
    flags.DEFINE_bool(
        "probabilities", False, "Also write every class's probability.", flag_values=flag_values
    )
    flags.DEFINE_string(
        "tfds", "", "A prepared TFDS split to label, NAME:SPLIT.", flag_values=flag_values
    )
    flags.DEFINE_string(
        "data_dir", None, "Where --tfds is prepared (default ~/tensorflow_datasets).",
        flag_values=flag_values,
    )  # fmt: skip
    flags.DEFINE_bool("overwrite", False, "Replace --out if it exists.", flag_values=flag_values)
    return flag_values


def main(argv: list[str]) -> int:
    """``dann predict --workdir RUN INPUT ...``; returns the exit status."""
    flag_values = define_flags()
    paths = common.parse("predict", USAGE, flag_values, argv)
    if isinstance(paths, int):
        return paths
    status = common.check_run_folder("predict", flag_values.workdir)
    if status is not None:
        return status
    try:
        written = predict.predict(
            flag_values.workdir,
            paths,
            flag_values.out,
            tfds=flag_values.tfds,
            data_dir=flag_values.data_dir,
            method=flag_values.method,
            checkpoint=flag_values.checkpoint,
            probabilities=flag_values.probabilities,
            overwrite=flag_values.overwrite,
            model=flag_values.model,
            progress=flag_values.progress,
        )
    except ValueError as raised:  # DatasetUnavailable is one too
        return common.error("predict", str(raised))
    counts = ", ".join(f"{name} {count}" for name, count in written.class_counts.items() if count)
    print(
        f"Labelled {written.count} inputs with {written.method} at step {written.step} "
        f"({written.how}): {counts}."
    )
    print(f"Wrote {written.path}.")
    return 0
