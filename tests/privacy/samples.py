"""Real-looking secrets for the privacy tests (documentation examples or random
strings of the right shape; none is live), and the check that none got out."""

from __future__ import annotations

from typing import Dict, Iterable

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
TEMP_KEY = "ASIAY34FZKBOKMUTVV7A"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDn8zAbCdEfGh1JkLmNoPqRsTuVwXyZ"
API_KEY = "sk-proj-abcdEFGH1234ijklMNOP5678qrstUVWX"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
SIGNATURE = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
PASSWORD = "Hunter2-Correct-Horse"
CARD = "4111 1111 1111 1111"
PEM_LINE = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi8Z6VfOQ9y1tpjhVsVnHbUpX0t"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_LINE}\nyqB2z6n8Qz0fN5fAxk3Tq0dC8v3wJQ0xZ7x2vQ4YbX1b6hW2Jt0q5m0PzqYbK5Xc\n-----END RSA PRIVATE KEY-----"

#: The process's AWS credentials in the wire tests (as real ones look).
AWS_ENV: Dict[str, str] = {
    "AWS_ACCESS_KEY_ID": TEMP_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_SESSION_TOKEN": SESSION_TOKEN,
}

#: What must never be exported, as it would appear in exported bytes.
SECRETS = (ACCESS_KEY, TEMP_KEY, SECRET_KEY, SESSION_TOKEN, API_KEY, JWT, SIGNATURE, PASSWORD, CARD, PEM_LINE, "sk-proj-", "IQoJb3JpZ2lu")


def leaks(exported: str | bytes, secrets: Iterable[str] = SECRETS) -> list:
    """The secrets found in ``exported`` (text or raw bytes)."""
    if isinstance(exported, bytes):
        return [s for s in secrets if s.encode() in exported]
    return [s for s in secrets if s in exported]
