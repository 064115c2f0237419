"""Checkpoints with orbax: a run's train state (params, optimiser state, model state,
key, step) and
the loop's state (input position, metrics not yet logged), written atomically,
the last few kept.

Only the state's arrays are saved; its static parts (the network, the step
settings) come from the config when a state is rebuilt, and restoring takes
the shapes and structure of such a fresh state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
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


def save(
    checkpoints: ocp.CheckpointManager, state: TrainState, loop_state: dict | None = None
) -> None:
    """Saves ``state`` and the loop's state beside it at step ``state.step``.

    ``loop_state`` (JSON) is what :func:`dann_jax.core.loop.train_loop` hands its
    ``on_checkpoint``; it defaults to ``{"next_index": step}``, the input
    position of a state saved at a log step.
    """
    step = int(jax.device_get(state.step))
    checkpoints.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(_host_arrays(state)),
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
        restored = checkpoints.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), loop=ocp.args.JsonRestore()
            ),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"the checkpoint at step {step} in {checkpoints.directory} does not fit this "
            f"config's network ({error}); is it from another run?"
        ) from None
    loop_state = dict(restored["loop"] or {})
    loop_state.pop("format", None)
    return template.replace(**restored["state"]), loop_state


def check_readable(directory: str | Path) -> None:
    """Reads the latest checkpoint in ``directory`` in full, if there is one.

    Raises:
      ValueError: it cannot be read (a damaged or truncated file); the message
        names it and the ways on. Resuming calls this before it touches the run.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    checkpoints = manager(directory)
    step = checkpoints.latest_step()
    if step is None:
        return
    try:
        checkpoints.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(), loop=ocp.args.JsonRestore()),
        )
    except Exception as error:  # orbax and tensorstore raise many kinds for damaged files
        raise ValueError(
            f"the checkpoint at step {step} in {directory} cannot be read ({type(error).__name__}: "
            f"{str(error)[:300]}); nothing was changed. Move {directory / str(step)} away to "
            "resume from the checkpoint before it, or pass --overwrite to start the run afresh."
        ) from None


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
