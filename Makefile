# One entry point for people and CI. `make run` installs everything and serves the bundled
# corpus on http://127.0.0.1:8000/; `make test` runs the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
SPEECHQA := $(VENV)/bin/speechqa
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run build test bench clean

install: $(VENV)/.installed

# torch goes first and pinned: the machine's local CPU wheel; left to the resolver, a
# dependency's unpinned torch would pull several GB of CUDA wheels.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

build: install
	$(SPEECHQA) build

run: install
	$(SPEECHQA) build --if-missing
	$(SPEECHQA) serve --host $(HOST) --port $(PORT)

test: install
	bash .ci/install-browser
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) var
