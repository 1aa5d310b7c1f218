"""What every traced operation is: the base of the classes in ``operations.py``,
``guardrails.py``, ``agents.py`` and ``retrieval.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Tuple

from genai_tap.config import Config
from genai_tap.record import CallRecord
from genai_tap.tap import Call


class Operation:
    """How one Bedrock API is traced."""

    api: str = ""
    streams: bool = False

    def record(self, params: Mapping[str, Any], config: Config) -> "Optional[Made]":
        """The record of a call about to be made, what the operation needs to read its
        response (``Call.plugin_state``), and steps to complete the record later, off the
        app's thread."""
        raise NotImplementedError

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        """Read the response into the record; return (what the app gets, whether the call continues)."""
        return result, False


Made = Tuple[CallRecord, Any, List[Callable[[], None]]]
