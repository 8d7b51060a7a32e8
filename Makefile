# The two commands: `make run` and `make test`.  Everything else is set-up they share; they build it with a
# parallel sub-make (pip ∥ npm ∥ PostgreSQL), so every prerequisite below names what it really needs.
SETUP_JOBS ?= 4
# npm runs beside pip, which the rest waits for (migrate, seed): at a lower priority it takes the spare core.
BESIDE := nice -n 10
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
# Threads per gunicorn worker: an open notification stream (Server-Sent Events) holds one.
THREADS ?= 16
GUNICORN = $(BIN)/gunicorn --workers $(WORKERS) --threads $(THREADS) --bind $(HOST):$(PORT) 'app:create_app()'
export FLASK_APP := app:create_app

.PHONY: run run-ready test test-ready fuzz crash load serve worker db db-stop migrate seed translations lint bench-seed clean-db \
	dashboard fieldapp test-tools fonts bench-field-app backup restore bench

# pip upgraded first: with the venv's bundled pip (23.2 here) the install took 69 s, with a current one 35 s.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

translations: $(BIN)/.installed
	$(BIN)/python scripts/translations.py compile

# The dashboard's map library, from the npm registry (served by the app, never from a CDN).
DASHBOARD_VENDOR := dashboard/node_modules/.installed
$(DASHBOARD_VENDOR): dashboard/package.json dashboard/package-lock.json
	$(PYTHON) scripts/system_tools.py --required npm
	cd dashboard && $(BESIDE) npm ci --no-audit --no-fund --loglevel=error
	touch $@

dashboard: $(DASHBOARD_VENDOR)

# The field app (/m/): its libraries from the npm registry (Dexie, MapLibre; Workbox and axe-core
# to build and to test), then its Workbox service worker, rebuilt when a precached file changes.
FIELDAPP_VENDOR := fieldapp/node_modules/.installed
FIELDAPP_SW := fieldapp/build/sw.js
$(FIELDAPP_VENDOR): fieldapp/package.json fieldapp/package-lock.json
	$(PYTHON) scripts/system_tools.py --required npm
	cd fieldapp && $(BESIDE) npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(FIELDAPP_SW): $(FIELDAPP_VENDOR) fieldapp/build-sw.mjs $(wildcard fieldapp/static/*) $(wildcard fieldapp/shell/*)
	cd fieldapp && rm -rf build && $(BESIDE) node build-sw.mjs

fieldapp: $(FIELDAPP_SW)

# Debian's chromium (browser test), gdal-bin (ogrinfo reads the OGC API), poppler-utils (pdftotext reads
# bulletin PDFs) and the CJK font bulletins embed; root installs them.
# The CJK font bulletin PDFs embed (Debian's fonts-wqy-microhei; without it ReportLab's
# non-embedded STSong-Light is used).
fonts:
	$(PYTHON) scripts/system_tools.py cjk-font

test-tools:
	$(PYTHON) scripts/system_tools.py chromium cjk-font ogrinfo pdftotext

# Project-local PostgreSQL + PostGIS under var/ (skipped when DATABASE_URL is set).
db:
	$(PYTHON) scripts/localdb.py start

db-stop:
	$(PYTHON) scripts/localdb.py stop

# (Compiled catalogues first: any flask command may read them.)
migrate: $(BIN)/.installed db translations
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed ankang --if-empty
	$(BIN)/flask seed history --if-empty

# The web server and the job worker together; Ctrl-C (or either one stopping) stops both.
run:
	@$(MAKE) --no-print-directory -j$(SETUP_JOBS) run-ready
	@echo "Dashboard on http://$(HOST):$(PORT)/ — field app on http://$(HOST):$(PORT)/m/ —" \
	      "API on http://$(HOST):$(PORT)/api/v1 (docs at /api/v1/docs)," \
	      "OGC API – Features on http://$(HOST):$(PORT)/ogc"
	@echo "Job worker (periodic jobs, notification delivery) beside it: GET /api/v1/jobs as admin shows its runs"
	@$(BIN)/flask jobs worker & worker=$$!; \
	$(GUNICORN) & web=$$!; \
	trap 'kill -TERM $$worker $$web 2>/dev/null' INT TERM; \
	wait -n $$worker $$web; status=$$?; \
	kill -TERM $$worker $$web 2>/dev/null; wait; exit $$status

run-ready: translations dashboard fieldapp fonts seed

# Serve without migrating or seeding (production-style; the database must be ready).
serve: translations dashboard fieldapp fonts
	$(GUNICORN)

# The job worker alone (production: run one or more beside the web servers).
worker: translations
	$(BIN)/flask jobs worker

test:
	@$(MAKE) --no-print-directory -j$(SETUP_JOBS) test-ready
	$(BIN)/pytest $(PYTEST_ARGS)

test-ready: translations dashboard fieldapp test-tools db

# A longer schemathesis run over every operation (make test runs a few examples each).
fuzz: translations db
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(BIN)/pytest tests/test_fuzz.py

# Kill a gunicorn worker and PostgreSQL while phones sync; check nothing acknowledged is lost.
crash: translations db
	$(BIN)/python load/crash.py

# Simulated phones and supervisors against gunicorn; figures go to docs/load.md.
load: translations db
	$(BIN)/pip install -q -e '.[dev,load]'
	$(BIN)/python load/run.py

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# A logical backup of the database (pg_dump, custom format) into var/backups; the file's path is printed.
backup: $(BIN)/.installed db
	$(BIN)/python scripts/backup.py backup

# Drop the database and load a backup into it: make restore FILE=var/backups/grids-….dump
restore: $(BIN)/.installed db
	@test -n "$(FILE)" || { echo "usage: make restore FILE=var/backups/<name>.dump"; exit 2; }
	$(BIN)/python scripts/backup.py restore "$(FILE)"

# Every benchmark (each prepares grids_bench itself), then one table of figure, target and verdict.
bench: translations db fieldapp test-tools
	$(BIN)/python bench/run_all.py $(BENCHES)

bench-seed: translations db
	$(BIN)/python bench/seed.py

# The field app in Chromium (CPU 4x slower, slow mobile network): size, cold offline start, sync of 500.
bench-field-app: translations fieldapp test-tools db
	$(BIN)/python bench/field_app.py
