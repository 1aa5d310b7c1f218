#!/usr/bin/env bash
# Installs what the test suite needs beyond the Python packages of `.[all,test]`,
# on a fresh Debian machine (CI runs it as root through `make test`).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Datadog's test agent, for tests/datadog. It pins an older opentelemetry-proto than
# genai-tap needs, so it lives in a virtualenv of its own. No root needed.
TESTAGENT_VENV=.venv-testagent
if [ ! -x "$TESTAGENT_VENV/bin/ddapm-test-agent" ]; then
    python3 -m venv "$TESTAGENT_VENV"
    "$TESTAGENT_VENV/bin/pip" install --quiet --upgrade pip
    "$TESTAGENT_VENV/bin/pip" install --quiet 'ddapm-test-agent>=1.69,<2'
fi

# A chromium for the web UI tests (Playwright drives it; its own browser download cannot be
# reached from these machines): GENAI_TAP_TEST_CHROMIUM if set, else Debian's, installed
# with apt-get, which needs root.
CHROMIUM=${GENAI_TAP_TEST_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    if [ -n "${GENAI_TAP_TEST_CHROMIUM:-}" ] || [ "$(id -u)" -ne 0 ]; then
        echo "ci-setup: no chromium at $CHROMIUM, and apt-get needs root: install Debian's chromium" \
             "(apt-get install chromium) or set GENAI_TAP_TEST_CHROMIUM to a chromium binary (see CONTRIBUTING.md)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium
fi
