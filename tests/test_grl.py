import functools

import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import Mesh, PartitionSpec

from dann_jax import GradientReversal, NNXGradientReversal, grad_reverse, testing

DTYPES = (jnp.float32, jnp.float16, jnp.bfloat16)


def reversed_grad(fun, x, lambda_):
    """Gradient of sum(fun(grad_reverse(x)) * weights) w.r.t. x."""
    return jax.grad(lambda v: jnp.sum(fun(grad_reverse(v, lambda_))))(x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_is_identity_and_keeps_dtype(dtype):
    x = jnp.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    y = grad_reverse(x, 0.7)
    assert y.dtype == dtype
    np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(x, np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lambda_", [0.0, 0.3, 1.0, 2.5])
def test_vjp_is_minus_lambda_times_cotangent_exactly(dtype, lambda_):
    x = jnp.arange(6, dtype=dtype).reshape(2, 3)
    cotangent = jnp.asarray([[1.0, -2.0, 0.5], [4.0, 0.25, -8.0]], dtype)
    _, vjp = jax.vjp(functools.partial(grad_reverse, lambda_=lambda_), x)
    (result,) = vjp(cotangent)
    assert result.dtype == dtype
    expected = cotangent * jnp.asarray(-lambda_, dtype)
    np.testing.assert_array_equal(np.asarray(result, np.float32), np.asarray(expected, np.float32))


def test_no_gradient_flows_into_lambda():
    x = jnp.array([1.0, 2.0, 3.0])
    grad_lambda = jax.grad(lambda lam: jnp.sum(grad_reverse(x, lam) ** 2))(0.5)
    assert grad_lambda == 0.0


def test_pytree_every_leaf_reversed_and_integers_pass_through():
    tree = {"a": jnp.ones((2,)), "b": [jnp.full((3,), 2.0, jnp.bfloat16), jnp.arange(3)]}

    def loss(floats, integers):
        out = grad_reverse({"a": floats["a"], "b": [floats["b"], integers]}, 2.0)
        return jnp.sum(out["a"] * 3.0) + jnp.sum(out["b"][0].astype(jnp.float32) * 5.0)

    grads = jax.grad(loss)({"a": tree["a"], "b": tree["b"][0]}, tree["b"][1])
    np.testing.assert_array_equal(grads["a"], -6.0 * np.ones(2))
    assert grads["b"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(grads["b"], np.float32), -10.0 * np.ones(3))


def test_lambda_must_be_scalar():
    with pytest.raises(ValueError, match="lambda_ must be a scalar"):
        grad_reverse(jnp.ones(3), jnp.ones(2))


def test_new_lambda_does_not_retrace_a_jitted_caller():
    traces = []

    @jax.jit
    def grad_at(x, lambda_):
        traces.append(None)
        return jax.grad(lambda v: jnp.sum(grad_reverse(v, lambda_) ** 2))(x)

    x = jnp.array([1.0, -2.0])
    for lambda_ in (0.0, 0.25, 1.0, 3.0):
        np.testing.assert_allclose(grad_at(x, lambda_), -lambda_ * 2 * x)
    assert len(traces) == 1


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(jax.jit, id="jit"),
        pytest.param(jax.vmap, id="vmap"),
        pytest.param(jax.checkpoint, id="remat"),
    ],
)
def test_under_transformations(transform):
    x = jnp.arange(6.0).reshape(2, 3)
    per_row = transform(lambda row: jnp.sin(grad_reverse(row, 0.5)))
    grads = jax.grad(lambda v: jnp.sum(per_row(v)))(x)
    np.testing.assert_allclose(grads, -0.5 * jnp.cos(x), rtol=1e-6)


def test_under_scan():
    def body(carry, lambda_):
        return grad_reverse(carry, lambda_) * 2.0, None

    lambdas = jnp.array([0.5, 2.0, 1.0])
    grads = jax.grad(lambda x: jnp.sum(jax.lax.scan(body, x, lambdas)[0]))(jnp.ones(3))
    # Three reversals (sign -1 each) and factors 0.5 * 2 * 1 on top of 2 ** 3.
    np.testing.assert_allclose(grads, -8.0 * 1.0 * np.ones(3))


def test_under_pmap():
    devices = jax.local_device_count()
    x = jnp.arange(devices * 2.0).reshape(devices, 2)
    lambdas = jnp.linspace(0.0, 1.0, devices)
    grads = jax.pmap(jax.grad(lambda v, lam: jnp.sum(grad_reverse(v, lam) ** 2)))(x, lambdas)
    np.testing.assert_allclose(grads, -lambdas[:, None] * 2 * x, rtol=1e-6)


def test_under_shard_map():
    mesh = Mesh(np.array(jax.devices()), ("data",))
    x = jnp.arange(len(jax.devices()) * 4.0).reshape(-1, 4)

    @functools.partial(
        jax.shard_map,
        mesh=mesh,
        in_specs=(PartitionSpec("data"), PartitionSpec()),
        out_specs=PartitionSpec("data"),
    )
    def grads(block, lambda_):
        return jax.grad(lambda v: jnp.sum(grad_reverse(v, lambda_) ** 3))(block)

    np.testing.assert_allclose(jax.jit(grads)(x, 0.75), -0.75 * 3 * x**2, rtol=1e-6)


def test_linen_layer_reverses_with_lambda_at_call_time():
    layer = GradientReversal()
    x = jnp.ones((2, 3))
    variables = layer.init(jax.random.key(0), x, 1.0)
    assert jax.tree.leaves(variables) == []
    grads = jax.grad(lambda v: jnp.sum(layer.apply(variables, v, 0.4) * 2.0))(x)
    np.testing.assert_allclose(grads, -0.8 * np.ones((2, 3)))


def test_nnx_layer_reverses_with_lambda_at_call_time():
    layer = NNXGradientReversal()
    assert jax.tree.leaves(nnx.state(layer)) == []
    grads = jax.grad(lambda v: jnp.sum(layer(v, 1.5) * 2.0))(jnp.ones(4))
    np.testing.assert_allclose(grads, -3.0 * np.ones(4))


@hypothesis.settings(deadline=None, max_examples=25)
@hypothesis.given(x=testing.arrays(), lambda_=testing.lambdas())
@pytest.mark.slow
def test_vjp_matches_minus_lambda_times_finite_differences(x, lambda_):
    testing.check_vjp(lambda v: grad_reverse(v, lambda_), (x,), scale=-lambda_)


@hypothesis.settings(deadline=None, max_examples=15)
@hypothesis.given(tree=testing.pytrees(), lambda_=testing.lambdas())
@pytest.mark.slow
def test_pytree_vjp_matches_finite_differences(tree, lambda_):
    testing.check_vjp(lambda t: grad_reverse(t, lambda_), (tree,), scale=-lambda_)


@hypothesis.settings(deadline=None, max_examples=25)
@hypothesis.given(
    data=st.data(),
    inputs=st.integers(1, 4),
    hidden=st.integers(1, 4),
    lambda_=testing.lambdas(max_value=3.0),
)
@pytest.mark.slow
def test_composed_gradient_is_minus_lambda_times_finite_difference_gradient(
    data, inputs, hidden, lambda_
):
    """grad of g(grl(f(w))) == -lambda * finite-difference grad of g(f(w)), f and g random."""

    def draw(shape):
        elements = st.floats(-1.5, 1.5, width=32)
        return jnp.asarray(data.draw(hnp.arrays(np.float32, shape, elements=elements)))

    w, matrix, bias, coefficients = (
        draw((inputs,)),
        draw((hidden, inputs)),
        draw((hidden,)),
        draw((hidden,)),
    )

    def f(v):
        return jnp.tanh(matrix @ v + bias)

    def g(y):
        return jnp.sum(coefficients * jnp.sin(y)) + jax.nn.logsumexp(y)

    composed = jax.grad(lambda v: g(grad_reverse(f(v), lambda_)))(w)
    numerical = testing.finite_difference_grad(lambda v: g(f(v)), w)
    np.testing.assert_allclose(composed, -lambda_ * numerical, rtol=1e-2, atol=1e-3)
