"""The training core: everything from the settings to a trained network, no files but
checkpoints.

- :mod:`~dann_jax.core.settings`: the settings, their defaults and meanings (the one source);
- :mod:`~dann_jax.core.schedules`, :mod:`~dann_jax.core.optimizers`: lambda_p, mu_p, the
  update direction;
- :mod:`~dann_jax.core.networks`, :mod:`~dann_jax.core.layers`,
  :mod:`~dann_jax.core.registry`: the networks, fast layers, names -> networks;
- :mod:`~dann_jax.core.losses`: the DANN objective;
- :mod:`~dann_jax.core.state`, :mod:`~dann_jax.core.step`,
  :mod:`~dann_jax.core.global_batch`: the train state and the pure steps;
- :mod:`~dann_jax.core.launchers`, :mod:`~dann_jax.core.distributed`: one step body on
  one device, many devices, many hosts;
- :mod:`~dann_jax.core.inputs`, :mod:`~dann_jax.core.loop`, :mod:`~dann_jax.core.fit`,
  :mod:`~dann_jax.core.trained`: the input modes, the loop, the trainers, their result;
- :mod:`~dann_jax.core.checkpoints`, :mod:`~dann_jax.core.variables`: saving and restoring
  states, starting variables.

The core imports nothing of the runs, the evaluation or the command line.
"""
