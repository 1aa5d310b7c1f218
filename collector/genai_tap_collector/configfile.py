"""Reading the collector's user files (TOML) and its small value syntaxes.

Every error names the file, the setting and what is accepted, because these
files are written by hand and read at start-up, where a vague error costs the
most.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A user file or option is wrong; the message says where and what is accepted."""


def load_toml(path: str | Path, what: str) -> Dict[str, Any]:
    """Parse a TOML file; ``what`` names it in errors ("--rules file", ...)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist") from None
    return parse_toml(text, f"{what} {str(path)!r}")


def parse_toml(text: str, where: str) -> Dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration(value: Any, name: str) -> float:
    """``"90s"``, ``"5m"``, ``"12h"``, ``"7d"`` or a number of seconds -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(
            f"{name}={value!r} is not a duration; use a number followed by ms, s, m, h, d or w (e.g. 5m, 7d)"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
