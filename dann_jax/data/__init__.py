"""Input data: domains, sources, preprocessing, augmentation, batches and the offline domains.

Nothing here trains: the training loop's input modes, which run steps over these
batches, are :mod:`dann_jax.core.inputs`.

Names load on first use (PEP 562), so importing the package stays light: the
offline domains need scikit-learn and scikit-image, streaming needs grain.
"""

import importlib

_HOMES = {
    "ArraySource": "sources",
    "Domains": "domains",
    "PairedPositions": "batches",
    "PairedStream": "batches",
    "Preprocess": "preprocess",
    "Split": "domains",
    "TrainingData": "domains",
    "blend_with_photos": "offline",
    "load_domains": "offline",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
