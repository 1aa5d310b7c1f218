"""The collector's logger (kept out of the package ``__init__`` so the CLI imports stay light)."""

import logging

log = logging.getLogger("genai_tap.collector")
