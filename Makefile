# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export QT_QPA_PLATFORM ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,offscreen)

.PHONY: run test install install-dev package test-package clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools<81" wheel

# torch first, pinned: on a CPU-only machine this takes the local CPU wheel, not several GB of CUDA.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

$(VENV)/.installed-package: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[package]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(VENV)/bin/facestudio gui

test: install-dev
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# A one-folder desktop bundle (dist/FaceStudio/) and its self-test on the embedded sample.
package: $(VENV)/.installed-package
	$(PY) packaging/build.py

test-package: $(VENV)/.installed-package
	$(PY) packaging/build.py --clean --check

clean:
	rm -rf $(VENV) build dist .pytest_cache
