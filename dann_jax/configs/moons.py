"""The JMLR toy problem (section 5.1.1): inter-twinning moons, target rotated by 35 degrees.

The shallow network (15 sigmoid hidden units) trained as the paper's authors trained
it in their code for this figure (GRAAL-Research/domain_adversarial_neural_network,
experiments_moons.py and DANN.py): plain SGD at a constant learning rate of 0.05, one
source and one target example per update, lambda = 6 weighting the sum of the two
domains' losses (here a mean over the joint batch, so a weight of 12), 500 passes over
the source. The data are ours (dann_jax.data.offline.moons). The run folder gets
``decision_boundaries.png`` with source-only beside DANN.
"""

from dann_jax.configs import base_config


def get_config():
    config = base_config()
    config.name = "moons"
    config.dataset = "moons"
    config.model = "shallow"
    config.batch_size = 2  # one source and one target example per update
    config.parallel = "none"  # a batch of two is not shared across devices
    config.steps = 150_000  # 500 passes over the 300 source points
    config.learning_rate = 0.05
    config.anneal_learning_rate = False
    config.momentum = 0.0
    config.adaptation = "constant"  # the reversal at -1 throughout; the weight is lambda
    config.domain_loss_weight = 12.0  # lambda = 6 on the sum of the two domains' losses
    config.log_every = 5000
    config.steps_per_dispatch = 5000
    # Seconds of training: no checkpoints along the way (Ctrl-C still saves one).
    config.checkpoint_every = 0
    return config
