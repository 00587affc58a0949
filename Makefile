# warmbook: two commands on a fresh machine (and one to read without running).
#   make book  -> environment + embedded model + the demo study on CPU + the HTML book
#   make read  -> environment + the HTML book from the committed snapshot of the demo study (about a minute)
#   make test  -> environment + the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STUDY  ?= configs/demo.yaml
STAMP  := $(VENV)/.installed

.PHONY: setup book read snapshot test lint status benchmark chromium

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Headless Chromium for the browser check of the built book (Debian package).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

setup: $(STAMP)
	$(BIN)/python -m helpers prepare-model

# The book is built even when a run failed (its partial notebook shows where); make still exits non-zero then.
book: setup
	@$(BIN)/python -m helpers run $(STUDY); status=$$?; \
	$(BIN)/python -m helpers build-book $(STUDY) && exit $$status

# Read the committed snapshot (snapshots/<study>/) without running anything.
read: $(STAMP)
	$(BIN)/python -m helpers build-book $(STUDY) --from-snapshot

# Replace the committed snapshot with the study as last computed by `make book`.
snapshot: $(STAMP)
	$(BIN)/python -m helpers snapshot $(STUDY)

test: setup chromium
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

status: $(STAMP)
	$(BIN)/python -m helpers status $(STUDY)

benchmark: setup
	$(BIN)/python -m helpers benchmark
