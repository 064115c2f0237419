"""Small files written whole or not at all, and read back with errors that name them.

Every JSON, JSONL, Markdown, CSV or image file that a run, a sweep or a selection
writes goes to a temporary name in its own folder and is then renamed over the
file (``os.replace``, atomic on POSIX): a kill, a full disk or a crash mid-write
leaves the old file or the new one, never half of one. A file that is damaged all
the same (edited by hand, copied in part) is refused with its path and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def replacing(path: str | Path, mode: str = "w", **open_args: Any) -> Iterator[IO]:
    """An open temporary file beside ``path`` that replaces ``path`` when the block
    ends without an error; on an error the temporary file is removed and ``path`` is
    as it was."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, mode, **open_args) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # the data is on disk before the name points at it
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    with replacing(path) as file:
        file.write(text)


def write_json(path: str | Path, value: Any) -> None:
    """Writes ``value`` to ``path`` as indented JSON, atomically."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def save_figure(figure: Any, path: str | Path, **savefig_args: Any) -> None:
    """Saves a matplotlib figure to ``path`` atomically (its format from the suffix)."""
    path = Path(path)
    with replacing(path, "wb") as file:
        figure.savefig(file, format=path.suffix.lstrip("."), **savefig_args)


def damaged(path: str | Path, why: str) -> ValueError:
    """The error for a damaged file: its path, what is wrong, and the ways on."""
    return ValueError(
        f"{path} is damaged ({why}); nothing was changed. Restore the file from a copy, or "
        "pass --overwrite to start the run afresh."
    )


def read_json(path: str | Path) -> Any:
    """The JSON value in ``path``.

    Raises:
      ValueError: the file is not valid JSON; the message names it (see :func:`damaged`).
      OSError: it cannot be read.
    """
    text = Path(path).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise damaged(path, f"not JSON: {error}") from None
