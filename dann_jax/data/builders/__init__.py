"""TensorFlow Datasets builders; importing this package registers them with TFDS.

- ``mnist_m``: MNIST digits blended with BSDS500 photo patches (downloads MNIST and BSDS500).
- ``syn_digits``: rendered digits, a Syn Numbers stand-in (generated offline, configs ``full``
  and ``small``).
- ``gtsrb``: German traffic signs cropped to their ROI, 40 x 40 (downloads GTSRB).
- ``syn_signs``: the authors' synthetic traffic signs, 40 x 40, from their archive in the
  manual dir (no public direct download).
- ``office31``: Office-31, configs ``amazon``, ``dslr``, ``webcam``, full-size images, from its
  archive in the manual dir (no public direct download).
- ``office_home``: Office-Home, configs ``art``, ``clipart``, ``product``, ``real_world``,
  full-size images, from its archive in the manual dir (no public direct download).

Preparing needs TensorFlow (``pip install dann_jax[prepare]``); reading the prepared
``array_record`` files with ``tfds.data_source`` does not.
"""

from dann_jax.data.builders import gtsrb, mnist_m, office31, office_home, syn_digits, syn_signs

__all__ = ["gtsrb", "mnist_m", "office31", "office_home", "syn_digits", "syn_signs"]
