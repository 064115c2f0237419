"""MNIST -> MNIST-M (JMLR 2016, Table 2) from local files: nothing is downloaded.

The paper's headline experiment on the 10,000-digit MNIST test set split in two:
stratified, disjoint halves, one the labelled grey source, the other blended
MNIST-M style with random patches of the BSDS500 train photos as the target
(``dann_jax.data.offline.mnist_to_blended_mnist``): 4,000 train and 1,000 test
digits each. The paper, on full MNIST -> MNIST-M: source-only .5225, DANN .7666.
The MNIST network with the paper's schedules, batch 64 + 64.

It reads files you have; their paths have no default. The MNIST test set as
published (yann.lecun.com/exdb/mnist, mirrored at
storage.googleapis.com/cvdf-datasets/mnist; a file so named that differs gets a
warning):

    t10k-images-idx3-ubyte.gz  MD5 9fb629c4189551a2d022fa330f9573f3
        SHA-256 8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
    t10k-labels-idx1-ubyte.gz  MD5 ec29112dd5afa0611ce80d1b7f02629c
        SHA-256 f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6

and the 200 BSDS500 train photos (BSR_bsds500.tgz from the Berkeley segmentation
page, BSR/BSDS500/data/images/train):

    dann train --config mnist_local_to_mnist_m_local \
        --config.mnist_images=DIR/t10k-images-idx3-ubyte.gz \
        --config.mnist_labels=DIR/t10k-labels-idx1-ubyte.gz \
        --config.photos_dir=BSR/BSDS500/data/images/train
"""

from dann_jax.configs import base_config


def get_config():
    config = base_config()
    config.name = "mnist_local_to_mnist_m_local"
    config.dataset = "mnist_local"
    config.mnist_images = ""  # MNIST idx images, e.g. t10k-images-idx3-ubyte.gz
    config.mnist_labels = ""  # ... and their labels, e.g. t10k-labels-idx1-ubyte.gz
    config.photos_dir = ""  # the BSDS500 train photos, from which MNIST-M was built
    config.model = "mnist"
    config.method = "source_only,dann,train_on_target"
    config.batch_size = 128
    # Sized to the budget, not tuned on target labels: about 3.5 minutes per method
    # on 2 CPU cores (the offline default's 1,600 steps take about 60 s).
    config.steps = 5600
    # JMLR 2016, Table 2 (full MNIST -> MNIST-M).
    config.paper_target_accuracy = {
        "source_only": 0.5225,
        "dann": 0.7666,
        "train_on_target": 0.9596,
    }
    return config
