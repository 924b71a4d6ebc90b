# make run  : create .venv, install lipauth, serve the API and page on http://127.0.0.1:8000/ (embedded SQLite store)
#             (the offline demo is still 'lipauth demo --out-dir out')
# make test : install test extras, run the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out
# mediapipe 0.10.21 is installed without its declared deps (opencv-contrib, jax):
# pyproject.toml lists the ones it really needs at run time.
MEDIAPIPE := mediapipe==0.10.21
# resemblyzer ships the voice-encoder weights that lipauth.features.voiceprint reads with
# numpy; --no-deps keeps its torch requirement out.
RESEMBLYZER := resemblyzer==0.1.4

.PHONY: run test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the service needs only the default install; the test extras (Ray, Playwright, pyarrow,
# psycopg, httpx, ...) are installed by 'make test'
$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps $(MEDIAPIPE) $(RESEMBLYZER)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/lipauth serve

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# every benchmarks/bench_*.py, then one table of their BENCH lines (stage, time, ratio, memory)
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
