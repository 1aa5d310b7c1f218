#!/usr/bin/env python3
"""What redaction costs: microseconds per KB of text, per typical call record, on
adversarial text, and how often ordinary text is redacted by mistake.

Run: ``.venv/bin/python scripts/bench_redaction.py`` (about a minute; ``--quick`` for
a few seconds with fewer rounds). Not part of the test suite: timings on a shared
machine vary, so this prints the best of several rounds instead of asserting
anything (the false-positive bound is asserted in ``tests/privacy/test_properties.py``).

Typical texts (each 16 KiB, measured whole, so the per-KB figure includes no per-call
overhead; per-call overhead shows in the record figures):

- ``prose``: English prose, a few numbers, no secret (most prompts);
- ``json``: a JSON tool result with ids, timestamps, keys and tokens named in it
  but no secret (the busiest case for the context rules and digit gates);
- ``secrets``: prose with a secret of every built-in kind every ~2 KB.

Adversarial texts (16 KiB each, what an end user can put in a prompt to make
redaction slow): repeated markers and near-matches of every detector, long digit
runs, long runs of ``=`` and ``:`` after key names, base64 blobs. The table gives
each one's cost per KB and its ratio to the typical dense-JSON cost.
"""

from __future__ import annotations

import base64
import json
import random
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def fill(unit: str) -> str:
    """``unit`` repeated to :data:`SIZE` characters."""
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


def adversarial(rng: random.Random) -> Dict[str, str]:
    """Texts built to make each detector work hard (near-matches that fail late)."""
    b64 = base64.b64encode(rng.randbytes(SIZE)).decode()[:SIZE]
    wrapped = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))[:SIZE]
    return {
        "pem BEGIN x500": fill("-----BEGIN RSA PRIVATE KEY-----"),
        "pem BEGIN + body": fill("-----BEGIN PRIVATE KEY-----\n" + "QUJD" * 16 + "\n"),
        "pem label near": fill("-----BEGIN " + "A" * 40 + " "),
        "base64 blob": b64,
        "base64 lines": wrapped,
        "digits": fill("4"),
        "digit groups": fill("4111 "),
        "card after card": fill("4010 "),  # every four groups in a row are a card
        "16-digit numbers": fill("4111111111111112 "),  # card-shaped, failing Luhn
        "mixed groups": fill("4111-4111 4111 4111 "),  # card-shaped runs that are not cards
        "digits + dots": fill("1.2.3.4."),
        "phone near": fill("+1 " + "2" * 24 + " "),
        "key = run": "api_key" + "=" * (SIZE - 7),
        "key : run": "password" + ":" * (SIZE - 8),
        "key=key=": fill("api_key="),
        "quote open": fill('password: "' + "x" * 40),
        "akia near": fill("AKIA" + "B" * 15 + " "),
        "akia + b64": fill("AKIAIOSFODNN7EXAMPL " + "a" * 39 + " "),
        "b64 40 runs": fill("a" * 40 + " "),
        "b64 40 + AKIA": "AKIAIOSFODNN7EXAMPLE " + fill("aB" * 20 + " ")[21:],
        "bearer near": fill("Bearer " + "a" * 15 + " "),
        "authorization": fill("Authorization: bearer "),
        "jwt near": fill("eyJ" + "a" * 9 + ".eyJ" + "a" * 9 + " "),
        "sk- no digit": fill("sk-" + "a" * 40 + " "),
        "url userinfo": fill("://" + "u" * 120 + ":"),
        "signature": fill("X-Amz-Signature=" + "0" * 63 + " "),
        "sts prefix": fill("IQoJb3JpZ2lu" + "A" * 30 + " "),
        "email near": fill("a" * 60 + "@b."),
        "ipv6 near": fill("1:2:3:4:5:6:7:"),
        "token words": fill("token secret key password authorization bearer signature "),
    }


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


def false_positives() -> None:
    """How often the ordinary-text corpus of the tests is redacted (by category)."""
    try:
        from tests.privacy.corpus import corpus
    except ImportError:  # an older tree without the corpus
        return
    items = corpus()
    print()
    print("false positives on the ordinary-text corpus (tests/privacy/corpus.py): items redacted / items")
    for label, detectors in (("secrets (default)", SECRET_DETECTORS), ("secrets + PII", SECRET_DETECTORS + PII_DETECTORS)):
        policy = ContentPolicy(detectors, environ={}, plugins=False)
        by_kind: Dict[str, List[int]] = {}
        for kind, text in items:
            counts = by_kind.setdefault(kind, [0, 0])
            counts[0] += policy.content(text)[1] > 0
            counts[1] += 1
        total = sum(c[0] for c in by_kind.values()), sum(c[1] for c in by_kind.values())
        cells = ", ".join(f"{kind} {hit}/{n}" for kind, (hit, n) in by_kind.items())
        print(f"{label:<20}{total[0]}/{total[1]} = {100 * total[0] / total[1]:.2f}%  ({cells})")


def main() -> None:
    quick = "--quick" in sys.argv
    rounds, number = (3, 5) if quick else (7, 30)
    rng = random.Random(7)
    texts: Dict[str, str] = {"prose": prose(rng), "json": json_text(rng), "secrets": with_secrets(rng)}
    policies = {
        "secrets (default)": ContentPolicy(SECRET_DETECTORS, environ={}, plugins=False, budget_chars=0),
        "secrets + PII": ContentPolicy(SECRET_DETECTORS + PII_DETECTORS, environ={}, plugins=False, budget_chars=0),
    } if "budget_chars" in ContentPolicy.__init__.__code__.co_varnames else {
        "secrets (default)": ContentPolicy(SECRET_DETECTORS, environ={}, plugins=False),
        "secrets + PII": ContentPolicy(SECRET_DETECTORS + PII_DETECTORS, environ={}, plugins=False),
    }
    kb = SIZE / 1024
    print(f"Python {sys.version.split()[0]}; best of {rounds} rounds; microseconds per KB of text")
    print(f"{'detectors':<20}" + "".join(f"{name:>12}" for name in texts))
    typical: Dict[str, float] = {}
    for label, policy in policies.items():
        row = [best_of(lambda t=t: policy.content(t), rounds, number) / kb * 1e6 for t in texts.values()]
        typical[label] = row[1]
        print(f"{label:<20}" + "".join(f"{v:>12.1f}" for v in row))

    prompt = "Summarise the Q3 revenue for the EU region and compare it with the plan. " * 3
    answer = "Q3 revenue in the EU was 1.23M EUR, on plan; growth came from two new teams. " * 3
    print()
    print("whole record (system prompt, 3 input messages with a tool call and result, 1 answer;")
    print(f"{len(prompt) + len(answer)} characters of text): microseconds per record")
    for label, policy in policies.items():
        seconds = best_of(lambda: policy.apply(record(prompt, answer)), rounds, number * 10) - best_of(
            lambda: record(prompt, answer), rounds, number * 10
        )
        print(f"{label:<20}{seconds * 1e6:>12.1f}")

    print()
    print("adversarial texts (16 KiB each): microseconds per KB, and x the typical dense-JSON cost")
    print(f"{'text':<20}" + "".join(f"{label:>26}" for label in policies))
    worst = {label: ("", 0.0) for label in policies}
    for name, text in adversarial(rng).items():
        cells = []
        for label, policy in policies.items():
            per_kb = best_of(lambda t=text: policy.content(t), rounds, max(1, number // 3)) / kb * 1e6
            ratio = per_kb / typical[label]
            if ratio > worst[label][1]:
                worst[label] = (name, ratio)
            cells.append(f"{per_kb:>16.1f} {ratio:>7.2f}x")
        print(f"{name:<20}" + "".join(f"{c:>26}" for c in cells))
    for label, (name, ratio) in worst.items():
        print(f"worst, {label}: {name} at {ratio:.2f}x the typical dense-JSON cost")

    false_positives()


if __name__ == "__main__":
    main()
