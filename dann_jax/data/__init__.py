"""Input data: the pipeline (random-access sources to batches), arrays, offline domains."""

from dann_jax.data.offline import Domains, Split, blend_with_photos, load_domains
from dann_jax.data.pipeline import ArraySource, PairedStream, Preprocess, paired_positions

__all__ = [
    "ArraySource",
    "Domains",
    "PairedStream",
    "Preprocess",
    "Split",
    "blend_with_photos",
    "load_domains",
    "paired_positions",
]
