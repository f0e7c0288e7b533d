# custops: `make demo` brings the product up on SQLite; `make test` runs every check and test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_CUSTOMERS ?= 3000

.PHONY: demo test lint pytest bench venv clean-demo serve messages audit

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-missing --customers $(DEMO_CUSTOMERS)
	$(PY) manage.py seed_demo_campaigns --org demo
	$(PY) manage.py run_nightly --org demo --nights 14
	$(PY) manage.py seed_demo_targets --org demo
	@echo "Serving custops on http://127.0.0.1:8000/ (Ctrl-C to stop)"
	$(PY) manage.py runserver 127.0.0.1:8000 --noreload

test: lint pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

pytest: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Every package installed in the venv (runtime and tools) against PyPI's vulnerability data; --strict fails on a
# package that could not be checked, so a silent gap is impossible.
audit: $(STAMP)
	$(VENV)/bin/pip-audit --strict --progress-spinner off --vulnerability-service pypi

bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

messages: $(STAMP)
	$(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=static --ignore=var
	$(PY) manage.py compilemessages --ignore=.venv

clean-demo:
	rm -f var/custops.sqlite3
