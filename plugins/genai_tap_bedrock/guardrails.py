"""Amazon Bedrock Guardrails: the ``ApplyGuardrail`` API, and guardrails acting on other calls.

``ApplyGuardrail`` (Bedrock Runtime) gets an ``apply_guardrail`` CLIENT span, named and
attributed after the GenAI conventions' guardrail span (``gen_ai.guardrail.*``):
the guardrail's id and version, the source of the content (``INPUT``/``OUTPUT``),
Bedrock's own action (``GUARDRAIL_INTERVENED``/``NONE``, never translated into an
allow/deny verdict) and reason, and which policies intervened. The assessed content
is its input messages and the guardrail's outputs its output messages, both content
(captured only when content capture is on).

A guardrail attached to a model call (``guardrailIdentifier`` on InvokeModel,
``guardrailConfig`` on Converse, a Knowledge Base's ``guardrailConfiguration``, an
agent's guardrail) says it intervened in different ways per API; each reader here
turns them into the same record fields: ``guardrail_action``, ``guardrail_policies``,
and the finish reason ``content_filter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Dict, Iterator, List, Optional, Tuple

from genai_tap.config import Config
from genai_tap.record import CallRecord, Part, media_part, message, text_part
from genai_tap.semconv import (
    GUARDRAIL_COMPONENT_BEDROCK,
    GUARDRAIL_COMPONENT_NAME,
    GUARDRAIL_RESULT_REASON,
    OP_APPLY_GUARDRAIL,
)
from genai_tap.tap import Call

from .aws import LATENCY_ATTRIBUTE, as_text, response_metadata
from .base import Made, Operation
from .formats import mime_type

#: How Bedrock says a guardrail acted (``amazon-bedrock-guardrailAction``, an agent's
#: ``guardrailTrace.action``, Retrieve's ``guardrailAction``)
INTERVENED = "INTERVENED"
#: ApplyGuardrail's own word for it
GUARDRAIL_INTERVENED = "GUARDRAIL_INTERVENED"
NONE = "NONE"
CONTENT_FILTER = "content_filter"

#: A guardrail assessment's policies: (key, name in ``guardrail_policies``, the lists of findings)
POLICIES: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = (
    ("contentPolicy", "content", ("filters",)),
    ("topicPolicy", "topic", ("topics",)),
    ("wordPolicy", "word", ("customWords", "managedWordLists")),
    ("sensitiveInformationPolicy", "sensitive_information", ("piiEntities", "regexes")),
    ("contextualGroundingPolicy", "contextual_grounding", ("filters",)),
    ("automatedReasoningPolicy", "automated_reasoning", ("findings",)),
)
#: Finding actions that mean the policy did nothing
PASSIVE = frozenset({"NONE", ""})
MAX_ASSESSMENTS = 64


def intervened(action: Any) -> bool:
    return isinstance(action, str) and action.upper() in (INTERVENED, GUARDRAIL_INTERVENED)


def assessments(value: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """Every assessment in ``value``: a list of them (ApplyGuardrail, an agent's trace), a
    map of guardrail id to one (Converse's ``inputAssessment``) or to a list
    (``outputAssessments``)."""
    if depth > 2:
        return
    if isinstance(value, list):
        for item in value[:MAX_ASSESSMENTS]:
            if isinstance(item, Mapping):
                if any(key in item for key, _, _ in POLICIES):
                    yield item
                elif depth < 2:
                    yield from assessments(item, depth + 1)
    elif isinstance(value, Mapping):
        if any(key in value for key, _, _ in POLICIES):
            yield value
            return
        for item in list(value.values())[:MAX_ASSESSMENTS]:
            yield from assessments(item, depth + 1)


def policies(*values: Any) -> List[str]:
    """The policies that acted in these assessments, in a fixed order."""
    found = set()
    for value in values:
        for assessment in assessments(value):
            for key, name, lists in POLICIES:
                policy = assessment.get(key)
                if isinstance(policy, Mapping) and _acted(policy, lists, name):
                    found.add(name)
    return [name for _, name, _ in POLICIES if name in found]


def _acted(policy: Mapping[str, Any], lists: Tuple[str, ...], name: str) -> bool:
    for key in lists:
        items = policy.get(key)
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, Mapping):
                continue
            if name == "automated_reasoning":  # findings have no action: any finding but a valid one
                if any(kind != "valid" for kind in item):
                    return True
                continue
            action = item.get("action")
            if isinstance(action, str) and action.upper() not in PASSIVE and item.get("detected", True) is not False:
                return True
    return False


def merge_policies(rec: CallRecord, found: List[str]) -> None:
    if not found:
        return
    have = rec.guardrail_policies or []
    rec.guardrail_policies = [name for _, name, _ in POLICIES if name in found or name in have]


def apply_intervention(rec: CallRecord) -> None:
    """A call the guardrail intervened in finished because of it: ``content_filter``."""
    if not intervened(rec.guardrail_action):
        return
    count = max(1, len(rec.finish_reasons or ()))
    rec.finish_reasons = [CONTENT_FILTER] * count
    for msg in rec.output_messages or ():
        if isinstance(msg, dict):
            msg["finish_reason"] = CONTENT_FILTER


# ------------------------------------------------------------------ model calls


def read_trace(rec: CallRecord, trace: Any) -> None:
    """Converse's ``trace`` (``guardrail`` with ``inputAssessment`` and
    ``outputAssessments``) and InvokeModel's ``amazon-bedrock-trace`` (``guardrail`` with
    ``input`` and ``outputs``): the policies that acted."""
    guardrail = trace.get("guardrail") if isinstance(trace, Mapping) else None
    if not isinstance(guardrail, Mapping):
        return
    found = policies(*(guardrail.get(key) for key in ("inputAssessment", "outputAssessments", "input", "outputs")))
    merge_policies(rec, found)
    if rec.guardrail_action is None:
        rec.guardrail_action = INTERVENED if found else NONE


def read_converse(rec: CallRecord, stop_reason: Any, trace: Any) -> None:
    """A Converse response (or ConverseStream's ``messageStop`` and ``metadata``)."""
    if isinstance(stop_reason, str) and stop_reason == "guardrail_intervened":
        rec.guardrail_action = INTERVENED
    read_trace(rec, trace)


INVOKE_ACTION = "amazon-bedrock-guardrailAction"
INVOKE_TRACE = "amazon-bedrock-trace"


def read_invoke_body(rec: CallRecord, body: Mapping[str, Any]) -> None:
    """An InvokeModel body or stream chunk: Bedrock's ``amazon-bedrock-guardrailAction``
    and, with ``trace`` enabled, ``amazon-bedrock-trace``, beside any family's own keys."""
    action = body.get(INVOKE_ACTION)
    if isinstance(action, str) and (rec.guardrail_action is None or intervened(action)):
        rec.guardrail_action = action
    trace = body.get(INVOKE_TRACE)
    if trace is not None:
        read_trace(rec, trace)


# ------------------------------------------------------------------ ApplyGuardrail


def content_parts(blocks: Any) -> List[Part]:
    """ApplyGuardrail's content blocks (text, images described without their bytes)."""
    parts: List[Part] = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, Mapping):
            continue
        text = block.get("text")
        if isinstance(text, Mapping) and isinstance(text.get("text"), str):
            parts.append(text_part(text["text"]))
        image = block.get("image")
        if isinstance(image, Mapping):
            parts.append(media_part("image", mime_type("image", image.get("format"))))
    return parts


ROLES = {"INPUT": "user", "OUTPUT": "assistant"}


class ApplyGuardrail(Operation):
    """``ApplyGuardrail``: one ``apply_guardrail`` CLIENT span."""

    api = "ApplyGuardrail"

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        rec = CallRecord(
            api=self.api,
            operation=OP_APPLY_GUARDRAIL,
            request_model="",
            capture_content=config.capture_content,
            span_target=GUARDRAIL_COMPONENT_BEDROCK,
        )
        rec.attributes[GUARDRAIL_COMPONENT_NAME] = GUARDRAIL_COMPONENT_BEDROCK
        rec.guardrail_id = as_text(params.get("guardrailIdentifier"))
        rec.guardrail_version = as_text(params.get("guardrailVersion"))
        rec.guardrail_source = as_text(params.get("source"))
        steps: List[Any] = []
        content = params.get("content")
        if rec.capture_content and isinstance(content, list):
            # read on the finisher thread, from a copy of the list the app owns
            steps.append(partial(_request_content, list(content), rec))
        return rec, None, steps

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        response_metadata(rec, result)
        found: Dict[str, Any] = {}
        for key in ("action", "actionReason", "outputs", "assessments"):
            value = result.get(key)
            found[key] = list(value) if isinstance(value, list) else value  # the app may change its lists
        call.defer(partial(_response, found, rec))
        return result, False


def _request_content(content: List[Any], rec: CallRecord) -> None:
    parts = content_parts(content)
    if parts:
        rec.input_messages = [message(ROLES.get(rec.guardrail_source or "", "user"), parts)]


def _response(result: Mapping[str, Any], rec: CallRecord) -> None:
    action = result.get("action")
    if isinstance(action, str):
        rec.guardrail_action = action
    reason = result.get("actionReason")
    if isinstance(reason, str) and reason:
        rec.attributes[GUARDRAIL_RESULT_REASON] = reason[:256]
    rec.guardrail_policies = policies(result.get("assessments")) or None
    latency = _latency(result.get("assessments"))
    if latency is not None:
        rec.attributes[LATENCY_ATTRIBUTE] = latency
    outputs = result.get("outputs")
    if rec.capture_content and isinstance(outputs, list):
        parts = [text_part(o["text"]) for o in outputs if isinstance(o, Mapping) and isinstance(o.get("text"), str)]
        if parts:
            rec.output_messages = [message("assistant", parts)]


def _latency(items: Any) -> Optional[int]:
    total = None
    for assessment in assessments(items):
        metrics = assessment.get("invocationMetrics")
        value = metrics.get("guardrailProcessingLatency") if isinstance(metrics, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool):
            total = (total or 0) + value
    return total
