"""The content policy: redaction, size limits and the redaction budget, applied once to
each finished record (and the steps under it), error text first.

:meth:`ContentPolicy.apply` runs in :meth:`genai_tap.tap.Call.end` before any sink
sees the record. It never mutates what the app owns: parts and tool arguments can
be the app's own objects (a ``toolUse`` input the app will send again), so a
string that changes is put into a copy of its container, and unchanged values stay
shared. It never raises: a failure drops the record's content instead.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from .. import semconv as sc
from ..guard import logger, report
from ..record import CONTENT_PARAMS
from . import CREDENTIAL_DETECTORS, ENTRY_POINT_GROUP, PII_DETECTORS, SECRET_DETECTORS, marker, registered_redactors
from .limits import cut, cut_front, precut
from .rules import MIN_LENGTH, FunctionRule, RegexRule, Redactor, Rule

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..record import CallRecord

#: ``genai_tap.content.dropped`` values
DROPPED_REDACTION_FAILED = "redaction_failed"
DROPPED_REDACTION_UNAVAILABLE = "redaction_unavailable"
DROPPED_REDACTION_BUDGET = "redaction_budget"

#: The redaction budget of one call (the call and every step under it): at most this
#: many characters of content are redacted ...
BUDGET_CHARS = 1 << 20
#: ... and at most this much of the finisher thread's CPU time is spent on it (looked
#: at every :data:`BUDGET_CHECK` characters). Past either, the rest of the call's
#: content is withheld (``genai_tap.content.dropped = redaction_budget``).
BUDGET_SECONDS = 0.1
BUDGET_CHECK = 16384

_ORDER = SECRET_DETECTORS + PII_DETECTORS
_CUSTOM_RANK = 100_000  # custom patterns rank after every built-in detector


class OverBudget(Exception):
    """The call's content costs more to redact than its budget allows."""


class Budget:
    """What one call may still spend on redaction (characters, and CPU seconds)."""

    __slots__ = ("chars", "deadline", "clock", "next_check")

    def __init__(self, chars: int, seconds: float, clock: "Callable[[], float]") -> None:
        self.chars = chars if chars > 0 else -1  # -1: no limit
        self.clock = clock
        self.deadline = clock() + seconds if seconds > 0 else 0.0
        self.next_check = BUDGET_CHECK

    def spend(self, size: int) -> None:
        """Account for redacting ``size`` more characters; raises :class:`OverBudget`."""
        if self.chars >= 0:
            self.chars -= size
            if self.chars < 0:
                raise OverBudget(f"more than {BUDGET_CHARS} characters")
        if self.deadline:
            self.next_check -= size
            if self.next_check <= 0:
                self.next_check = BUDGET_CHECK
                if self.clock() > self.deadline:
                    raise OverBudget("out of time")


class ContentPolicy:
    """How content is redacted and limited in this process (built from the config)."""

    def __init__(
        self,
        detectors: Tuple[str, ...] = SECRET_DETECTORS,
        patterns: Tuple[Tuple[str, str], ...] = (),
        max_chars: int = 0,
        environ: Optional[Mapping[str, str]] = None,
        plugins: bool = True,
        budget_chars: int = BUDGET_CHARS,
        budget_seconds: float = BUDGET_SECONDS,
        clock: "Callable[[], float]" = time.thread_time,
    ) -> None:
        self.max_chars = max_chars
        #: per call: characters of content redacted, and CPU seconds (0: no limit)
        self.budget_chars = budget_chars
        self.budget_seconds = budget_seconds
        self._clock = clock
        self._budget_warned = False
        #: why content cannot be exported at all (a pattern or redactor that cannot run)
        self.blocked: Optional[str] = None
        self._detectors = detectors
        self._environ = environ
        self._compiled: Dict[str, List[Rule]] = {}
        self._key_kinds: Dict[str, Optional[str]] = {}
        custom = self._patterns(patterns)
        content_rules = self._builtin(detectors) + custom
        error_rules = self._builtin(tuple(set(detectors) | set(CREDENTIAL_DETECTORS))) + custom
        self._rules = (content_rules, error_rules, 1 if custom else MIN_LENGTH)
        self._functions = self._plugins() if plugins else ()
        self._registry: Optional[Tuple[Tuple[str, Any], ...]] = None
        self._lock = threading.Lock()
        self.content: Redactor  # what content goes through (set by _refresh)
        self.errors: Redactor  # what error messages and stack traces go through
        self._refresh()

    @classmethod
    def from_config(cls, config: "Config") -> "ContentPolicy":
        return cls(config.redact_detectors, config.redact_patterns, config.max_content_chars)

    # ------------------------------------------------------------------ building
    def _builtin(self, names: Tuple[str, ...]) -> Tuple[Rule, ...]:
        """The rules of the named built-in detectors, in their fixed order, compiled once."""
        from . import detectors

        rules: List[Rule] = []
        for name in _ORDER:
            if name in names:
                if name not in self._compiled:
                    self._compiled[name] = detectors.rules(name, self._environ)
                rules.extend(self._compiled[name])
        return tuple(rules)

    def _patterns(self, patterns: Tuple[Tuple[str, str], ...]) -> Tuple[Rule, ...]:
        import re

        rules: List[Rule] = []
        for name, source in patterns:
            try:
                rule = RegexRule(name, source)
                _ = rule.regex  # compiled now: a bad pattern must be known before any content goes out
                rule.rank = _CUSTOM_RANK + len(rules)
                rules.append(rule)
            except re.error as exc:
                self._block(f"GENAI_TAP_REDACT_PATTERNS: {name}={source!r} is not a valid regular expression ({exc})")
        return tuple(rules)

    def _plugins(self) -> Tuple[Tuple[str, Any], ...]:
        from .. import entrypoints

        found = []
        for name, target in entrypoints.find(ENTRY_POINT_GROUP):
            try:
                function = entrypoints.load(target)
                if not callable(function):
                    raise TypeError(f"{target} is not callable")
            except Exception as exc:
                report(f"loading redactor {name!r} ({target})", exc)
                self._block(f"the redactor {name!r} ({target}) could not be loaded")
                continue
            found.append((name, function))
        return tuple(found)

    def _block(self, why: str) -> None:
        logger().warning("genai-tap: %s; prompts and completions are not exported until this is fixed.", why)
        self.blocked = why

    def _refresh(self) -> None:
        """Pick up redactors registered from code since the last call."""
        registry = registered_redactors()
        if registry is self._registry:
            return
        with self._lock:
            content_rules, error_rules, min_length = self._rules
            functions = tuple(FunctionRule(name, fn) for name, fn in self._functions + registry)
            self.content = Redactor(content_rules, functions, min_length)
            self.errors = Redactor(error_rules, functions, min_length)
            self._registry = registry

    # ------------------------------------------------------------------ applying
    def apply(self, rec: "CallRecord") -> None:
        """Redact and limit ``rec`` and every step under it, in place, before the sinks
        read them; never raises."""
        self._refresh()
        budget = Budget(self.budget_chars, self.budget_seconds, self._clock)
        for each in rec.walk():
            self._apply(each, budget)

    def _apply(self, rec: "CallRecord", budget: Budget) -> None:
        try:
            if rec.error is not None or rec.error_message is not None:
                self._scrub_error(rec)  # first: with content off, it looks for the content
        except Exception as exc:
            report("privacy: redacting the error message", exc)
            rec.error_message = rec.error_stack = rec.error_type or "error"
        rec.error_request = None
        try:
            if not rec.capture_content:
                drop_content(rec)
            elif self.blocked is not None:
                drop_content(rec, DROPPED_REDACTION_UNAVAILABLE)
            else:
                self._limit_content(rec, budget)
        except OverBudget as exc:
            drop_content(rec, DROPPED_REDACTION_BUDGET)
            if not self._budget_warned:
                self._budget_warned = True
                logger().warning(
                    "genai-tap: a call's content cost more to redact than its budget (%s, at most %d characters and "
                    "%.0f ms per call); its content is withheld (genai_tap.content.dropped=redaction_budget). "
                    "Said once.",
                    exc,
                    self.budget_chars,
                    self.budget_seconds * 1000,
                )
        except Exception as exc:
            report("privacy: redacting content", exc)
            drop_content(rec, DROPPED_REDACTION_FAILED)

    def _scrub_error(self, rec: "CallRecord") -> None:
        """The error message and stack trace as they may leave: redacted (credentials in
        every mode), and with content capture off without any piece of content."""
        from .errors import ERROR_CHARS, ContentIndex, content_strings, format_stack, withhold

        ahead = ERROR_CHARS + 4096  # scrubbed a little past the cut, so no piece of content straddles it
        if rec.capture_content:
            index = None

            def message(text: str) -> str:
                return text[:ahead]

        else:
            index = ContentIndex(content_strings(_content_of(rec)))

            def message(text: str) -> str:
                return withhold(text[:ahead], index)

        exc = rec.error
        if rec.error_message is not None:
            out = self.errors(message(rec.error_message))[0]
            rec.error_message = cut(out, ERROR_CHARS)[0]
        if rec.error_stack is None and exc is not None:
            rec.error_stack = format_stack(exc, message)
        elif rec.error_stack is not None:
            rec.error_stack = message(rec.error_stack[-ahead:])
        if rec.error_stack:
            stack = rec.error_stack[-ahead:]
            if index:  # code, but it can hold a prompt written into it
                stack = withhold(stack, index, formats=False)
            rec.error_stack = cut_front(self.errors(stack)[0], ERROR_CHARS)

    def secret_key(self, name: str) -> Optional[str]:
        """The kind of secret a JSON object's key says its value is (None: not one)."""
        kind = self._key_kinds.get(name, "")
        if kind == "":
            from .detectors import secret_key_kind

            kind = secret_key_kind(name, self._detectors)
            if len(self._key_kinds) < 4096:
                self._key_kinds[name] = kind
        return kind

    def _limit_content(self, rec: "CallRecord", budget: Budget) -> None:
        scrub = _Pass(self.content, self.max_chars, self.secret_key, budget)
        system = scrub.parts(rec.system) if rec.system else rec.system
        inputs = scrub.messages(rec.input_messages) if rec.input_messages else rec.input_messages
        outputs = scrub.messages(rec.output_messages) if rec.output_messages else rec.output_messages
        tools = scrub.parts(rec.tools) if rec.tools else rec.tools
        params = {k: scrub.value(v) for k, v in rec.params.items() if k in CONTENT_PARAMS}
        arguments = scrub.value(rec.tool_arguments) if rec.tool_arguments is not None else None
        result = scrub.value(rec.tool_result) if rec.tool_result is not None else None
        query = scrub.text(rec.retrieval_query) if isinstance(rec.retrieval_query, str) else rec.retrieval_query
        documents = scrub.parts(rec.documents) if rec.documents else rec.documents
        # only now, when all of it is done, does the record change
        rec.system, rec.input_messages, rec.output_messages, rec.tools = system, inputs, outputs, tools
        rec.tool_arguments, rec.tool_result, rec.retrieval_query, rec.documents = arguments, result, query, documents
        rec.params.update(params)
        if scrub.redactions:
            rec.attributes[sc.CONTENT_REDACTIONS] = scrub.redactions
        if scrub.truncated:
            rec.attributes[sc.CONTENT_TRUNCATED] = True


def _content_of(rec: "CallRecord") -> List[Any]:
    """Every piece of the record's content (as a plugin left it), and the request a
    plugin kept for a failed call."""
    values: List[Any] = [rec.system, rec.input_messages, rec.output_messages, rec.tools]
    values += [rec.params[key] for key in CONTENT_PARAMS if key in rec.params]
    values += [rec.tool_arguments, rec.tool_result, rec.retrieval_query, rec.documents, rec.error_request]
    return [value for value in values if value is not None]


def drop_content(rec: "CallRecord", reason: Optional[str] = None) -> None:
    """Remove every piece of content from ``rec`` (and say why, if it was not asked for)."""
    rec.system = rec.input_messages = rec.output_messages = rec.tools = None
    rec.tool_arguments = rec.tool_result = rec.retrieval_query = rec.documents = None
    for key in CONTENT_PARAMS:
        rec.params.pop(key, None)
    if reason is not None:
        rec.attributes[sc.CONTENT_DROPPED] = reason


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


_SCALARS = (bool, int, float, type(None))
_NUMBERS = (int, float)
#: see _Pass.digits
NUMBER_DIGITS = 12


class _Pass:
    """One record's pass over its content: redacts, cuts, and keeps count."""

    __slots__ = ("redact", "limit", "secret_key", "budget", "redactions", "truncated", "shortest", "digits")

    def __init__(
        self, redact: Redactor, limit: int, secret_key: "Callable[[str], Optional[str]]", budget: Budget
    ) -> None:
        self.redact = redact
        self.limit = limit
        self.secret_key = secret_key
        self.budget = budget
        self.redactions = 0
        self.truncated = False
        # texts shorter than this cannot change ("text", "user", ids)
        self.shortest = 0 if redact.functions else min(redact.min_length, limit + 1) if limit else redact.min_length
        # numbers written with fewer characters than this are left alone: the built-in
        # rules that can match a number's digits (card numbers, the process's own
        # secrets) need 12 or more; a custom pattern or redactor may match fewer
        self.digits = self.shortest if redact.functions or redact.custom else max(self.shortest, NUMBER_DIGITS)

    def text(self, text: str) -> str:
        if len(text) < self.shortest:
            return text
        limit = self.limit
        if limit and len(text) > limit:
            head = precut(text, limit)
            self.budget.spend(len(head))
            out, found = self.redact(head)
            out, _ = cut(out, limit, len(text) - len(head))
            self.truncated = True
        else:
            self.budget.spend(len(text))
            out, found = self.redact(text)
            if limit and len(out) > limit:  # markers made it longer
                out, self.truncated = cut(out, limit)[0], True
        if found:
            self.redactions += found
        return out

    def value(self, value: Any) -> Any:
        """A JSON value; exported as its cut JSON text when it is larger than the limit."""
        if type(value) is str:
            return self.text(value)
        new, size = self._walk(value)
        if self.limit > 0 and size > self.limit and not isinstance(new, str):
            out, _ = cut(_dumps(new), self.limit)
            self.truncated = True
            return out
        return new

    def _walk(self, value: Any) -> Tuple[Any, int]:
        """(value with every string redacted and cut, about how long its JSON is)."""
        if isinstance(value, str):
            out = self.text(value)
            return out, len(out) + 2
        if isinstance(value, _NUMBERS) and not isinstance(value, bool):
            return self.number(value), 6
        if isinstance(value, _SCALARS):
            return value, 6
        if isinstance(value, dict) or (not isinstance(value, (list, tuple)) and isinstance(value, Mapping)):
            changed, size, items = False, 2, []
            for key, item in value.items():
                new_key, key_size = self._walk(key) if isinstance(key, str) else (key, 6)
                kind = self.secret_key(key) if isinstance(key, str) and isinstance(item, (str, int, float)) else None
                if kind is not None and item != "" and not isinstance(item, bool):
                    new_item, item_size = marker(kind), len(kind) + 14  # {"password": ...}: all of it
                    self.redactions += 1
                else:
                    new_item, item_size = self._walk(item)
                changed |= new_key is not key or new_item is not item
                size += key_size + item_size + 2
                items.append((new_key, new_item))
            return (dict(items) if changed else value), size
        if isinstance(value, (list, tuple)):
            changed, size, items = False, 2, []
            for item in value:
                new_item, item_size = self._walk(item)
                changed |= new_item is not item
                size += item_size + 1
                items.append(new_item)
            return (items if changed else value), size
        if isinstance(value, (bytes, bytearray, memoryview)):
            out = f"[BINARY:{len(value)} bytes]"  # media bytes are never exported
            return out, len(out) + 2
        return self._walk(str(value))  # what json.dumps(default=str) would have written

    def number(self, value: "int | float") -> Any:
        """A JSON number, checked as the digits it is written with (a card number sent
        as a number); the redacted text if anything was found in it, else the number."""
        if type(value) is float and value.is_integer() and abs(value) < 1e20:
            text = repr(int(value))
        else:
            text = repr(value)
        if len(text) < self.digits:
            return value
        out, found = self.redact(text)
        if not found:
            return value
        self.redactions += found
        return out

    def parts(self, parts: List[Any]) -> List[Any]:
        """A list of parts (or tool definitions): each field a JSON value of its own."""
        return [
            {k: self.value(v) for k, v in part.items()} if isinstance(part, dict) else self.value(part)
            for part in parts
        ]

    def messages(self, messages: List[Any]) -> List[Any]:
        out = []
        for msg in messages:
            if not isinstance(msg, dict):
                out.append(self.value(msg))
                continue
            out.append({k: self.parts(v) if k == "parts" and isinstance(v, list) else self.value(v) for k, v in msg.items()})
        return out
