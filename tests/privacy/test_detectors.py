"""Each built-in detector: what it must redact, and what it must leave alone.

The secrets here are the documentation examples AWS, GitHub and others publish, or
random strings of the same shape; none is live.
"""

from __future__ import annotations

from typing import List

import pytest

from genai_tap.privacy import CREDENTIAL_DETECTORS, PII_DETECTORS, SECRET_DETECTORS, detectors, marker
from genai_tap.privacy.rules import Redactor

from .samples import ACCESS_KEY, JWT, PEM, SECRET_KEY, SESSION_TOKEN, SIGNATURE, TEMP_KEY


def redact(text: str, *names: str) -> str:
    """``text`` through the named detectors (all secret ones when none is named)."""
    rules = [rule for name in (names or SECRET_DETECTORS) for rule in detectors.rules(name, {})]
    return Redactor(tuple(rules))(text)[0]


def kinds(text: str) -> List[str]:
    """The marker kinds in ``text``, in order."""
    out = []
    start = text.find("[REDACTED:")
    while start != -1:
        end = text.index("]", start)
        out.append(text[start + len("[REDACTED:") : end])
        start = text.find("[REDACTED:", end)
    return out


def test_names_match_the_catalogue() -> None:
    assert set(detectors.names()) == set(SECRET_DETECTORS + PII_DETECTORS)
    assert set(CREDENTIAL_DETECTORS) <= set(SECRET_DETECTORS)
    assert marker("aws_access_key") == "[REDACTED:aws_access_key]"


# ------------------------------------------------------------------ AWS credentials
@pytest.mark.parametrize(
    "text, expected",
    [
        (f"my key is {ACCESS_KEY}.", "my key is [REDACTED:aws_access_key]."),
        (f"temporary: {TEMP_KEY}", "temporary: [REDACTED:aws_access_key]"),
        (f'{{"AccessKeyId":"{TEMP_KEY}"}}', '{"AccessKeyId":"[REDACTED:aws_access_key]"}'),
        (f"X-Amz-Credential={ACCESS_KEY}%2F20240101%2Fus-east-1", "X-Amz-Credential=[REDACTED:aws_access_key]%2F20240101%2Fus-east-1"),
    ],
)
def test_aws_access_key_ids(text: str, expected: str) -> None:
    assert redact(text, "aws_access_key") == expected


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPLEX",  # 21 characters: not a key ID
        "XAKIAIOSFODNN7EXAMPLE",  # inside a longer word
        "AKIA is how the ID starts",
        "akiaiosfodnn7example",  # key IDs are upper case
        "ASIAN FOOD MARKET 2024",
    ],
)
def test_not_aws_access_key_ids(text: str) -> None:
    assert redact(text, "aws_access_key") == text


@pytest.mark.parametrize(
    "text",
    [
        f"aws_secret_access_key = {SECRET_KEY}",
        f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}",
        f'"SecretAccessKey": "{SECRET_KEY}"',
        f"secret_key: '{SECRET_KEY}'",
        f"export AWS_SECRET_ACCESS_KEY=\"{SECRET_KEY}\"",
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n",
        f"key {ACCESS_KEY} secret {SECRET_KEY}",  # next to a key ID
        f"{SECRET_KEY},{ACCESS_KEY}",  # before it (credentials CSV order varies)
    ],
)
def test_aws_secret_keys_in_context(text: str) -> None:
    out = redact(text)
    assert SECRET_KEY not in out
    assert "[REDACTED:aws_secret_key]" in out


@pytest.mark.parametrize(
    "text",
    [
        SECRET_KEY,  # alone: 40 characters of base64 are too common to redact without context
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixed it",  # a git object id
        f"git object 9fceb02d0ae598e95dc970b74767f19372d61af8 for {ACCESS_KEY}",  # hex, near a key ID: not mixed case
        "secret_key = not-forty-characters",
    ],
)
def test_aws_secret_keys_not_without_context(text: str) -> None:
    assert "[REDACTED:aws_secret_key]" not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        f"x-amz-security-token:{SESSION_TOKEN}",
        f"X-Amz-Security-Token: {SESSION_TOKEN}",
        f"aws_session_token = {SESSION_TOKEN}",
        f'"SessionToken": "{SESSION_TOKEN}"',
        f"a token on its own: {SESSION_TOKEN} (by its prefix)",
        "FwoGZXIvYXdzEBYaDGz8kYgV5mL0n3Bq1CKwAVf2s9d8H1jK0pLqRtYuI7oP3aSdF6gH9jK2lZxC4vBn",
    ],
)
def test_aws_session_tokens(text: str) -> None:
    out = redact(text, "aws_session_token")
    assert kinds(out) == ["aws_session_token"]
    assert "IQoJb3JpZ2lu" not in out and "FwoGZXIvYXdz" not in out


def test_not_session_tokens() -> None:
    for text in ("the session token expired", "session_token = short", "token: 12345"):
        assert redact(text, "aws_session_token") == text


def test_aws_signatures() -> None:
    url = f"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={SIGNATURE}&x=1"
    assert redact(url, "aws_signature") == url.replace(SIGNATURE, "[REDACTED:aws_signature]")
    assert redact("the signature = abc", "aws_signature") == "the signature = abc"


# ------------------------------------------------------------------ tokens and keys
@pytest.mark.parametrize(
    "text, kept",
    [
        (f"Authorization: Bearer {JWT}", "Authorization: "),
        ("authorization=Bearer%20abc123def456ghi789", "authorization="),
        ('{"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}', '{"Authorization": "'),
        (
            f"Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/us-east-1/bedrock/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}\nnext line",
            "Authorization: ",
        ),
        ("curl -H 'Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b'", "curl -H 'Authorization: "),
        ("use Bearer abcdef0123456789abcdef please", "use Bearer "),
        (f"jwt={JWT}", "jwt="),
    ],
)
def test_bearer_tokens(text: str, kept: str) -> None:
    out = redact(text)
    assert out.startswith(kept)
    assert "[REDACTED:bearer_token]" in out
    assert JWT not in out and "dXNlcjpw" not in out and SIGNATURE not in out and ACCESS_KEY not in out
    assert "next line" in out or "next line" not in text


@pytest.mark.parametrize(
    "text",
    [
        "the bearer of bad news",
        "Bearer tokens are described in RFC 6750",
        "Bearer abcdefghijklmnopqrstuvwxyz",  # no digit: more likely prose or a placeholder
        "Authorization: please ask the admin",
        "the authorization header is missing",
    ],
)
def test_not_bearer_tokens(text: str) -> None:
    assert redact(text, "bearer_token") == text


@pytest.mark.parametrize(
    "key",
    [
        "sk-proj-abcdEFGH1234ijklMNOP5678qrstUVWX",
        "sk-ant-api03-abcdEFGH1234ijklMNOP5678qrstUVWXyz",
        "sk-abcdefghij1234567890ABCDEFGHIJ",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "glpat-abcdEFGH1234ijklMNOP",
        "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "hf_abcdefghijklmnopqrstuvwxyzABCDEF12",
    ],
)
def test_api_keys_by_prefix(key: str) -> None:
    assert redact(f"key: {key}, done", "api_key") == "key: [REDACTED:api_key], done"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("api_key=abcd1234efgh5678", "api_key=[REDACTED:api_key]"),
        ('{"x-api-key": "ZZZZZZZZZZZZ9999"}', '{"x-api-key": "[REDACTED:api_key]"}'),
        ("OPENAI_API_KEY: not-a-real-key-but-secret", "OPENAI_API_KEY: [REDACTED:api_key]"),
        ("client_secret = 8f2b1c0d9e7a6b5c", "client_secret = [REDACTED:api_key]"),
        ("access_token: ya29.a0AfH6SMBx", "access_token: [REDACTED:api_key]"),
    ],
)
def test_api_keys_by_name(text: str, expected: str) -> None:
    assert redact(text, "api_key") == expected


@pytest.mark.parametrize(
    "text",
    [
        "the task-management-system-overview document",  # "sk-" inside a word
        "sk-learn is a library",
        "the api key is stored in the vault",  # no assignment
        "api_key=short",  # too short to be a key
        "a desk-lamp-with-a-very-long-hyphenated-name",
        "monkey: banana bananas",  # "key" inside a word
    ],
)
def test_not_api_keys(text: str) -> None:
    assert redact(text, "api_key") == text


@pytest.mark.parametrize(
    "code",
    [
        "api_key = os.environ['OPENAI_API_KEY']",  # read from somewhere: a call or a subscript
        "password = getpass.getpass(prompt='Password: ')",
        "client_secret = load_secret(name)",
        "const apiKey = process.env.API_KEY;",  # a dotted name that names a secret
        "password: settings.DB_PASSWORD",
        "API_KEY=$OPENAI_API_KEY",  # a variable
    ],
)
def test_code_that_names_a_secret_is_not_one(code: str) -> None:
    assert redact(code) == code


def test_a_value_that_runs_into_the_next_name() -> None:
    """A value goes on up to a space, so it can hold the next name; that name's value is
    found all the same."""
    out = redact("api_key=abcd1234:x-api-key: efgh5678 done")
    assert out == "api_key=[REDACTED:api_key] [REDACTED:api_key] done"


def test_passwords() -> None:
    assert redact("password: hunter22", "password") == "password: [REDACTED:password]"
    assert redact('{"passwd": "s3cr3t!"}', "password") == '{"passwd": "[REDACTED:password]"}'
    assert redact("Server=db;Uid=app;Pwd=Sup3rS3cret;", "password") == "Server=db;Uid=app;Pwd=[REDACTED:password];"
    assert redact("https://bob:s3cr3t@example.com/x", "password") == "https://bob:[REDACTED:password]@example.com/x"
    for text in ("forgot my password again", "the passport office", "https://example.com/a:b"):
        assert redact(text, "password") == text


# ------------------------------------------------------------------ private keys
def test_pem_private_keys() -> None:
    out = redact(f"here:\n{PEM}\nafter")
    assert out == "here:\n[REDACTED:private_key]\nafter"
    for label in ("PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
        pem = PEM.replace("RSA PRIVATE KEY", label)
        assert redact(pem, "private_key") == "[REDACTED:private_key]"


def test_pem_private_key_without_its_end() -> None:
    cut = PEM.rsplit("\n", 2)[0]  # no END line: pasted in part, or cut by a limit
    assert redact(f"{cut}\nand then a question about it?", "private_key") == (
        "[REDACTED:private_key]\nand then a question about it?"
    )
    escaped = cut.replace("\n", "\\n")  # inside a JSON string
    assert redact(escaped, "private_key") == "[REDACTED:private_key]"


def test_public_keys_and_certificates_are_not_private() -> None:
    for label in ("PUBLIC KEY", "CERTIFICATE"):
        pem = PEM.replace("RSA PRIVATE KEY", label)
        assert redact(pem, "private_key") == pem


# ------------------------------------------------------------------ credit cards
@pytest.mark.parametrize(
    "number",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004", "3782 822463 10005", "6011000990139424"],
)
def test_credit_cards(number: str) -> None:
    assert redact(f"card {number} expires 12/27", "credit_card") == "card [REDACTED:credit_card] expires 12/27"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4111 1111 1111 1111 4242 4242 4242 4242", "[REDACTED:credit_card] [REDACTED:credit_card]"),
        ("order 42 4111-1111-1111-1111 ok", "order 42 [REDACTED:credit_card] ok"),
        ("paid 2024-03-15 4111 1111 1111 1111 2027", "paid 2024-03-15 [REDACTED:credit_card] 2027"),
        ("ids 1234 5678 9012 3456 7890", "ids 1234 5678 9012 3456 7890"),  # no four groups in a row make a card
        ("2000000000008 42", "[REDACTED:credit_card] 42"),  # a card and a number after it
        ("19 digits: 4111 1111 1111 1112 118.", "19 digits: [REDACTED:credit_card]."),  # 4-4-4-4-3
        ("1234 2000000000008", "1234 [REDACTED:credit_card]"),
    ],
)
def test_cards_in_longer_runs_of_digits(text: str, expected: str) -> None:
    assert redact(text, "credit_card") == expected


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "order 1234567890123",  # Luhn fails
        "id 7992739871300",  # Luhn passes, but no card network starts with 7
        "4111 1111-1111 1111",  # mixed separators
        "41 11 11 11 11 11 11 11",  # not grouped like a card
        "timestamp 1700000000000 ms",
        "12345678901234567890123",  # too long
        "commit 6e36b70c75dacad4111111111111111df3c9cc7977",  # inside a hex digest
        "pi is about 3.4111111111111111",  # after a decimal point
        "405987672 1746803521",  # an id and a time stamp: not grouped as cards are
    ],
)
def test_not_credit_cards(text: str) -> None:
    assert redact(text, "credit_card") == text


# ------------------------------------------------------------------ personal data
def test_emails() -> None:
    assert redact("mail bob.smith+x@example.co.uk now", "email") == "mail [REDACTED:email] now"
    for text in ("@mention in chat", "user@localhost", "a @ b . c"):
        assert redact(text, "email") == text


@pytest.mark.parametrize("number", ["+1 (555) 123-4567", "+44 20 7946 0958", "+33 1 23 45 67 89", "(555) 123-4567", "555-123-4567", "555.123.4567"])
def test_phone_numbers(number: str) -> None:
    assert redact(f"call {number} today", "phone") == "call [REDACTED:phone] today"


def test_a_phone_number_does_not_swallow_the_next_number() -> None:
    assert redact("call +44 20 7946 0958 1234 5678", "phone") == "call [REDACTED:phone] 1234 5678"  # 16 digits: too many
    assert redact("call +44 20 7946 0958 12 times", "phone") == "call [REDACTED:phone] times"  # 14: could be one number
    # addresses are found before phone numbers
    assert redact("call +44 20 7946 0958 10.0.0.1 now", *PII_DETECTORS) == "call [REDACTED:phone] [REDACTED:ipv4] now"


@pytest.mark.parametrize("text", ["on 2024-01-15 at 12:30:45", "version 1.2.3", "+1 vote", "room 101, floor 3", "ISBN 978-3-16"])
def test_not_phone_numbers(text: str) -> None:
    assert redact(text, "phone") == text


def test_ip_addresses() -> None:
    text = "from 192.168.10.254 and 2001:db8::8a2e:370:7334 and fe80::1%eth0"
    assert redact(text, "ipv6", "ipv4") == "from [REDACTED:ipv4] and [REDACTED:ipv6] and [REDACTED:ipv6]"
    for text in ("version 1.2.3", "999.1.1.1", "at 12:30:45", "::1 is loopback", "std::vector<int>", "a[::2]", "01.02.03.04"):
        assert redact(text, "ipv6", "ipv4") == text


def test_personal_data_is_not_a_secret() -> None:
    text = "mail bob@example.com or call +44 20 7946 0958 from 10.0.0.1"
    assert redact(text) == text  # the default (secret) detectors leave it alone


# ------------------------------------------------------------------ the process's own secrets
def test_environment_secrets_are_redacted_wherever_they_appear() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAZZZZZZZZZZZZZZZZ",
        "AWS_SECRET_ACCESS_KEY": "plainlowercasesecretwithnostructure12",  # no shape a regex would know
        "MY_SERVICE_TOKEN": "tok-1234567890",
        "DEBUG": "this-is-not-a-secret-name",
        "SHORT_KEY": "tiny",  # too short to be worth matching (AWS_SECRET_ACCESS_KEY=testing in tests)
    }
    rules = tuple(detectors.env_rules(env))
    out = Redactor(rules)(
        "id AKIAZZZZZZZZZZZZZZZZ secret plainlowercasesecretwithnostructure12 tok-1234567890 "
        "this-is-not-a-secret-name tiny"
    )[0]
    assert out == (
        "id [REDACTED:aws_access_key] secret [REDACTED:aws_secret_key] [REDACTED:env_secret] "
        "this-is-not-a-secret-name tiny"
    )


def test_case_insensitive_rules_survive_text_whose_lower_case_is_longer() -> None:
    # "İ".lower() is two characters: positions in the lower-cased text would be wrong
    text = "İİİ API_KEY=abcd1234efgh5678 and Authorization: Bearer abcdef0123456789abcdef"
    assert redact(text) == "İİİ API_KEY=[REDACTED:api_key] and Authorization: [REDACTED:bearer_token]"


def test_markers_are_never_redacted_again() -> None:
    """Every detector on, twice over: the second pass finds nothing to do."""
    everything = SECRET_DETECTORS + PII_DETECTORS
    samples = [
        f"aws_secret_access_key = {SECRET_KEY}; AWS_SESSION_TOKEN='{SESSION_TOKEN}'",
        f'{{"password": "{ACCESS_KEY}", "api_key": "{JWT}", "Authorization": "Bearer {JWT}"}}',
        f"secret_key: '{SECRET_KEY}' token={SESSION_TOKEN} pwd={TEMP_KEY}",
        f"X-Amz-Signature={SIGNATURE}&X-Amz-Security-Token={SESSION_TOKEN}",
        f"{PEM}\ncard 4111 1111 1111 1111 bob@example.com +44 20 7946 0958 10.0.0.1 2001:db8::1",
    ]
    for text in samples:
        once = redact(text, *everything)
        assert once != text
        rules = tuple(rule for name in everything for rule in detectors.rules(name, {}))
        assert Redactor(rules)(once) == (once, 0), once


def test_text_holding_the_digit_placeholder_character() -> None:
    """Digit rules search a copy with every digit as NUL: real NULs must not confuse them."""
    text = "a \x00.\x00.\x00.\x00 b \x00\x00\x00\x00 \x00\x00\x00\x00 \x00\x00\x00\x00 \x00\x00\x00\x00 +\x00\x00 \x00\x00\x00\x00 \x00\x00\x00\x00"
    assert redact(text, *SECRET_DETECTORS, *PII_DETECTORS) == text


def test_arbitrary_text_never_makes_a_detector_raise() -> None:
    """Random text from an alphabet rich in what the rules look at (seeded, repeatable)."""
    import random

    rng = random.Random(20240607)
    alphabet = "0123456789 -.:=@+()_/\\\"'\n\tAKISaksxyz%İß€\x00[]{}" + "eyJ" + "ABCDEF"
    words = ["AKIA", "ASIA", "token", "secret", "key", "Bearer ", "Authorization: ", "password=", "-----BEGIN PRIVATE KEY-----", "sk-", "://", "::"]
    rules = tuple(rule for name in SECRET_DETECTORS + PII_DETECTORS for rule in detectors.rules(name, {}))
    redactor = Redactor(rules)
    for _ in range(1500):
        pieces = [rng.choice(words) if rng.random() < 0.2 else "".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(rng.randint(1, 30))]
        text = "".join(pieces)
        out, count = redactor(text)
        assert isinstance(out, str) and count >= 0
