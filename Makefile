# The project's vocabulary: `make help` lists every target. CI runs `make test` as people do.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
MAKEFLAGS += --no-print-directory

WORKERS ?= 2
TOPIC ?= north-updates
# Extra options for `northbridge-stack up`, e.g. `make up ARGS=--infra-only`.
ARGS ?=
# uv from PATH, else the one `make install` puts in python3's site-packages.
UV ?= $(if $(shell command -v uv 2>/dev/null),uv,python3 -m uv)

.PHONY: help install up down ps logs produce test lint fmt

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## install what is missing: uv, Python packages, redis-server, Kafka's jars (quiet if all there)
	@command -v java >/dev/null && command -v mvn >/dev/null || \
		{ echo "java and mvn are needed: apt-get install -y openjdk-17-jre-headless maven" >&2; exit 1; }
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || { \
		echo "installing uv with pip"; python3 -m pip install --quiet uv 2>/dev/null || \
		python3 -m pip install --quiet --break-system-packages uv; }  # Debian's python refuses plain pip (PEP 668)
	@$(UV) sync --frozen --quiet
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server with apt-get"; start=$$SECONDS; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
		echo "redis-server installed in $$((SECONDS - start)) s"; }
	@$(UV) run northbridge-stack fetch

up: install ## start Kafka, Redis, the SMTP sink, gateway, bridge and WORKERS email workers (default 2)
	@$(UV) run northbridge-stack up --workers $(WORKERS) $(ARGS)

down: ## stop everything `make up` started (data in .stack/ is kept)
	@$(UV) run northbridge-stack down

ps: ## show each component: pid, state, port, log
	@$(UV) run northbridge-stack ps

logs: ## follow every log in .stack/logs (Ctrl-C ends)
	@$(UV) run northbridge-stack logs || [ $$? -eq 130 ]

produce: ## send stdin lines to TOPIC (default north-updates) with kafka-console-producer
	@$(UV) run northbridge-stack produce $(TOPIC)

test: install ## run the tests with pytest (they start their own Kafka, Redis and SMTP sink)
	$(UV) run pytest

lint: ## ruff check, ruff format --check, mypy --strict
	$(UV) run ruff check . && $(UV) run ruff format --check . && $(UV) run mypy

fmt: ## format and autofix with ruff
	$(UV) run ruff format . && $(UV) run ruff check --fix .
