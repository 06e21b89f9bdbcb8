"""Sphinx configuration of the bids_lrp documentation (``make docs``; warnings are errors)."""

from __future__ import annotations

import sys
from pathlib import Path

import bids_lrp

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "bids_lrp"
author = "the bids_lrp developers"
copyright = "2026, the bids_lrp developers"
version = release = bids_lrp.__version__

extensions = ["myst_parser", "sphinxarg.ext", "columns"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"bids_lrp {release}"
html_static_path = ["_static"]
# nothing may come from the network when the pages are read: no web fonts, no CDN
html_theme_options = {"navigation_with_keys": True}
smartquotes = False  # option names keep their two hyphens (--registration)
