"""The built-in detectors: what each one finds, and what it deliberately leaves alone.

A detector is a name (used in ``GENAI_TAP_REDACT`` and in the marker) and one or
more rules. They run in the order of :data:`genai_tap.privacy.SECRET_DETECTORS`
then :data:`~genai_tap.privacy.PII_DETECTORS`: exact known secrets first, then
whole PEM blocks (so their base64 is not chewed by later rules), AWS secret keys
before AWS access key IDs (the secret is found next to the key ID), card numbers
and IP addresses before phone numbers (which would run into them).

Choices made against false positives, each covered by a test:

- An AWS secret access key is 40 characters of base64, like many other things
  (git object ids are 40 hex characters), so it is only redacted in context: after
  a name such as ``aws_secret_access_key =`` or ``"SecretAccessKey":``, or within
  100 characters of an access key ID, and then only if it mixes upper and lower
  case. A bare 40-character string is left alone; the process's own secret key is
  still caught anywhere by ``env_secret``.
- A credit-card number is 13 to 19 digits starting with 2 to 6 (the card
  networks' ranges), unbroken or grouped as cards print them (a first group of 4,
  then groups of 3 to 6) with one kind of separator (space or dash), and must pass
  the Luhn check; in a longer run of groups of four, any four in a row that make one
  (cards listed one after another, a card after another number).
- Digit rules search a copy of the text where every digit is ``\x00``; a text
  that holds ``\x00`` itself can make them match, and the validators, which see
  the original text, then say no.
- A standalone ``Bearer xyz`` needs 16 token characters including a digit, so
  prose ("the bearer of bad news") is untouched; after ``Authorization:`` any
  scheme's value is redacted.
- ``sk-`` keys need 20 characters after the prefix and a digit, and must not
  follow a letter ("task-...").
- An IPv6 candidate is checked with :mod:`ipaddress`; loopback and unspecified
  addresses and time stamps (``12:30:45``) are not redacted.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from itertools import accumulate
from operator import sub
from collections.abc import Mapping
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from . import PII_DETECTORS, SECRET_DETECTORS
from .rules import DIGIT, DIGITS, LOWER, ORIGINAL, LiteralRule, RegexRule, Rule, Span, Text

# A value after ``name =`` / ``name: `` / ``"name": "``, as in env files, YAML, JSON, headers.
_ASSIGN = r"""(?:["']?\s*(?:=>|[:=])\s*["']?)"""
# Characters of a token-like value; stops at spaces, quotes, separators and markers.
_TOKEN = r"""[^\s"'`,;{}<>\[\]()]"""


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _mixed_case(value: str) -> bool:
    return any(c.isupper() for c in value) and any(c.islower() for c in value)


def luhn(digits: str) -> bool:
    """The Luhn checksum of a string of ASCII digits: the sums of its groups of four
    from the right (and the group of one to three before them), looked up."""
    total = 0
    end = len(digits)
    while end >= 4:
        total += _GROUP_LUHN[digits[end - 4 : end]]
        end -= 4
    if end:
        total += _HEAD_LUHN[digits[:end]]
    return total % 10 == 0


def _card_number(value: str) -> bool:
    """13 to 19 digits starting with 2 to 6, unbroken or in groups as cards print them
    (a first group of 4, then groups of 3 to 6: 4-4-4-4, 4-6-5, 4-4-4-4-3) split by one
    kind of separator (space or dash), passing the Luhn check."""
    if value[0] not in "23456" or not value.isascii():
        return False
    if value.isdigit():
        return 13 <= len(value) <= 19 and luhn(value)
    separator = " " if " " in value else "-"
    groups = value.split(separator)
    digits = "".join(groups)
    return (
        digits.isdigit()
        and 13 <= len(digits) <= 19
        and len(groups[0]) == 4
        and all(3 <= len(group) <= 6 for group in groups)
        and luhn(digits)
    )


def _phone_number(value: str) -> "bool | int":
    """8 to 15 digits (E.164); a match that ran on into the next number (``+44 20
    7946 0958 10.0.0.1``) keeps its longest start that is a phone number."""
    digits, best = 0, 0
    for i, c in enumerate(value):
        if "0" <= c <= "9":
            digits += 1
            if digits > 15:
                break
            if 8 <= digits and (i + 1 == len(value) or not "0" <= value[i + 1] <= "9"):
                best = i + 1
    return True if best == len(value) else best


def _ipv6(value: str) -> bool:
    import ipaddress

    try:
        address = ipaddress.IPv6Address(value.split("%", 1)[0])
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified) and sum(c != ":" for c in value) >= 4


def _ipv4(value: str) -> bool:
    """Four decimal octets up to 255, without leading zeros (``01.02.03.04`` is a version)."""
    octets = value.split(".")
    return all(o.isascii() and o.isdigit() and int(o) <= 255 and (o == "0" or o[0] != "0") for o in octets)


def _word(word: str) -> str:
    """``word`` not preceded by a letter or digit, with the check after the word so
    that the pattern still starts with a literal (see :mod:`.rules`)."""
    return f"{word}(?<![a-z0-9]{word})"


def _word_after(word: str, *prefixes: str) -> str:
    """``word`` right after one of ``prefixes`` (``token`` in ``access_token``): the
    pattern starts with ``word`` and looks behind for each full name."""
    return word + "(?:" + "|".join(f"(?<={prefix}{word})" for prefix in prefixes) + ")"


class Spec(NamedTuple):
    """One rule of a detector; see :class:`~genai_tap.privacy.rules.RegexRule`."""

    pattern: str
    trigger: str  # regex, on the lower-cased text, that every match contains
    chars: str = ""
    hints: Tuple[str, ...] = ()
    validate: Optional[Callable[[str], "bool | int"]] = None
    on: str = ORIGINAL
    needs_digit: bool = False


_ASSIGNS = ":="  # every "name = value" rule needs one of these
_SECRET_40 = r"(?<![A-Za-z0-9/+])(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
_PEM_LABEL = r"[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_SEP = ("_", "-", "")  # api_key, api-key, apikey


def _value(shortest: int) -> str:
    """A secret value after ``name =``: all of it when quoted (``"correct horse"``),
    else a run of token characters; never a marker (for rules on the lower-cased text).
    A value right before ``(`` or ``[`` is code (``api_key = os.environ[...]``,
    ``password = getpass.getpass()``): the ``reject`` group says so."""
    return (
        r"(?P<value>(?!\[redacted:)"
        rf"""(?:(?<=")[^"\r\n]{{{shortest},}}(?=")|(?<=')[^'\r\n]{{{shortest},}}(?=')|{_TOKEN}{{{shortest},}}))"""
        r"(?P<reject>(?=[(\[]))?"
    )


def _not_a_reference(value: str) -> bool:
    """False for what names a secret rather than holds one: ``$API_KEY``,
    ``process.env.API_KEY``, ``settings.CLIENT_SECRET`` (a dotted name that says key,
    secret, token or password)."""
    if value.startswith("$"):
        return False
    return not (_DOTTED_NAME.fullmatch(value) and _SECRET_WORD.search(value.lower()))


_DOTTED_NAME = re.compile(r"[A-Za-z_]\w{0,63}(?:\.[A-Za-z_]\w{0,63}){1,7}")
_SECRET_WORD = re.compile(r"key|secret|token|passw|pwd|credential")


_VALUE = _value(8)
# STS session token prefixes (base64 of their binary headers), each with a capital
# letter it contains, so texts without that letter skip the rule at memchr speed
_STS_PREFIXES = (("IQoJb3JpZ2lu", "J"), ("FwoGZXIvYXdz", "G"), ("AQoDYXdz", "D"))
# key prefixes that contain an underscore (rare in prose: a memchr skips them)
_UNDERSCORE_KEYS = (
    r"gh(?<![A-Za-z0-9_-]gh)[pousr]_[A-Za-z0-9]{36,}",  # GitHub tokens
    r"github_pat_(?<![A-Za-z0-9_-]github_pat_)[A-Za-z0-9_]{22,}",  # GitHub fine-grained tokens
    r"sk_(?<![A-Za-z0-9_-]sk_)(?:live|test)_[0-9A-Za-z]{16,}",  # Stripe secret keys
    r"rk_(?<![A-Za-z0-9_-]rk_)(?:live|test)_[0-9A-Za-z]{16,}",  # Stripe restricted keys
    r"hf_(?<![A-Za-z0-9_-]hf_)[A-Za-z0-9]{30,}",  # Hugging Face
    r"npm_(?<![A-Za-z0-9_-]npm_)[A-Za-z0-9]{36}",  # npm
)


def _assignment(trigger: str, name: str, value: str = _VALUE) -> Spec:
    """``name = value`` (``name`` a pattern led by the literal ``trigger``)."""
    check = _not_a_reference if "(?P<reject>" in value else None
    return Spec(name + _ASSIGN + value, trigger, chars=_ASSIGNS, on=LOWER, validate=check)


def _literal_prefix(pattern: str) -> str:
    """The trigger of a pattern that starts with a literal: that literal, lower-cased."""
    literal = re.match(r"[A-Za-z0-9_-]+", pattern)
    assert literal is not None, pattern
    return re.escape(literal.group().lower())


#: detector name -> its rules, in the order they run
SPECS: Dict[str, Tuple[Spec, ...]] = {
    "aws_secret_key": (
        # aws_secret_access_key = ..., "SecretAccessKey": "...", secret_key: ...
        _assignment(
            "secret",
            r"secret(?:(?<![a-z0-9]secret)|(?<=aws_secret)|(?<=awssecret))_?(?:access_?)?key",
            _SECRET_40,
        ),
        # (and next to an access key ID: PairRule)
    ),
    "aws_session_token": (
        _assignment(
            "token",
            _word_after("token", "x-amz-security-", "aws_session_", "aws_security_", "session_", "session-", "session"),
            r"(?P<value>[a-z0-9/+=%]{16,})",
        ),
    )
    + tuple(Spec(prefix + r"[A-Za-z0-9/+=%]{40,}", prefix.lower(), chars=letter) for prefix, letter in _STS_PREFIXES),
    "aws_access_key": (
        Spec(
            r"A(?<![A-Z0-9]A)(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])",
            "akia|asia|abia|acca|a3t",
            chars="KSBC3",
        ),
    ),
    "aws_signature": (
        # SigV4 signatures (presigned URLs, Authorization headers): valid until they expire
        _assignment(
            "signature",
            r"signature(?:(?<![a-z0-9]signature)|(?<=x-amz-signature))",
            r"(?P<value>[0-9a-f]{64})(?![0-9a-f])",
        ),
    ),
    "bearer_token": (
        # the value of an Authorization header, whatever its scheme (SigV4 included)
        _assignment(
            "authorization",
            r"authorization(?:(?<![a-z0-9-]authorization)|(?<=proxy-authorization))",
            r"(?P<value>(?:bearer|basic|token|digest|negotiate|ntlm|apikey|api-key|oauth|dpop|aws4-hmac-sha256)"
            r"(?:[ \t]+|%20)[^\r\n\"'`]+|[a-z0-9\-._~+/%]{16,}=*)",
        ),
        Spec(
            _word("bearer") + r"(?:[ \t]+|%20)(?P<value>[a-z0-9\-._~+/]{16,}=*)",
            "bearer",
            validate=_has_digit,
            on=LOWER,
            needs_digit=True,
        ),
        # JSON Web Tokens
        Spec(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "eyj", chars="J"),
    ),
    "api_key": (
        # OpenAI and Anthropic keys
        Spec(
            r"sk-(?<![A-Za-z0-9_-]sk-)(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,}",
            "sk-",
            chars="-",
            validate=_has_digit,
            needs_digit=True,
        ),
    )
    + tuple(Spec(pattern, _literal_prefix(pattern), chars="_") for pattern in _UNDERSCORE_KEYS)
    + (
        # Slack, GitLab, Google keys
        Spec(r"x(?<![A-Za-z0-9_-]x)(?:ox[abposre]-[A-Za-z0-9-]{10,}|app-\d-[A-Za-z0-9-]{10,})", "xox|xapp-", chars="-"),
        Spec(r"glpat-(?<![A-Za-z0-9_-]glpat-)[A-Za-z0-9_-]{20,}", "glpat-", chars="-"),
        Spec(r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}", "aiza", chars="z"),
        # api_key=..., "x-api-key": "...", client_secret: ... and the like
        _assignment("key", _word_after("key", *(f"{w}{s}" for w in ("api", "secret") for s in _SEP), "app_", "application_")),
        _assignment("token", _word_after("token", *(f"{w}{s}" for w in ("api", "access", "auth", "refresh", "private") for s in _SEP))),
        _assignment("secret", _word_after("secret", *(f"{w}{s}" for w in ("api", "client", "app") for s in _SEP))),
    ),
    "password": (
        _assignment("pass", r"pass(?<![a-z0-9]pass)(?:word|wd|phrase)", _value(4)),
        _assignment("pwd", _word("pwd"), _value(4)),
        # user:password@host in a URL
        Spec(r"://[^/\s:@\"']{1,128}:(?P<value>[^/\s@\"']{1,256})@", "://", chars="@"),
    ),
    "email": (
        Spec(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
            r"(?![A-Za-z0-9-])",
            "@",
            chars="@",
        ),
    ),
    "ipv6": (
        Spec(
            r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?:%[0-9A-Za-z]{1,16})?(?![\w:])",
            ":[0-9a-f]{0,4}:",
            chars=":",
            validate=_ipv6,
        ),
    ),
    "ipv4": (
        Spec(r"#(?<![\w.#]#)#{0,2}\.#{1,3}\.#{1,3}\.#{1,3}(?![\w#]|\.#)", r"[0-9]\.[0-9]", chars=".", validate=_ipv4, on=DIGITS),
    ),
    "phone": (
        # international, with a leading +
        # (each group of digits taken whole, (?=(#{1,4}))\1, so that a run of digits is
        # not split every possible way before the match fails; a dot and a digit after
        # it are the next number's: +44 20 7946 0958 10.0.0.1)
        Spec(
            r"\+(?<![\w+]\+)[1-9#]#{0,2}(?:[ .-]?\(?(?=(#{1,4}))\1\)?){2,6}(?![\w#]|\.#)",
            r"\+",
            chars="+",
            validate=_phone_number,
            on=DIGITS,
        ),
        # North American: (555) 123-4567, 555-123-4567, 555.123.4567
        Spec(r"\(###\)(?<![\w(#]\(###\)) ?###[-. ]####(?![\w#])", r"\([0-9]{3}\)", chars="(", on=DIGITS),
        # (one kind of separator; not the end of a decimal number, not the start of a date)
        Spec(r"###(?<![\w(#.]###)([-. ])###\1####(?![\w#]|[-.]#)", "[0-9]{4}", on=DIGITS),
    ),
}

# Keys of JSON objects (tool arguments, tool results) whose values are secrets
# whatever they look like: ``{"password": "correct horse battery staple"}``. In
# structured data the value's extent is known, so all of it is replaced; names are
# compared lower-cased without ``_``, ``-`` and spaces. Bare ``token`` and ``key``
# are left out: ``{"token": "hello", "logprob": -0.1}`` is model output.
SECRET_KEYS: Dict[str, str] = {
    **dict.fromkeys(("password", "passwd", "passphrase", "pwd", "userpassword", "dbpassword"), "password"),
    **dict.fromkeys(("awssecretaccesskey", "secretaccesskey", "awssecretkey"), "aws_secret_key"),
    **dict.fromkeys(("awssessiontoken", "sessiontoken", "awssecuritytoken", "securitytoken", "xamzsecuritytoken"), "aws_session_token"),
    **dict.fromkeys(("authorization", "proxyauthorization"), "bearer_token"),
    **dict.fromkeys(
        (
            "apikey", "xapikey", "apitoken", "apisecret", "accesstoken", "authtoken", "refreshtoken", "idtoken",
            "clientsecret", "secret", "secretkey", "privatetoken", "ddapikey", "ddappkey", "appkey", "applicationkey",
        ),
        "api_key",
    ),
    **dict.fromkeys(("privatekey", "sshprivatekey", "privatekeypem"), "private_key"),
}


def secret_key_kind(name: str, enabled: "Tuple[str, ...]") -> Optional[str]:
    """The detector a JSON key's value belongs to, if that detector is on."""
    kind = SECRET_KEYS.get(name.lower().replace("_", "").replace("-", "").replace(" ", ""))
    return kind if kind in enabled else None


# Environment variables whose values are secrets, redacted wherever they appear
# verbatim (marker kind by name; any other ``*_KEY``, ``*_SECRET``, ``*_TOKEN``,
# ``*_PASSWORD`` variable is an ``env_secret``).
ENV_KINDS = {
    "AWS_ACCESS_KEY_ID": "aws_access_key",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_SECURITY_TOKEN": "aws_session_token",
}
ENV_SUFFIXES = ("_KEY", "_KEY_ID", "_SECRET", "_TOKEN", "_PASSWORD", "_PASSWD")
#: Shorter values are not treated as secrets (``AWS_SECRET_ACCESS_KEY=testing`` in tests).
ENV_MIN_LENGTH = 12


def env_rules(environ: Optional[Mapping[str, str]] = None) -> List[Rule]:
    """Exact-value rules for the secrets in the process environment, longest first."""
    environ = os.environ if environ is None else environ
    found: Dict[str, str] = {}
    for name, value in environ.items():
        upper = name.upper()
        kind = ENV_KINDS.get(upper)
        if kind is None and upper.endswith(ENV_SUFFIXES):
            kind = "env_secret"
        value = value.strip()
        if kind is not None and len(value) >= ENV_MIN_LENGTH and value not in found:
            found[value] = kind
    return [LiteralRule(kind, value) for value, kind in sorted(found.items(), key=lambda kv: -len(kv[0]))]


class PemRule(Rule):
    """PEM private keys: a whole block, BEGIN line to END line; without its END line
    (cut, or pasted in part), the BEGIN line and the base64 lines that follow it.

    Not one regular expression: ``BEGIN ... (anything, lazily) ... END`` makes Python's
    ``re`` scan up to :data:`PEM_REACH` characters for every BEGIN line, so a text of
    repeated BEGIN lines costs that many characters each. Here the END lines are found
    in one pass, and each BEGIN line looks its END up by position.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("private_key", "-----begin", (frozenset("-"),))

    def find(self, text: Text, spans: "List[Span]") -> None:
        value = text.value
        begin = _PEM_BEGIN.search(value)
        if begin is None:
            return
        body = begin.end()
        ends = [(m.start(), m.end()) for m in _PEM_END.finditer(value, body)]
        starts = [start for start, _ in ends]
        while begin is not None:
            body = begin.end()
            i = bisect_left(starts, body)
            if i < len(ends) and ends[i][0] - body <= PEM_REACH:
                stop = ends[i][1]
            else:
                stop = _PEM_BODY.match(value, body).end()  # type: ignore[union-attr]  # matches the empty string
            spans.append((begin.start(), stop, self))
            begin = _PEM_BEGIN.search(value, stop)


class PairRule(Rule):
    """AWS secret access keys next to an access key ID: 40 characters of base64 that mix
    upper and lower case, ending at most :data:`NEAR` characters before an access key
    ID or starting at most that far after one.

    The key IDs are found first (a literal search); the stretches of text around them
    are searched for 40-character runs once each, however many key IDs share them.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("aws_secret_key", "akia|asia", (frozenset("KS"),))

    def find(self, text: Text, spans: "List[Span]") -> None:
        value = text.value
        keys = [m.span() for m in _KEY_ID.finditer(value)]
        if not keys:
            return
        reach = NEAR + 40
        runs: List[Tuple[int, int]] = []  # every 40-character run near a key ID, in order
        scanned = 0
        for start, end in keys:
            lo, hi = max(scanned, start - reach), end + reach
            if lo >= hi:
                continue
            for m in _SECRET_RUN.finditer(value, lo):
                if m.start() > hi:
                    break
                runs.append(m.span())
            scanned = hi
        if not runs:
            return
        starts = [a for a, _ in runs]
        taken = set()
        for start, end in keys:
            i = bisect_left(starts, start - reach)
            while i < len(runs) and runs[i][0] <= end + NEAR:
                a, b = runs[i]
                if (b <= start and start - b <= NEAR or a >= end) and i not in taken and _mixed_case(value[a:b]):
                    taken.add(i)
                    spans.append((a, b, self))
                i += 1


#: How near an access key ID a secret access key is looked for (characters between them).
NEAR = 100
_KEY_ID = re.compile(r"A(?<![A-Z0-9]A)(?:KIA|SIA)[A-Z0-9]{16}(?![A-Z0-9])")
_SECRET_RUN = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


class CardRule(Rule):
    """Credit-card numbers: 13 to 19 digits starting with 2 to 6, unbroken or grouped as
    cards print them (a group of 4, then groups of 3 to 6, one kind of separator),
    passing the Luhn check; and, in a longer run of groups of four digits, every four
    groups in a row that make one (``4111 1111 1111 1111 4242 4242 4242 4242``;
    ``order 42 4111 1111 1111 1111``).

    One search, on the copy of the text where every digit is the same character, led
    by a literal (four digits): a run of groups of four, a card-shaped number, or the
    rest of a group of digits too long for a card (taken whole, so that the search goes
    on after it rather than trying again at each of its digits). Only the shapes a card
    is printed in reach Python, so a text of numbers that are not card-shaped costs
    the search alone.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("credit_card", "[0-9]{4}", (frozenset(DIGIT),))

    def find(self, text: Text, spans: "List[Span]") -> None:
        digits = text.digit_map
        found = _CARD.search(digits)
        if found is None:
            return
        value = text.value
        luhn4 = _GROUP_LUHN
        for m in _CARD.finditer(digits, found.start()):
            start, end = m.span()
            if m.start("four") != -1:
                if end - start == 19:  # four groups: one card or none
                    if (
                        value[start] in "23456"
                        and (luhn4[value[start : start + 4]] + luhn4[value[start + 5 : start + 9]]
                             + luhn4[value[start + 10 : start + 14]] + luhn4[value[start + 15 : end]]) % 10 == 0
                        and "\x00" not in value[start:end]
                    ):
                        spans.append((start, end, self))
                else:
                    self._groups(value, start, value[start:end].split(m.group("sep")), spans)
                if digits[end : end + 1] == m.group("sep"):  # 4-4-4-4-3: the last four and a short group
                    tail = _SHORT_GROUP.match(digits, end)
                    if tail is not None and _card_number(value[end - 19 : tail.end()]):
                        spans.append((end - 19, tail.end(), self))
            elif m.start("card") != -1 and end - start >= 13 and _card_number(value[start:end]):
                spans.append((start, end, self))

    def _groups(self, value: str, start: int, groups: List[str], spans: "List[Span]") -> None:
        """Spans of the cards among ``groups`` (four digits each, five characters apart
        from ``start``), all in C but for one step per span: a byte per window of four
        groups, zero where the window is a card, and windows that overlap make one span."""
        if "\x00" in value[start : start + 5 * len(groups)]:
            return  # NULs of the text's own, taken for digits by the digit map: not digits
        if len(groups) <= 8:  # a card or two: one window at a time costs less
            parts = [_GROUP_LUHN[group] for group in groups]
            first, last = -1, -1
            for i in range(len(groups) - 3):
                if groups[i][0] in "23456" and sum(parts[i : i + 4]) % 10 == 0:
                    at = start + 5 * i
                    if first >= 0 and at < last:
                        last = at + 19
                        continue
                    if first >= 0:
                        spans.append((first, last, self))
                    first, last = at, at + 19
            if first >= 0:
                spans.append((first, last, self))
            return
        total = list(accumulate(map(_GROUP_LUHN.__getitem__, groups), initial=0))
        count = len(groups) - 3
        not_luhn = bytes(map(sub, total[4:], total)).translate(_NOT_TENS)  # 0: the window passes Luhn
        not_start = value[start : start + 5 * count : 5].translate(_CARD_START).encode()  # 0: it starts with 2-6
        windows = (int.from_bytes(not_luhn, "big") | int.from_bytes(not_start, "big")).to_bytes(count, "big")
        for m in _HITS.finditer(windows):
            spans.append((start + 5 * m.start(), start + 5 * (m.end() - 1) + 19, self))


_NOT_TENS = bytes(0 if i % 10 == 0 else 1 for i in range(256))  # a window's Luhn sum is at most 144
_CARD_START = str.maketrans("0123456789", "\x01\x01\x00\x00\x00\x00\x00\x01\x01\x01")
# windows that are cards (zero bytes) less than four groups apart: they overlap
_HITS = re.compile(rb"\x00(?:[^\x00]{0,2}\x00)*")
# (on the digit map) a run of four or more groups of four digits with one separator; else
# a number printed as cards are, 13 to 19 digits unbroken or a group of four and groups of
# 3 to 6 (their count is checked after); else the rest of a group of digits too long for
# either. Never inside a word (a hex digest), a decimal fraction or a longer group.
_CARD = re.compile(
    (
        r"####(?:(?<![\w.#]####)(?:"
        r"(?P<four>(?P<sep>[ -])####(?P=sep)####(?P=sep)####(?:(?P=sep)####)*)(?![\w#])"
        r"|(?P<card>#{9,15}|(?P<other>[ -])#{3,6}(?:(?P=other)#{3,6}){1,4})(?![\w#]))"
        r"|#{12,})"
    ).replace("#", DIGIT)
)
_SHORT_GROUP = re.compile(r"([ -])#{1,3}(?![\w#])".replace("#", DIGIT))


class _LuhnParts(Dict[str, int]):
    """Each group of four digits' part of the Luhn sum of a 16-digit number it is one
    of the groups of: each group starts at an even place, so its first and third digits
    are the doubled ones, whatever the other groups are (worked out when first seen)."""

    def __missing__(self, digits: str) -> int:
        if not (len(digits) == 4 and digits.isascii() and digits.isdigit()):
            return 0  # a NUL of the text itself, taken for a digit by the digit map (the check of a hit says no)
        a, b, c, d = (ord(ch) - 48 for ch in digits)
        part = _DOUBLE[a] + b + _DOUBLE[c] + d
        self[digits] = part  # at most 10,000 entries
        return part


class _HeadParts(Dict[str, int]):
    """The Luhn part of the one to three digits before a number's groups of four from
    the right: its last digit is kept, the one before it doubled, and so on."""

    def __missing__(self, digits: str) -> int:
        part = 0
        for i, ch in enumerate(reversed(digits)):
            d = ord(ch) - 48
            part += _DOUBLE[d] if i % 2 else d
        self[digits] = part  # at most 1,110 entries
        return part


_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_GROUP_LUHN = _LuhnParts()
_HEAD_LUHN = _HeadParts()


#: How far after its BEGIN line a PEM block's END line is looked for (a 4096-bit RSA
#: key is about 3.2 KB of base64).
PEM_REACH = 16384
_PEM_BEGIN = re.compile(r"-----BEGIN" + _PEM_LABEL)
_PEM_END = re.compile(r"-----END" + _PEM_LABEL)
# base64 lines, also with JSON-escaped line breaks; each line a run of 16 or more
_PEM_BODY = re.compile(r"(?:(?:\s|\\[nr])*[A-Za-z0-9+/=:,-]{16,})*")

_ORDER = SECRET_DETECTORS + PII_DETECTORS


def rules(name: str, environ: Optional[Mapping[str, str]] = None) -> List[Rule]:
    """The rules of one built-in detector (each compiles its pattern when first needed),
    ranked by the detector's place in :data:`SECRET_DETECTORS` + :data:`PII_DETECTORS`."""
    if name == "env_secret":
        found: List[Rule] = list(env_rules(environ))
    elif name == "private_key":
        found = [PemRule()]
    elif name == "credit_card":
        found = [CardRule()]
    elif name == "aws_secret_key":
        found = [RegexRule(name, *spec) for spec in SPECS[name]] + [PairRule()]
    else:
        found = [RegexRule(name, *spec) for spec in SPECS[name]]
    base = _ORDER.index(name) * 1000
    for i, rule in enumerate(found):
        rule.rank = base + i
    return found


def names() -> Tuple[str, ...]:
    return ("env_secret", "private_key", "credit_card") + tuple(SPECS)
