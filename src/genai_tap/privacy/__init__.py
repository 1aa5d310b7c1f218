"""Private by design: what happens to content before any sink sees it.

Every finished :class:`~genai_tap.record.CallRecord` goes through one
:class:`~genai_tap.privacy.policy.ContentPolicy` in :meth:`genai_tap.tap.Call.end`,
before the first sink reads it, so the OpenTelemetry sink, the Datadog sink and any
third-party sink all export the same redacted, size-limited content and none of
them has to think about it (the way openinference applies its ``TraceConfig`` once,
inside its tracer).

What the policy does, in order, for the call and every step under it:

1. Error messages and stack traces (:mod:`.errors`): redacted like content, and
   with content capture off stripped of every piece of content (the call's content
   strings, the values botocore's and Bedrock's messages quote, quoted text). This
   comes first, while the record still holds the content to look for.
2. Content capture off: prompts, completions, system prompts, tool definitions and
   content parameters are removed from the record, whatever a plugin put there.
3. Redaction: every string in that content, including the JSON values (numbers
   too) inside tool arguments and tool results, goes through the enabled detectors
   (secrets on by default, personal data one variable away), the custom patterns of
   ``GENAI_TAP_REDACT_PATTERNS`` and the redactors registered here or through the
   ``genai_tap.redactors`` entry-point group. A match becomes a typed marker,
   ``[REDACTED:aws_access_key]``. Every detector searches the original text; what
   they find is replaced once (:mod:`.rules`).
4. Size limits: a string longer than ``GENAI_TAP_MAX_CONTENT_CHARS`` is cut and
   ends with ``[TRUNCATED:<n> chars]``; a JSON value that large is exported as its
   JSON text, cut the same way.
5. The budget: a call whose content costs more to redact than
   :data:`~genai_tap.privacy.policy.BUDGET_CHARS` characters or
   :data:`~genai_tap.privacy.policy.BUDGET_SECONDS` of CPU has the rest of its
   content withheld (``genai_tap.content.dropped = redaction_budget``).

A failure anywhere in this removes the record's content (and error text) instead
of letting unredacted content through, and is reported through
:func:`genai_tap.guard.report`.

This module is imported by :mod:`genai_tap.config` at start-up for the detector
names, so it holds constants and small functions only; the regular expressions
live in :mod:`.detectors` and are compiled on the first model call.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Tuple

    Redactor = Callable[[str], str]

#: Built-in detectors of secrets, on unless ``GENAI_TAP_REDACT`` says otherwise.
SECRET_DETECTORS = (
    "env_secret",
    "private_key",
    "aws_secret_key",
    "aws_session_token",
    "aws_access_key",
    "aws_signature",
    "bearer_token",
    "api_key",
    "password",
    "credit_card",
)
#: Built-in detectors of personal data, on with ``GENAI_TAP_REDACT_PII=true``.
PII_DETECTORS = ("email", "ipv6", "ipv4", "phone")
#: Detectors always applied to error messages and stack traces, in every mode.
CREDENTIAL_DETECTORS = tuple(name for name in SECRET_DETECTORS if name != "credit_card")

#: Entry-point group of third-party redactors: ``name = "module:function"``, where
#: the function takes a string and returns it redacted.
ENTRY_POINT_GROUP = "genai_tap.redactors"

REDACTED_PREFIX = "[REDACTED:"
TRUNCATED_PREFIX = "[TRUNCATED:"


def marker(kind: str) -> str:
    """The text that replaces a redacted value: ``[REDACTED:<kind>]``.

    Custom redactors should use it too, so that every redaction in the exported
    content looks the same and can be counted or searched for.
    """
    return f"{REDACTED_PREFIX}{kind}]"


def truncation_marker(dropped: int) -> str:
    """The text that ends a string cut by the size limit."""
    return f"{TRUNCATED_PREFIX}{dropped} chars]"


# Redactors registered from code, as an immutable tuple replaced on each change so
# that a call in flight on another thread reads either the old or the new set.
_registered: "Tuple[Tuple[str, Redactor], ...]" = ()


def register_redactor(name: str, redactor: "Redactor") -> None:
    """Add a redactor, applied after the built-in detectors and custom patterns.

    ``redactor`` takes one string (a prompt, a completion, a string inside tool
    arguments ...) and returns it with what must not leave replaced, preferably by
    :func:`marker`. It is called for every string of captured content, so it should
    return quickly when there is nothing to do. If it raises, the content of that
    call is dropped rather than exported unredacted. Registering a name again
    replaces the earlier redactor.
    """
    global _registered
    if not callable(redactor):
        raise TypeError(f"redactor {name!r} must be callable (a function from str to str)")
    _registered = tuple((n, r) for n, r in _registered if n != name) + ((name, redactor),)


def unregister_redactor(name: str) -> None:
    """Remove a redactor added with :func:`register_redactor` (no error if absent)."""
    global _registered
    _registered = tuple((n, r) for n, r in _registered if n != name)


def registered_redactors() -> "Tuple[Tuple[str, Redactor], ...]":
    return _registered
