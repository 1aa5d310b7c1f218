"""Ordinary text that holds no secret, to count how often redaction replaces something
it should not (the false-positive rate): prose, code, UUIDs, git object ids, base64,
numbers and JSON. Generated here from a fixed seed (no text copied from anywhere), so
the rate is the same on every run; printed by ``scripts/bench_redaction.py`` and
bounded in ``test_properties.py``."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from typing import List, Tuple

# prose, including the words the detectors look for, used as people use them
SUBJECTS = [
    "The team", "Our customer", "The model", "This report", "The key finding", "The password reset flow",
    "A bearer bond", "The secret ingredient", "The access token cache", "Authorization from the manager",
    "The API", "The signature on the contract", "Each session", "The private key holder", "The credit line",
]
VERBS = ["explains", "needs", "shows", "depends on", "was approved by", "improves", "replaces", "is described in"]
OBJECTS = [
    "the quarterly revenue growth", "a new pricing plan", "the key to success", "the bearer of bad news",
    "the token economy", "a secret santa list", "the password policy of 2024", "an access key rotation schedule",
    "the signature dish", "section 4.2 of the guide", "three teams in two regions", "the latency budget of 250 ms",
    "version 1.4.2", "the release on 2024-03-15", "order number 48213", "room 101 on floor 3",
]
ENDINGS = [".", "!", "?", " today.", " as planned.", ", see page 12.", " (draft)."]

CODE = [
    "def get_user(user_id: int) -> User:\n    return db.get(User, user_id)",
    "const token = await getToken(request);",
    "if password is None:\n    raise ValueError('password required')",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id LIMIT 50;",
    "for (let i = 0; i < keys.length; i++) { total += map[keys[i]]; }",
    "headers = {'Content-Type': 'application/json', 'Accept': 'application/json'}",
    "secret_santa = random.sample(names, k=len(names))",
    "private_key_path = Path.home() / '.ssh' / 'id_ed25519'",
    "x = np.linspace(0, 1, 1000)\ny = np.sin(2 * np.pi * x)",
    "git commit -m 'fix: handle empty api response'",
    "access_token_ttl_seconds = 3600",
    "curl -s https://example.com/health | jq .status",
    "docker run --rm -p 8080:8080 app:1.2.3",
    "assert len(signature_bytes) == 64",
    "password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
    "def authorize(request):\n    return request.user.is_staff",
    "token_count = len(tokenizer.encode(text))",
    "AWS_REGION=us-east-1 python deploy.py --stage prod",
    "kubectl get pods -n payments -o wide",
    "SECRET_NAME = 'prod/payments/db'",
    "api_key = os.environ['OPENAI_API_KEY']",
    "password = getpass.getpass(prompt='Password: ')",
    "token = request.headers.get('Authorization', '')",
    "headers['Authorization'] = f'Bearer {token}'",
    "client_secret = load_secret(name)",
    "const apiKey = process.env.API_KEY;",
    "if (!accessToken) throw new Error('missing access token');",
    "export AWS_PROFILE=dev",
    "- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef: {name: db, key: password}",
]


def _prose(rng: random.Random) -> str:
    return " ".join(
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(ENDINGS)}" for _ in range(rng.randint(1, 4))
    )


def _number(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return str(rng.randrange(10**9))  # an id
    if kind == 1:
        return str(rng.randrange(1_600_000_000, 1_800_000_000))  # a time stamp in seconds
    if kind == 2:
        return str(rng.randrange(1_600_000_000_000, 1_800_000_000_000))  # in milliseconds
    if kind == 3:
        return f"{rng.uniform(-1000, 1000):.{rng.randint(1, 6)}f}"
    if kind == 4:
        return f"{rng.randrange(1, 10**6):,}.{rng.randrange(100):02d}"  # an amount
    if kind == 5:
        return f"{rng.randint(1, 20)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"  # a version
    if kind == 6:
        return f"{rng.randrange(2020, 2027)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
    return str(rng.randrange(10**18, 2 * 10**18))  # a 19-digit snowflake id (starts with 1)


def _json(rng: random.Random) -> str:
    rows = [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "name": rng.choice(OBJECTS),
            "count": rng.randrange(10_000),
            "score": round(rng.random(), 4),
            "updated_at": _number(rng),
            "key": rng.choice(["region", "team", "plan"]),
            "token_count": rng.randrange(5000),
        }
        for _ in range(rng.randint(1, 4))
    ]
    return json.dumps(rows)


def corpus(seed: int = 20241201, per_kind: int = 300) -> List[Tuple[str, str]]:
    """(kind, text) pairs of ordinary text, ``per_kind`` of each kind."""
    rng = random.Random(seed)
    out: List[Tuple[str, str]] = []
    for _ in range(per_kind):
        out.append(("prose", _prose(rng)))
        out.append(("code", rng.choice(CODE) if rng.random() < 0.5 else "\n".join(rng.sample(CODE, 3))))
        out.append(("uuid", str(uuid.UUID(int=rng.getrandbits(128), version=4))))
        digest = hashlib.sha1(rng.randbytes(16)).hexdigest()
        out.append(("git sha", f"commit {digest}" if rng.random() < 0.5 else f"fixed in {digest[:7]} and {digest[:12]}"))
        raw = rng.randbytes(rng.choice((12, 16, 24, 30, 32, 48, 64, 96)))
        out.append(("base64", base64.b64encode(raw).decode() if rng.random() < 0.7 else base64.urlsafe_b64encode(raw).decode()))
        out.append(("numbers", " ".join(_number(rng) for _ in range(rng.randint(1, 6)))))
        out.append(("json", _json(rng)))
    return out
