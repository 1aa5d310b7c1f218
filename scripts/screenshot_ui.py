"""Screenshots of the local collector's UI for the documentation.

Starts the Bedrock emulator and a collector on free ports, runs the example apps of
``make demo`` under ``genai-tap run`` against them (reusing scripts/demo.py), then has
Debian's chromium (driven by Playwright) save the applications page and one trace page:

    .venv/bin/python scripts/screenshot_ui.py            # docs/images/collector-ui.png, collector-trace.png
    .venv/bin/python scripts/screenshot_ui.py --out DIR

Needs a chromium: GENAI_TAP_TEST_CHROMIUM, else /usr/bin/chromium (``scripts/ci-setup.sh`` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo  # noqa: E402  (scripts/demo.py: the apps, their environment and how to run them)

CHROMIUM = os.environ.get("GENAI_TAP_TEST_CHROMIUM") or "/usr/bin/chromium"
#: the launch options of tests/collector/test_collector_browser.py
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH, HEIGHT = 1280, 800
#: the trace shown: the support bot's second call (the tool's result sent back, and the answer)
TRACE_APP = "support-bot"


def get(url: str) -> Dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=demo.ROOT / "docs" / "images", help="where to save the PNG files")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"screenshot_ui: {CHROMIUM} is missing: run scripts/ci-setup.sh (apt-get install chromium)", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    from genai_tap.emulator import Emulator
    from genai_tap_collector.server import Collector

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="genai-tap-shots-") as work:
        emulator = Emulator(latency_ms=30, chunk_delay_ms=15, port=0).start()
        collector = Collector(Path(work) / "collector.db", otlp_port=0, ui_port=0).start()
        try:
            env = demo.app_env(emulator, collector)
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.otlp_url  # never the default port: ours is a free one
            emulator.add_fault("ThrottlingException", count=7, model="amazon.nova-micro-v1:0")  # as in the demo
            for script, service, what in demo.APPS:
                proc = demo.run_app(script, service, env)
                print(f"examples/{script:<22} {service:<17} {what} [{'ok' if proc.returncode == 0 else proc.returncode}]")
                if proc.returncode:
                    print(proc.stderr, file=sys.stderr)
                    return 1
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(get(collector.ui_url + "/api/apps")["apps"]) < len(demo.APPS):
                time.sleep(0.1)
            traces = get(collector.ui_url + f"/api/traces?app={TRACE_APP}")["items"]
            if not traces:
                print(f"screenshot_ui: no trace of {TRACE_APP} reached the collector", file=sys.stderr)
                return 1

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
                page.goto(collector.ui_url + "/")
                page.screenshot(path=str(args.out / "collector-ui.png"))
                page.goto(collector.ui_url + f"/traces/{traces[0]['trace_id']}")
                page.screenshot(path=str(args.out / "collector-trace.png"))
                browser.close()
        finally:
            collector.stop()
            emulator.stop()
    for name in ("collector-ui.png", "collector-trace.png"):
        print(f"saved {(args.out / name).relative_to(demo.ROOT) if args.out.is_relative_to(demo.ROOT) else args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
