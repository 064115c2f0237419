"""Strict JAX settings for every test, 8 faked CPU devices and XLA's quicker compilation
(before JAX starts), one JAX persistent compilation cache for the suite and the `dann`
commands it runs (kept between runs of the suite), compiled programs freed after each
module, and a counter of compilations."""

import contextlib
import gc
import logging
import os

# The suite checks what programs compute, not how fast: at LLVM's level 1 XLA:CPU compiles
# in about 60% of the time of its default level 3, at the same step time, with results
# equal to rounding (experiments/compile_levels.py). Every equality the suite checks is
# between programs compiled alike. Set before JAX is imported (a level in $XLA_FLAGS comes
# later and wins); the `dann` commands the tests start inherit it.
os.environ["XLA_FLAGS"] = " ".join(
    ["--xla_backend_optimization_level=1", os.environ.get("XLA_FLAGS", "")]
).strip()

import jax
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True, scope="session")
def compiled_programs_kept_between_modules(request, tmp_path_factory):
    """One JAX persistent compilation cache for the whole suite, kept between its runs in
    pytest's cache folder (.pytest_cache/d/compiled): the suite compiles the same small
    programs in module after module (each module's are freed, see below), in both tiers,
    in `dann` commands run in this process and in the processes it starts, and in the
    other test processes (`make test` runs modules in parallel, pytest-xdist); loading
    one is cheaper than compiling it. JAX writes an entry in place, compressed: one that
    another process reads half-written fails to decompress, and JAX warns and compiles.
    $XDG_CACHE_HOME points there too, so that `dann train`'s own cache ("auto":
    $XDG_CACHE_HOME/dann_jax/jax) is the same folder, and the tests never touch the
    user's ~/.cache. Entries are keyed by the program and the compiler's version, so a
    changed program never loads a stale one."""
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    home = cache.mkdir("compiled") if cache is not None else tmp_path_factory.mktemp("compiled")
    folder = home / "dann_jax" / "jax"
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # No jax_compilation_cache_max_size: with one (it turns on JAX's file lock), JAX reads
    # every entry's size and time at each write, over the suite's thousands of entries.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        yield
    jax.config.update("jax_compilation_cache_dir", None)


@pytest.fixture(autouse=True, scope="module")
def compiled_programs_freed_after_each_module():
    """XLA:CPU maps about 14 memory regions per compiled program, and JAX keeps every
    program it compiles (its own caches, the library's compiled steps): the suite's
    thousands of programs in one process grew past the kernel's limit of 65,530 maps
    per process (vm.max_map_count), and XLA then died of a segmentation fault wherever
    it next asked for memory (compiling, or serialising into the compilation cache).
    Freeing them after each test module keeps the count near one module's own."""
    yield
    jax.clear_caches()
    gc.collect()


@pytest.fixture(autouse=True)
def command_settings_undone_after_each_test():
    """A test that runs a `dann` command in this process changes what the command changes
    in its own process (process-wide): JAX's persistent compilation cache goes on, the
    library's log goes to stdout. Both are undone after the test, so that every other
    test runs as it would alone."""
    cache_dir = jax.config.jax_compilation_cache_dir
    min_compile_time = jax.config.jax_persistent_cache_min_compile_time_secs
    logger = logging.getLogger("dann_jax")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time)
    if jax.config.jax_compilation_cache_dir != cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
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
