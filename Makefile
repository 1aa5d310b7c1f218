# Two commands do all the set-up on a fresh machine:
#   make demo   - an unmodified Bedrock app under genai-tap against the local emulator, showing what was captured
#   make test   - lint and types, the whole test suite (installs what the tests need first), then the
#                 dependency matrix: version-sensitive tests on the other Pythons 3.10-3.13 and on the
#                 oldest and newest releases of the dependencies genai-tap claims (scripts/test_matrix.py)
#   make test-fast - the tests not marked slow, in well under a minute
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast bench bench-async bench-instructions clean

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

test: $(VENV)/.installed
	./scripts/ci-setup.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest
	$(PY) scripts/test_matrix.py

test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow"

bench: $(VENV)/.installed
	$(PY) scripts/bench.py

# the same for async calls through aiobotocore, beside the sync ones (peers' venvs: .venv-bench/<peer>-aio)
bench-async: $(VENV)/.installed
	$(PY) scripts/bench.py --async

# instructions per call under valgrind (needs valgrind, and the peers' venvs `make bench` creates)
bench-instructions: $(VENV)/.installed
	$(PY) scripts/bench_instructions.py

# uv installs in seconds what pip takes minutes for (the matrix's virtualenvs use it too)
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip 'uv>=0.4'
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[all,test]'
	touch $@

clean:
	rm -rf $(VENV) .venv-* .pytest_cache
