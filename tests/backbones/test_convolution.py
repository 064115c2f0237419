"""The loop-friendly convolution's values and gradients equal their definitions (NumPy:
XLA's own gradient program aborts the process on some of the shapes drawn here), and
every convolution of its gradient program keeps, in a loop too, the NHWC/HWIO form."""

import collections
import functools
import re
from typing import ClassVar

import flax.linen as nn
import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import dann_jax
from dann_jax.backbones import convolution
from dann_jax.backbones.convolution import NHWC, compiler_options, conv_general_dilated
from dann_jax.core import launchers, step, trained
from dann_jax.core.networks import dann_network
from dann_jax.core.registry import build_model
from dann_jax.core.settings import TrainSettings
from dann_jax.core.state import create_train_state

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def value_and_pullback(convolve, x, kernel, cotangent, strides, padding):
    output, pullback = jax.vjp(
        lambda x, kernel: convolve(x, kernel, strides, padding, dimension_numbers=NHWC),
        x,
        kernel,
    )
    return output, pullback(cotangent)


def numpy_value_and_pullback(x, kernel, cotangent, strides, padding):
    """The convolution, its input and kernel gradients by their definitions, in float64:
    output[n, h, w] = sum over i, j of x_padded[n, s h + i, s w + j] @ kernel[i, j]."""
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides, padding)
    x, kernel, cotangent = (np.asarray(a, np.float64) for a in (x, kernel, cotangent))
    (low_h, high_h), (low_w, high_w) = padding
    padded = np.pad(x, ((0, 0), (low_h, high_h), (low_w, high_w), (0, 0)))
    out_h, out_w = cotangent.shape[1:3]
    output = np.zeros(cotangent.shape)
    padded_grad, kernel_grad = np.zeros_like(padded), np.zeros_like(kernel)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            rows = slice(i, i + (out_h - 1) * strides[0] + 1, strides[0])
            columns = slice(j, j + (out_w - 1) * strides[1] + 1, strides[1])
            output += padded[:, rows, columns] @ kernel[i, j]
            padded_grad[:, rows, columns] += cotangent @ kernel[i, j].T
            kernel_grad[i, j] = np.einsum("nhwc,nhwf->cf", padded[:, rows, columns], cotangent)
    height, width = x.shape[1:3]
    x_grad = padded_grad[:, low_h : low_h + height, low_w : low_w + width]
    return output, (x_grad, kernel_grad)


def assert_values_and_gradients_equal_definitions(x, kernel, cotangent, strides, padding):
    expected = numpy_value_and_pullback(x, kernel, cotangent, strides, padding)
    got = value_and_pullback(conv_general_dilated, x, kernel, cotangent, strides, padding)
    for want, have in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
        np.testing.assert_allclose(have, want, **TOLERANCE)


@st.composite
def convolutions(draw):
    """Inputs, kernel, strides and padding (pairs, "SAME" or "VALID") of a 2-D
    convolution with at least one output pixel."""
    window = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    strides = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(
        st.sampled_from(["SAME", "VALID"])
        | st.tuples(*(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)) for k in window))
    )
    low = padding if isinstance(padding, tuple) else ((0, 0), (0, 0))
    size = [draw(st.integers(max(k - sum(p), 1), 12)) for k, p in zip(window, low, strict=True)]
    channels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.normal(size=(draw(st.integers(1, 3)), *size, channels[0])).astype(np.float32)
    kernel = rng.normal(size=(*window, *channels)).astype(np.float32)
    return x, kernel, strides, padding


@hypothesis.settings(deadline=None, max_examples=30)
@hypothesis.given(case=convolutions())
def test_values_and_gradients_equal_their_definitions(case):
    x, kernel, strides, padding = case
    output = jax.eval_shape(
        lambda: lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=NHWC)
    )
    cotangent = np.random.default_rng(0).normal(size=output.shape).astype(np.float32)
    assert_values_and_gradients_equal_definitions(x, kernel, cotangent, strides, padding)


@pytest.mark.parametrize(
    ("x_shape", "kernel_shape", "strides", "padding"),
    [
        # AlexNet's first layer: 11 x 11 windows 4 apart, padded by 2, on sides the
        # windows do not fit exactly.
        ((2, 35, 33, 3), (11, 11, 3, 4), (4, 4), ((2, 2), (2, 2))),
        # A kernel wider than the cotangents: XLA's algebraic simplifier fails a check
        # (and aborts the process) on autodiff's input gradient, and did on this
        # module's while it spread the cotangents by the convolution's lhs_dilation.
        ((1, 6, 12, 3), (5, 2, 3, 1), (2, 2), ((0, 2), (1, 1))),
    ],
    ids=["alexnet-conv1", "kernel-wider-than-cotangents"],
)
def test_shapes_of_note_their_values_and_gradients(x_shape, kernel_shape, strides, padding):
    rng = np.random.default_rng(1)
    x = rng.normal(size=x_shape).astype(np.float32)
    kernel = rng.normal(size=kernel_shape).astype(np.float32)
    output = jax.eval_shape(
        lambda: lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=NHWC)
    )
    cotangent = rng.normal(size=output.shape).astype(np.float32)
    assert_values_and_gradients_equal_definitions(x, kernel, cotangent, strides, padding)


@pytest.mark.parametrize(
    "options",
    [
        {"dimension_numbers": ("NCHW", "OIHW", "NCHW")},
        {"dimension_numbers": NHWC, "rhs_dilation": (2, 2)},
        {"dimension_numbers": NHWC, "feature_group_count": 2},
    ],
    ids=["nchw", "dilated", "grouped"],
)
def test_other_convolutions_pass_to_xla_unchanged(options):
    rng = np.random.default_rng(2)
    nchw = options["dimension_numbers"][0] == "NCHW"
    x = rng.normal(size=(2, 4, 9, 9) if nchw else (2, 9, 9, 4)).astype(np.float32)
    in_channels = 2 if options.get("feature_group_count") else 4
    kernel = rng.normal(size=(6, 4, 3, 3) if nchw else (3, 3, in_channels, 6)).astype(np.float32)
    np.testing.assert_array_equal(
        conv_general_dilated(x, kernel, (1, 1), "SAME", **options),
        lax.conv_general_dilated(x, kernel, (1, 1), "SAME", **options),
    )


class SmallConvNet(nn.Module):
    convolve: object

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3), strides=2, conv_general_dilated=self.convolve)(x))
        return nn.Conv(2, (5, 5), padding=2, conv_general_dilated=self.convolve)(x).sum()


def scanned_gradient_steps(convolve):
    """Two gradient steps of a small conv net in a ``lax.scan``, compiled: the optimised
    program's text."""
    network = SmallConvNet(convolve)
    images = jnp.zeros((2, 4, 16, 16, 3))
    params = network.init(jax.random.key(0), images[0])

    def steps(params, images):
        def step(params, x):
            grads = jax.grad(network.apply)(params, x)
            return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), None

        return lax.scan(step, params, images)[0]

    return jax.jit(steps).lower(params, images).compile().as_text()


def convolution_layouts(program: str) -> set[str]:
    return set(re.findall(r"convolution\(.*?dim_labels=([^,\s]+)", program))


def test_in_a_loop_every_convolution_keeps_the_layout_xla_cpus_kernels_take():
    # XLA:CPU leaves autodiff's gradient convolutions in a loop body in their own layouts
    # and runs them with generic loop code (AlexNet's step 27x slower; the module says why).
    if jax.default_backend() != "cpu":
        pytest.skip("the layouts of XLA's CPU pipeline")
    assert convolution_layouts(scanned_gradient_steps(conv_general_dilated)) == {"b01f_01io->b01f"}
    # The same loop with XLA's convolution: the reason for this module, and what makes
    # this test able to fail.
    assert convolution_layouts(scanned_gradient_steps(lax.conv_general_dilated)) - {
        "b01f_01io->b01f"
    }


def gradient_convolutions(convolve, platform: str) -> list[str]:
    """The dimension numbers of every convolution in the gradient program of a strided
    convolution, lowered for ``platform`` (no such device needed)."""

    def loss(x, kernel):
        return convolve(x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=NHWC).sum()

    shapes = (
        jax.ShapeDtypeStruct((2, 9, 9, 3), jnp.float32),
        jax.ShapeDtypeStruct((3, 3, 3, 4), jnp.float32),
    )
    exported = jax.export.export(jax.jit(jax.grad(loss, argnums=(0, 1))), platforms=[platform])
    return re.findall(r"dim_numbers = (.*?), window", exported(*shapes).mlir_module())


def test_on_a_cpu_the_gradients_are_nhwc_convolutions_elsewhere_autodiffs():
    assert set(gradient_convolutions(conv_general_dilated, "cpu")) == {
        "[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]"
    }
    assert gradient_convolutions(conv_general_dilated, "cuda") == gradient_convolutions(
        lax.conv_general_dilated, "cuda"
    )


def instructions_by_kernels(program: str, instruction: str = "convolution") -> collections.Counter:
    """How many ``instruction``s (convolutions, or ``dot`` for matrix products) of an
    optimised XLA:CPU program YNNPACK runs (inside a ``ynn_fusion``) and how many XLA's own
    kernels run (any other)."""
    computations = r"^(?:ENTRY )?%?(\S+) \(.*?\n(.*?)^}"
    bodies = dict(re.findall(computations, program, re.MULTILINE | re.DOTALL))
    in_ynnpack = {
        called
        for line in program.splitlines()
        if "ynn_fusion" in line.split("=")[0]
        for called in re.findall(r"calls=%?([\w.-]+)", line)
    }
    counts = collections.Counter()
    for name, body in bodies.items():
        found = len(re.findall(rf"\b{instruction}\(", body))
        counts["ynnpack" if name in in_ynnpack else "xla"] += found
    return counts


def test_the_compiler_options_give_cpu_convolutions_and_products_to_xlas_own_kernels():
    if jax.default_backend() != "cpu":
        pytest.skip("XLA:CPU's options")
    # Small, but shapes XLA:CPU gives YNNPACK by default (not every shape is).
    x, kernel, weights = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 32)), jnp.ones((32, 16))

    def convolve_and_project(x, kernel, weights):
        features = conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=NHWC)
        return features.reshape(-1, 32) @ weights

    def program(options):
        compiled = jax.jit(convolve_and_project, compiler_options=options)
        return compiled.lower(x, kernel, weights).compile().as_text()

    library = program(compiler_options("cpu"))
    for instruction in ("convolution", "dot"):
        counts = instructions_by_kernels(library, instruction)
        assert (counts["xla"], counts["ynnpack"]) == (1, 0), instruction
    # A network that asks for YNNPACK's products gets them, and XLA's own convolutions still.
    few_rows = program(compiler_options("cpu", "ynnpack"))
    counts = instructions_by_kernels(few_rows)
    assert (counts["xla"], counts["ynnpack"]) == (1, 0)
    counts = instructions_by_kernels(few_rows, "dot")
    assert (counts["xla"], counts["ynnpack"]) == (0, 1)
    # XLA's defaults give both to YNNPACK: what the options are for, and what makes this
    # test able to fail.
    default = program(None)
    assert instructions_by_kernels(default)["ynnpack"] == 1
    assert instructions_by_kernels(default, "dot")["ynnpack"] == 1
    assert compiler_options("gpu") is None and compiler_options("tpu") is None


def test_an_xla_without_the_options_keeps_its_defaults_and_says_so(monkeypatch):
    monkeypatch.setitem(convolution.CPU_OPTIONS, "xla", {"xla_cpu_no_such_option": "1"})
    monkeypatch.setattr(
        convolution, "_xla_knows_cpu_options", convolution._xla_knows_cpu_options.__wrapped__
    )
    with pytest.warns(UserWarning, match="xla_cpu_no_such_option.*XLA's default kernels"):
        assert compiler_options("cpu") is None


@pytest.mark.parametrize("kind", ["none", "shard_map"])
def test_the_launchers_and_predictions_compile_for_xlas_own_kernels(kind):
    if jax.default_backend() != "cpu":
        pytest.skip("XLA:CPU's options")
    settings = TrainSettings(steps=2, batch_size=16)
    state = create_train_state(build_model("svhn", 10), jnp.zeros((1, 32, 32, 3)), settings)
    launcher = launchers.launcher(kind, step.train_step, step.train_steps)
    batch = launcher.put_batch(
        {
            "source_image": np.zeros((8, 32, 32, 3), np.float32),
            "source_label": np.zeros(8, np.int32),
            "target_image": np.zeros((8, 32, 32, 3), np.float32),
        }
    )
    training = launcher.step.lower(launcher.put_state(state), batch).compile().as_text()
    predicting = trained._compiled(step.logits, "cpu", "xla")
    program = predicting.lower(state.network, state.variables, np.zeros((4, 32, 32, 3))).compile()
    for text in (training, program.as_text()):
        for instruction in ("convolution", "dot"):
            counts = instructions_by_kernels(text, instruction)
            assert counts["xla"] > 0 and counts["ynnpack"] == 0, instruction


class FewRows(nn.Module):
    """A feature extractor (N, ...) -> (N, 8) that asks for YNNPACK's products."""

    cpu_products: ClassVar[str] = "ynnpack"

    @nn.compact
    def __call__(self, x):
        return nn.relu(nn.Dense(8)(x.reshape(len(x), -1)))


def test_a_network_chooses_its_products_library_from_any_of_its_modules():
    assert convolution.cpu_products(build_model("resnet50", 31)) == "xla"
    assert convolution.cpu_products(build_model("alexnet", 31)) == "ynnpack"
    assert convolution.cpu_products(dann_network(FewRows(), 2, bottleneck_units=4)) == "ynnpack"

    class Misspelt(FewRows):
        cpu_products: ClassVar[str] = "ynpack"

    with pytest.raises(ValueError, match=r"cpu_products must be one of \('xla', 'ynnpack'\)"):
        convolution.cpu_products(dann_network(Misspelt(), 2))


@pytest.mark.parametrize("seeds", [None, [0, 1]])
def test_training_and_predictions_compile_with_the_networks_products_library(
    monkeypatch, host_data, seeds
):
    asked = []

    def recorded(platform, products="xla"):
        asked.append(products)
        return compiler_options(platform, products)

    monkeypatch.setattr(convolution, "compiler_options", recorded)
    # Fresh caches, so the launcher and the predictions compile in this test.
    monkeypatch.setattr(launchers, "launcher", functools.cache(launchers.launcher.__wrapped__))
    monkeypatch.setattr(trained, "_compiled", functools.cache(trained._compiled.__wrapped__))
    data = host_data(size=16, shape=(4, 4, 1))
    arrays = data["source_image"], data["source_label"], data["target_image"]
    settings = {"model": dann_network(FewRows(), 2), "steps": 1, "batch_size": 8}
    if seeds is None:
        results = [dann_jax.fit(*arrays, parallel="none", progress=False, **settings)]
    else:
        together = [[array] * len(seeds) for array in arrays]
        results = dann_jax.fit_seeds(*together, seeds=seeds, progress=False, **settings)
    results[0].predict(data["target_image"])
    assert asked == ["ynnpack", "ynnpack"]
