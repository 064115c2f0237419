"""The loop: both input modes alike, absolute log and checkpoint steps, resumable records."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dann_jax.core.inputs import DeviceData, StreamInput
from dann_jax.core.loop import UNLOGGED, train_loop
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state
from dann_jax.data.domains import TrainingData
from dann_jax.data.preprocess import Preprocess
from dann_jax.data.sources import ArraySource


def device_inputs(data, batch_size=8, seed=0):
    return DeviceData.create(data, batch_size, seed)


def stream_inputs(data, batch_size=8, seed=0):
    domains = TrainingData(
        ArraySource(data["source_image"], data["source_label"]),
        ArraySource(data["target_image"]),
        preprocess=Preprocess(data["source_image"].shape[1:], np.zeros((), np.float32)),
        num_classes=2,
    )
    return StreamInput(domains, batch_size, seed)


def make_state(settings, model="shallow", shape=(2,)):
    return create_train_state(build_model(model, 2), jnp.zeros((1, *shape)), settings)


def test_non_finite_loss_stops_with_the_step_and_metric(host_data):
    settings = TrainSettings(steps=10, log_every=5, parallel="none")
    state = make_state(settings)
    poisoned = jax.tree.map(lambda leaf: jnp.full_like(leaf, jnp.nan), state.params)
    inputs = stream_inputs(host_data())
    with pytest.raises(FloatingPointError, match=r"became nan by step 5"):
        train_loop(state.replace(params=poisoned), inputs, settings=settings, progress=False)


@pytest.mark.parametrize(("model", "shape"), [("shallow", (2,)), ("mnist", (16, 16, 3))])
@pytest.mark.slow
def test_device_mode_trains_exactly_like_stream_mode(model, shape, host_data):
    """lax.scan over device-resident data sees the same batches as the host stream."""
    data = host_data(shape=shape)
    settings = TrainSettings(steps=7, steps_per_dispatch=3, log_every=5, parallel="none")
    results = {}
    for mode, inputs in (("stream", stream_inputs(data)), ("device", device_inputs(data))):
        state = make_state(settings, model, shape)
        results[mode] = train_loop(state, inputs, settings=settings, progress=False)
    (stream_state, stream_history), (device_state, device_history) = results.values()
    assert int(device_state.step) == 7
    assert [r["step"] for r in device_history] == [5, 7]
    for got, want in zip(
        jax.tree.leaves(device_state.params), jax.tree.leaves(stream_state.params), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(device_history, stream_history, strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("inputs", [stream_inputs, device_inputs])
def test_checkpoints_at_any_step_resume_to_the_same_records_and_state(inputs, host_data):
    """Checkpoints every 3 steps, records every 4: a run resumed from step 9 (one step
    after the record at 8) logs the same records and ends in the same state."""
    data = host_data()
    settings = TrainSettings(steps=14, log_every=4, checkpoint_every=3, parallel="none")
    saved = {}
    whole, history = train_loop(
        make_state(settings),
        inputs(data),
        settings=settings,
        # On the host: the loop donates the state's device buffers to its next dispatch.
        on_checkpoint=lambda state, loop: saved.setdefault(
            int(state.step), jax.device_get((state, loop))
        ),
        progress=False,
    )
    assert [r["step"] for r in history] == [4, 8, 12, 14]
    assert sorted(saved) == [3, 6, 9, 12]
    state, loop_state = saved[9]
    assert loop_state["next_index"] == 9
    assert {len(values) for values in loop_state[UNLOGGED].values()} == {1}  # step 9's metrics
    assert saved[12][1][UNLOGGED] == {}  # step 12 is also a log step
    resumed, rest = train_loop(
        state,
        inputs(data),
        settings=settings,
        unlogged_metrics=loop_state[UNLOGGED],
        progress=False,
    )
    assert rest == history[2:]
    for got, want in zip(jax.tree.leaves(resumed), jax.tree.leaves(whole), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_run_of_some_steps_logs_at_its_end_and_continues_from_there(host_data):
    data = host_data()
    settings = TrainSettings(steps=100, log_every=10, steps_per_dispatch=10, parallel="none")
    state, first = train_loop(
        make_state(settings), device_inputs(data), settings=settings, steps=7, progress=False
    )
    state, second = train_loop(
        state, device_inputs(data), settings=settings, steps=6, progress=False
    )
    assert [r["step"] for r in first] == [7]
    assert [r["step"] for r in second] == [10, 13]  # log steps are multiples of log_every
    assert int(state.step) == 13
