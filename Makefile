# Guichet — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
FLASK  := $(BIN)/flask --app wsgi

.PHONY: install system-deps run test test-postgres worker bench translations services clean

install: system-deps $(VENV)/.installed translations

# libmagic (python-magic), DejaVu fonts (PDFs) and Chromium (browser tests), from Debian
# when missing; axe-core (accessibility checks) from the npm registry.
system-deps:
	scripts/system-deps.sh

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

translations: $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d translations 2>&1 | tail -n 1

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite against PostgreSQL and Redis started on loopback by scripts/services.sh.
test-postgres: install
	scripts/services.sh install
	scripts/services.sh start
	eval "$$(scripts/services.sh env)" && $(BIN)/python -m pytest $(PYTEST_ARGS)

worker: install
	$(FLASK) worker

bench: install
	scripts/services.sh install
	scripts/services.sh start
	eval "$$(scripts/services.sh env)" && BENCH_DATABASE_URL="$${DATABASE_URL%/*}/guichet_bench" \
		BENCH_REDIS_URL="$${REDIS_URL%/*}/9" SCENARIOS="$(SCENARIOS)" $(BIN)/python bench/run.py \
		$(if $(MERGE),--merge $(MERGE))

services:
	scripts/services.sh install
	scripts/services.sh start
	scripts/services.sh env

clean:
	rm -rf $(VENV) .pytest_cache
