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

# worksteal, not loadfile: after replacing a crashed worker, pytest-xdist 3.8 under
# loadfile/loadscope can wait forever for work it never sends (pytest-dev/pytest-xdist#784,
# #1327; reproduced here with a test that crashes once as the last of its file, with or
# without --max-worker-restart). Under worksteal the crash is one failure naming the test.
XDIST   := -n 2 --dist worksteal

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
