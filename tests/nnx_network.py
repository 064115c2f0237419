"""A user's Flax NNX network with BatchNorm and dropout, for the tests (and `dann train`
in them: ``--config.model=nnx_network:make_network`` with this folder on PYTHONPATH),
and its linen twin."""

import flax.linen as nn
from flax import nnx

import dann_jax


class Features(nnx.Module):
    """(N, ...) -> (N, 16): linear, BatchNorm, ReLU, dropout."""

    def __init__(self, in_features: int, dropout_rate: float = 0.25, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(in_features, 16, rngs=rngs)
        self.bn = nnx.BatchNorm(16, momentum=0.9, rngs=rngs)
        self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)

    def __call__(self, inputs):
        x = self.linear(inputs.reshape(inputs.shape[0], -1))
        return self.dropout(nnx.relu(self.bn(x)))


class LinenFeatures(nn.Module):
    """:class:`Features` without dropout, in linen, its variables by the same paths."""

    @nn.compact
    def __call__(self, inputs, train: bool = False):
        x = nn.Dense(16, name="linear")(inputs.reshape(inputs.shape[0], -1))
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn")(x)
        return nn.relu(x)


def make_network(num_classes, in_features=2, dropout_rate=0.25):
    """Each seed draws its own weights: the module is built from the run's rngs."""
    features = dann_jax.nnx_part(lambda rngs: Features(in_features, dropout_rate, rngs=rngs))
    return dann_jax.dann_network(features, num_classes, domain_hidden_units=(8,))
