"""What the run-folder tests share: a short moons run's arguments and a folder's files."""

from pathlib import Path

# `dann train` on moons, 40 steps, a record every 10 and a checkpoint every 20, no
# figures (their seconds are most of such a run's; tests/cli/test_cli.py draws them).
MOONS = [
    "train",
    "--noprogress",
    "--config=moons",
    "--config.plots=False",
    "--config.steps=40",
    "--config.log_every=10",
    "--config.checkpoint_every=20",
]


def files_of(folder: Path, *, leave_out: tuple[str, ...] = (".dann.lock",)) -> dict:
    """Relative path -> bytes of every file under ``folder`` (but the ``leave_out`` names)."""
    return {
        path.relative_to(folder): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.name not in leave_out
    }
