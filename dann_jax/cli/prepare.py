"""``dann prepare``: downloads and prepares a TFDS dataset (needs TensorFlow)."""

from __future__ import annotations

from absl import flags

from dann_jax.cli import common
from dann_jax.data import prepare, tfds_sources

USAGE = f"""usage: dann prepare NAME [--data_dir DIR] [--manual_dir DIR]

Downloads and prepares a TFDS dataset as ArrayRecord files, which training reads
without TensorFlow. Preparing needs TensorFlow: pip install 'dann_jax[prepare]'.
Datasets: {", ".join(tfds_sources.OWN_BUILDERS + tfds_sources.CATALOG)}.
"""


def define_flags() -> flags.FlagValues:
    """``dann prepare``'s flags."""
    flag_values = flags.FlagValues()
    flags.DEFINE_string(
        "data_dir", None, "Where to write (default ~/tensorflow_datasets).", flag_values=flag_values
    )
    flags.DEFINE_string(
        "manual_dir", None, "A folder holding the dataset's files.", flag_values=flag_values
    )
    return flag_values


def main(argv: list[str]) -> int:
    """``dann prepare NAME``; returns the exit status."""
    flag_values = define_flags()
    names = common.parse("prepare", USAGE, flag_values, argv)
    if isinstance(names, int):
        return names
    if len(names) != 1:
        return common.error("prepare", "name one dataset, e.g. dann prepare mnist.", hint=True)
    try:
        folder = prepare.prepare(names[0], flag_values.data_dir, flag_values.manual_dir)
    except (ImportError, ValueError) as raised:
        return common.error("prepare", str(raised))
    print(f"Prepared {names[0]} in {folder}")
    return 0
