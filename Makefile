# Two commands do all the set-up on a fresh machine:
#   make demo   - an unmodified Bedrock app under genai-tap against the local emulator, showing what was captured
#   make test   - the whole test suite (installs what the tests need first), then its
#                 version-sensitive tests on the machine's other Pythons 3.10-3.13
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench bench-async bench-instructions clean

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

test: $(VENV)/.installed
	./scripts/ci-setup.sh
	$(PY) -m pytest
	./scripts/test-other-pythons.sh

bench: $(VENV)/.installed
	$(PY) scripts/bench.py

# the same for async calls through aiobotocore, beside the sync ones (peers' venvs: .venv-bench/<peer>-aio)
bench-async: $(VENV)/.installed
	$(PY) scripts/bench.py --async

# instructions per call under valgrind (needs valgrind, and the peers' venvs `make bench` creates)
bench-instructions: $(VENV)/.installed
	$(PY) scripts/bench_instructions.py

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[all,test]'
	touch $@

clean:
	rm -rf $(VENV) .venv-* .pytest_cache
