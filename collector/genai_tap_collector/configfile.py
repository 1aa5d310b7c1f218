"""Reading the collector's user files (TOML) and its small value syntaxes.

Every error names the file, the setting and what is accepted, because these
files are written by hand and read at start-up, where a vague error costs the
most.
"""

from __future__ import annotations

import math
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A user file or option is wrong; the message says where and what is accepted."""


MAX_FILE_BYTES = 1024 * 1024


def load_toml(path: str | Path, what: str) -> Dict[str, Any]:
    """Parse a TOML file; ``what`` names it in errors ("--rules file", ...)."""
    where = f"{what} {str(path)!r}"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_FILE_BYTES // 1024} KiB; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text (byte {exc.start})") from None
    return parse_toml(text, where)


def parse_toml(text: str, where: str) -> Dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration(value: Any, name: str) -> float:
    """``"90s"``, ``"5m"``, ``"12h"``, ``"7d"`` or a number of seconds -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    match = _DURATION.match(str(value)) if isinstance(value, (str, int, float)) else None
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"] if match else math.nan
    if not math.isfinite(seconds):
        raise ConfigError(
            f"{name}={value!r} is not a duration; use a number followed by ms, s, m, h, d or w (e.g. 5m, 7d)"
        )
    return seconds


#: Times the store can hold: nanoseconds since 1970 in a signed 64-bit integer (until 2262).
MIN_TIME_NS, MAX_TIME_NS = 0, 2**63 - 1
#: Pages of the traces list (UI ``page``, CLI ``--page``) and their size.
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 500


def checked_filters(params: Mapping[str, Any]) -> Any:
    """:func:`views.filters_from`, with every value it cannot take (a time before 1970 or after 2262,
    a duration too long to subtract) reported as ConfigError instead of failing deeper down."""
    from .views import filters_from  # views imports this module

    now_ns = time.time_ns()
    for name in ("since", "until"):
        value = params.get(name)
        if value and not _time_in_range(str(value), now_ns):
            raise ConfigError(f"{name}={value!r} is out of range; "
                              "use a time between 1970 and 2262, or a duration back from now (15m, 1h, 7d)")
    try:
        f = filters_from(params, now_ns)
    except (OverflowError, ValueError, OSError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"since/until: {exc}; use a duration (15m, 1h, 7d), an ISO time, or all") from None
    for name, value in (("since", f.since_ns), ("until", f.until_ns)):
        if value is not None and not MIN_TIME_NS <= value <= MAX_TIME_NS:
            raise ConfigError(f"{name}={params.get(name)!r} is out of range; "
                              "use a time between 1970 and 2262, or a duration back from now (15m, 1h, 7d)")
    return f


def _time_in_range(value: str, now_ns: int) -> bool:
    """False for a time or duration that lands outside what the store holds (views may clamp
    such a value instead; here it is refused). True for what does not parse: the caller's
    parser reports that."""
    if value == "all":
        return True
    if "T" in value or value.count("-") == 2:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return True
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        try:
            ns = when.timestamp() * 1e9
        except (OverflowError, OSError, ValueError):
            return False
        return MIN_TIME_NS <= ns <= MAX_TIME_NS
    try:
        seconds = parse_duration(value, "since")
    except ConfigError:
        return True
    return now_ns - seconds * 1e9 >= MIN_TIME_NS


def checked_page(value: Any, name: str = "page", maximum: int = MAX_PAGE) -> int:
    """A whole number from 1 to ``maximum``, else ConfigError."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= maximum:
        raise ConfigError(f"{name}={value!r} is not valid; use a whole number from 1 to {maximum:,}")
    return number
