#!/usr/bin/env bash
# Part of `make test`, after the whole suite on the default Python: the tests where Python
# versions differ (how a process starts and exits, faults at exit, threads, fork,
# generators and their finalizers) again on every other Python from 3.10 to 3.13 this machine has, each in a
# virtualenv of its own (.venv-py3.X, made on first use like .venv). Python 3.12, for one,
# refuses to start a thread from an atexit callback; the others allow it.
# Versions it cannot find are named at the end: they were not tested, not passed.
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=(tests/test_launch.py tests/test_faults.py tests/test_finisher.py tests/test_production.py tests/test_streams.py)
current=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

find_python() {  # on PATH (and working: a pyenv shim may not be), else a pyenv install
    local v=$1 candidate
    if command -v "python$v" >/dev/null 2>&1 && "python$v" -c pass >/dev/null 2>&1; then
        command -v "python$v"
        return
    fi
    for candidate in "$pyenv_root"/versions/"$v".*/bin/python"$v"; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
}

tested=()
missing=()
for v in 3.10 3.11 3.12 3.13; do
    [ "$v" = "$current" ] && continue
    python=$(find_python "$v")
    if [ -z "$python" ]; then
        missing+=("$v")
        continue
    fi
    venv=".venv-py$v"
    if [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
        echo "== Python $v: installing the project into $venv"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
        "$venv/bin/pip" install --quiet -e '.[all,test]'
        touch "$venv/.installed"
    fi
    echo "== Python $v: ${TESTS[*]}"
    "$venv/bin/python" -m pytest -q "${TESTS[@]}"
    tested+=("$v")
done
echo "Other Pythons tested: ${tested[*]:-none}; not found on this machine (not tested): ${missing[*]:-none}"
