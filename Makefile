# Two commands do everything on a fresh clone (Python 3.11, git, make):
#   make run    install, then run the engine against the local simulator (embedded default)
#   make test   install, then lint, type-check, check layering and run the whole test suite
#   make web    build the dashboard's pages (web/, Node.js 20+ and npm) into the Python package
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench fmt clean web web-api web-deps

WEB_MODULES := web/node_modules/.package-lock.json
WEB_BUNDLE := src/polyarb/api/static/index.html
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html \
	web/package-lock.json web/vite.config.ts web/tsconfig.json
CHROMIUM := /usr/bin/chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory web || echo "polyarb: the dashboard's pages did not build; the API runs without them"; \
	else \
		echo "polyarb: npm not found: the dashboard's pages are not built (the API says how at /)"; \
	fi
	$(BIN)/polyarb run --venue sim

# The dashboard: npm ci from the lockfile, then the bundle into src/polyarb/api/static/ (served
# at / and shipped as package data). Rebuilt only when web/'s sources change.
$(WEB_MODULES): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $(WEB_MODULES)

$(WEB_BUNDLE): $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build

web: $(WEB_BUNDLE)

# The typed client: the API's OpenAPI document, then TypeScript types generated from it.
web-api: $(STAMP) $(WEB_MODULES)
	$(BIN)/polyarb openapi > web/openapi.json
	cd web && npm run --silent gen:api

# What the browser tests need: Debian's chromium (browser downloads are impossible here) and
# web/node_modules. Idempotent: nothing is done when both are there.
web-deps: $(WEB_MODULES)
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi

check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check web-deps web
	scripts/ensure-services
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
