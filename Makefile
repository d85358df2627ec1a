# Everyday commands. `make run` and `make test` are all a newcomer needs (see README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HTMX_VERSION ?= 2.0.11
JQUERY_VERSION ?= 4.0.0

.DEFAULT_GOAL := help
.PHONY: help run test screenshots faults bench lint typecheck format migr super messages vendor clean

help:
	@echo "make run     install, configure (.env), migrate and serve at http://127.0.0.1:$(PORT)"
	@echo "make test    the whole test suite (browser tests need Chromium)"
	@echo "make screenshots  pictures of every main page for docs/frontend.md"
	@echo "make faults  fault injection into the production topology (DATABASE_URL=postgres://...)"
	@echo "make bench   benchmarks of the production topology under load (ONLY=submit,latency,drain,admin,memory,arrivals,paths)"
	@echo "make lint    ruff check and ruff format --check"
	@echo "make typecheck  mypy over the application's modules"
	@echo "make format  apply ruff's fixes and formatting"
	@echo "make migr    apply database migrations (the compose stack's, when it runs)"
	@echo "make super   create a superuser (DJANGO_SUPERUSER_EMAIL/PASSWORD for no prompts)"
	@echo "make messages  refresh the translation catalogues in locale/ and compile them"
	@echo "make vendor  refresh htmx and jQuery in static/vendor/ from the npm registry"

# The venv is rebuilt when a requirements file changes; the stamp files record each set.
$(BIN)/python:
	@echo "==> Creating the virtual environment in $(VENV)/"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	@echo "==> Installing the site's packages (requirements.txt) into $(VENV)/"
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	@echo "==> Installing the site's and the tests' packages (requirements-dev.txt) into $(VENV)/"
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# A .env from the template, with a fresh secret key, database password and metrics token; an existing
# .env is never touched.
.env:
	@key=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))'); \
	db_password=$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(16))'); \
	metrics_token=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$$key|" \
		-e "s|^POSTGRES_PASSWORD=.*|POSTGRES_PASSWORD=$$db_password|" \
		-e "s|^METRICS_TOKEN=.*|METRICS_TOKEN=$$metrics_token|" .env.example > .env
	@echo "Wrote .env from .env.example with a new SECRET_KEY, POSTGRES_PASSWORD and METRICS_TOKEN."

# The emails' links point at the server `make run` starts, whatever SITE_URL .env holds
# (the compose stack's or the public address); a SITE_URL in the environment or on the
# command line (a tunnel's, say) wins, as the environment wins over .env in settings.py.
run: SITE_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.runtime-installed .env
	@echo "==> Applying the database migrations (SQLite in var/ unless .env sets DATABASE_URL)"
	$(BIN)/python manage.py migrate --no-input
	@# Without Redis the rate limits count in the database cache's table (settings.CACHES).
	$(BIN)/python manage.py createcachetable
	@echo "==> Serving the site at http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	@echo "    The admin: http://127.0.0.1:$(PORT)/admin/ ; create its first account with: make super"
	@echo "    Every email the site sends is written to var/mail/, its links under $(SITE_URL)"
	SITE_URL='$(SITE_URL)' $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.dev-installed .env
	$(BIN)/python -m pytest

# Pictures of every main page, in English and Russian at 1280 and 390 px, for docs/.
screenshots: $(VENV)/.dev-installed .env
	$(BIN)/python -m pytest tests/browser/screenshots.py -q
	@echo "==> Written to docs/screenshots/ (shown in docs/frontend.md)"

# Kills, outages and refusals against real processes; needs PostgreSQL (DATABASE_URL)
# and redis-server. Prints one line per scenario and the table at the end.
faults: $(VENV)/.dev-installed .env
	$(BIN)/python -m pytest tests/faults -m faults -s -q

# The production topology on loopback under load from wrk (apt-get install wrk), with
# PostgreSQL and redis-server; prints one table and writes bench/results.json. Not part
# of `make test`. ONLY=submit,admin runs some of the items (bench/run.py lists them).
BENCH_DATABASE_URL ?= postgres://site:site@127.0.0.1:5432/site
bench: $(VENV)/.dev-installed .env
	DATABASE_URL="$${DATABASE_URL:-$(BENCH_DATABASE_URL)}" $(BIN)/python -m bench $(if $(ONLY),--only $(ONLY))

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed .env
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# `make migr` and `make super` act on the compose stack when its web container is
# running, and on the local setup otherwise; TARGET=local or TARGET=compose decides.
COMPOSE ?= docker compose
TARGET ?= $(shell $(COMPOSE) ps --status running --quiet web 2>/dev/null | grep -q . && echo compose || echo local)
SUPERUSER_NO_INPUT := $(if $(and $(DJANGO_SUPERUSER_EMAIL),$(DJANGO_SUPERUSER_PASSWORD)),--no-input)
ifeq ($(TARGET),compose)
MANAGE := $(COMPOSE) exec -e DJANGO_SUPERUSER_EMAIL -e DJANGO_SUPERUSER_PASSWORD web python manage.py
MANAGE_NEEDS :=
else
MANAGE := $(BIN)/python manage.py
MANAGE_NEEDS := $(VENV)/.runtime-installed .env
endif

migr: $(MANAGE_NEEDS)
	$(MANAGE) migrate --no-input
	$(MANAGE) createcachetable

super: $(MANAGE_NEEDS)
	$(MANAGE) createsuperuser $(SUPERUSER_NO_INPUT)

# After changing any text: brings locale/*/LC_MESSAGES/django.po up to date with the code
# and templates (new strings come in untranslated, changed ones marked fuzzy), then
# compiles them. Translate what is new, run it again, and commit the .po and .mo files:
# the compiled catalogues ship, so installing needs no gettext. Needs GNU gettext.
NOT_SOURCES := --ignore=.venv --ignore=var --ignore=staticfiles --ignore=tests --ignore=bench
messages: $(VENV)/.dev-installed .env
	$(BIN)/python manage.py makemessages --all --add-location=file $(NOT_SOURCES)
	$(BIN)/python manage.py compilemessages $(NOT_SOURCES)

# Fetches the packages with `npm pack` (no node_modules, no build) and copies their
# minified builds; the versions are recorded in static/vendor/VERSIONS.
vendor:
	@tmp=$$(mktemp -d); \
	( cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) jquery@$(JQUERY_VERSION) >/dev/null ) && \
	tar -xzf $$tmp/htmx.org-$(HTMX_VERSION).tgz -C $$tmp package/dist/htmx.min.js && \
	cp $$tmp/package/dist/htmx.min.js static/vendor/htmx.min.js && \
	tar -xzf $$tmp/jquery-$(JQUERY_VERSION).tgz -C $$tmp package/dist/jquery.min.js && \
	cp $$tmp/package/dist/jquery.min.js static/vendor/jquery.min.js && \
	printf '%s\n' "# Front-end libraries served from here, never from a CDN. Refresh with \`make vendor\`." \
		"htmx.org $(HTMX_VERSION)" "jquery $(JQUERY_VERSION)" > static/vendor/VERSIONS && \
	rm -rf $$tmp && cat static/vendor/VERSIONS

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
