#!/usr/bin/env bash
# Installs what the test suite needs beyond the Python packages of `.[all,test]`,
# on a fresh Debian machine (CI runs it as root through `make test`).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's chromium for the web UI tests (Playwright drives it; its own browser
# download cannot be reached from these machines).
if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium
fi
