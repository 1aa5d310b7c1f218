#!/bin/sh
# System packages the test suite needs, for a fresh Debian machine (run as root).
# Idempotent: installs only what is missing. Playwright's own browser download is
# not used: the tests drive Debian's chromium (/usr/bin/chromium).
set -eu

if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium
fi
