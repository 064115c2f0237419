"""Strict JAX settings for every test, 8 faked CPU devices (before JAX starts), a cache
folder of the session's own (the compilation cache on only within the tests that turn
it on), and a counter of compilations."""

import contextlib
import logging

import jax
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True, scope="session")
def own_cache_folder(tmp_path_factory):
    """`dann train`'s compilation cache ("auto": under $XDG_CACHE_HOME) goes to this
    session's own folder, in the test process and in the processes it starts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(autouse=True)
def compilation_cache_off_after_each_test():
    """A test that runs `dann train` in this process turns JAX's persistent compilation
    cache on (a process-wide setting, as the command does in its own process); it goes
    off again after the test. Left on, every later test's programs were serialised into
    it, and after some hundred programs the suite died of a segmentation fault inside
    XLA:CPU's executable serialisation (``put_executable_and_time``)."""
    before = jax.config.jax_persistent_cache_min_compile_time_secs
    yield
    if jax.config.jax_compilation_cache_dir is not None:
        jax.config.update("jax_compilation_cache_dir", None)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before)
        compilation_cache.reset_cache()


@pytest.fixture
def rng():
    """A seeded NumPy generator, fresh for each test."""
    return np.random.default_rng(0)


@pytest.fixture
def host_data(rng):
    """Makes random training arrays, source and target drawn apart, from the test's ``rng``."""

    def make(size=24, shape=(2,)):
        source = rng.normal(size=(size, *shape))
        target = rng.normal(1.0, 1.0, size=(size, *shape))
        if len(shape) == 3:  # images: floats in [0, 1], as fit requires of float images
            source, target = (1 / (1 + np.exp(-x)) for x in (source, target))
        return {
            "source_image": source.astype(np.float32),
            "source_label": rng.integers(2, size=size).astype(np.int32),
            "target_image": target.astype(np.float32),
        }

    return make


@pytest.fixture
def metric_names():
    """The metrics of every train step and log record."""
    return {
        "loss",
        "label_loss",
        "domain_loss",
        "source_accuracy",
        "domain_accuracy",
        "lambda",
        "learning_rate",
    }


class _CompileLog(logging.Handler):
    def __init__(self):
        super().__init__()
        self.programs = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Compiling "):
            self.programs.append(message.split()[1])


@pytest.fixture
def compiled():
    """A context manager that collects the names of the programs XLA compiles inside it."""

    @contextlib.contextmanager
    def collect():
        log = _CompileLog()
        logger = logging.getLogger("jax._src.interpreters.pxla")
        logger.addHandler(log)
        try:
            with jax.log_compiles(True):
                yield log.programs
        finally:
            logger.removeHandler(log)

    return collect
