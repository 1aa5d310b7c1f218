#!/usr/bin/env bash
# Installs what the test suite needs beyond the Python packages of `.[all,test]`.
# Idempotent; `make test` runs it on every call, on a fresh Debian machine as root in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
