"""The JMLR toy problem (section 5.1.1): inter-twinning moons, target rotated by 35 degrees.

The shallow network (15 sigmoid hidden units) trained as the paper's authors trained
it in their code for this figure (GRAAL-Research/domain_adversarial_neural_network,
experiments_moons.py and DANN.py): plain SGD at a constant learning rate of 0.05, one
source and one target example per update, lambda = 6 weighting the sum of the two
domains' losses (here a mean over the joint batch, so a weight of 12), 500 passes over
the source. These are the settings ``model="shallow"`` gets by default
(``dann_jax.core.settings.NETWORK_DEFAULTS``). The data are ours
(``dann_jax.data.offline.moons``).
The run folder gets ``decision_boundaries.png`` with source-only beside DANN.
"""

from dann_jax.configs import base_config
from dann_jax.core.settings import NETWORK_DEFAULTS


def get_config():
    config = base_config()
    config.name = "moons"
    config.dataset = "moons"
    config.model = "shallow"
    config.update(NETWORK_DEFAULTS["shallow"])  # the authors' training, see the docstring
    # Seconds of training: no checkpoints along the way (Ctrl-C still saves one).
    config.checkpoint_every = 0
    return config
