#!/usr/bin/env python3
"""What redaction costs: microseconds per KB of text, and per typical call record.

Run: ``.venv/bin/python scripts/bench_redaction.py`` (about 20 seconds). Not part of
the test suite: timings on a shared machine vary, so this prints the best of
several rounds instead of asserting anything.

Texts (each 16 KiB, measured whole, so the per-KB figure includes no per-call
overhead; per-call overhead shows in the record figures):

- ``prose``: English prose, a few numbers, no secret (most prompts);
- ``json``: a JSON tool result with ids, timestamps, keys and tokens named in it
  but no secret (the busiest case for the context rules and digit gates);
- ``secrets``: prose with a secret of every built-in kind every ~2 KB.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from genai_tap.privacy import PII_DETECTORS, SECRET_DETECTORS  # noqa: E402
from genai_tap.privacy.policy import ContentPolicy  # noqa: E402
from genai_tap.record import CallRecord, message, text_part, tool_call_part, tool_response_part  # noqa: E402

SIZE = 16384
WORDS = (
    "the a of to and in is for on with as model request answer please summarise this document about cloud "
    "pricing explain points customer team quarter report revenue growth region service latency budget plan "
    "We They It Our Amazon Bedrock Claude Nova In 2024 on 12 March 3 teams shipped 17 features."
).split()
SECRETS = [
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "sk-proj-abcdEFGH1234ijklMNOP5678qrstUVWX",
    "api_key=zaCELgL0imfnc8mVLWwsAawjYr4Rx",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdefghijABCDEFGHIJ\n-----END RSA PRIVATE KEY-----",
    "card 4111 1111 1111 1111",
    "password: hunter2hunter2",
]


def prose(rng: random.Random) -> str:
    out: List[str] = []
    size = 0
    while size < SIZE:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:SIZE]


def json_text(rng: random.Random) -> str:
    rows = []
    while len(json.dumps(rows)) < SIZE:
        rows.append(
            {
                "id": rng.randrange(10**9),
                "created_at": f"2024-03-{rng.randrange(1, 29):02d}T12:{rng.randrange(60):02d}:00Z",
                "key": rng.choice(["region", "team", "plan"]),
                "token_count": rng.randrange(5000),
                "name": rng.choice(WORDS),
                "score": round(rng.random(), 4),
            }
        )
    return json.dumps(rows)[:SIZE]


def with_secrets(rng: random.Random) -> str:
    text = prose(rng)
    step = 2048
    parts = [text[i : i + step] + " " + SECRETS[(i // step) % len(SECRETS)] + " " for i in range(0, len(text), step)]
    return "".join(parts)[:SIZE]


def best_of(fn: Callable[[], object], rounds: int = 7, number: int = 30) -> float:
    """Seconds per call: the best of ``rounds`` rounds (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def record(prompt: str, answer: str) -> CallRecord:
    rec = CallRecord(api="Converse", operation="chat", request_model="amazon.nova-lite-v1:0")
    rec.system = [text_part("You are a helpful assistant for the finance team. Answer briefly.")]
    rec.input_messages = [
        message("user", [text_part(prompt)]),
        message("assistant", [tool_call_part("t1", "get_report", {"quarter": "Q3", "region": "eu-west-1"})]),
        message("user", [tool_response_part("t1", {"revenue": 1234567, "currency": "EUR", "notes": "on plan"})]),
    ]
    rec.output_messages = [message("assistant", [text_part(answer)])]
    return rec


def main() -> None:
    rng = random.Random(7)
    texts: Dict[str, str] = {"prose": prose(rng), "json": json_text(rng), "secrets": with_secrets(rng)}
    policies = {
        "secrets (default)": ContentPolicy(SECRET_DETECTORS, environ={}, plugins=False),
        "secrets + PII": ContentPolicy(SECRET_DETECTORS + PII_DETECTORS, environ={}, plugins=False),
    }
    kb = SIZE / 1024
    print(f"Python {sys.version.split()[0]}; best of 7 rounds; microseconds per KB of text")
    print(f"{'detectors':<20}" + "".join(f"{name:>12}" for name in texts))
    for label, policy in policies.items():
        row = [best_of(lambda t=t: policy.content(t)) / kb * 1e6 for t in texts.values()]
        print(f"{label:<20}" + "".join(f"{v:>12.1f}" for v in row))

    prompt = "Summarise the Q3 revenue for the EU region and compare it with the plan. " * 3
    answer = "Q3 revenue in the EU was 1.23M EUR, on plan; growth came from two new teams. " * 3
    print()
    print("whole record (system prompt, 3 input messages with a tool call and result, 1 answer;")
    print(f"{len(prompt) + len(answer)} characters of text): microseconds per record")
    for label, policy in policies.items():
        seconds = best_of(lambda: policy.apply(record(prompt, answer)), number=300) - best_of(
            lambda: record(prompt, answer), number=300
        )
        print(f"{label:<20}{seconds * 1e6:>12.1f}")


if __name__ == "__main__":
    main()
