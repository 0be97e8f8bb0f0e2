# The two commands a reader needs: `make book` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test install lint unit notebooks browser clean seeds mutate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install only when the requirements or the package metadata change.
$(STAMP): $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## make book: execute every notebook and build the HTML into _build/html (strict: warnings fail).
book: install
	$(BIN)/jupyter-book build . -W -n --keep-going --builder html
	@echo "Open: $(abspath _build/html/index.html)"

## make test: lint, unit tests and doctests, then every notebook under nbval.
test: install lint unit notebooks

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: install
	$(BIN)/pytest -q tests --ignore=tests/browser --doctest-modules companion

notebooks: install
	$(BIN)/pytest -q --nbval-lax --durations=0 -p no:randomly book/

## make browser: after `make book`, check every page in headless Chromium (see tests/browser/).
browser: install
	$(BIN)/pytest -q tests/browser

## make seeds NB=book/x.ipynb: run one notebook with seeds 0, 1 and 2 (the margins must hold for all).
seeds: install
	$(BIN)/python tests/run_seeds.py $(NB)

## make mutate [MODULES="mlm core_training"]: break the code once per hand-written mutant
## (tests/mutants/) and check that the tests catch it. Not part of CI: a few minutes per module.
mutate: install
	OMP_NUM_THREADS=1 $(BIN)/python tests/mutate.py $(MODULES)

clean:
	rm -rf _build
