"""``import genai_tap.auto``: one line that switches genai-tap on in this process.

Equivalent to starting the app with ``genai-tap run``; importing it twice, or
under ``genai-tap run``, changes nothing.
"""

from .bootstrap import start as _start

_start()
