"""The JMLR toy problem (section 5.1.1): inter-twinning moons, target rotated by 35 degrees.

The shallow network (15 sigmoid hidden units); the run folder gets
``decision_boundaries.png`` with source-only beside DANN.
"""

from dann_jax.configs import base_config


def get_config():
    config = base_config()
    config.name = "moons"
    config.dataset = "moons"
    config.model = "shallow"
    config.steps = 5000
    config.batch_size = 32
    config.learning_rate = 0.05
    config.anneal_learning_rate = False
    config.adaptation = "constant"  # lambda = 1 throughout
    config.domain_loss_weight = 6.0
    config.log_every = 250
    # Seconds of training: no checkpoints along the way (Ctrl-C still saves one).
    config.checkpoint_every = 0
    return config
