"""The traced operations of ``bedrock-agent-runtime``: agents (:mod:`.agents`) and
knowledge bases (:mod:`.retrieval`)."""

from __future__ import annotations

from typing import Dict

from . import agents, retrieval
from .base import Operation

OPERATIONS: Dict[str, Operation] = {**agents.OPERATIONS, **retrieval.OPERATIONS}
