"""Evaluating trained networks, and choosing among them without target labels.

- :mod:`~dann_jax.evaluation.metrics`: accuracies, the proxy A-distance, feature embeddings;
- :mod:`~dann_jax.evaluation.validators`: label-free scores of a trained network;
- :mod:`~dann_jax.evaluation.selection`: each validator's pick among candidates
  (checkpoints, settings), the oracle beside it, and their tables;
- :mod:`~dann_jax.evaluation.reverse_validation`: the JMLR paper's reverse validation.

Imports the core and the data, never the runs or the command line.
"""
