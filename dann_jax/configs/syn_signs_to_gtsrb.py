"""Syn Signs -> GTSRB (JMLR 2016, Table 2), from TFDS, with the authors' own Syn Signs.

Syn Signs cannot be generated faithfully (its pictograms and renderer are not
public), and no substitute would be the paper's experiment, so the source is
the published archive itself: download ``synthetic_data.zip`` (linked from
http://graphics.cs.msu.ru/en/node/1337), put it in a folder M, then prepare
once (TensorFlow needed for this step only):

    dann prepare syn_signs --manual_dir M && dann prepare gtsrb

and ``dann train --config syn_signs_to_gtsrb``. Syn
Signs' 100,000 images split 90,000 train / 10,000 test
(dann_jax/data/builders/syn_signs.py); GTSRB's official 39,209 train (its
labels unused except by train-on-target) and 12,630 test photos, ROI-cropped.
The paper's GTSRB network on 40x40 inputs. The paper: source-only .7900,
DANN .8865, train-on-target .9980.
"""

from dann_jax.configs import base_config


def get_config():
    config = base_config()
    config.name = "syn_signs_to_gtsrb"
    config.dataset = "tfds"
    config.source = "syn_signs"
    config.target = "gtsrb"
    config.input_shape = (40, 40, 3)
    config.model = "gtsrb"
    config.method = "source_only,dann,train_on_target"
    # The paper does not give its step count; ~25 epochs of the 90,000 source images.
    config.steps = 35_000
    config.log_every = 500
    config.steps_per_dispatch = 500
    # JMLR 2016, Table 2.
    config.paper_target_accuracy = {"source_only": 0.79, "dann": 0.8865, "train_on_target": 0.998}
    return config
