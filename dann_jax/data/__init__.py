"""Input data: in-memory arrays and the offline domains."""

from dann_jax.data.arrays import paired_batches
from dann_jax.data.offline import Domains, Split, blend_with_photos, load_domains

__all__ = ["Domains", "Split", "blend_with_photos", "load_domains", "paired_batches"]
