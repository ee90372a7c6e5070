# Two commands for a new machine: `make book` and `make test`. Both create .venv first (idempotent).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PRESET ?= cpu
# pytest-xdist workers for `make test`: one per core (at most 4)
TEST_JOBS ?= auto

.PHONY: book test test-fast bench data-real clean-book venv

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (stella .venv)" >/dev/null
	@touch $(STAMP)

venv: $(STAMP)

# the tuxpaint stamps first (fetched once, kept in data/tuxpaint); without apt the book builds without them
book: $(STAMP)
	$(VENV)/bin/stella data-real --optional
	$(VENV)/bin/stella book --preset $(PRESET)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_JOBS) --maxprocesses 4 --dist worksteal --durations=20 tests

test-fast: $(STAMP)
	$(PY) -m pytest -q tests -m "not smoke and not slow"

bench: $(STAMP)
	$(PY) -m benchmarks.run_all --preset $(PRESET) $(if $(DEVICE),--device $(DEVICE))

data-real: $(STAMP)
	$(VENV)/bin/stella data-real

clean-book:
	rm -rf book/_build book/notebooks
