"""Alert rules: a condition over a time window, checked on a schedule, with actions.

A rules file (TOML) holds ``[settings]``, an optional ``[smtp]`` server and
``[[rules]]``; ``genai-tap collector --example-rules`` prints a commented one.
Each rule watches one metric (error_count, error_rate, p95_latency_ms, tokens,
cost_usd, calls) over a window, optionally for one app and/or model, and, with
``group_by``, separately for every app and/or model it sees. The file is
checked as a whole when it is loaded: every problem is reported, one line each,
naming the file, the rule, the key and what is accepted.

A rule notifies once when it starts firing and once when it recovers, never
while its state holds (state is kept per rule and group). What one evaluation
of a rule changes goes out as **one** notification per action, listing every
group that fired or recovered, so 300 apps failing at once send one e-mail.

Actions are e-mail (SMTP, optional STARTTLS or TLS, credentials from
environment variables), a webhook (JSON POST) and a log line. Log lines are
written at once; e-mails and webhooks go through one queue and worker thread
per destination (:class:`Outbox`), so a slow or dead destination delays only
itself. Each attempt has a deadline over all of its network steps; a failed
attempt is retried with growing delays (a bounded number of times; answers
that cannot change, such as 4xx or SMTP 5xx, are not retried); each rule sends
at most ``max_notifications_per_hour`` per destination, and what it has to say
meanwhile waits and goes out together in the next one. Names that came from
the apps (service and model names) are shown with control characters escaped
(see :mod:`.text`), so a CR/LF in a service name cannot add a mail header or a
log line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import smtplib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from . import outbound
from .configfile import ConfigError, load_toml, parse_duration
from .logs import log
from .store import Filters
from .text import printable
from .views import Usage, Views

METRICS = ("error_count", "error_rate", "p95_latency_ms", "tokens", "cost_usd", "calls")
OPS: Dict[str, Callable[[float, float], bool]] = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}
GROUP_COLUMNS = {"app": "app", "model": "base_model"}
FIRING, RESOLVED = "firing", "resolved"
LEVELS = ("debug", "info", "warning", "error", "critical")

DEFAULT_INTERVAL_S = 30.0
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 86400.0
MAX_WINDOW_S = 366 * 86400.0
DEFAULT_MAX_PER_HOUR = 12
DEFAULT_SMTP_TIMEOUT_S = 20.0
DEFAULT_WEBHOOK_TIMEOUT_S = 10.0
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1.0, 300.0
#: Delays before the 2nd, 3rd, ... attempt of a notification; then it is given up (and logged).
RETRY_DELAYS_S: Tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
#: State changes listed in one notification; the rest are counted.
MAX_LISTED = 200
#: State changes one destination keeps waiting per rule (rate limit or retry); older ones are counted, not kept.
MAX_WAITING = 1000

SMTP_POLICY = SMTP.clone(max_line_length=998)
SMTP_USERNAME_ENV = "GENAI_TAP_SMTP_USERNAME"
SMTP_PASSWORD_ENV = "GENAI_TAP_SMTP_PASSWORD"

_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------- notifications


@dataclass
class Notification:
    rule: str
    state: str  # firing | resolved
    subject: Dict[str, str]  # {"app": ..., "model": ...} for the group, or what the rule filters on
    metric: str
    value: Optional[float]
    threshold: float
    op: str
    window_s: float
    time_ns: int

    @property
    def subject_text(self) -> str:
        """``app=checkout, model=...`` with control characters escaped (safe in a header or log line)."""
        return ", ".join(f"{k}={printable(v)}" for k, v in self.subject.items()) or "all calls"

    @property
    def condition(self) -> str:
        value = "no data" if self.value is None else f"{self.value:g}"
        return f"{self.metric} = {value} ({self.op} {self.threshold:g} over {_window_text(self.window_s)})"

    @property
    def message(self) -> str:
        verb = "FIRING" if self.state == FIRING else "RESOLVED"
        return f"[{verb}] {printable(self.rule)}: {self.condition} for {self.subject_text}"

    def as_dict(self) -> Dict[str, Any]:
        return {
            "rule": self.rule, "state": self.state, **dict(self.subject.items()),
            "subject": self.subject_text, "metric": self.metric, "value": self.value,
            "threshold": self.threshold, "op": self.op, "window_seconds": self.window_s,
            "time_ns": self.time_ns, "message": self.message,
        }


@dataclass
class Batch:
    """What one rule has to tell one destination: one or more state changes, oldest first."""

    rule: str
    notes: List[Notification]
    unlisted: int = 0  # changes that did not fit in MAX_WAITING

    @property
    def count(self) -> int:
        return len(self.notes) + self.unlisted

    @property
    def state(self) -> str:
        states = {n.state for n in self.notes}
        return states.pop() if len(states) == 1 else "mixed"

    @property
    def summary(self) -> str:
        """One line: the notification itself when there is one, else counts and the first groups."""
        if self.count == 1 and self.notes:
            return self.notes[0].message
        firing = [n for n in self.notes if n.state == FIRING]
        resolved = [n for n in self.notes if n.state == RESOLVED]
        parts = []
        if firing:
            parts.append(f"{len(firing)} firing")
        if resolved:
            parts.append(f"{len(resolved)} resolved")
        if self.unlisted:
            parts.append(f"{self.unlisted} more not listed")
        verb = {FIRING: "FIRING", RESOLVED: "RESOLVED"}.get(self.state, "CHANGED")
        names = "; ".join(n.subject_text for n in self.notes[:3])
        more = f"; +{self.count - 3} more" if self.count > 3 else ""
        return f"[{verb}] {printable(self.rule)}: {', '.join(parts)} ({names}{more})"

    def lines(self) -> List[str]:
        out = [n.message for n in self.notes[:MAX_LISTED]]
        hidden = self.count - len(out)
        if hidden:
            out.append(f"... and {hidden} more")
        return out

    def payload(self) -> Dict[str, Any]:
        notes = [n.as_dict() for n in self.notes[:MAX_LISTED]]
        return {"rule": self.rule, "state": self.state, "count": self.count, "text": self.summary,
                "notifications": notes, "not_listed": self.count - len(notes)}


# ---------------------------------------------------------------------------- actions


class SendError(Exception):
    """A notification was not delivered; ``retry`` says whether trying again can help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass
class Smtp:
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    tls: bool = False  # implicit TLS (port 465)
    sender: str = "genai-tap@localhost"
    username_env: str = SMTP_USERNAME_ENV
    password_env: str = SMTP_PASSWORD_ENV
    timeout_s: float = DEFAULT_SMTP_TIMEOUT_S

    def send(self, to: Sequence[str], subject: str, body: str, deadline: outbound.Deadline) -> None:
        msg = EmailMessage(policy=SMTP_POLICY)  # no folding: the subject is the whole alert
        msg["From"], msg["To"], msg["Subject"] = self.sender, ", ".join(to), printable(subject)
        msg.set_content(body)
        try:
            client = outbound.smtp(self.host, self.port, self.tls, self.timeout_s, deadline)
            try:
                if self.starttls and not self.tls:
                    client.starttls(context=outbound.tls_context())
                user = os.environ.get(self.username_env)
                if user:
                    client.login(user, os.environ.get(self.password_env, ""))
                client.send_message(msg)
            finally:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendError(f"recipients refused: {exc.recipients}", retry=any(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            if deadline.expired:
                raise SendError(f"no complete answer within {deadline.seconds:g}s") from None
            raise SendError(f"SMTP {exc.smtp_code} {text}", retry=not 500 <= exc.smtp_code < 600) from None
        except (OSError, smtplib.SMTPException) as exc:
            if deadline.expired or isinstance(exc, TimeoutError):
                raise SendError(f"no complete answer within {deadline.seconds:g}s") from None
            raise SendError(str(exc) or type(exc).__name__) from None


class Action:
    kind = ""

    @property
    def key(self) -> Tuple[Any, ...]:
        """Actions with the same key share one destination, queue and worker."""
        return (self.kind, id(self))

    @property
    def destination(self) -> str:
        return self.kind

    @property
    def timeout_s(self) -> float:
        return DEFAULT_WEBHOOK_TIMEOUT_S

    def send(self, batch: Batch, deadline: outbound.Deadline) -> None:
        raise NotImplementedError


@dataclass
class EmailAction(Action):
    to: List[str]
    smtp: Smtp
    kind = "email"

    @property
    def key(self) -> Tuple[Any, ...]:
        s = self.smtp
        return ("email", s.host, s.port, s.tls, s.starttls, s.sender, tuple(self.to))

    @property
    def destination(self) -> str:
        return f"email to {', '.join(self.to)} via {self.smtp.host}:{self.smtp.port}"

    @property
    def timeout_s(self) -> float:
        return self.smtp.timeout_s

    def send(self, batch: Batch, deadline: outbound.Deadline) -> None:
        details = []
        for n in batch.notes[:MAX_LISTED]:
            details += ["", n.message, *(f"  {k}: {printable(v)}" for k, v in n.as_dict().items() if k != "message")]
        body = "\n".join([batch.summary, "", *batch.lines(), *details, ""])
        self.smtp.send(self.to, batch.summary, body, deadline)


@dataclass
class WebhookAction(Action):
    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_WEBHOOK_TIMEOUT_S
    kind = "webhook"

    @property
    def key(self) -> Tuple[Any, ...]:
        return ("webhook", self.url, tuple(sorted(self.headers.items())), self.timeout)

    @property
    def destination(self) -> str:
        parts = urlsplit(self.url)
        return f"webhook {parts.scheme}://{parts.netloc}{parts.path}"  # no query: it may hold a secret

    @property
    def timeout_s(self) -> float:
        return self.timeout

    def send(self, batch: Batch, deadline: outbound.Deadline) -> None:
        data = json.dumps(batch.payload()).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "genai-tap-collector", **self.headers}
        try:
            reply = outbound.post(self.url, data, headers, self.timeout, deadline)
        except OSError as exc:
            raise SendError(str(exc)) from None
        if not reply.ok:
            retry = reply.status >= 500 or reply.status in (408, 425, 429)
            raise SendError(reply.describe(), retry=retry)


@dataclass
class LogAction(Action):
    level: int = logging.WARNING
    kind = "log"

    def write(self, batch: Batch) -> None:
        log.log(self.level, "alert %s", batch.summary)


# ---------------------------------------------------------------------------- rules


@dataclass
class Rule:
    name: str
    metric: str
    op: str
    threshold: float
    window_s: float
    actions: List[Action]
    app: Optional[str] = None
    model: Optional[str] = None
    group_by: Tuple[str, ...] = ()
    min_calls: int = 1  # error_rate and p95 need at least this many calls to fire
    max_per_hour: int = DEFAULT_MAX_PER_HOUR  # notifications per destination

    def value(self, usage: Usage, p95: Optional[float]) -> Optional[float]:
        if self.metric in ("error_rate", "p95_latency_ms") and usage.calls < self.min_calls:
            return None
        return {
            "error_count": lambda: float(usage.errors),
            "error_rate": lambda: usage.errors / usage.calls if usage.calls else None,
            "p95_latency_ms": lambda: p95,
            "tokens": lambda: float(usage.input_tokens + usage.output_tokens),
            "cost_usd": lambda: usage.cost or 0.0,
            "calls": lambda: float(usage.calls),
        }[self.metric]()

    def fires(self, value: Optional[float]) -> bool:
        return value is not None and OPS[self.op](value, self.threshold)


class _Checker:
    """Reads a rules file, collecting every problem (one line each) instead of stopping at the first."""

    def __init__(self, path: str) -> None:
        self.file = f"--rules file {path!r}"
        self.problems: List[str] = []

    def problem(self, where: str, key: Optional[str], text: str) -> None:
        place = self.file + (f", {where}" if where else "") + (f", key {key!r}" if key else "")
        self.problems.append(f"{place}: {text}")

    def table(self, data: Any, where: str, accepted: Sequence[str], key: Optional[str] = None) -> Dict[str, Any]:
        if not isinstance(data, dict):
            self.problem(where, key, f"must be a table, not {_kind(data)}")
            return {}
        for unknown in sorted(set(data) - set(accepted)):
            self.problem(where, unknown, f"is not a known key; accepted: {', '.join(accepted)}")
        return data

    def string(self, data: Dict[str, Any], key: str, where: str, default: Optional[str] = None,
               required: bool = False, example: str = "") -> Optional[str]:
        if key not in data:
            if required:
                self.problem(where, key, f"is required{f' (e.g. {key} = {example})' if example else ''}")
            return default
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            self.problem(where, key, f"must be a non-empty string, not {_kind(value)}")
            return default
        return value

    def number(self, data: Dict[str, Any], key: str, where: str, default: Optional[float], minimum: float,
               maximum: float = math.inf, integer: bool = False, required: bool = False,
               example: str = "", note: str = "") -> Optional[float]:
        if key not in data:
            if required:
                self.problem(where, key, f"is required{f' (e.g. {key} = {example})' if example else ''}")
            return default
        value = data[key]
        what = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            self.problem(where, key, f"must be {what}, not {_kind(value)}")
            return default
        if not math.isfinite(value) or not minimum <= value <= maximum:
            bound = f"from {minimum:g} to {maximum:g}" if math.isfinite(maximum) else f">= {minimum:g}"
            self.problem(where, key, f"is {value!r}; accepted: {what} {bound}{note}")
            return default
        return value

    def boolean(self, data: Dict[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(where, key, f"must be true or false, not {_kind(value)}")
            return default
        return value

    def duration(self, data: Dict[str, Any], key: str, where: str, default: Optional[float], minimum: float,
                 maximum: float, required: bool = False) -> Optional[float]:
        if key not in data:
            if required:
                self.problem(where, key, f'is required (e.g. {key} = "5m")')
            return default
        value = data[key]
        try:
            seconds = parse_duration(value, key)
        except ConfigError:
            self.problem(where, key, f"{value!r} is not a duration; accepted: a number of seconds or a number "
                                     "followed by ms, s, m, h, d or w (e.g. \"30s\", \"5m\")")
            return default
        if not minimum <= seconds <= maximum:
            self.problem(where, key, f"{value!r} is out of range; accepted: {_window_text(minimum)} to "
                                     f"{_window_text(maximum)}")
            return default
        return seconds


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if value.strip() else "an empty string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def load_rules(path: str) -> Tuple[List[Rule], float]:
    """Rules and the evaluation interval (seconds) from a TOML file; ConfigError lists every problem."""
    data = load_toml(path, "--rules file")
    c = _Checker(path)
    c.table(data, "", ("settings", "smtp", "rules"))
    settings = c.table(data.get("settings", {}), "[settings]", ("interval", "max_notifications_per_hour"))
    interval = c.duration(settings, "interval", "[settings]", DEFAULT_INTERVAL_S, MIN_INTERVAL_S, MAX_INTERVAL_S)
    assert interval is not None
    per_hour = c.number(settings, "max_notifications_per_hour", "[settings]", DEFAULT_MAX_PER_HOUR, 1, 3600,
                        integer=True)
    smtp = _smtp(c, data["smtp"]) if "smtp" in data else None
    rules_data = data.get("rules")
    rules: List[Rule] = []
    if rules_data is None:
        c.problem("", "rules", "the file has no [[rules]]; see genai-tap collector --example-rules")
    elif not isinstance(rules_data, list):
        c.problem("", "rules", "must be an array of tables ([[rules]])")
    else:
        for i, r in enumerate(rules_data):
            rule = _rule(c, i, r, smtp, "smtp" in data, interval, int(per_hour or DEFAULT_MAX_PER_HOUR))
            if rule is not None:
                rules.append(rule)
        names: List[str] = [r["name"] for r in rules_data if isinstance(r, dict) and isinstance(r.get("name"), str)]
        for dupe in sorted({n for n in names if names.count(n) > 1}):
            c.problem(f"rule {dupe!r}", "name", "is used by more than one rule; rule names must be unique")
    if c.problems:
        raise ConfigError("\n".join(c.problems))
    return rules, interval


def _smtp(c: _Checker, data: Any) -> Optional[Smtp]:
    where = "[smtp]"
    fields = ("host", "port", "starttls", "tls", "from", "username_env", "password_env", "timeout")
    t = c.table(data, where, fields)
    s = Smtp()
    host = c.string(t, "host", where, s.host)
    if host and not _HOST.match(host):
        c.problem(where, "host", f"{host!r} is not a host name or address")
    s.host = host or s.host
    s.tls = c.boolean(t, "tls", where, False)
    s.starttls = c.boolean(t, "starttls", where, False)
    if s.tls and s.starttls:
        c.problem(where, "starttls", "and tls cannot both be true: tls = true is implicit TLS (port 465), "
                                     "starttls = true upgrades a plain connection (port 587)")
    s.port = int(c.number(t, "port", where, 465 if s.tls else 25, 1, 65535, integer=True) or s.port)
    sender = c.string(t, "from", where, s.sender)
    if sender and not _ADDRESS.match(sender):
        c.problem(where, "from", f"{sender!r} is not an e-mail address (name@example.com)")
    s.sender = sender or s.sender
    for key in ("username_env", "password_env"):
        name = c.string(t, key, where, getattr(s, key))
        if name and not _ENV_NAME.match(name):
            c.problem(where, key, f"{name!r} is not an environment variable name (letters, digits, _)")
        elif name:
            setattr(s, key, name)
    s.timeout_s = c.duration(t, "timeout", where, DEFAULT_SMTP_TIMEOUT_S, MIN_TIMEOUT_S, MAX_TIMEOUT_S) or s.timeout_s
    return s


RULE_FIELDS = ("name", "metric", "op", "threshold", "window", "app", "model", "group_by", "min_calls",
               "max_notifications_per_hour", "actions")


def _rule(c: _Checker, i: int, data: Any, smtp: Optional[Smtp], has_smtp: bool, interval: float,
          per_hour: int) -> Optional[Rule]:
    name = data.get("name") if isinstance(data, dict) else None
    where = f"rule {name!r}" if isinstance(name, str) and name.strip() else f"rule #{i + 1}"
    before = len(c.problems)
    t = c.table(data, where, RULE_FIELDS)
    if not isinstance(data, dict):
        return None
    name = c.string(t, "name", where, required=True, example='"errors piling up"')
    metric = t.get("metric")
    if "metric" not in t:
        c.problem(where, "metric", f"is required; accepted: {', '.join(METRICS)}")
    elif metric not in METRICS:
        c.problem(where, "metric", f"{metric!r} is not a metric; accepted: {', '.join(METRICS)}")
    op = t.get("op", ">=")
    if op not in OPS:
        c.problem(where, "op", f"{op!r} is not an operator; accepted: {', '.join(OPS)}")
    rate = metric == "error_rate"
    threshold = c.number(t, "threshold", where, None, 0, 1.0 if rate else math.inf, required=True, example="5",
                         note=" (error_rate is a fraction: 0.05 is 5%)" if rate else "")
    window = c.duration(t, "window", where, None, MIN_INTERVAL_S, MAX_WINDOW_S, required=True)
    if window is not None and window < interval:
        c.problem(where, "window", f"{t['window']!r} is shorter than the [settings] interval "
                                   f"({_window_text(interval)}); a window is at least one interval")
        window = None
    app = c.string(t, "app", where)
    model = c.string(t, "model", where)
    group_by = t.get("group_by", [])
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, list) or any(g not in GROUP_COLUMNS for g in group_by) or len(set(group_by)) < len(group_by):
        c.problem(where, "group_by", f"{t.get('group_by')!r} is not accepted; accepted: \"app\", \"model\", "
                                     "[\"app\", \"model\"]")
        group_by = []
    min_calls = c.number(t, "min_calls", where, 1, 1, 1e9, integer=True)
    max_per_hour = c.number(t, "max_notifications_per_hour", where, per_hour, 1, 3600, integer=True)
    actions: List[Action] = []
    raw_actions = t.get("actions")
    if raw_actions is None or raw_actions == []:
        c.problem(where, "actions", "is required: at least one [[rules.actions]] with type = \"email\", "
                                    "\"webhook\" or \"log\"")
    elif not isinstance(raw_actions, list):
        c.problem(where, "actions", "must be an array of tables ([[rules.actions]])")
    else:
        for j, a in enumerate(raw_actions):
            action = _action(c, f"{where} action #{j + 1}", a, smtp, has_smtp)
            if action is not None:
                actions.append(action)
    if len(c.problems) > before or name is None or metric is None or threshold is None or window is None:
        return None
    return Rule(name=name, metric=str(metric), op=str(op), threshold=float(threshold), window_s=window,
                actions=actions, app=app, model=model, group_by=tuple(group_by), min_calls=int(min_calls or 1),
                max_per_hour=int(max_per_hour or per_hour))


def _action(c: _Checker, where: str, data: Any, smtp: Optional[Smtp], has_smtp: bool) -> Optional[Action]:
    if not isinstance(data, dict):
        c.problem(where, None, 'must be a table with a type ("email", "webhook" or "log")')
        return None
    kind = data.get("type")
    if kind == "email":
        t = c.table(data, where, ("type", "to"))
        to = t.get("to")
        to = [to] if isinstance(to, str) else to
        if not to or not isinstance(to, list):
            c.problem(where, "to", 'is required: the addresses to notify (to = ["oncall@example.com"])')
            return None
        bad = [a for a in to if not isinstance(a, str) or not _ADDRESS.match(a)]
        if bad:
            c.problem(where, "to", f"{', '.join(repr(b) for b in bad)} is not an e-mail address (name@example.com)")
            return None
        if not has_smtp:
            c.problem(where, None, "an email action needs an [smtp] table (host, port, starttls, from)")
            return None
        return EmailAction(list(to), smtp) if smtp is not None else None
    if kind == "webhook":
        t = c.table(data, where, ("type", "url", "headers", "timeout"))
        url = t.get("url")
        problem = _url_problem(url)
        if problem:
            c.problem(where, "url", problem)
        headers = t.get("headers", {})
        if not isinstance(headers, dict):
            c.problem(where, "headers", "must be a table of names and string values (headers = { Authorization = \"...\" })")
            headers = {}
        for k, v in headers.items():
            if not _HEADER_NAME.match(k) or not isinstance(v, str) or _CONTROL.search(v):
                c.problem(where, "headers", f"{k!r} = {v!r} is not a valid header (a token name, a string value "
                                            "without control characters)")
        timeout = c.duration(t, "timeout", where, DEFAULT_WEBHOOK_TIMEOUT_S, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
        if problem:
            return None
        return WebhookAction(str(url), {str(k): str(v) for k, v in headers.items()}, timeout or DEFAULT_WEBHOOK_TIMEOUT_S)
    if kind == "log":
        t = c.table(data, where, ("type", "level"))
        level = t.get("level", "warning")
        if not isinstance(level, str) or level.lower() not in LEVELS:
            c.problem(where, "level", f"{level!r} is not a log level; accepted: {', '.join(LEVELS)}")
            return None
        return LogAction(getattr(logging, level.upper()))
    if "type" not in data:
        c.problem(where, "type", 'is required; accepted: "email", "webhook", "log"')
    else:
        c.problem(where, "type", f"{kind!r} is not an action type; accepted: email, webhook, log")
    return None


def _url_problem(url: Any) -> Optional[str]:
    example = '(e.g. url = "https://hooks.example.com/genai")'
    if not isinstance(url, str) or not url:
        return f"is required: an http:// or https:// URL {example}"
    if _CONTROL.search(url) or " " in url:
        return f"{url!r} holds spaces or control characters {example}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc}) {example}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL with a host {example}"
    return None


def _window_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# ---------------------------------------------------------------------------- delivery


@dataclass
class _Waiting:
    notes: List[Notification] = field(default_factory=list)
    unlisted: int = 0
    attempts: int = 0
    not_before: float = 0.0


class Outbox:
    """The queue and worker thread of one destination (an SMTP server and its recipients, a webhook URL)."""

    def __init__(self, action: Action, retry_delays: Sequence[float], stopping: threading.Event) -> None:
        self.action = action
        self.retry_delays = tuple(retry_delays)
        self._stopping = stopping
        self._cond = threading.Condition()
        self._waiting: Dict[str, _Waiting] = {}
        self._limits: Dict[str, int] = {}
        self._sent_at: Dict[str, Deque[float]] = {}
        self._busy = False
        self._deadline: Optional[outbound.Deadline] = None
        self._thread: Optional[threading.Thread] = None
        self.sent = 0
        self.failed = 0
        self.given_up = 0
        self.last_error: Optional[str] = None

    # -------------------------------------------------------------- producer side
    def put(self, rule: Rule, notes: List[Notification]) -> None:
        with self._cond:
            w = self._waiting.setdefault(rule.name, _Waiting())
            w.notes.extend(notes)
            if len(w.notes) > MAX_WAITING:
                w.unlisted += len(w.notes) - MAX_WAITING
                del w.notes[:len(w.notes) - MAX_WAITING]
            self._limits[rule.name] = rule.max_per_hour
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"genai-tap-alerts-{self.action.kind}",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def waiting(self, rule: str) -> int:
        with self._cond:
            w = self._waiting.get(rule)
            return 0 if w is None else len(w.notes) + w.unlisted

    def idle(self) -> bool:
        with self._cond:
            return not self._busy and not any(w.not_before <= time.monotonic() and self._allowed(r, time.monotonic())
                                               for r, w in self._waiting.items())

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
            deadline = self._deadline
        if deadline is not None:
            deadline.expire()  # end the attempt in progress: stopping waits for no destination

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -------------------------------------------------------------- worker
    def _allowed(self, rule: str, now: float) -> bool:
        times = self._sent_at.get(rule)
        if not times:
            return True
        while times and now - times[0] >= 3600.0:
            times.popleft()
        return len(times) < self._limits.get(rule, DEFAULT_MAX_PER_HOUR)

    def _next(self) -> Optional[Tuple[str, _Waiting]]:
        """Under the lock: a batch that may go now, or None after waiting for one (or for stop)."""
        now = time.monotonic()
        wake = math.inf
        for rule, w in self._waiting.items():
            start = w.not_before
            if not self._allowed(rule, now):
                start = max(start, self._sent_at[rule][0] + 3600.0)
            if start <= now:
                del self._waiting[rule]
                self._busy = True
                return rule, w
            wake = min(wake, start)
        self._cond.wait(None if wake == math.inf else max(wake - now, 0.01))
        return None

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                item = self._next()
                if item is None:
                    continue
                deadline = self._deadline = outbound.Deadline(self.action.timeout_s)
            rule, w = item
            batch = Batch(rule, w.notes, w.unlisted)
            try:
                with deadline:
                    self.action.send(batch, deadline)
                error: Optional[SendError] = None
            except SendError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - a bug in one send must not end the worker
                log.exception("alert %r: %s failed", printable(rule), self.action.destination)
                error = SendError(f"{type(exc).__name__}: {exc}", retry=False)
            with self._cond:
                self._deadline = None
                self._busy = False
                if error is None:
                    self.sent += 1
                    self._sent_at.setdefault(rule, deque()).append(time.monotonic())
                    continue
                self.failed += 1
                self.last_error = printable(str(error))
                if self._stopping.is_set():
                    break
                if error.retry and w.attempts < len(self.retry_delays):
                    delay = self.retry_delays[w.attempts]
                    log.warning("alert %r: %s failed (%s); trying again in %gs", printable(rule),
                                self.action.destination, self.last_error, delay)
                    newer = self._waiting.pop(rule, None)
                    w.attempts += 1
                    w.not_before = time.monotonic() + delay
                    if newer is not None:  # what came meanwhile goes out with it, oldest first
                        w.notes += newer.notes
                        w.unlisted += newer.unlisted
                    self._waiting[rule] = w
                else:
                    self.given_up += batch.count
                    log.error("alert %r: %s failed (%s); gave up after %d attempt(s), %d notification(s) not sent",
                              printable(rule), self.action.destination, self.last_error, w.attempts + 1, batch.count)
        with self._cond:
            unsent = sum(len(w.notes) + w.unlisted for w in self._waiting.values())
        if unsent:
            log.warning("alerts: %d notification(s) for %s not sent: the collector stopped", unsent,
                        self.action.destination)

    def as_dict(self) -> Dict[str, Any]:
        with self._cond:
            waiting = sum(len(w.notes) + w.unlisted for w in self._waiting.values())
        return {"kind": self.action.kind, "destination": self.action.destination, "sent": self.sent,
                "failed_attempts": self.failed, "given_up": self.given_up, "waiting": waiting,
                "last_error": self.last_error}


# ---------------------------------------------------------------------------- engine


class Alerts:
    """Evaluates rules against the views; ``start()`` does it every ``interval_s``."""

    def __init__(self, rules: List[Rule], views: Views, interval_s: float = DEFAULT_INTERVAL_S,
                 retry_delays: Sequence[float] = RETRY_DELAYS_S) -> None:
        self.rules = rules
        self.views = views
        self.interval_s = max(interval_s, 0.01)
        self._firing: Dict[Tuple[str, Tuple[Tuple[str, str], ...]], bool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.outboxes: Dict[Tuple[Any, ...], Outbox] = {}
        for rule in rules:
            for action in rule.actions:
                if not isinstance(action, LogAction) and action.key not in self.outboxes:
                    self.outboxes[action.key] = Outbox(action, retry_delays, self._stop)

    def start(self) -> "Alerts":
        if self.rules:
            self._thread = threading.Thread(target=self._run, name="genai-tap-alerts", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop evaluating and end every delivery in progress; returns within about ``timeout_s``."""
        self._stop.set()
        for box in self.outboxes.values():
            box.stop()
        end = time.monotonic() + timeout_s
        if self._thread is not None:
            self._thread.join(max(end - time.monotonic(), 0.01))
        for box in self.outboxes.values():
            box.join(max(end - time.monotonic(), 0.01))

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every destination has sent what it may send now; False if time ran out."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if all(box.idle() for box in self.outboxes.values()):
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluate()
            except Exception:  # noqa: BLE001 - keep evaluating on the next tick
                log.exception("evaluating alert rules failed")

    def evaluate(self, now_ns: Optional[int] = None) -> List[Notification]:
        """Check every rule once; queue (and return) the notifications of state changes."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        sent: List[Notification] = []
        with self._lock:
            for rule in self.rules:
                changes: List[Notification] = []
                for subject, value in self._values(rule, now_ns).items():
                    key = (rule.name, subject)
                    firing = rule.fires(value)
                    if firing == self._firing.get(key, False):
                        continue
                    self._firing[key] = firing
                    changes.append(Notification(rule.name, FIRING if firing else RESOLVED, dict(subject), rule.metric,
                                                value, rule.threshold, rule.op, rule.window_s, now_ns))
                if changes:
                    self._dispatch(rule, changes)
                    sent += changes
        return sent

    def _values(self, rule: Rule, now_ns: int) -> Dict[Tuple[Tuple[str, str], ...], Optional[float]]:
        f = Filters(rule.app, rule.model, None, now_ns - int(rule.window_s * 1e9), now_ns + 1)
        keys = [GROUP_COLUMNS[g] for g in rule.group_by]
        usage = self.views.usage(f, keys)
        p95 = self.views.latency(f, keys) if rule.metric == "p95_latency_ms" else {}
        fixed = tuple((k, v) for k, v in (("app", rule.app), ("model", rule.model)) if v and k not in rule.group_by)
        values: Dict[Tuple[Tuple[str, str], ...], Optional[float]] = {}
        for group, u in usage.items():
            subject = fixed + tuple((g, str(v)) for g, v in zip(rule.group_by, group))
            values[subject] = rule.value(u, (p95.get(group) or {}).get("p95"))
        if not rule.group_by and fixed not in values:
            values[fixed] = rule.value(Usage(), None)
        for (name, subject), firing in self._firing.items():  # groups that went quiet: evaluate as empty
            if name == rule.name and firing and subject not in values:
                values[subject] = rule.value(Usage(), None)
        return values

    def _dispatch(self, rule: Rule, changes: List[Notification]) -> None:
        for n in changes:
            self.views.store.add_alert_event(n.time_ns, n.rule, n.subject_text, n.state, n.value, n.threshold,
                                             n.message)
        for action in rule.actions:
            if isinstance(action, LogAction):
                action.write(Batch(rule.name, changes))
            else:
                self.outboxes[action.key].put(rule, changes)

    def state(self) -> List[Dict[str, Any]]:
        """Each rule with the groups currently firing, for the UI."""
        with self._lock:  # evaluate() changes the states
            states = list(self._firing.items())
        out = []
        for rule in self.rules:
            firing = [dict(s) for (name, s), on in states if name == rule.name and on]
            waiting = sum(self.outboxes[a.key].waiting(rule.name) for a in rule.actions if a.key in self.outboxes)
            out.append({
                "name": rule.name, "metric": rule.metric, "op": rule.op, "threshold": rule.threshold,
                "window": _window_text(rule.window_s), "app": rule.app, "model": rule.model,
                "group_by": list(rule.group_by), "actions": [a.kind for a in rule.actions], "firing": firing,
                "max_notifications_per_hour": rule.max_per_hour, "waiting": waiting,
            })
        return out

    def destinations(self) -> List[Dict[str, Any]]:
        return [box.as_dict() for box in self.outboxes.values()]
