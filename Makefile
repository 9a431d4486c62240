# Two commands do everything on a fresh machine with Python 3.11 and make:
#   make run    start the whole suite on embedded defaults
#   make test   run every test (lint, unit, API, suite, PostgreSQL, Redis, Postman)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := -e libs/kit -e libs/imaging -e services/users -e services/gateway -e services/segment -e 'services/classify[train]'
SOURCES := libs/kit libs/imaging services/users services/gateway services/segment services/classify

.PHONY: venv run test lint pytest postman insomnia bench lock clean deploy-lint deploy-lock containers-proof vendor-assets \
	prebuilt-mri

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

# npm pack the vendored JavaScript again (htmx for the web UI, axe-core for its tests) and
# verify each file against the sha256 pinned in scripts/vendor_assets.py (the tests check the
# committed files against the same pins, offline).
vendor-assets: venv
	$(PY) scripts/vendor_assets.py --fetch

# Rewrite postman/specimen.insomnia.json after changing the Postman collection or environment
# (`make postman` fails while it is not their conversion).
insomnia: venv
	$(PY) scripts/insomnia_export.py --write

bench: venv
	$(PY) bench/gateway_overhead.py
	$(PY) bench/classify_mri_served.py
	$(PY) bench/classify_cold_start.py
	$(PY) bench/classify_plankton_frame.py
	$(PY) bench/overload.py

# Train again the MRI model the package ships (services/classify/specimen_classify/prebuilt/), on
# slices the generator of this tree draws: after changing the generator, the preprocessing or the
# network. About 13 minutes on 2 cores; bootstrap-models installs the result in seconds.
prebuilt-mri: venv
	$(PY) -m specimen_classify build-prebuilt-mri --quiet

# Re-pin every package after changing a pyproject's dependencies.
lock: venv
	{ echo '# Every package of the development venv, pinned; `make lock` regenerates it.'; \
	  echo '# redis needs async-timeout below Python 3.11.3 (Debian 12'"'"'s 3.11.2, in the images).'; \
	  echo 'async-timeout==5.0.1 ; python_full_version < "3.11.3"'; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements/constraints.txt

# Offline checks of k8s/ and docker-compose.yml (scripts/validate_deploy.py): every overlay
# rendered, schema-validated per Kubernetes version and policy-linted. The tools get their own
# venv, since checkov's dependencies would fight the app's pins.
DEPLOY_VENV := .venv-deploy
DEPLOY_TOOLS := checkov==3.3.30 kubernetes-validate==1.37.0

deploy-lint: $(DEPLOY_VENV)/.installed
	$(DEPLOY_VENV)/bin/python scripts/validate_deploy.py

$(DEPLOY_VENV)/.installed: requirements/deploy.txt
	test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/deploy.txt
	touch $@

# Re-pin the deployment tools after changing DEPLOY_TOOLS.
deploy-lock:
	rm -rf $(DEPLOY_VENV)
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(DEPLOY_TOOLS)
	{ sed -n '1,2p' requirements/deploy.txt; $(DEPLOY_VENV)/bin/python -m pip freeze; } > requirements/deploy.txt.new
	mv requirements/deploy.txt.new requirements/deploy.txt
	touch $(DEPLOY_VENV)/.installed

# Build the images with podman and run docker-compose.yml through podman's API: newman, then
# data kept across restarts (scripts/prove_containers.sh; minutes, so not part of `make test`).
containers-proof:
	scripts/prove_containers.sh

clean:
	rm -rf $(VENV) $(DEPLOY_VENV) .pytest_cache .mypy_cache .ruff_cache
