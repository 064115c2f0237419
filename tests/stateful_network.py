"""A user's network with BatchNorm and dropout, for the tests (and `dann train` in them:
``--config.model=stateful_network:make_network`` with this folder on PYTHONPATH)."""

import flax.linen as nn

import dann_jax


class Features(nn.Module):
    """(N, ...) -> (N, 16): dense, BatchNorm, ReLU, dropout."""

    dropout_rate: float = 0.25

    @nn.compact
    def __call__(self, inputs, train: bool = False):
        x = nn.Dense(16)(inputs.reshape(inputs.shape[0], -1))
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        return nn.Dropout(self.dropout_rate, deterministic=not train)(nn.relu(x))


class DomainHead(nn.Module):
    """The GRL, then dense, dropout and one logit: dropout on the far side of the GRL too."""

    @nn.compact
    def __call__(self, features, adaptation_factor, *, train: bool = False):
        x = dann_jax.GradientReversal()(features, adaptation_factor)
        x = nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(8)(x)))
        return nn.Dense(1)(x)[:, 0]


def make_network(num_classes, dropout_rate=0.25):
    return dann_jax.DANN(
        feature_extractor=Features(dropout_rate),
        label_head=dann_jax.MLPHead((), num_classes),
        domain_head=DomainHead(),
    )
