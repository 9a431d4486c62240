# Two commands do everything on a fresh machine with Python 3.11 and make:
#   make run    start the whole suite on embedded defaults
#   make test   run every test (lint, unit, API, suite, PostgreSQL, Redis, Postman)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := -e libs/kit -e libs/imaging -e services/users -e services/gateway -e services/segment -e 'services/classify[train]'
SOURCES := libs/kit libs/imaging services/users services/gateway services/segment services/classify

.PHONY: venv run test lint pytest postman bench lock clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/constraints.txt requirements/dev.txt libs/*/pyproject.toml services/*/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -r requirements/dev.txt $(PACKAGES)
	touch $@

run: venv
	$(PY) scripts/run_suite.py

test: lint pytest postman

lint: venv
	$(VENV)/bin/ruff check $(SOURCES) tests bench scripts
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy $(foreach s,users gateway segment classify,services/$(s)/specimen_$(s)) libs/kit/specimen_kit \
		libs/imaging/specimen_imaging

pytest: venv
	$(PY) -m pytest

postman: venv
	$(PY) scripts/run_postman.py

bench: venv
	$(PY) bench/gateway_overhead.py
	$(PY) bench/classify_mri_served.py
	$(PY) bench/classify_cold_start.py
	$(PY) bench/classify_plankton_frame.py

# Re-pin every package after changing a pyproject's dependencies.
lock: venv
	{ echo '# Every package of the development venv, pinned; `make lock` regenerates it.'; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements/constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
