"""Amazon Bedrock Guardrails: ApplyGuardrail, and guardrails inside model calls and agents.

Every guardrail identifier names the same emulated guardrail, whose policies trigger
deterministically (case-insensitive, whole words) on:

========================  =======================================  =====================
policy                    trigger                                  action
========================  =======================================  =====================
denied topic              "investment advice", "stock tips",       BLOCKED
``InvestmentAdvice``      "which stocks"
content PROMPT_ATTACK     "ignore all previous instructions",      BLOCKED (input only)
                          "ignore previous instructions",
                          "ignore your instructions"
content VIOLENCE          "violence", "violent"                    BLOCKED (HIGH)
content INSULTS           "idiot", "stupid"                        BLOCKED (MEDIUM)
content HATE              "hate speech"                            BLOCKED (HIGH)
content MISCONDUCT        "shoplift", "how to steal"               BLOCKED (HIGH)
custom word               "project nightingale"                    BLOCKED
managed word (PROFANITY)  "darn"                                   BLOCKED
PII EMAIL                 an e-mail address                        BLOCKED on input,
                                                                   ANONYMIZED on output
PII PHONE                 ``555-123-4567`` (ddd-ddd-dddd)          ANONYMIZED
PII US_SOCIAL_SECURITY    ``123-45-6789`` (ddd-dd-dddd)            BLOCKED
PII AWS_ACCESS_KEY        ``AKIA`` + 16 capitals or digits         BLOCKED
regex ``AccountNumber``   ``ACCT-`` + 6 digits                     ANONYMIZED
contextual grounding      a ``grounding_source`` and a ``query``   BLOCKED below the
                          are given: GROUNDING = share of the      thresholds (0.75
                          answer's words found in the source,      grounding, 0.5
                          RELEVANCE = share of the query's words   relevance)
                          found in the answer
automated reasoning       identifiers containing ``reasoning``     findings only (no
                          only: ``invalid`` when the text says     intervention)
                          "no refunds", else ``valid``
========================  =======================================  =====================

A BLOCKED finding makes the guardrail intervene with the blocked message ("Sorry, the
model cannot answer this question."); ANONYMIZED findings only mask (``{EMAIL}``,
``{PHONE}``, ``{AccountNumber}``) and count as an intervention in ApplyGuardrail. An
identifier starting with ``notfound`` gets ResourceNotFoundException.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Optional, Tuple

from . import catalog, replies

Body = Dict[str, Any]
BLOCKED_MESSAGE = "Sorry, the model cannot answer this question."
ACCOUNT = "123456789012"
REGION = "us-east-1"

# Bedrock's pattern allows [a-z0-9]+; the emulator also takes "-" and "_" (names like "gr-abc123" in tests)
_ID = re.compile(r"^(?:[a-zA-Z0-9_-]{1,64}|arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/([a-zA-Z0-9_-]{1,64}))$")
_VERSION = re.compile(r"^(?:[1-9][0-9]{0,7}|DRAFT)$")

TOPICS = {"InvestmentAdvice": ("investment advice", "stock tips", "which stocks")}
#: content filter type -> (phrases, confidence, input only)
FILTERS: Dict[str, Tuple[Tuple[str, ...], str, bool]] = {
    "SEXUAL": ((), "NONE", False),
    "VIOLENCE": (("violence", "violent"), "HIGH", False),
    "HATE": (("hate speech",), "HIGH", False),
    "INSULTS": (("idiot", "stupid"), "MEDIUM", False),
    "MISCONDUCT": (("shoplift", "how to steal"), "HIGH", False),
    "PROMPT_ATTACK": (("ignore all previous instructions", "ignore previous instructions", "ignore your instructions"), "HIGH", True),
}
CUSTOM_WORDS = ("project nightingale",)
MANAGED_WORDS = ("darn",)
#: PII type -> (pattern, action on input, action on output)
PII = {
    "EMAIL": (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "BLOCKED", "ANONYMIZED"),
    "PHONE": (re.compile(r"\b\d{3}-\d{3}-\d{4}\b"), "ANONYMIZED", "ANONYMIZED"),
    "US_SOCIAL_SECURITY_NUMBER": (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "BLOCKED", "BLOCKED"),
    "AWS_ACCESS_KEY": (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "BLOCKED", "BLOCKED"),
}
#: the PII types a FULL assessment lists even when nothing matched
PII_LISTED = ("EMAIL", "PHONE")
REGEXES = {"AccountNumber": r"\bACCT-\d{6}\b"}
GROUNDING_THRESHOLD = 0.75
RELEVANCE_THRESHOLD = 0.5


class GuardrailError(Exception):
    """The request names a guardrail wrongly: (error code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Guard:
    """A guardrail named by a request: identifier, version, trace setting."""

    def __init__(self, identifier: str, version: str, trace: str = "disabled") -> None:
        identifier, version = str(identifier or ""), str(version or "")
        found = _ID.match(identifier)
        if found is None or not identifier:
            raise GuardrailError("ValidationException", f"The guardrail identifier {identifier!r} is not valid.")
        if not _VERSION.match(version):
            raise GuardrailError("ValidationException", f"The guardrail version {version!r} is not valid.")
        self.id = found.group(1) or identifier
        if self.id.lower().startswith("notfound"):
            raise GuardrailError("ResourceNotFoundException", "The guardrail identifier or version provided in the request does not exist.")
        self.version = version
        self.arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:guardrail/{self.id}"
        self.trace = str(trace or "disabled").lower()
        self.reasoning = "reasoning" in self.id

    @property
    def traced(self) -> bool:
        return self.trace in ("enabled", "enabled_full")

    @property
    def full(self) -> bool:
        return self.trace in ("enabled_full",)

    def details(self) -> Body:
        return {
            "guardrailId": self.id,
            "guardrailVersion": self.version,
            "guardrailArn": self.arn,
            "guardrailOrigin": ["REQUEST"],
            "guardrailOwnership": "SELF",
        }


def _has(text: str, phrase: str) -> Optional[str]:
    found = re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", text, re.IGNORECASE)
    return None if found is None else found.group(0)


def _words(text: str) -> List[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class Assessment:
    """What the emulated guardrail found in one text, and what it does about it."""

    def __init__(self, text: str, source: str, guard: Guard, grounding: Optional[Tuple[str, str]] = None, images: int = 0) -> None:
        self.text = text
        self.source = source
        self.guard = guard
        self.images = images
        inp = source == "INPUT"
        self.topics = [{"name": name, "type": "DENY", "hit": any(_has(text, p) for p in phrases)} for name, phrases in TOPICS.items()]
        self.filters = []
        for kind, (phrases, confidence, input_only) in FILTERS.items():
            hit = (inp or not input_only) and any(_has(text, p) for p in phrases)
            self.filters.append({"type": kind, "confidence": confidence if hit else "NONE", "hit": bool(hit)})
        self.custom = [m for m in (_has(text, w) for w in CUSTOM_WORDS) if m]
        self.managed = [m for m in (_has(text, w) for w in MANAGED_WORDS) if m]
        self.pii: List[Body] = []
        masked = text
        for kind, (pattern, on_input, on_output) in PII.items():
            action = on_input if inp else on_output
            for match in pattern.findall(text):
                self.pii.append({"type": kind, "match": match, "action": action})
                if action == "ANONYMIZED":
                    masked = masked.replace(match, "{" + kind + "}")
        self.regexes: List[Body] = []
        for name, regex in REGEXES.items():
            for match in re.findall(regex, text):
                self.regexes.append({"name": name, "regex": regex, "match": match, "action": "ANONYMIZED"})
                masked = masked.replace(match, "{" + name + "}")
        self.masked = masked
        self.grounding: List[Body] = []
        if grounding is not None and not inp:
            source_text, query = grounding
            answer_words = set(_words(text))
            source_words, query_words = set(_words(source_text)), set(_words(query))
            ground = len(answer_words & source_words) / len(answer_words) if answer_words else 1.0
            relevant = len(query_words & answer_words) / len(query_words) if query_words else 1.0
            for kind, score, threshold in (("GROUNDING", ground, GROUNDING_THRESHOLD), ("RELEVANCE", relevant, RELEVANCE_THRESHOLD)):
                self.grounding.append({"type": kind, "threshold": threshold, "score": round(score, 2), "hit": score < threshold})

    # ---------------------------------------------------------------- verdict
    @property
    def blocked(self) -> bool:
        return (
            any(t["hit"] for t in self.topics)
            or any(f["hit"] for f in self.filters)
            or bool(self.custom or self.managed)
            or any(p["action"] == "BLOCKED" for p in self.pii)
            or any(g["hit"] for g in self.grounding)
        )

    @property
    def anonymized(self) -> bool:
        return self.masked != self.text

    @property
    def intervened(self) -> bool:
        return self.blocked or self.anonymized

    @property
    def reason(self) -> str:
        if self.blocked:
            return "Guardrail blocked."
        if self.anonymized:
            return "Guardrail masked."
        return "No action."

    @property
    def characters(self) -> int:
        return len(self.text)

    def usage(self) -> Body:
        units = max(1, math.ceil(len(self.text) / 1000)) if self.text else 0
        return {
            "topicPolicyUnits": units,
            "contentPolicyUnits": units,
            "wordPolicyUnits": units,
            "sensitiveInformationPolicyUnits": units,
            "sensitiveInformationPolicyFreeUnits": 0,
            "contextualGroundingPolicyUnits": units if self.grounding else 0,
            "contentPolicyImageUnits": self.images,
            "automatedReasoningPolicyUnits": units if self.guard.reasoning else 0,
            "automatedReasoningPolicies": 1 if self.guard.reasoning else 0,
        }

    def coverage(self) -> Body:
        out: Body = {"textCharacters": {"guarded": self.characters, "total": self.characters}}
        out["images"] = {"guarded": self.images, "total": self.images} if self.images else None
        return out

    # ---------------------------------------------------------------- shapes
    def runtime(self, full: bool) -> Body:
        """A GuardrailAssessment of bedrock-runtime (ApplyGuardrail, Converse trace, InvokeModel trace).

        ``full`` (outputScope FULL, trace ``enabled_full``) lists what was checked and not found too.
        """
        out: Body = {}
        topics = [
            {"name": t["name"], "type": t["type"], "action": "BLOCKED" if t["hit"] else "NONE", "detected": t["hit"]}
            for t in self.topics
            if full or t["hit"]
        ]
        if topics:
            out["topicPolicy"] = {"topics": topics}
        filters = [
            {
                "type": f["type"],
                "confidence": f["confidence"],
                "filterStrength": "HIGH",
                "action": "BLOCKED" if f["hit"] else "NONE",
                "detected": f["hit"],
            }
            for f in self.filters
            if full or f["hit"]
        ]
        if filters:
            out["contentPolicy"] = {"filters": filters}
        if self.custom or self.managed:
            out["wordPolicy"] = {
                "customWords": [{"match": m, "action": "BLOCKED", "detected": True} for m in self.custom],
                "managedWordLists": [{"match": m, "type": "PROFANITY", "action": "BLOCKED", "detected": True} for m in self.managed],
            }
        elif full:
            out["wordPolicy"] = None
        pii = [dict(p, detected=True) for p in self.pii]
        if full:
            found = {p["type"] for p in self.pii}
            pii += [{"type": k, "match": "", "action": "NONE", "detected": False} for k in PII_LISTED if k not in found]
        if pii or self.regexes:
            out["sensitiveInformationPolicy"] = {
                "piiEntities": pii,
                "regexes": [dict(r, detected=True) for r in self.regexes] if self.regexes else ([] if not full else None),
            }
        if self.grounding:
            out["contextualGroundingPolicy"] = {
                "filters": [
                    {
                        "type": g["type"],
                        "threshold": g["threshold"],
                        "score": g["score"],
                        "action": "BLOCKED" if g["hit"] else "NONE",
                        "detected": g["hit"],
                    }
                    for g in self.grounding
                    if full or g["hit"]
                ]
            }
        elif full:
            out["contextualGroundingPolicy"] = None
        if self.guard.reasoning:
            out["automatedReasoningPolicy"] = {"findings": [self._reasoning_finding()]}
        elif full:
            out["automatedReasoningPolicy"] = None
        out["invocationMetrics"] = {
            "guardrailProcessingLatency": 120 + len(self.text) // 20,
            "usage": self.usage(),
            "guardrailCoverage": self.coverage(),
        }
        out["appliedGuardrailDetails"] = self.guard.details()
        return out

    def agent(self) -> Body:
        """A GuardrailAssessment of bedrock-agent-runtime (an agent's guardrailTrace): what acted only."""
        out: Body = {}
        topics = [{"name": t["name"], "type": "DENY", "action": "BLOCKED"} for t in self.topics if t["hit"]]
        if topics:
            out["topicPolicy"] = {"topics": topics}
        filters = [{"type": f["type"], "confidence": f["confidence"], "action": "BLOCKED"} for f in self.filters if f["hit"]]
        if filters:
            out["contentPolicy"] = {"filters": filters}
        if self.custom or self.managed:
            out["wordPolicy"] = {
                "customWords": [{"match": m, "action": "BLOCKED"} for m in self.custom],
                "managedWordLists": [{"match": m, "type": "PROFANITY", "action": "BLOCKED"} for m in self.managed],
            }
        if self.pii or self.regexes:
            out["sensitiveInformationPolicy"] = {
                "piiEntities": [{"type": p["type"], "match": p["match"], "action": p["action"]} for p in self.pii],
                "regexes": [{"name": r["name"], "regex": r["regex"], "match": r["match"], "action": r["action"]} for r in self.regexes],
            }
        return out

    def _reasoning_finding(self) -> Body:
        claim = {
            "logic": "(= refundsAllowed " + ("false" if _has(self.text, "no refunds") else "true") + ")",
            "naturalLanguage": self.text[:200],
        }
        translation = {"premises": [], "claims": [claim], "untranslatedPremises": [], "untranslatedClaims": [], "confidence": 1.0}
        rule = {
            "identifier": "refund-window",
            "policyVersionArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:automated-reasoning-policy/refunds/1",
        }
        if _has(self.text, "no refunds"):
            return {"invalid": {"translation": translation, "contradictingRules": [rule]}}
        return {"valid": {"translation": translation, "supportingRules": [rule], "claimsTrueScenario": {"statements": [claim]}}}


# --------------------------------------------------------------------------- ApplyGuardrail


def apply(guard: Guard, body: Body) -> Body:
    """The ApplyGuardrail answer for a request body."""
    source = body.get("source")
    if source not in ("INPUT", "OUTPUT"):
        raise GuardrailError("ValidationException", "source must be INPUT or OUTPUT.")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        raise GuardrailError("ValidationException", "content must be a non-empty list of content blocks.")
    guarded: List[str] = []
    grounding_source: List[str] = []
    query: List[str] = []
    images = 0
    for block in content:
        if not isinstance(block, dict):
            raise GuardrailError("ValidationException", "Each content block must be an object.")
        if "image" in block:
            images += 1
            continue
        text_block = block.get("text")
        if not isinstance(text_block, dict) or not isinstance(text_block.get("text"), str):
            raise GuardrailError("ValidationException", "A text content block needs text.text.")
        qualifiers = text_block.get("qualifiers") or ["guard_content"]
        if "grounding_source" in qualifiers:
            grounding_source.append(text_block["text"])
        if "query" in qualifiers:
            query.append(text_block["text"])
        if "guard_content" in qualifiers:
            guarded.append(text_block["text"])
    grounding = (" ".join(grounding_source), " ".join(query)) if grounding_source and query else None
    found = Assessment(" ".join(guarded), source, guard, grounding, images)
    full = body.get("outputScope") == "FULL"
    if found.blocked:
        outputs = [{"text": BLOCKED_MESSAGE}]
    elif found.anonymized:
        outputs = [{"text": found.masked}]
    else:
        outputs = []
    return {
        "usage": found.usage(),
        "action": "GUARDRAIL_INTERVENED" if found.intervened else "NONE",
        "actionReason": found.reason,
        "outputs": outputs,
        "assessments": [found.runtime(full)],
        "guardrailCoverage": found.coverage(),
    }


def _apply_route(handler: Any, params: Dict[str, str], raw: bytes) -> None:
    body = handler.json_object(raw)
    if body is None:
        return None
    try:
        guard = Guard(params["guardrailIdentifier"], params["guardrailVersion"])
        answer = apply(guard, body)
    except GuardrailError as exc:
        return handler.send_error_shape(exc.code, str(exc))
    handler.send_json(200, answer)


def routes() -> List[Any]:
    from .server import Route

    return [
        Route("POST", "/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply", "ApplyGuardrail", _apply_route),
    ]


# --------------------------------------------------------------------------- Converse


def _converse_inputs(body: Body) -> Tuple[str, Optional[Tuple[str, str]], int]:
    """(text the guardrail checks on input, (grounding source, query) or None, images).

    When the request tags content with ``guardContent`` blocks, only those are checked;
    otherwise the last user message's text.
    """
    tagged: List[str] = []
    grounding_source: List[str] = []
    query: List[str] = []
    images = 0
    blocks: List[Any] = list(body.get("system") or ())
    for msg in body.get("messages") or ():
        if isinstance(msg, dict):
            blocks += list(msg.get("content") or ())
    for block in blocks:
        guard = block.get("guardContent") if isinstance(block, dict) else None
        if not isinstance(guard, dict):
            continue
        if "image" in guard:
            images += 1
            continue
        text_block = guard.get("text") or {}
        text = str(text_block.get("text", ""))
        qualifiers = text_block.get("qualifiers") or ["guard_content"]
        if "grounding_source" in qualifiers:
            grounding_source.append(text)
        if "query" in qualifiers:
            query.append(text)
        if "guard_content" in qualifiers:
            tagged.append(text)
    grounding = (" ".join(grounding_source), " ".join(query)) if grounding_source and query else None
    if tagged or grounding or images:
        return " ".join(tagged), grounding, images
    last_user = ""
    for msg in body.get("messages") or ():
        if isinstance(msg, dict) and msg.get("role") == "user":
            last_user = " ".join(str(b["text"]) for b in msg.get("content") or () if isinstance(b, dict) and "text" in b)
    return last_user, None, 0


def _mask_converse(body: Body, found: Assessment) -> Body:
    """The request as the model sees it after input masking (the last user message's text masked)."""
    if not found.anonymized:
        return body
    masked = json.loads(json.dumps(body))
    for msg in reversed(masked.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            for block in msg.get("content") or ():
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    block["text"] = Assessment(block["text"], "INPUT", found.guard).masked
            break
    return masked


def converse(body: Body, model_id: str) -> Tuple[Body, replies.Usage]:
    """Converse's answer, with ``guardrailConfig`` applied when the request has one."""
    cfg = body.get("guardrailConfig")
    if not cfg:
        return replies.converse(body, model_id)
    if not isinstance(cfg, dict):
        raise replies.BadRequest("guardrailConfig must be an object.")
    guard = Guard(cfg.get("guardrailIdentifier", ""), cfg.get("guardrailVersion", ""), cfg.get("trace", "disabled"))
    text, grounding, images = _converse_inputs(body)
    found_in = Assessment(text, "INPUT", guard, None, images)
    trace: Body = {}
    if found_in.blocked:
        answer: Body = {
            "output": {"message": {"role": "assistant", "content": [{"text": BLOCKED_MESSAGE}]}},
            "stopReason": "guardrail_intervened",
            "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
            "metrics": {"latencyMs": 42},
        }
        usage = replies.Usage(0, 0)
        trace = {"inputAssessment": {guard.id: found_in.runtime(guard.full)}, "actionReason": found_in.reason}
    else:
        answer, usage = replies.converse(_mask_converse(body, found_in), model_id)
        produced = replies.last_reply()
        found_out = Assessment(produced, "OUTPUT", guard, grounding)
        trace = {
            "inputAssessment": {guard.id: found_in.runtime(guard.full)},
            "outputAssessments": {guard.id: [found_out.runtime(guard.full)]},
        }
        if found_out.intervened:
            replacement = BLOCKED_MESSAGE if found_out.blocked else found_out.masked
            answer["output"]["message"]["content"] = [{"text": replacement}]
            answer["stopReason"] = "guardrail_intervened"
            trace["modelOutput"] = [json.dumps({"text": produced})]
            trace["actionReason"] = found_out.reason
        else:
            trace["actionReason"] = found_in.reason if found_in.intervened else "No action."
    if guard.traced:
        answer["trace"] = {"guardrail": trace}
    return answer, usage


# --------------------------------------------------------------------------- InvokeModel

#: body formats a guardrail applies to (text models)
TEXT_FAMILIES = catalog.CONVERSE_FAMILIES | {"anthropic", "cohere_text", "ai21_j2"}


def from_invoke_headers(headers: Any) -> Optional[Guard]:
    """The guardrail an InvokeModel request names in its headers, if any (GuardrailError if wrong)."""
    identifier = headers.get("X-Amzn-Bedrock-GuardrailIdentifier")
    if not identifier:
        return None
    trace = str(headers.get("X-Amzn-Bedrock-Trace") or "DISABLED").lower()
    return Guard(identifier, headers.get("X-Amzn-Bedrock-GuardrailVersion", ""), trace)


_TEXT_KEYS = ("text", "content", "prompt", "inputText", "message")


def _invoke_input(body: Body, tag_suffix: Optional[str]) -> str:
    """The text of an InvokeModel body a guardrail checks: the tagged parts, else every prompt string."""
    strings: List[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, str):
            if key in _TEXT_KEYS:
                strings.append(value)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k not in ("system", "preamble", "amazon-bedrock-guardrailConfig"):
                    walk(v, k)

    walk(body)
    text = "\n".join(strings)
    if tag_suffix:
        tag = re.escape(f"amazon-bedrock-guardrails-guardContent_{tag_suffix}")
        tagged = re.findall(f"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
        if tagged:
            return " ".join(tagged)
    return text


def invoke_with_guardrail(guard: Guard, family: str, body: Body, model_id: str) -> Tuple[Body, Optional[replies.Usage]]:
    """InvokeModel's answer in the family's format, with the guardrail applied (the body gains
    ``amazon-bedrock-guardrailAction`` and, when the trace is on, ``amazon-bedrock-trace``)."""
    builder = replies.BUILDERS[family]
    if family not in TEXT_FAMILIES:
        return builder(body, model_id)
    config = body.pop("amazon-bedrock-guardrailConfig", None)
    suffix = config.get("tagSuffix") if isinstance(config, dict) else None
    found_in = Assessment(_invoke_input(body, suffix), "INPUT", guard)
    trace: Body = {"input": {guard.id: found_in.runtime(guard.full)}}
    try:
        if found_in.blocked:
            replies.force_reply(BLOCKED_MESSAGE)
            answer, usage = builder(body, model_id)
            trace["actionReason"] = found_in.reason
            action = "INTERVENED"
        else:
            answer, usage = builder(body, model_id)
            produced = replies.last_reply()
            found_out = Assessment(produced, "OUTPUT", guard)
            trace["outputs"] = [{guard.id: found_out.runtime(guard.full)}]
            action = "NONE"
            if found_out.intervened:
                trace["modelOutput"] = [json.dumps(answer)]
                replies.force_reply(BLOCKED_MESSAGE if found_out.blocked else found_out.masked)
                answer, usage = builder(body, model_id)
                trace["actionReason"] = found_out.reason
                action = "INTERVENED"
    finally:
        replies.force_reply(None)
    answer["amazon-bedrock-guardrailAction"] = action
    if guard.traced:
        answer["amazon-bedrock-trace"] = {"guardrail": trace}
    return answer, usage


# --------------------------------------------------------------------------- agents and knowledge bases


def check(guard: Guard, text: str, source: str) -> Assessment:
    """The emulated guardrail's assessment of one text (agents, knowledge bases)."""
    return Assessment(text, source, guard)
