"""Sphinx configuration of the coda documentation site.

Build with ``python docs/build.py`` (see docs/README.md): it lays out a source
tree that mirrors the repository (docs/, notebooks/, data/README.md), adds the
generated API pages and the gallery images, and runs Sphinx on it with this
configuration and warnings as errors.
"""

from __future__ import annotations

import coda

project = "coda"
author = "The coda developers"
copyright = "The coda developers"
release = getattr(coda, "__version__", "")

# The source tree mirrors the repository so that the pages' relative links
# (for example docs/ -> ../notebooks/) resolve on the site as on GitHub.
root_doc = "docs/index"
exclude_patterns = ["docs/README.md", "**/.ipynb_checkpoints"]

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# Notebooks are shown as stored: the test suite executes them separately
# (tests/test_notebooks.py), so the build neither needs a kernel nor network.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# The API pages list each public name once, as ``coda.<name>``.
autosummary_generate = False
autodoc_typehints = "none"
add_module_names = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = "coda"
html_theme_options = {
    # no icon links, no version switcher, nothing fetched from the network
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
# The guide pages and the notebooks sit at the top of the table of contents,
# so the section sidebar would stay empty there; the API pages keep it.
html_sidebars = {"docs/*": [], "notebooks/*": [], "data/*": []}
