"""``genai-tap collector``, ``genai-tap traces`` and ``genai-tap stats``.

Each module has ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``
(the contract of :mod:`genai_tap.cli`) and imports the collector itself only in
``main``, so ``genai-tap --help`` stays fast.
"""
