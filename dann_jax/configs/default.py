"""The offline default: scikit-learn digits -> the same digits blended with photo patches.

The paper's MNIST network and schedules on data that pip packages ship, so it
runs anywhere with no download: ``dann train`` (or ``make demo``).
"""

from dann_jax.configs import base_config


def get_config():
    config = base_config()
    config.name = "default"
    config.dataset = "digits_to_blended_digits"
    config.model = "mnist"
    # Sized to the budget, not tuned on target labels: `dann train` (both methods, data,
    # compilation, evaluation) takes 2 minutes on 2 CPU cores (114 s measured by
    # experiments/default_run_plots.py, docs/guide/images/default-run/provenance.md).
    config.steps = 1600
    return config
