"""What the tests of networks in the trainer share: a short fit's settings and a check
that two pytrees hold close arrays."""

import jax
import numpy as np

# 6 steps of 16, a record every 3, 3 steps per dispatch.
FIT = {"steps": 6, "batch_size": 16, "log_every": 3, "steps_per_dispatch": 3, "progress": False}


def leaves_close(got, want, rtol=1e-5, atol=1e-6):
    """Every leaf of ``got`` close to the same leaf of ``want`` (same structure)."""
    pairs = zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
    for got_leaf, want_leaf in pairs:
        np.testing.assert_allclose(got_leaf, want_leaf, rtol=rtol, atol=atol)
