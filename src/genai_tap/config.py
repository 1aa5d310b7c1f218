"""Configuration from environment variables.

Read once at start-up, cheaply: this module imports nothing beyond ``os`` so the
bootstrap stays within its start-up budget. A bad value never stops the app: it
yields one warning that names the variable, the value, the accepted values and what
genai-tap does instead (the default, except where the default would export more
than the user may have meant: a bad content-capture value turns capture off).
Every variable is documented in README.md's configuration table.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; annotations are strings here
    from typing import Callable, List, Mapping, Optional, Tuple

TRUE_VALUES = ("1", "true", "yes", "on")
FALSE_VALUES = ("0", "false", "no", "off")

# Content capture modes, as opentelemetry-util-genai names them.
NO_CONTENT = "NO_CONTENT"
SPAN_ONLY = "SPAN_ONLY"
EVENT_ONLY = "EVENT_ONLY"
SPAN_AND_EVENT = "SPAN_AND_EVENT"
CONTENT_MODES = (NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT)

OTLP_PROTOCOLS = ("http/protobuf", "grpc")

# GENAI_TAP_DD_DUPLICATES: what to do when ddtrace's own Bedrock integration records
# the same call in LLM Observability (see docs/datadog.md).
DD_DUPLICATES_GENAI_TAP = "genai-tap"  # genai-tap's span is the one; ddtrace's integration keeps its APM span only
DD_DUPLICATES_DDTRACE = "ddtrace"  # ddtrace's span is the one; genai-tap adds none for that call
DD_DUPLICATES_BOTH = "both"  # genai-tap's span as well (the call is counted twice)
DD_DUPLICATES = (DD_DUPLICATES_GENAI_TAP, DD_DUPLICATES_DDTRACE, DD_DUPLICATES_BOTH)
DEFAULT_MAX_CONTENT_CHARS = 16384


class Config:
    """Settings for one process, from the environment."""

    __slots__ = (
        "enabled",
        "sinks",
        "sinks_explicit",
        "default_sinks",
        "content_mode",
        "plugins",
        "disabled_plugins",
        "log_level",
        "flush_timeout",
        "max_body_bytes",
        "dd_tags",
        "dd_duplicates",
        "redact_detectors",
        "redact_patterns",
        "max_content_chars",
        "warnings",
    )

    def __init__(self) -> None:
        self.enabled: bool = True
        self.sinks: Tuple[str, ...] = ("otel",)
        self.sinks_explicit: bool = False
        #: the sinks chosen when GENAI_TAP_SINKS is unset (also used when it names none that exist)
        self.default_sinks: Tuple[str, ...] = ("otel",)
        self.content_mode: str = SPAN_ONLY
        self.plugins: Optional[Tuple[str, ...]] = None  # None: every plugin found
        self.disabled_plugins: Tuple[str, ...] = ()
        self.log_level: str = "WARNING"
        self.flush_timeout: float = 3.0
        self.max_body_bytes: int = 4 * 1024 * 1024
        self.dd_tags: Tuple[Tuple[str, str], ...] = ()
        self.dd_duplicates: str = DD_DUPLICATES_GENAI_TAP
        self.redact_detectors: Tuple[str, ...] = _secret_detectors()
        self.redact_patterns: Tuple[Tuple[str, str], ...] = ()  # (name, regular expression)
        self.max_content_chars: int = DEFAULT_MAX_CONTENT_CHARS  # 0: no limit
        self.warnings: List[str] = []

    # ------------------------------------------------------------------
    @property
    def capture_content(self) -> bool:
        """Whether prompts and completions are captured at all."""
        return self.content_mode != NO_CONTENT

    @property
    def content_on_span(self) -> bool:
        return self.content_mode in (SPAN_ONLY, SPAN_AND_EVENT)

    @property
    def content_in_event(self) -> bool:
        return self.content_mode in (EVENT_ONLY, SPAN_AND_EVENT)

    def plugin_enabled(self, name: str) -> bool:
        if name in self.disabled_plugins:
            return False
        return self.plugins is None or name in self.plugins

    # ------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Config":
        env = os.environ if env is None else env
        cfg = cls()
        read = _Reader(env, cfg.warnings)

        cfg.enabled = read.boolean("GENAI_TAP_ENABLED", True)
        cfg.log_level = read.choice(
            "GENAI_TAP_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), "WARNING", upper=True
        )
        cfg.content_mode = _content_mode(read)
        cfg.default_sinks = _default_sinks(read, env)
        cfg.sinks, cfg.sinks_explicit = _sinks(read, cfg.default_sinks)
        plugins = read.names("GENAI_TAP_PLUGINS")
        cfg.plugins = plugins if plugins else None
        cfg.disabled_plugins = read.names("GENAI_TAP_DISABLED_PLUGINS")
        cfg.flush_timeout = read.number("GENAI_TAP_FLUSH_TIMEOUT", 3.0, float, minimum=0.0)
        cfg.max_body_bytes = read.number("GENAI_TAP_MAX_BODY_BYTES", 4 * 1024 * 1024, int, minimum=0)
        cfg.dd_tags = read.tags("GENAI_TAP_DD_TAGS")
        cfg.dd_duplicates = read.choice("GENAI_TAP_DD_DUPLICATES", DD_DUPLICATES, DD_DUPLICATES_GENAI_TAP)
        cfg.redact_detectors = _redact_detectors(read)
        patterns = read.patterns("GENAI_TAP_REDACT_PATTERNS")
        if patterns is None:
            cfg.content_mode = NO_CONTENT  # never export what the broken patterns were meant to hide
        else:
            cfg.redact_patterns = patterns
        cfg.max_content_chars = read.number(
            "GENAI_TAP_MAX_CONTENT_CHARS", DEFAULT_MAX_CONTENT_CHARS, int, minimum=0
        )
        return cfg


def _content_mode(read: "_Reader") -> str:
    """GENAI_TAP_CAPTURE_CONTENT wins; else the standard OTel variable; else on (span)."""
    own = read.raw("GENAI_TAP_CAPTURE_CONTENT")
    if own is not None:
        return read.content_mode("GENAI_TAP_CAPTURE_CONTENT", own)
    std = read.raw("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    if std is not None:
        return read.content_mode("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", std)
    return SPAN_ONLY


def _sinks(read: "_Reader", default: "Tuple[str, ...]") -> "Tuple[Tuple[str, ...], bool]":
    """GENAI_TAP_SINKS wins (names are checked when the sinks are created: a name that
    is no sink is left out with a warning, and if none is left the default is used)."""
    names = read.names("GENAI_TAP_SINKS")
    if names:
        return (() if names == ("none",) else names), True
    return default, False


def _default_sinks(read: "_Reader", env: "Mapping[str, str]") -> "Tuple[str, ...]":
    """The OpenTelemetry sink unless the SDK is disabled, plus Datadog when LLMObs is on."""
    sinks = []
    if not read.boolean("OTEL_SDK_DISABLED", False):
        sinks.append("otel")
    if read.boolean("DD_LLMOBS_ENABLED", False):
        sinks.append("datadog")
        headers = _otlp_to_llmobs(env)
        if headers and "otel" in sinks:
            sinks.remove("otel")
            read.warnings.append(
                f"OTLP traces go to Datadog's LLM Observability intake (dd-otlp-source=llmobs in {headers}) and"
                " DD_LLMOBS_ENABLED=true turns on the Datadog sink: each call would appear twice in LLM"
                " Observability, so the OpenTelemetry sink is off. Set GENAI_TAP_SINKS=otel,datadog to keep both,"
                " or GENAI_TAP_SINKS=otel to send OTLP only."
            )
    return tuple(sinks)


def _otlp_to_llmobs(env: "Mapping[str, str]") -> "Optional[str]":
    """The OTLP headers variable that sends traces to Datadog's LLM Observability intake, if one does."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        value = env.get(name)
        if not value:
            continue
        for item in value.split(","):
            key, _, val = item.partition("=")
            if key.strip().lower() == "dd-otlp-source" and val.strip().lower() == "llmobs":
                return name
        return None  # the traces-specific variable replaces the general one
    return None
def _secret_detectors() -> "Tuple[str, ...]":
    from .privacy import SECRET_DETECTORS

    return SECRET_DETECTORS


def _redact_detectors(read: "_Reader") -> "Tuple[str, ...]":
    """GENAI_TAP_REDACT picks the built-in detectors (secrets by default);
    GENAI_TAP_REDACT_PII=true adds the personal-data ones."""
    from .privacy import PII_DETECTORS, SECRET_DETECTORS

    chosen: "Tuple[str, ...]" = SECRET_DETECTORS
    value = read.raw("GENAI_TAP_REDACT")
    if value is not None:
        names = _detector_list(value, SECRET_DETECTORS, SECRET_DETECTORS + PII_DETECTORS)
        if names is None:
            read.warn(
                "GENAI_TAP_REDACT",
                value,
                "true, false, detector names separated by commas ("
                + ", ".join(SECRET_DETECTORS + PII_DETECTORS)
                + "), or names each prefixed with '-' to leave them out of the default set",
                "the default: every secret detector",
            )
        else:
            chosen = names
    if read.boolean("GENAI_TAP_REDACT_PII", False):
        chosen = chosen + tuple(name for name in PII_DETECTORS if name not in chosen)
    return chosen


def _detector_list(value: str, default: "Tuple[str, ...]", known: "Tuple[str, ...]") -> "Optional[Tuple[str, ...]]":
    """``true`` / ``false`` / ``a,b`` (exactly these) / ``-a,-b`` (the default without these)."""
    low = value.lower()
    if low in TRUE_VALUES:
        return default
    if low in FALSE_VALUES or low == "none":
        return ()
    items = [item.strip() for item in low.split(",") if item.strip()]
    names = [item.lstrip("-").strip() for item in items]
    removals = sum(item.startswith("-") for item in items)
    if not items or any(name not in known for name in names) or 0 < removals < len(items):
        return None  # unknown names, or a mix of names and removals (which says two things)
    if removals:
        return tuple(name for name in default if name not in names)
    return tuple(dict.fromkeys(names))


class _Reader:
    """Reads variables, collecting one warning per bad value."""

    def __init__(self, env: Mapping[str, str], warnings: List[str]) -> None:
        self.env = env
        self.warnings = warnings

    def warn(self, name: str, value: str, accepted: str, instead: str) -> None:
        self.warnings.append(f"{name}={value!r} is not valid; accepted values: {accepted}. Using {instead}.")

    def raw(self, name: str) -> Optional[str]:
        value = self.env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        low = value.lower()
        if low in TRUE_VALUES:
            return True
        if low in FALSE_VALUES:
            return False
        self.warn(name, value, "true or false (also 1/0, yes/no, on/off)", f"the default, {str(default).lower()}")
        return default

    def choice(self, name: str, accepted: Tuple[str, ...], default: str, upper: bool = False) -> str:
        value = self.raw(name)
        if value is None:
            return default
        norm = value.upper() if upper else value.lower()
        if norm in accepted:
            return norm
        self.warn(name, value, ", ".join(accepted), f"the default, {default}")
        return default

    def number(self, name: str, default, kind: Callable, minimum=None):
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is None or (minimum is not None and number < minimum):
            what = "a whole number" if kind is int else "a number"
            self.warn(name, value, f"{what} >= {minimum}" if minimum is not None else what, f"the default, {default}")
            return default
        return number

    def names(self, name: str) -> Tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        return tuple(part.strip().lower() for part in value.split(",") if part.strip())

    def tags(self, name: str) -> Tuple[Tuple[str, str], ...]:
        value = self.raw(name)
        if value is None:
            return ()
        tags = []
        for item in value.replace(",", " ").split():
            key, sep, val = item.partition(":")
            if not sep or not key:
                self.warn(name, value, "key:value pairs separated by commas or spaces", "no extra tags")
                return ()
            tags.append((key, val))
        return tuple(tags)

    def patterns(self, name: str) -> "Optional[Tuple[Tuple[str, str], ...]]":
        """``name=regex`` entries separated by ``;;`` or new lines; None if malformed.

        Only split here (``re`` is not imported at start-up); the expressions are
        compiled on the first model call.
        """
        value = self.raw(name)
        if value is None:
            return ()
        found = []
        for entry in value.replace(";;", "\n").splitlines():
            entry = entry.strip()
            if not entry:
                continue
            key, sep, regex = entry.partition("=")
            key = key.strip()
            if not sep or not regex or not key or not key.isascii() or not all(c.isalnum() or c in "_-." for c in key):
                self.warnings.append(
                    f"{name}={value!r} is not valid; accepted values: name=regex entries separated by ';;' or new lines,"
                    " each name made of letters, digits, '_', '-' or '.'. Content capture is off until it is fixed,"
                    " so that what the patterns should hide is not exported."
                )
                return None
            found.append((key, regex))
        return tuple(found)

    def content_mode(self, name: str, value: str) -> str:
        up = value.upper()
        if up in CONTENT_MODES:
            return up
        low = value.lower()
        if low in TRUE_VALUES:
            return SPAN_ONLY
        if low in FALSE_VALUES:
            return NO_CONTENT
        # never export content the user may have meant to switch off
        self.warn(name, value, "true, false, " + ", ".join(CONTENT_MODES), "NO_CONTENT: prompts and completions are not captured")
        return NO_CONTENT


_current: Optional[Config] = None


def get_config() -> Config:
    """The process-wide configuration, read on first use."""
    global _current
    if _current is None:
        _current = Config.from_env()
    return _current


def reset_config(cfg: Optional[Config] = None) -> None:
    """Replace (or forget) the process-wide configuration; for tests and ``instrument()``."""
    global _current
    _current = cfg
