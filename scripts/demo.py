"""`make demo`: unmodified Bedrock apps under genai-tap, against the embedded defaults.

Starts, all on 127.0.0.1:
  1. the Bedrock emulator (no AWS account needed),
  2. a local mailbox (an SMTP server writing mail to .tmp/demo/mailbox/),
  3. `genai-tap collector` on OTLP's default port 4318 (UI on 4319), with an alert rule
     "5 or more errors in 5 minutes -> email",
then runs the plain boto3 apps in examples/ under `genai-tap run`, one of which gets
throttled, and shows what was captured: the stats, the alert email, and the UI's address.
With --once it exits after that (used by the test suite); otherwise it keeps the UI up
until Ctrl-C. When a port it prefers is taken it uses a free one and says so; the
commands it prints name the ports and files it used, and run as shown from any directory.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import time
from email import message_from_bytes
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".tmp" / "demo"
APPS = [
    ("nova_lite.py", "nova-lite-app", "InvokeModel, Amazon Nova Lite"),
    ("support_bot.py", "support-bot", "Converse with a tool round trip, Claude"),
    ("streaming_chat.py", "chat-ui", "ConverseStream and InvokeModelWithResponseStream"),
    ("knowledge_indexer.py", "indexer", "Titan v2 embeddings"),
    ("flaky_batch.py", "batch-summariser", "a batch job that Bedrock throttles"),
]
RULES = """
[settings]
interval = "2s"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "genai-tap@localhost"

[[rules]]
name = "errors piling up"
metric = "error_count"
op = ">="
threshold = 5
window = "5m"
group_by = ["app"]

  [[rules.actions]]
  type = "email"
  to = ["oncall@example.com"]

  [[rules.actions]]
  type = "log"
"""


def say(step: str, what: str, value: str = "") -> None:
    print(f"{step:>6}  {what:<42} {value}", flush=True)


def free_or(port: int) -> int:
    """``port`` if it is free on 127.0.0.1, else any free port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_note(chosen: int, wanted: int) -> str:
    return "" if chosen == wanted or wanted == 0 else f"  ({wanted} was taken; using {chosen})"


def genai_tap_command() -> List[str]:
    """How to run genai-tap from any directory: the script next to this Python, else ``python -m``."""
    script = Path(sys.executable).parent / "genai-tap"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "genai_tap.cli"]


def shell(words: List[str]) -> str:
    """A command line for a POSIX shell; leading NAME=value words are environment assignments."""
    out: List[str] = []
    for word in words:
        name, sep, value = word.partition("=")
        if sep and len(out) == sum("=" in w for w in out) and name.isidentifier() and name.isupper():
            out.append(f"{name}={shlex.quote(value)}")
        else:
            out.append(shlex.quote(word))
    return " ".join(out)


class Mailbox:
    """A local SMTP server that writes each message to a file."""

    def __init__(self, folder: Path, port: int) -> None:
        from aiosmtpd.controller import Controller

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                n = len(list(box.folder.glob("*.eml"))) + 1
                (box.folder / f"{n:03d}.eml").write_bytes(envelope.content)
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()
        self.port = self.controller.port

    def messages(self):
        return [message_from_bytes(p.read_bytes()) for p in sorted(self.folder.glob("*.eml"))]

    def stop(self) -> None:
        self.controller.stop()


def app_env(emulator, collector) -> dict:
    """The environment of an example app: the emulator as Bedrock, the collector as OTLP endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_TAP_", "DD_", "AWS_"))}
    env.update(
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=emulator.url,
        OTEL_METRIC_EXPORT_INTERVAL="5000",
    )
    if collector.otlp_port != 4318:  # the default endpoint was taken: point the apps at ours
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.otlp_url
    return env


def run_app(script: str, service: str, env: dict) -> subprocess.CompletedProcess:
    """Run ``examples/<script>`` under ``genai-tap run`` as application ``service``."""
    cmd = [sys.executable, "-m", "genai_tap.cli", "run", sys.executable, str(ROOT / "examples" / script)]
    return subprocess.run(cmd, env=dict(env, OTEL_SERVICE_NAME=service), capture_output=True, text=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="exit after showing what was captured")
    parser.add_argument("--otlp-port", type=int, default=4318, help="OTLP port to use if free (default: 4318)")
    parser.add_argument("--ui-port", type=int, default=4319, help="UI port to use if free (default: 4319)")
    parser.add_argument("--smtp-port", type=int, default=1025, help="local mailbox port to use if free (default: 1025)")
    args = parser.parse_args()

    from genai_tap.emulator import Emulator
    from genai_tap_collector.server import Collector

    WORK.mkdir(parents=True, exist_ok=True)
    for old in list(WORK.glob("collector.db*")) + list((WORK / "mailbox").glob("*.eml")):
        old.unlink()

    print("genai-tap demo: unmodified Bedrock apps, traced with zero code change\n")
    emulator = Emulator(latency_ms=30, chunk_delay_ms=15).start()
    say("[1/5]", "Bedrock emulator", emulator.url)
    mailbox = Mailbox(WORK / "mailbox", free_or(args.smtp_port))
    say("[2/5]", "local mailbox (SMTP)",
        f"127.0.0.1:{mailbox.port} -> {mailbox.folder}/{port_note(mailbox.port, args.smtp_port)}")
    rules = WORK / "alert-rules.toml"
    rules.write_text(RULES.format(smtp_port=mailbox.port))
    otlp_port, ui_port = free_or(args.otlp_port), free_or(args.ui_port)
    collector = Collector(WORK / "collector.db", otlp_port=otlp_port, ui_port=ui_port, rules=str(rules)).start()
    say("[3/5]", "genai-tap collector", f"OTLP {collector.otlp_url}, UI {collector.ui_url}")
    for note in (port_note(collector.otlp_port, args.otlp_port), port_note(collector.ui_port, args.ui_port)):
        if note:
            print(f"        {note.strip(' ()')}")

    env = app_env(emulator, collector)
    # the batch job's model is throttled 7 times: enough to fire the alert
    emulator.add_fault("ThrottlingException", count=7, model="amazon.nova-micro-v1:0")

    say("[4/5]", "running the apps under `genai-tap run`:")
    failed = 0
    for script, service, what in APPS:
        proc = run_app(script, service, env)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        failed += proc.returncode != 0
        print(f"        examples/{script:<22} {service:<17} {what} [{status}]")
        for line in (proc.stdout.strip().splitlines() or [])[-2:]:
            print(f"            | {line[:100]}")
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)

    # every app has exited, so its telemetry was flushed; evaluate the alert rules now
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and collector.received["spans"] < 10:
        time.sleep(0.1)
    collector.alerts.evaluate()
    collector.alerts.flush(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not mailbox.messages():
        time.sleep(0.1)
    mails = mailbox.messages()
    say("[5/5]", "alerts", f"{len(mails)} email(s) in the local mailbox")
    for mail in mails:
        print(f"        To: {mail['To']}  Subject: {mail['Subject']}")

    tap, db = genai_tap_command(), str(WORK / "collector.db")
    stats = [*tap, "stats", "--db", db]
    print(f"\nWhat genai-tap captured ({shell(stats)}):\n")
    subprocess.run(stats, check=False)
    print(f"\nOpen the UI: {collector.ui_url}  (applications, summaries, traces with prompts and completions, errors, alerts)")
    print("From a terminal (these work from any directory):")
    print(f"  {shell([*tap, 'traces', '--db', db])}")
    print(f"  {shell(stats)}")
    endpoint = [] if collector.otlp_port == 4318 else [f"OTEL_EXPORTER_OTLP_ENDPOINT={collector.otlp_url}"]
    what = "while the demo runs, " if not args.once else "with the demo running (without --once), "
    print(f"Trace your own app {what}into this collector:")
    print(f"  {shell([*endpoint, 'OTEL_SERVICE_NAME=my-app', *tap, 'run', 'python', 'app.py'])}")
    try:
        if not args.once:
            print("Ctrl-C to stop.")
            collector.wait()
    except KeyboardInterrupt:
        pass
    finally:
        collector.stop()
        mailbox.stop()
        emulator.stop()
    return 1 if failed or not mails else 0


if __name__ == "__main__":
    sys.exit(main())
