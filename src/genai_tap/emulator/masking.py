"""Credentials out of the request log (``Emulator.requests``, ``GET /_emulator/requests``).

What is masked: the access key ID and the signature in a SigV4 ``Authorization`` header,
the whole ``X-Amz-Security-Token`` (and any ``Authorization: Bearer`` token), and every
other occurrence, in any header or in the body, of a credential value the emulator
knows: the access key ID and session token the request carried, and this process's
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` /
``AWS_BEARER_TOKEN_BEDROCK``. Values shorter than 16 characters are not searched for
in bodies and other headers (an AWS access key ID has at least 16 characters; the
dummy ``test`` credentials of tests do not), so request bodies stay byte for byte what
the app sent unless they carry a real credential.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Iterable, List, Tuple

MASK = "***"
#: shortest value searched for outside its own header (the minimum length of an access key ID)
MIN_SECRET = 16
_CREDENTIAL = re.compile(r"(Credential=)([^/,\s]*)")
_SIGNATURE = re.compile(r"(Signature=)([0-9A-Za-z]*)")
_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK")
_TOKEN_HEADERS = ("x-amz-security-token",)


def _request_secrets(items: Iterable[Tuple[str, str]]) -> List[str]:
    found: List[str] = []
    for name, value in items:
        low = name.lower()
        if low == "authorization":
            found += [m.group(2) for m in _CREDENTIAL.finditer(value)]
            if value.lower().startswith("bearer "):
                found.append(value[7:].strip())
        elif low in _TOKEN_HEADERS:
            found.append(value.strip())
    return found


def secrets(items: Iterable[Tuple[str, str]]) -> List[str]:
    """Credential values worth searching for, longest first."""
    values = _request_secrets(items) + [os.environ.get(k, "") for k in _ENV]
    return sorted({v for v in values if len(v) >= MIN_SECRET}, key=len, reverse=True)


def _mask_text(text: str, values: List[str]) -> str:
    for value in values:
        text = text.replace(value, MASK)
    return text


def headers(items: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """The request's headers with credentials masked."""
    pairs = list(items)
    values = secrets(pairs)
    out: Dict[str, str] = {}
    for name, value in pairs:
        low = name.lower()
        if low == "authorization":
            if value.lower().startswith("bearer "):
                value = "Bearer " + MASK
            else:
                value = _SIGNATURE.sub(lambda m: m.group(1) + MASK, _CREDENTIAL.sub(lambda m: m.group(1) + MASK, value))
        elif low in _TOKEN_HEADERS:
            value = MASK
        else:
            value = _mask_text(value, values)
        out[name] = value
    return out


def body(raw: bytes, request_headers: Any) -> bytes:
    """The body, with any known credential value masked (unchanged otherwise)."""
    values = secrets(request_headers.items())
    for value in values:
        needle = value.encode()
        if needle in raw:
            raw = raw.replace(needle, MASK.encode())
    return raw
