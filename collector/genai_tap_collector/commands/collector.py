"""``genai-tap collector``: receive OTLP, store GenAI calls, serve the UI, evaluate alerts."""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_db

HELP = "run the local collector: OTLP/HTTP in, SQLite store, web UI, cost estimates and alerts"
TOKEN_ENV = "GENAI_TAP_COLLECTOR_TOKEN"  # = exposure.TOKEN_ENV (not imported: keep `genai-tap --help` light)
FORWARD_HEADERS_ENV = "GENAI_TAP_FORWARD_HEADERS"  # = forwarder.HEADERS_ENV
EPILOG = f"""\
apps send to it with:
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=my-app genai-tap run python app.py

alert rules: `genai-tap collector --example-rules > alert-rules.toml` writes a commented
example (rules on error_count, error_rate, p95_latency_ms, tokens, cost_usd or calls
over a window, per app and/or model, with email, webhook and log actions); edit it and
pass --rules alert-rules.toml. SMTP logins come from $GENAI_TAP_SMTP_USERNAME and
$GENAI_TAP_SMTP_PASSWORD.

exposure: by default it listens on 127.0.0.1 only. To listen elsewhere (--host 0.0.0.0)
give a token (${TOKEN_ENV}, which keeps it out of `ps`, or --auth-token; 16+
characters); apps then send
OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>, and the UI asks for it once
(or open it with ?token=<token>). Requests naming another host than this machine's
are refused (421); --allowed-host adds a name (e.g. the one of a reverse proxy).

forwarding: --forward URL sends a copy of everything to another OTLP/HTTP endpoint,
with the headers of --forward-header name=value or ${FORWARD_HEADERS_ENV}
(name=value,name2=value2); redirects are not followed.
"""


def add_arguments(parser: Any) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_db(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; any other needs --auth-token)")
    parser.add_argument("--otlp-port", type=int, default=4318, help="OTLP/HTTP port (default: 4318; 0 picks a free one)")
    parser.add_argument("--ui-port", type=int, default=4319, help="web UI and JSON API port (default: 4319; 0 picks a free one)")
    parser.add_argument("--auth-token", metavar="TOKEN",
                        help=f"token every request must carry (default: ${TOKEN_ENV}); required with --host other than loopback")
    parser.add_argument("--allowed-host", metavar="NAME", action="append", default=[],
                        help="a host name requests may be addressed to, besides this machine's names and IP addresses "
                             "(repeatable)")
    parser.add_argument("--rules", metavar="FILE", help="alert rules (TOML); --example-rules prints an example")
    parser.add_argument("--example-rules", action="store_true",
                        help="print an example alert rules file (commented) and exit")
    parser.add_argument("--forward", metavar="URL",
                        help="also send everything received to this OTLP/HTTP endpoint (e.g. http://otel-collector:4318)")
    parser.add_argument("--forward-header", metavar="NAME=VALUE", action="append", default=[],
                        help=f"a header to send with --forward (repeatable; also ${FORWARD_HEADERS_ENV})")
    parser.add_argument("--retention", default="7d",
                        help="keep calls this long: 30m, 12h, 7d, ... or 0 to keep everything (default: 7d)")
    parser.add_argument("--prices", metavar="FILE",
                        help="price table overriding the shipped one, model by model (default: $GENAI_TAP_PRICES)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="collector log level (default: INFO)")


def example_rules() -> str:
    from importlib import resources

    return resources.files("genai_tap_collector").joinpath("alert-rules.example.toml").read_text(encoding="utf-8")


def main(args: Any) -> int:
    import logging
    import os
    import signal
    import sys

    from ..configfile import ConfigError
    from ..forwarder import env_headers, parse_headers
    from ..server import Collector
    from .common import default_db, fail

    if args.example_rules:
        sys.stdout.write(example_rules())
        return 0
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, port in (("--otlp-port", args.otlp_port), ("--ui-port", args.ui_port)):
        if not 0 <= port <= 65535:
            return fail("collector", f"{name}={port} is not a port; use 0 (any free port) to 65535")
    db = args.db or default_db()
    token = args.auth_token if args.auth_token is not None else os.environ.get(TOKEN_ENV) or None
    try:
        headers = {**env_headers(), **parse_headers(args.forward_header, "--forward-header")}
        if headers and not args.forward:
            raise ConfigError("--forward-header (or $" + FORWARD_HEADERS_ENV + ") needs --forward URL")
        collector = Collector(db, args.host, args.otlp_port, args.ui_port, rules=args.rules, forward=args.forward,
                              retention=args.retention, prices=args.prices, auth_token=token,
                              allowed_hosts=args.allowed_host, forward_headers=headers)
        collector.start()
    except ConfigError as exc:
        return fail("collector", str(exc))
    except OSError as exc:
        return fail("collector", f"cannot listen on {args.host} (--otlp-port {args.otlp_port}, --ui-port {args.ui_port}): {exc}")
    signal.signal(signal.SIGTERM, lambda *_: collector.stop())
    print(f"genai-tap collector: OTLP/HTTP on {collector.otlp_url}  (export OTEL_EXPORTER_OTLP_ENDPOINT={collector.otlp_url})", flush=True)
    if token:
        print("  auth:     every request needs the token: apps send "
              "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>; the UI asks for it once", flush=True)
    print(f"  web UI:   {collector.ui_url}", flush=True)
    print(f"  database: {db}" + (f"  ·  {len(collector.rules)} alert rule(s) from {args.rules}" if args.rules else ""), flush=True)
    try:
        collector.wait()
    except KeyboardInterrupt:
        pass
    finally:
        collector.stop()
    return 0
