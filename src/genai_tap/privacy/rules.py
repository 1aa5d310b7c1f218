"""The matchers a redactor is made of: regular expressions, exact values, functions.

A redactor finds what to replace first and replaces it once: every rule searches
the *original* text and reports the spans it found; overlapping spans are merged
and each merged span becomes one typed marker. So a rule never loses its context
because another rule already replaced a neighbour (an access key ID next to a
secret key), and the result does not depend on the order of the rules.

Most texts hold no secret at all, so the common case must cost next to nothing,
and what it costs is set by how Python's ``re`` scans:

- an expression that starts with a literal (``token``, ``-----BEGIN``) is searched
  for about as fast as ``str.find``; one that starts with a character class, a
  look-behind or a case-insensitive word is tried at every position, ten to fifty
  times slower. So built-in patterns start with their keyword, and boundary checks
  come as look-behinds *after* it (``secret(?<![a-z0-9]secret)``);
- case-insensitive rules run, case-sensitively, on the lower-cased text (made once
  per text), and their matches are spliced into the original by position;
- rules about digits (card and phone numbers, IP addresses) run on a copy of the
  text in which every digit is the same character, so ``####`` is a literal
  (``#`` below stands for that character), and the original digits go to the
  validator (Luhn);
- gates skip a rule outright: characters of which one must be there (``:`` or
  ``=`` for every ``name = value`` rule, ``@`` for e-mail addresses, a digit for
  card numbers). The redactor looks for each such character once per text (a
  ``memchr`` each) and runs only the rules whose characters are all there;
- a short text (a role, a tool name, an id: most strings of a record) is first
  searched once for every rule's trigger together; when none is there, only the
  rules without a trigger (custom patterns) run. On long texts that one combined
  search would cost more than the rules it saves, so it is not made;
- short texts found clean are remembered (roles, tool names and ids recur in
  every call), up to :data:`CLEAN_CACHE` of them.

And what it costs at worst, on text made to be slow: Python's ``re`` backtracks, so
every built-in pattern is written to make each attempt short or each attempt's scan
its own (bounded repetitions, character classes that cannot overlap what follows,
no nested unbounded repetition); the one rule that needs to look far ahead (a PEM
block's END line) is not a regular expression (:class:`PemRule` in
:mod:`.detectors`). ``scripts/bench_redaction.py`` measures the result on
adversarial texts.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, FrozenSet, List, Optional, Set, Tuple

from . import marker

#: A text shorter than this cannot hold anything a built-in rule looks for.
MIN_LENGTH = 6
#: Texts up to this long are searched for all triggers at once first.
SHORT = 160
#: How many short clean texts a redactor remembers (forgotten all at once when full).
CLEAN_CACHE = 2048
_DIGITS = "0123456789"
#: What every digit becomes in the digit map (a character texts do not hold; if
#: one does, the validators, which see the original text, reject what it matched).
DIGIT = "\x00"
_TO_DIGIT = str.maketrans({d: DIGIT for d in _DIGITS})

# which copy of the text a rule searches
ORIGINAL, LOWER, DIGITS = "text", "lower", "digits"


class Text:
    """One text being redacted, with what rules ask about it worked out at most once."""

    __slots__ = ("value", "_lower", "_digit_map", "_has_digit")

    def __init__(self, value: str) -> None:
        self.value = value
        self._lower: Optional[str] = None
        self._digit_map: Optional[str] = None
        self._has_digit: Optional[bool] = None

    @property
    def lower(self) -> Optional[str]:
        """The lower-cased text, or None when lower-casing changed its length (then
        positions in it are not positions in the text; rare: ``İ``)."""
        if self._lower is None:
            low = self.value.lower()
            self._lower = low if len(low) == len(self.value) else ""
        return self._lower or None

    @property
    def has_digit(self) -> bool:
        if self._has_digit is None:
            value = self.value
            self._has_digit = any(d in value for d in _DIGITS)  # ten memchr, no regex
        return self._has_digit

    @property
    def digit_map(self) -> str:
        """The text with every ASCII digit replaced by :data:`DIGIT` (same length)."""
        if self._digit_map is None:
            self._digit_map = self.value.translate(_TO_DIGIT)
        return self._digit_map


#: A span found by a rule: (start, end, rule) in the original text.
Span = Tuple[int, int, "Rule"]


class Rule:
    """One way of finding one kind of sensitive value."""

    __slots__ = ("kind", "marker", "trigger", "needs", "rank")

    def __init__(self, kind: str, trigger: Optional[str] = None, needs: "Tuple[FrozenSet[str], ...]" = ()) -> None:
        self.kind = kind
        self.marker = marker(kind)
        #: a regular expression that every match contains, in the lower-cased text;
        #: None: the rule cannot say (it runs on every text)
        self.trigger = trigger
        #: groups of single characters: the rule runs only on texts that hold one
        #: character of every group (:data:`DIGIT` stands for any ASCII digit)
        self.needs = needs
        #: which marker wins when two overlapping spans are as long (lower wins): the
        #: built-in detectors' order, then custom patterns (set by whoever builds the rule)
        self.rank = 0

    def find(self, text: Text, spans: "List[Span]") -> None:
        """Append the spans of ``text`` (positions in ``text.value``) this rule replaces."""
        raise NotImplementedError


class RegexRule(Rule):
    """A regular expression; its ``value`` group, if it has one, is what is replaced.

    - ``trigger``: see :class:`Rule`;
    - ``chars``: characters of which at least one must be in the text, else the rule
      is skipped (one ``memchr`` per text and character, shared by every rule that
      names it: see :attr:`Rule.needs`);
    - ``hints``: substrings of which at least one must be in the text;
    - ``on``: which copy of the text the pattern searches: :data:`ORIGINAL`,
      :data:`LOWER` (the pattern is written in lower case: case-insensitive matching
      at case-sensitive speed) or :data:`DIGITS` (``#`` in the pattern is a digit);
    - ``needs_digit``: skip texts without an ASCII digit;
    - ``validate``: sees the part to be replaced, as in the original text, and
      returns False to veto it (Luhn check ...), True to accept it, or a number of
      characters to accept only its start (a phone number that ran into the next
      number).

    A match in which a group named ``reject`` took part is not replaced (what comes
    after the value says it is not one); unlike a failing look-ahead, it lets the
    search go on after the match instead of trying again inside it.
    """

    __slots__ = ("pattern", "hints", "on", "validate", "has_value", "has_reject", "_regex", "_fallback", "_name")

    def __init__(
        self,
        kind: str,
        pattern: str,
        trigger: Optional[str] = None,
        chars: str = "",
        hints: Tuple[str, ...] = (),
        validate: Optional[Callable[[str], "bool | int"]] = None,
        on: str = ORIGINAL,
        needs_digit: bool = False,
    ) -> None:
        needs = []
        if chars:
            needs.append(frozenset(chars))
        if needs_digit or on == DIGITS:
            needs.append(frozenset(DIGIT))
        super().__init__(kind, trigger, tuple(needs))
        self.pattern = pattern.replace("#", DIGIT) if on == DIGITS else pattern
        self.hints = hints
        self.on = on
        self.validate = validate
        self.has_value = "(?P<value>" in pattern
        self.has_reject = "(?P<reject>" in pattern
        self._regex: "Optional[re.Pattern[str]]" = None  # compiled when first needed
        self._fallback: "Optional[re.Pattern[str]]" = None
        self._name: "Optional[re.Pattern[str]]" = None

    @property
    def regex(self) -> "re.Pattern[str]":
        """The compiled pattern. Compiling all the built-in rules takes ~15 ms, so each
        is compiled the first time a text gets past its gates (raises ``re.error``)."""
        if self._regex is None:
            self._regex = re.compile(self.pattern)
        return self._regex

    def find(self, text: Text, spans: "List[Span]") -> None:
        value = text.value
        if self.hints and not any(h in value for h in self.hints):
            return
        regex = self._regex or self.regex
        if self.on == ORIGINAL:
            haystack = value
        elif self.on == DIGITS:
            haystack = text.digit_map
        else:
            haystack = text.lower  # type: ignore[assignment]
            if haystack is None:
                if self._fallback is None:
                    self._fallback = re.compile(self.pattern, re.IGNORECASE)
                regex, haystack = self._fallback, value
        first = regex.search(haystack)  # the common case: nothing, in one call
        if first is None:
            return
        if not (self.has_value and self.on == LOWER and self.trigger):
            for each in regex.finditer(haystack, first.start()):
                self._found(value, each, spans)
            return
        # name = value: a value runs on up to a space, so it can swallow the next name
        # ("api_key=abc:x-api-key: def"); the search then goes on from that name, once
        # per match (never from a name inside what that finds: text made of names alone
        # costs each character once)
        name = self._name or self.name_regex
        m: "Optional[re.Match[str]]" = first
        while m is not None:
            self._found(value, m, spans)
            resume = m.end()
            start, end = m.span("value")
            inner = name.search(haystack, start + 1, end) if start >= 0 else None
            if inner is not None:
                again = regex.search(haystack, inner.start())
                if again is not None and again.start() < end:
                    self._found(value, again, spans)
                    resume = max(resume, again.end())
            m = regex.search(haystack, max(resume, m.start() + 1))

    def _found(self, value: str, m: "re.Match[str]", spans: "List[Span]") -> None:
        start, end = m.span("value") if self.has_value else m.span()
        if start < 0 or start == end or (self.has_reject and m.start("reject") != -1):
            return
        validate = self.validate
        if validate is not None:
            verdict = validate(value[start:end])
            if not verdict:
                return
            if verdict is not True:
                end = start + int(verdict)
        spans.append((start, end, self))

    @property
    def name_regex(self) -> "re.Pattern[str]":
        """The rule's trigger, compiled (the name in a name = value rule)."""
        if self._name is None:
            self._name = re.compile(self.trigger or "(?!)", re.IGNORECASE)  # (also on the original text: _fallback)
        return self._name


class LiteralRule(Rule):
    """An exact value known to be secret (a credential from the process environment)."""

    __slots__ = ("value",)

    def __init__(self, kind: str, value: str) -> None:
        super().__init__(kind, re.escape(value.lower()))
        self.value = value

    def find(self, text: Text, spans: "List[Span]") -> None:
        value, secret = text.value, self.value
        at = value.find(secret)
        size = len(secret)
        while at != -1:
            spans.append((at, at + size, self))
            at = value.find(secret, at + size)


class FunctionRule(Rule):
    """A redactor function from a plugin or :func:`genai_tap.privacy.register_redactor`.

    It sees every text, however short, after the built-in rules and custom patterns
    have replaced what they found, and counts as one redaction when it changed the
    text. What it raises is not caught here: the policy drops the content.
    """

    __slots__ = ("function",)

    def __init__(self, kind: str, function: Callable[[str], str]) -> None:
        super().__init__(kind)
        self.function = function

    def apply(self, value: str) -> Tuple[str, int]:
        out = self.function(value)
        if not isinstance(out, str):
            raise TypeError(f"redactor {self.kind!r} returned {type(out).__name__}, not str")
        return out, int(out != value)


def replace(value: str, spans: "List[Span]") -> Tuple[str, int]:
    """``value`` with every span replaced by its rule's marker, once: overlapping spans
    become one marker, of the longest span among them (on a tie, of the rule that
    comes first); spans that only touch stay apart. Returns (text, markers)."""
    spans.sort(key=_by_start)
    pieces: List[str] = []
    last = 0
    count = 0
    start, end, best = spans[0]
    size = end - start
    for s, e, rule in spans[1:]:
        if s < end:  # overlaps the group: widen it
            if e - s > size or (e - s == size and rule.rank < best.rank):
                best, size = rule, e - s
            if e > end:
                end = e
            continue
        pieces.append(value[last:start])
        pieces.append(best.marker)
        count += 1
        last = end
        start, end, best = s, e, rule
        size = e - s
    pieces.append(value[last:start])
    pieces.append(best.marker)
    pieces.append(value[end:])
    return "".join(pieces), count + 1


def _by_start(span: "Span") -> Tuple[int, int]:
    return span[0], -span[1]


class Redactor:
    """Rules applied to a text; returns (text, number of redactions).

    Every rule searches the original text; what they found is replaced once
    (:func:`replace`), then the functions run on the result, in order.
    ``min_length``: texts shorter than this skip ``rules`` (not ``functions``); the
    built-in rules need :data:`MIN_LENGTH`, a custom pattern may match less.
    """

    __slots__ = ("rules", "functions", "min_length", "custom", "_gate", "_ungated", "_chars", "_plans", "_clean")

    def __init__(
        self, rules: "Tuple[Rule, ...]", functions: "Tuple[FunctionRule, ...]" = (), min_length: int = MIN_LENGTH
    ) -> None:
        self.rules = rules
        self.functions = functions
        self.min_length = min_length
        #: some rule cannot say what it needs (a custom pattern)
        self.custom = any(rule.trigger is None for rule in rules)
        triggers = list(dict.fromkeys(rule.trigger for rule in rules if rule.trigger))
        self._gate = re.compile("|".join(f"(?:{t})" for t in triggers)) if triggers else None
        self._ungated = tuple(rule for rule in rules if not rule.trigger)
        chars = sorted({c for rule in rules for group in rule.needs for c in group})
        self._chars = tuple((1 << i, c) for i, c in enumerate(chars))
        self._plans: "Dict[int, Tuple[Rule, ...]]" = {}  # characters present -> rules to run
        self._clean: "Set[str]" = set()

    def _plan(self, text: Text) -> "Tuple[Rule, ...]":
        """The rules whose needed characters the text holds."""
        value = text.value
        present = 0
        for bit, char in self._chars:
            if (text.has_digit if char == DIGIT else char in value):
                present |= bit
        plan = self._plans.get(present)
        if plan is None:
            have = {c for bit, c in self._chars if present & bit}
            plan = tuple(rule for rule in self.rules if all(group & have for group in rule.needs))
            self._plans[present] = plan  # at most 2**len(chars) entries, built once each
        return plan

    def spans(self, value: str) -> "List[Span]":
        """What the rules find in ``value`` (unsorted, possibly overlapping)."""
        found: "List[Span]" = []
        size = len(value)
        if size >= self.min_length and self.rules and value not in self._clean:
            text = Text(value)
            if size <= SHORT and self._gate is not None and self._gate.search(text.lower or value.lower()) is None:
                rules = self._ungated
            else:
                rules = self._plan(text)
            for rule in rules:
                rule.find(text, found)
            if not found and size <= SHORT:
                if len(self._clean) >= CLEAN_CACHE:
                    self._clean.clear()
                self._clean.add(value)
        return found

    def __call__(self, value: str) -> Tuple[str, int]:
        total = 0
        found = self.spans(value)
        if found:
            value, total = replace(value, found)
        for rule in self.functions:
            value, changed = rule.apply(value)
            total += changed
        return value, total
