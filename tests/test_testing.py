import hypothesis
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dann_jax import testing


@jax.custom_vjp
def wrong_sin(x):
    return jnp.sin(x)


wrong_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (g * jnp.cos(x) * 1.1,))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16])
def test_check_vjp_accepts_correct_vjps(dtype):
    x = jnp.linspace(-2, 2, 6, dtype=dtype).reshape(2, 3)
    y = jnp.linspace(0.5, 1.5, 3, dtype=dtype)
    testing.check_vjp(lambda a, b: {"p": jnp.sin(a) * b[None], "q": jnp.tanh(b)}, (x, y))


def test_check_vjp_rejects_a_wrong_vjp():
    with pytest.raises(AssertionError, match="primal leaf 0"):
        testing.check_vjp(wrong_sin, (jnp.linspace(-1, 1, 5),))


def test_check_vjp_rejects_a_wrong_scale():
    with pytest.raises(AssertionError):
        testing.check_vjp(jnp.sin, (jnp.linspace(-1, 1, 5),), scale=-1.0)


def test_check_vjp_skips_integer_leaves():
    testing.check_vjp(lambda x, n: x * n, (jnp.ones(3), jnp.arange(3)))


def test_finite_difference_grad_of_a_quadratic():
    x = jnp.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(
        testing.finite_difference_grad(lambda v: jnp.sum(v**2), x), 2 * x, rtol=1e-3
    )


def test_tolerances_unknown_dtype_raises():
    with pytest.raises(ValueError, match="No tolerances"):
        testing.tolerances(jnp.int32)


@hypothesis.settings(deadline=None, max_examples=20)
@hypothesis.given(x=testing.arrays(max_dims=2), lambda_=testing.lambdas(0.5, 1.5))
def test_strategies_draw_bounded_float_arrays_and_lambdas(x, lambda_):
    assert x.dtype in testing.FLOAT_DTYPES
    assert x.ndim <= 2
    assert float(jnp.max(jnp.abs(x.astype(jnp.float32)), initial=0.0)) <= 3.0
    assert 0.5 <= lambda_ <= 1.5


@hypothesis.settings(deadline=None, max_examples=20)
@hypothesis.given(tree=testing.pytrees(max_leaves=3))
def test_pytrees_hold_float_array_leaves(tree):
    leaves = jax.tree.leaves(tree)
    assert len(leaves) >= 1
    assert all(leaf.dtype in testing.FLOAT_DTYPES for leaf in leaves)
