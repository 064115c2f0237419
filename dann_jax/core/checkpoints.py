"""Checkpoints with orbax: a run's train state (params, optimiser state, model state,
key, step) and the loop's state (input position, metrics not yet logged), written
atomically, the last few kept.

Only the state's arrays are saved; its static parts (the network, the step
settings) come from the config when a state is rebuilt, and restoring takes
the shapes and structure of such a fresh state. A state with a NaN or infinite
parameter is never saved; a damaged checkpoint is told from one of another
network, and the newest one that reads can be found and the damaged ones after
it set aside, so that a run resumes from it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from dann_jax.core import distributed
from dann_jax.core.state import TrainState


def manager(directory: str | Path, *, keep: int | None = 3) -> ocp.CheckpointManager:
    """An orbax CheckpointManager of ``directory`` keeping the ``keep`` latest checkpoints.

    It belongs to process 0 alone: states here are local copies, the same in
    every process, and only process 0 writes a run folder.
    """
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)  # orbax won't, with active_processes set
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        create=False,
        enable_async_checkpointing=False,
        multiprocessing_options=ocp.options.MultiprocessingOptions(
            primary_host=0, active_processes={0} if jax.process_count() > 1 else None
        ),
    )
    return ocp.CheckpointManager(directory, options=options)


# The layout of the saved train state; checkpoints of an earlier layout are refused
# with a message rather than misread. 2: model state and key added (dann_jax 0.2).
FORMAT = 2
_STATE_FIELDS = ("params", "opt_state", "model_state", "rng", "step")


def _arrays(state: TrainState) -> dict[str, Any]:
    return {name: getattr(state, name) for name in _STATE_FIELDS}


def _host_arrays(state: TrainState) -> dict[str, Any]:
    """The arrays as NumPy: orbax refuses to save process-local jax.Arrays in
    multi-process runs, and these copies are the same in every process."""
    return jax.device_get(_arrays(state))


def check_finite(arrays: dict[str, Any], step: int) -> None:
    """Raises FloatingPointError when a parameter or a model-state array (BatchNorm's
    statistics) of a state holds NaN or infinity; the message names the first."""
    for part in ("params", "model_state"):
        for path, value in jax.tree_util.tree_leaves_with_path(arrays[part]):
            value = np.asarray(value)
            if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
                name = "/".join(str(getattr(key, "key", key)) for key in path)
                raise FloatingPointError(
                    f"the {part} became non-finite by step {step} ({name}); that state was "
                    "not saved and the run stops at its last good checkpoint. Lower the "
                    "learning rate (or check the inputs for extreme values) and start afresh "
                    "with --overwrite."
                )


def save(
    checkpoints: ocp.CheckpointManager, state: TrainState, loop_state: dict | None = None
) -> None:
    """Saves ``state`` and the loop's state beside it at step ``state.step``.

    ``loop_state`` (JSON) is what :func:`dann_jax.core.loop.train_loop` hands its
    ``on_checkpoint``; it defaults to ``{"next_index": step}``, the input
    position of a state saved at a log step.

    Raises:
      FloatingPointError: the state's parameters or model state are not all finite;
        nothing is saved (see :func:`check_finite`).
    """
    step = int(jax.device_get(state.step))
    arrays = _host_arrays(state)
    check_finite(arrays, step)
    checkpoints.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(arrays),
            loop=ocp.args.JsonSave({"next_index": step, **(loop_state or {}), "format": FORMAT}),
        ),
    )
    checkpoints.wait_until_finished()


def restore(
    checkpoints: ocp.CheckpointManager, template: TrainState, step: int | None = None
) -> tuple[TrainState, dict]:
    """The state saved at ``step`` (default: the latest) and the loop state saved with it.

    Args:
      checkpoints: the manager of a run's checkpoint folder.
      template: a fresh state of the same config: its arrays give shapes and dtypes.
      step: which checkpoint; None for the latest.

    Raises:
      FileNotFoundError: the folder holds no checkpoint.
      ValueError: the checkpoint does not fit the template (another network or
        config); the message names the folder.
    """
    step = checkpoints.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {checkpoints.directory}.")
    loop_only = ocp.args.Composite(loop=ocp.args.JsonRestore())
    saved_format = (checkpoints.restore(step, args=loop_only)["loop"] or {}).get("format", 1)
    if saved_format != FORMAT:
        raise ValueError(
            f"the checkpoint at step {step} in {checkpoints.directory} was written by an "
            f"earlier dann_jax (checkpoint format {saved_format}, this one reads {FORMAT}); "
            "start the run afresh (--overwrite) or resume it with the dann_jax that began it."
        )
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _arrays(template))
    try:
        with _quiet_asyncio():
            restored = checkpoints.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), loop=ocp.args.JsonRestore()
                ),
            )
    except Exception as error:  # a misfit raises ValueError, KeyError or TypeError
        why = unreadable(checkpoints, step)
        if why is not None:
            raise ValueError(
                f"the checkpoint at step {step} in {checkpoints.directory} is unreadable "
                f"({why}); a damaged or truncated file."
            ) from None
        raise ValueError(
            f"the checkpoint at step {step} in {checkpoints.directory} does not fit this "
            f"config's network ({error}); is it from another run?"
        ) from None
    loop_state = dict(restored["loop"] or {})
    loop_state.pop("format", None)
    return template.replace(**restored["state"]), loop_state


@contextlib.contextmanager
def _quiet_asyncio() -> Iterator[None]:
    """Orbax reads with asyncio tasks; when a damaged file fails one, the others' failures
    are logged as "Task exception was never retrieved" (about 90 lines) when they are
    collected. The error raised says what went wrong; those lines are silenced."""
    asyncio_logger = logging.getLogger("asyncio")
    level = asyncio_logger.level
    asyncio_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        gc.collect()  # the failed tasks are collected (and would log) here, still silenced
        asyncio_logger.setLevel(level)


def unreadable(checkpoints: ocp.CheckpointManager, step: int) -> str | None:
    """Why the checkpoint at ``step`` cannot be read in full, or None when it can."""
    try:
        with _quiet_asyncio():
            checkpoints.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(), loop=ocp.args.JsonRestore()
                ),
            )
    except Exception as error:  # orbax and tensorstore raise many kinds for damaged files
        return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
    return None


def newest_readable(directory: str | Path) -> tuple[int | None, dict[int, str]]:
    """The newest checkpoint in ``directory`` that reads in full (None when none does, or
    there is none), and the newer ones that do not: step -> why."""
    directory = Path(directory)
    if not directory.is_dir():
        return None, {}
    checkpoints = manager(directory, keep=None)
    damaged = {}
    for step in sorted(checkpoints.all_steps(), reverse=True):
        why = unreadable(checkpoints, step)
        if why is None:
            return step, damaged
        damaged[step] = why
    return None, damaged


def check_readable(directory: str | Path) -> None:
    """Checks that a checkpoint in ``directory``, if it holds any, reads in full.

    Raises:
      ValueError: every checkpoint there is unreadable (damaged or truncated files); the
        message names the newest and the ways on. Resuming calls this before it touches
        the run; a damaged newest checkpoint with a readable one before it is set aside
        when the run resumes (:func:`set_aside_damaged`).
    """
    step, damaged = newest_readable(directory)
    if step is None and damaged:
        newest = max(damaged)
        raise ValueError(
            f"the checkpoint at step {newest} in {directory} is unreadable ({damaged[newest]}), "
            f"and so is every checkpoint before it; nothing was changed. Pass --overwrite "
            "to start the run afresh."
        )


def set_aside_damaged(directory: str | Path) -> dict[int, str]:
    """Moves the checkpoints newer than the newest readable one out of ``directory``, into
    ``<directory>.damaged/`` (kept, not deleted), so that a run resumes from the newest
    readable one and can save those steps again. Returns step -> why each was moved."""
    directory = Path(directory)
    step, damaged = newest_readable(directory)
    if step is None:
        return {}
    aside = directory.with_name(directory.name + ".damaged")
    for bad in damaged:
        aside.mkdir(exist_ok=True)
        shutil.rmtree(aside / str(bad), ignore_errors=True)  # an earlier one of that step
        os.replace(directory / str(bad), aside / str(bad))
    return damaged


def restore_everywhere(
    checkpoints: ocp.CheckpointManager | None, template: TrainState
) -> tuple[TrainState, dict]:
    """:func:`restore` of the latest checkpoint in process 0, handed to every process.

    In a multi-process run only process 0 holds a manager (the others pass
    None): it reads the arrays and the loop state and broadcasts them, so every
    process resumes from the same state. A ValueError in process 0 stops every
    process.
    """
    if jax.process_count() == 1:
        return restore(checkpoints, template)
    restored = []
    distributed.decide_in_process_zero(lambda: restored.append(restore(checkpoints, template)))
    state, loop_state = restored[0] if restored else (template, {})
    arrays = distributed.share_from_process_zero(_host_arrays(state))
    return template.replace(**arrays), distributed.share_json_from_process_zero(loop_state)
