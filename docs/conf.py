"""Sphinx configuration: the user guide (Markdown, MyST) and the API reference (autodoc)."""

import dann_jax

project = "dann_jax"
author = "the dann_jax authors"
release = version = dann_jax.__version__
copyright = "2026, the dann_jax authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "guide/images"]  # images and the files that say where they came from
myst_heading_anchors = 3

# Google-style docstrings (Args:, Returns:, Raises:, Attributes:).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}

html_theme = "furo"
html_title = f"dann_jax {release}"
