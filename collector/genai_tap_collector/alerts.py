"""Alert rules: a condition over a time window, checked on a schedule, with actions.

A rules file (TOML) holds ``[settings]``, an optional ``[smtp]`` server and
``[[rules]]``; see ``collector/alert-rules.example.toml``. Each rule watches
one metric (error_count, error_rate, p95_latency_ms, tokens, cost_usd, calls)
over a window, optionally for one app and/or model, and, with ``group_by``,
separately for every app and/or model it sees.

A rule notifies once when it starts firing and once when it recovers, never
while its state holds: state is kept per rule and group, so a flood of errors
gives one email, not one per evaluation. Actions are email (SMTP, optional
STARTTLS or TLS, credentials from environment variables), a webhook (JSON
POST) and a log line; a failing action is logged and does not stop the others.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .logs import log
from .configfile import ConfigError, load_toml, parse_duration
from .store import Filters
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
DEFAULT_INTERVAL_S = 30.0
SMTP_POLICY = SMTP.clone(max_line_length=998)
SMTP_USERNAME_ENV = "GENAI_TAP_SMTP_USERNAME"
SMTP_PASSWORD_ENV = "GENAI_TAP_SMTP_PASSWORD"


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
        return ", ".join(f"{k}={v}" for k, v in self.subject.items()) or "all calls"

    @property
    def message(self) -> str:
        value = "no data" if self.value is None else f"{self.value:g}"
        verb = "FIRING" if self.state == FIRING else "RESOLVED"
        return (f"[{verb}] {self.rule}: {self.metric} = {value} ({self.op} {self.threshold:g} "
                f"over {_window_text(self.window_s)}) for {self.subject_text}")

    def as_dict(self) -> Dict[str, Any]:
        return {
            "rule": self.rule, "state": self.state, **{k: v for k, v in self.subject.items()},
            "subject": self.subject_text, "metric": self.metric, "value": self.value,
            "threshold": self.threshold, "op": self.op, "window_seconds": self.window_s,
            "time_ns": self.time_ns, "message": self.message,
        }


# ---------------------------------------------------------------------------- actions


@dataclass
class Smtp:
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    tls: bool = False  # implicit TLS (port 465)
    sender: str = "genai-tap@localhost"
    username_env: str = SMTP_USERNAME_ENV
    password_env: str = SMTP_PASSWORD_ENV
    timeout_s: float = 10.0

    def send(self, to: Sequence[str], subject: str, body: str) -> None:
        msg = EmailMessage(policy=SMTP_POLICY)  # no folding: the subject is the whole alert
        msg["From"], msg["To"], msg["Subject"] = self.sender, ", ".join(to), subject
        msg.set_content(body)
        cls = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        with cls(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls and not self.tls:
                smtp.starttls(context=ssl.create_default_context())
            user = os.environ.get(self.username_env)
            if user:
                smtp.login(user, os.environ.get(self.password_env, ""))
            smtp.send_message(msg)


class Action:
    kind = ""

    def notify(self, n: Notification) -> None:
        raise NotImplementedError


@dataclass
class EmailAction(Action):
    to: List[str]
    smtp: Smtp
    kind = "email"

    def notify(self, n: Notification) -> None:
        body = "\n".join([n.message, "", *(f"{k}: {v}" for k, v in n.as_dict().items() if k != "message"), ""])
        self.smtp.send(self.to, n.message, body)


@dataclass
class WebhookAction(Action):
    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    kind = "webhook"

    def notify(self, n: Notification) -> None:
        data = json.dumps(n.as_dict()).encode()
        req = urllib.request.Request(self.url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **self.headers})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            resp.read()


@dataclass
class LogAction(Action):
    level: int = logging.WARNING
    kind = "log"

    def notify(self, n: Notification) -> None:
        log.log(self.level, "alert %s", n.message)


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


def load_rules(path: str) -> Tuple[List[Rule], float]:
    """Rules and the evaluation interval (seconds) from a TOML file."""
    data = load_toml(path, "--rules file")
    where = f"--rules file {path!r}"
    _known(data, ("settings", "smtp", "rules"), where)
    settings = data.get("settings") or {}
    _known(settings, ("interval",), f"{where} [settings]")
    interval = parse_duration(settings.get("interval", DEFAULT_INTERVAL_S), f"{where} [settings] interval")
    smtp = _smtp(data.get("smtp"), where)
    rules_data = data.get("rules") or []
    if not isinstance(rules_data, list):
        raise ConfigError(f"{where}: rules must be an array of tables ([[rules]])")
    rules = [_rule(i, r, smtp, where) for i, r in enumerate(rules_data)]
    names = [r.name for r in rules]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"{where}: rule names must be unique; repeated: {', '.join(sorted(dupes))}")
    return rules, interval


def _known(table: Any, accepted: Sequence[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - set(accepted)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; accepted: {', '.join(accepted)}")


def _smtp(data: Any, where: str) -> Optional[Smtp]:
    if data is None:
        return None
    fields = ("host", "port", "starttls", "tls", "from", "username_env", "password_env", "timeout")
    _known(data, fields, f"{where} [smtp]")
    s = Smtp()
    s.host = str(data.get("host", s.host))
    s.port = int(data.get("port", 465 if data.get("tls") else s.port))
    s.starttls, s.tls = bool(data.get("starttls", False)), bool(data.get("tls", False))
    s.sender = str(data.get("from", s.sender))
    s.username_env = str(data.get("username_env", s.username_env))
    s.password_env = str(data.get("password_env", s.password_env))
    s.timeout_s = parse_duration(data.get("timeout", s.timeout_s), f"{where} [smtp] timeout")
    return s


def _rule(i: int, data: Any, smtp: Optional[Smtp], where: str) -> Rule:
    name = data.get("name") if isinstance(data, dict) else None
    at = f"{where} rule {name or i + 1!r}"
    fields = ("name", "metric", "op", "threshold", "window", "app", "model", "group_by", "min_calls", "actions")
    _known(data, fields, at)
    if not name:
        raise ConfigError(f"{at}: every rule needs a name")
    metric = data.get("metric")
    if metric not in METRICS:
        raise ConfigError(f"{at}: metric={metric!r}; accepted: {', '.join(METRICS)}")
    op = data.get("op", ">=")
    if op not in OPS:
        raise ConfigError(f"{at}: op={op!r}; accepted: {', '.join(OPS)}")
    threshold = data.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"{at}: threshold must be a number (got {threshold!r})")
    if "window" not in data:
        raise ConfigError(f"{at}: window is required (e.g. window = \"5m\")")
    group_by = data.get("group_by", [])
    if isinstance(group_by, str):
        group_by = [group_by]
    bad = [g for g in group_by if g not in GROUP_COLUMNS]
    if bad:
        raise ConfigError(f"{at}: group_by={group_by!r}; accepted: app, model")
    actions = data.get("actions") or []
    if not actions:
        raise ConfigError(f"{at}: needs at least one action ([[rules.actions]] with type = email, webhook or log)")
    return Rule(
        name=str(name), metric=metric, op=op, threshold=float(threshold),
        window_s=parse_duration(data["window"], f"{at} window"),
        actions=[_action(a, smtp, at) for a in actions],
        app=data.get("app"), model=data.get("model"), group_by=tuple(group_by),
        min_calls=int(data.get("min_calls", 1)),
    )


def _action(data: Any, smtp: Optional[Smtp], at: str) -> Action:
    if not isinstance(data, dict):
        raise ConfigError(f"{at}: each action is a table with a type (email, webhook or log)")
    kind = data.get("type")
    if kind == "email":
        _known(data, ("type", "to"), f"{at} email action")
        to = data.get("to")
        to = [to] if isinstance(to, str) else to
        if not to:
            raise ConfigError(f"{at}: the email action needs to = [\"someone@example.com\"]")
        if smtp is None:
            raise ConfigError(f"{at}: the email action needs an [smtp] table (host, port, starttls, from)")
        return EmailAction([str(t) for t in to], smtp)
    if kind == "webhook":
        _known(data, ("type", "url", "headers"), f"{at} webhook action")
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{at}: the webhook action needs url = \"http(s)://...\" (got {url!r})")
        return WebhookAction(url, {str(k): str(v) for k, v in (data.get("headers") or {}).items()})
    if kind == "log":
        _known(data, ("type", "level"), f"{at} log action")
        level = str(data.get("level", "warning")).upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"{at}: log level={level!r}; accepted: debug, info, warning, error, critical")
        return LogAction(getattr(logging, level))
    raise ConfigError(f"{at}: action type={kind!r}; accepted: email, webhook, log")


def _window_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# ---------------------------------------------------------------------------- engine


class Alerts:
    """Evaluates rules against the store; ``start()`` does it every ``interval_s``."""

    def __init__(self, rules: List[Rule], views: Views, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.rules = rules
        self.views = views
        self.interval_s = interval_s
        self._firing: Dict[Tuple[str, Tuple[Tuple[str, str], ...]], bool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "Alerts":
        if self.rules:
            self._thread = threading.Thread(target=self._run, name="genai-tap-alerts", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluate()
            except Exception:  # noqa: BLE001 - keep evaluating on the next tick
                log.exception("evaluating alert rules failed")

    def evaluate(self, now_ns: Optional[int] = None) -> List[Notification]:
        """Check every rule once; send and return the notifications of state changes."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        sent: List[Notification] = []
        with self._lock:
            for rule in self.rules:
                for subject, value in self._values(rule, now_ns).items():
                    key = (rule.name, subject)
                    firing = rule.fires(value)
                    if firing == self._firing.get(key, False):
                        continue
                    self._firing[key] = firing
                    n = Notification(rule.name, FIRING if firing else RESOLVED, dict(subject), rule.metric, value,
                                     rule.threshold, rule.op, rule.window_s, now_ns)
                    self._dispatch(rule, n)
                    sent.append(n)
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

    def _dispatch(self, rule: Rule, n: Notification) -> None:
        self.views.store.add_alert_event(n.time_ns, n.rule, n.subject_text, n.state, n.value, n.threshold, n.message)
        for action in rule.actions:
            try:
                action.notify(n)
            except Exception as exc:  # noqa: BLE001 - one failing action must not stop the others
                log.error("alert %r: %s action failed: %s", rule.name, action.kind, exc)

    def state(self) -> List[Dict[str, Any]]:
        """Each rule with the groups currently firing, for the UI."""
        out = []
        for rule in self.rules:
            firing = [dict(s) for (name, s), on in self._firing.items() if name == rule.name and on]
            out.append({
                "name": rule.name, "metric": rule.metric, "op": rule.op, "threshold": rule.threshold,
                "window": _window_text(rule.window_s), "app": rule.app, "model": rule.model,
                "group_by": list(rule.group_by), "actions": [a.kind for a in rule.actions], "firing": firing,
            })
        return out
