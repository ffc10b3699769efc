# Everything a fresh machine needs: `make demo` (the main job) and `make test`.
# GPU users: create .venv yourself, install your CUDA torch, then `make test` reuses it.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.bonenet-installed
OUT     ?= runs/demo

.PHONY: venv test test-fast demo lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements-cpu.txt requirements-lock.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q -r requirements-cpu.txt
	$(BIN)/python -m pip install -q -c requirements-lock.txt -e ".[dev]"
	touch $(STAMP)

# --max-worker-restart: pytest-xdist 3.8 can wait forever after replacing a crashed worker
# under --dist loadfile (pytest-dev/pytest-xdist#784, #1327); with a cap the run ends, and
# the crash is a failure naming the test
XDIST   := -n 2 --dist loadfile --max-worker-restart 2

test: venv
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: venv
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

demo: venv
	$(BIN)/bonenet demo --out $(OUT)

lint: venv
	$(BIN)/ruff check bonenet tests benchmarks scripts

bench: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache runs
