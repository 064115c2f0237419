"""Helpers for users who property-test VJPs (ours and theirs) against finite differences.

    from dann_jax import testing
    testing.check_vjp(my_function, (x, y))          # VJP == numerical VJP
    testing.check_vjp(my_grl, (x,), scale=-lam)      # VJP == -lam * numerical VJP

    @hypothesis.given(testing.arrays(), testing.lambdas())
    def test_mine(x, lam): ...

Finite differences of 16-bit inputs are taken in float32 (in 16 bits the
rounding error swamps the difference), so the function under test must accept
float32 where it accepts bfloat16 or float16; tolerances follow the dtype of
the VJP being checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

try:
    import hypothesis.extra.numpy as hnp
    import hypothesis.strategies as st
except ImportError as missing:
    raise ImportError(
        "dann_jax.testing needs hypothesis, an optional dependency: "
        "pip install 'dann_jax[testing]'."
    ) from missing

PyTree = Any

FLOAT_DTYPES = (jnp.float32, jnp.float16, jnp.bfloat16)

# (rtol, atol) for comparing a VJP computed in this dtype; atol is relative to
# the largest numerical entry (or 1 if that is smaller).
TOLERANCES = {
    np.dtype(jnp.float64): (1e-5, 1e-7),
    np.dtype(jnp.float32): (1e-2, 1e-3),
    np.dtype(jnp.float16): (2e-2, 2e-2),
    np.dtype(jnp.bfloat16): (1e-1, 5e-2),
}
# Central-difference step per evaluation dtype: balances truncation (eps**2)
# against rounding (machine epsilon / eps).
FINITE_DIFFERENCE_STEPS = {np.dtype(jnp.float64): 1e-6, np.dtype(jnp.float32): 1e-3}


def _evaluation_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype finite differences are taken in: 16-bit floats go up to float32."""
    dtype = np.dtype(dtype)
    return dtype if dtype in FINITE_DIFFERENCE_STEPS else np.dtype(jnp.float32)


def tolerances(dtype: Any) -> tuple[float, float]:
    """(rtol, atol) for a VJP computed in ``dtype`` (float64, float32, float16 or bfloat16)."""
    dtype = np.dtype(dtype)
    if dtype not in TOLERANCES:
        raise ValueError(f"No tolerances for dtype {dtype}; pass rtol and atol explicitly.")
    return TOLERANCES[dtype]


def _is_float(leaf: Any) -> bool:
    return jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)


def finite_difference_grad(
    fun: Callable[[jax.Array], jax.Array], x: jax.Array, *, eps: float | None = None
) -> np.ndarray:
    """The gradient of a scalar function by central differences, one coordinate at a time.

    Args:
      fun: maps an array shaped like ``x`` to a scalar; must accept a batch
        axis under ``jax.vmap``.
      x: the point, any float dtype (16-bit is evaluated in float32).
      eps: the step; by default 1e-3 in float32, 1e-6 in float64.

    Returns:
      An array shaped like ``x`` in the evaluation dtype (float32 or float64).
    """
    dtype = _evaluation_dtype(jnp.asarray(x).dtype)
    eps = FINITE_DIFFERENCE_STEPS[dtype] if eps is None else eps
    x = jnp.asarray(x, dtype)
    basis = jnp.eye(x.size, dtype=dtype).reshape(x.size, *x.shape)
    evaluate = jax.vmap(fun)
    difference = evaluate(x[None] + eps * basis) - evaluate(x[None] - eps * basis)
    return np.asarray(difference / (2 * eps), dtype).reshape(x.shape)


def _inner_product(outputs: PyTree, cotangent: PyTree, dtype: np.dtype) -> jax.Array:
    pairs = zip(jax.tree.leaves(outputs), jax.tree.leaves(cotangent), strict=True)
    return sum(jnp.vdot(ct.astype(dtype), out.astype(dtype)) for out, ct in pairs)


def finite_difference_vjp(
    fun: Callable[..., PyTree],
    primals: Sequence[PyTree],
    cotangent: PyTree,
    *,
    eps: float | None = None,
) -> list[np.ndarray | None]:
    """The VJP of ``fun`` at ``primals`` applied to ``cotangent``, by central differences.

    It is the gradient of <cotangent, fun(primals)> with respect to every float
    leaf of ``primals``, taken coordinate by coordinate (2 evaluations per
    element: meant for small inputs).

    Args:
      fun: a function of ``len(primals)`` pytree arguments returning a pytree.
      primals: the point.
      cotangent: a pytree shaped like ``fun(*primals)``.
      eps: the step; by default chosen per dtype.

    Returns:
      One entry per leaf of ``primals`` (flattened in ``jax.tree`` order): the
      numerical cotangent, or None for non-float leaves.
    """
    leaves, treedef = jax.tree.flatten(tuple(primals))
    numerical: list[np.ndarray | None] = []
    for index, leaf in enumerate(leaves):
        if not _is_float(leaf):
            numerical.append(None)
            continue
        dtype = _evaluation_dtype(jnp.asarray(leaf).dtype)

        def scalar(value, index=index, dtype=dtype):
            moved = [*leaves[:index], value, *leaves[index + 1 :]]
            return _inner_product(fun(*jax.tree.unflatten(treedef, moved)), cotangent, dtype)

        numerical.append(finite_difference_grad(scalar, leaf, eps=eps))
    return numerical


def _random_like(tree: PyTree, seed: int) -> PyTree:
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(jax.random.key(seed), max(len(leaves), 1))
    return jax.tree.unflatten(
        treedef,
        [
            jax.random.normal(key, jnp.shape(leaf), jnp.asarray(leaf).dtype)
            if _is_float(leaf)
            else jnp.zeros_like(leaf)
            for key, leaf in zip(keys, leaves, strict=False)
        ],
    )


def check_vjp(
    fun: Callable[..., PyTree],
    primals: Sequence[PyTree],
    *,
    cotangent: PyTree | None = None,
    scale: float = 1.0,
    rtol: float | None = None,
    atol: float | None = None,
    eps: float | None = None,
    seed: int = 0,
) -> None:
    """Asserts that ``jax.vjp(fun, *primals)`` equals ``scale`` x the finite-difference VJP.

    Use ``scale=1`` for an ordinary function and ``scale=-lambda_`` for a
    gradient reversal (whose true derivative is the identity).

    Args:
      fun: the function under test, of ``len(primals)`` pytree arguments.
      primals: the point; float leaves are checked, others skipped.
      cotangent: applied to the VJP; by default a seeded standard normal pytree
        shaped like the output.
      scale: the expected ratio of the VJP to the numerical one.
      rtol, atol: override the per-dtype tolerances of :func:`tolerances`.
      eps: override the per-dtype finite-difference step.
      seed: seeds the default cotangent.

    Raises:
      AssertionError: naming the primal leaf and its largest mismatch.
    """
    outputs, vjp_fun = jax.vjp(fun, *primals)
    if cotangent is None:
        cotangent = _random_like(outputs, seed)
    analytic = jax.tree.leaves(vjp_fun(cotangent))
    numerical = finite_difference_vjp(fun, primals, cotangent, eps=eps)
    for index, (computed, expected) in enumerate(zip(analytic, numerical, strict=True)):
        if expected is None:
            continue
        computed_dtype = np.dtype(jnp.asarray(computed).dtype)
        default_rtol, default_atol = tolerances(computed_dtype)
        expected = scale * expected
        magnitude = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        np.testing.assert_allclose(
            np.asarray(computed, np.float64),
            np.asarray(expected, np.float64),
            rtol=default_rtol if rtol is None else rtol,
            atol=(default_atol if atol is None else atol) * magnitude,
            err_msg=f"VJP of primal leaf {index} ({computed_dtype}) differs from "
            f"{scale} x its finite-difference VJP",
        )


@st.composite
def arrays(
    draw: st.DrawFn,
    dtypes: Sequence[Any] = FLOAT_DTYPES,
    max_dims: int = 3,
    max_side: int = 4,
    bound: float = 3.0,
) -> jax.Array:
    """Hypothesis strategy: JAX float arrays of small random shape, dtype and values.

    Args:
      dtypes: the dtypes to draw from (default float32, float16, bfloat16).
      max_dims: the most axes (0 gives scalars).
      max_side: the longest axis.
      bound: values lie in [-bound, bound].
    """
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=1, max_side=max_side))
    values = draw(hnp.arrays(np.float32, shape, elements=st.floats(-bound, bound, width=32)))
    return jnp.asarray(values, dtype)


def pytrees(leaves: st.SearchStrategy | None = None, max_leaves: int = 4) -> st.SearchStrategy:
    """Hypothesis strategy: nests of dicts, lists and tuples of ``leaves`` (default: arrays)."""
    leaves = arrays() if leaves is None else leaves
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3).map(tuple),
            st.dictionaries(st.sampled_from("abcd"), children, min_size=1, max_size=3),
        ),
        max_leaves=max_leaves,
    )


def lambdas(min_value: float = 0.0, max_value: float = 2.0) -> st.SearchStrategy[float]:
    """Hypothesis strategy: adaptation factors in [min_value, max_value], 0 included."""
    return st.floats(min_value, max_value, allow_nan=False, width=32)
