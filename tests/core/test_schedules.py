import jax
import numpy as np
import optax
import pytest

from dann_jax.core import schedules


def test_adaptation_factor_follows_the_paper():
    schedule = schedules.adaptation_factor(total_steps=1000)
    for step in (0, 1, 250, 500, 999, 1000):
        p = step / 1000
        np.testing.assert_allclose(
            schedule(step), 2 / (1 + np.exp(-10 * p)) - 1, rtol=1e-6, atol=1e-7
        )
    assert schedule(0) == 0.0
    assert schedule(5000) == schedule(1000)  # p is clipped to 1


def test_annealed_learning_rate_follows_the_paper():
    schedule = schedules.annealed_learning_rate(total_steps=200)
    for step in (0, 50, 100, 200):
        p = step / 200
        np.testing.assert_allclose(schedule(step), 0.01 / (1 + 10 * p) ** 0.75, rtol=1e-6)
    np.testing.assert_allclose(schedule(200), 0.01 / 11**0.75, rtol=1e-6)


def test_schedules_trace_with_a_traced_step_and_drive_optax():
    schedule = schedules.annealed_learning_rate(total_steps=10, initial_learning_rate=0.1)
    np.testing.assert_allclose(jax.jit(schedule)(5), 0.1 / 6**0.75, rtol=1e-6)
    optimizer = optax.sgd(schedule)
    params = {"w": np.ones(2, np.float32)}
    state = optimizer.init(params)
    updates, _ = optimizer.update({"w": np.ones(2, np.float32)}, state)
    np.testing.assert_allclose(updates["w"], -0.1 * np.ones(2), rtol=1e-6)


@pytest.mark.parametrize("make", [schedules.adaptation_factor, schedules.annealed_learning_rate])
@pytest.mark.parametrize("zero", [0, np.int64(0)])  # a NumPy length is checked too
def test_total_steps_must_be_positive(make, zero):
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        make(zero)
