"""One process per run folder: an exclusive lock held while a command writes one.

Two ``dann train`` started into one folder would resume each other's half-made run,
collide in orbax's temporary names and interleave ``metrics.jsonl``. The lock is
``fcntl.flock`` on the folder's ``.dann.lock`` file, taken before the folder is
read and held until the command ends; the kernel releases it when its process dies,
so the file a killed run leaves behind never blocks the next one. The file holds the
holder's pid and command, for the message another process gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".dann.lock"
# The folders this process holds: taking one again (a sweep's runs inside its own
# lock) is a no-op, not a conflict with itself.
_held: set[Path] = set()


@contextlib.contextmanager
def exclusive(folder: str | Path) -> Iterator[None]:
    """Holds ``folder``'s lock for the block, making the folder when it does not exist;
    a folder this made and left holding nothing but the lock file is removed when the
    block fails (a config or data error leaves no empty run folder behind). Within a
    block that holds it already, it holds it on.

    Raises:
      ValueError: another process holds the lock; the message names the folder and the
        holder's pid and command.
      OSError: the folder cannot be made or written (permissions, a full disk).
    """
    folder = Path(folder)
    if folder.resolve() in _held:
        yield
        return
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 1000).decode(errors="replace").strip() or "unknown"
            raise ValueError(
                f"run folder {folder} is in use by another process (pid {holder}); nothing was "
                "changed. Wait for it to end, or pass another --workdir."
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}: {' '.join(sys.argv)}\n".encode())
        _held.add(folder.resolve())
        try:
            yield
        except BaseException:
            with contextlib.suppress(OSError):  # the error on its way up is the one to see
                if made and os.listdir(folder) == [LOCK_FILE]:
                    path.unlink()
                    folder.rmdir()
            raise
        finally:
            _held.discard(folder.resolve())
    finally:
        os.close(descriptor)  # releases the lock
