# The project's vocabulary: `make help` lists every target. CI runs `make test` as people do.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
MAKEFLAGS += --no-print-directory

WORKERS ?= 2
# Bridges in the consumer group: useful up to the topics' partitions in all; more stand by.
BRIDGES ?= 1
TOPIC ?= north-updates
# The client an API key is made for (make key).
CLIENT ?= me
# Extra options for the up command: `northbridge-stack up` (local, e.g. ARGS=--infra-only) or
# `docker compose up` (compose, e.g. ARGS=gateway to start only that service and its needs).
ARGS ?=
# uv from PATH, else the one `make install` puts in python3's site-packages.
UV ?= $(if $(shell command -v uv 2>/dev/null),uv,python3 -m uv)
# deploy/offline/bootstrap writes the local stand-in image names here on machines that cannot
# pull; once it exists, compose mode uses them. The shell's variables and .env still win.
OFFLINE_IMAGES := deploy/offline/images.env
COMPOSE ?= docker compose $(foreach file,$(OFFLINE_IMAGES) .env,$(if $(wildcard $(file)),--env-file $(file)))
# compose: the containers of compose.yaml; local: the same parts as processes (deploy/local).
# Which one, in order: MODE=local|compose given to make (or exported with one of those values);
# the mode of the stack `make up` started, kept in $(MODE_FILE) until `make down`, so that
# down, ps, logs and produce reach it; compose if a Docker engine and Compose v2 answer within
# 5 s; else local. `make` never starts an engine itself.
MODE_FILE := .stack/mode
ifeq ($(origin MODE),command line)
  ifeq ($(filter $(MODE),local compose),)
    $(error MODE must be local or compose, not "$(MODE)")
  endif
else ifeq ($(filter $(MODE),local compose),)
  # Unset, or an unrelated MODE from the shell: not ours to judge.
  MODE := $(shell cat $(MODE_FILE) 2>/dev/null)
  ifeq ($(MODE),)
    MODE := $(shell timeout 5 docker info >/dev/null 2>&1 && timeout 5 $(COMPOSE) version >/dev/null 2>&1 && echo compose || echo local)
  endif
endif

# $(call apt_install,NAME): the Debian package NAME unless its command NAME is on PATH, timed;
# it waits for another apt run's lock rather than failing.
apt_install = command -v $(1) >/dev/null || { echo "installing $(1) with apt-get"; start=$$SECONDS; \
	apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive \
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq $(1) >/dev/null; echo "$(1) installed in $$((SECONDS - start)) s"; }

.PHONY: help install up down ps logs key produce test browser chaos bench bench-tools lint fmt

help: ## list the targets
	@echo "MODE=$(MODE) ($(if $(wildcard $(MODE_FILE)),of the stack make up started,compose when a Docker engine answers, else local); force with MODE=...)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / && !seen[$$1]++ {printf "  %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## install what is missing: uv, Python packages, redis-server, Kafka's jars, Mailpit (quiet if all there)
	@command -v java >/dev/null && command -v mvn >/dev/null || \
		{ echo "java and mvn are needed: apt-get install -y openjdk-17-jre-headless maven" >&2; exit 1; }
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || { \
		echo "installing uv with pip"; python3 -m pip install --quiet uv 2>/dev/null || \
		python3 -m pip install --quiet --break-system-packages uv; }  # Debian's python refuses plain pip (PEP 668)
	@$(UV) sync --frozen --quiet
	@$(call apt_install,redis-server)
	@$(UV) run northbridge-stack fetch

# $(call by_mode,COMPOSE COMMAND,LOCAL COMMAND): the one for this MODE.
by_mode = $(if $(filter compose,$(MODE)),$(1),$(2))

up: $(call by_mode,,install) ## start Kafka, Redis, Mailpit, gateway, BRIDGES bridges (default 1), WORKERS email workers (default 2), dashboard
ifeq ($(MODE),compose)
	@$(if $(wildcard $(OFFLINE_IMAGES)),echo "using the offline stand-in images named in $(OFFLINE_IMAGES)")
	@$(COMPOSE) up --detach --build --wait --wait-timeout 300 --scale bridge=$(BRIDGES) --scale email-worker=$(WORKERS) $(ARGS) || { \
		echo "make up: compose failed (above). If it could not pull an image, this machine has no" \
		"registry: run deploy/offline/bootstrap once (README: No registry?)." >&2; exit 1; }
	@echo "gateway http://$$($(COMPOSE) port gateway 9000), dashboard http://$$($(COMPOSE) port dashboard 9180), mail http://$$($(COMPOSE) port mailpit 8025) (compose mode; MODE=local for processes)"
else
	@$(UV) run northbridge-stack up --bridges $(BRIDGES) --workers $(WORKERS) $(ARGS)
endif
	@mkdir -p $(dir $(MODE_FILE)) && echo $(MODE) > $(MODE_FILE)

down: ## stop and remove what `make up` started (data is kept: Kafka and Redis volumes, .stack/)
	@$(call by_mode,$(COMPOSE) down --remove-orphans,$(UV) run northbridge-stack down)
	@rm -f $(MODE_FILE)

ps: ## show each component: state, ports; health (compose), pid, uptime, restarts (local)
	@$(call by_mode,$(COMPOSE) ps --all,$(UV) run northbridge-stack ps)

logs: ## follow every service's log (Ctrl-C ends)
	@$(call by_mode,$(COMPOSE) logs --follow,$(UV) run northbridge-stack logs) || [ $$? -eq 130 ]

key: ## make an API key for CLIENT (default: me) and print it; compose mode asks for one on /v1/
	@$(call by_mode,$(COMPOSE) exec -T dashboard northbridge,$(UV) run northbridge) keys create $(CLIENT)

produce: ## send stdin lines to TOPIC (default north-updates) with kafka-console-producer
	@$(call by_mode,$(COMPOSE) exec -T --env KAFKA_HEAP_OPTS=-Xmx256m kafka \
		/opt/kafka/bin/kafka-console-producer.sh --bootstrap-server localhost:9092 --topic,$(UV) run northbridge-stack produce) $(TOPIC)

test: install browser ## run the tests (they start their own Kafka, Redis, Mailpit; compose ones need an engine)
	$(UV) run pytest

browser: ## install Debian's chromium for the dashboard's browser test, if missing (make test runs it)
	@$(call apt_install,chromium)

# Extra options for the chaos run, e.g. CHAOS_ARGS="--seconds 60 --rate 20".
CHAOS_ARGS ?=
chaos: install ## kill every part of a stack of its own under load; it must heal by itself (about 5 min)
	$(UV) run northbridge-stack chaos $(CHAOS_ARGS)

# The load tools of make bench: Debian's wrk, and vegeta built from the Go module proxy into a
# per-machine cache (like Maven's for Kafka's jars). BENCH_ARGS: e.g. "--rounds 5 --rate 800".
BENCH_TOOLS ?= $(HOME)/.cache/northbridge/bin
VEGETA_VERSION := v12.13.0
BENCH_ARGS ?=
bench: install bench-tools ## each hop, bridge scaling and the whole pipeline under load on a stack of its own; writes bench-report/ (7 min)
	BENCH_VEGETA=$(BENCH_TOOLS)/vegeta-$(VEGETA_VERSION) $(UV) run northbridge-bench $(BENCH_ARGS)

bench-tools: ## install wrk (apt-get) and vegeta (go install), if missing
	@$(call apt_install,wrk)
	@test -x $(BENCH_TOOLS)/vegeta-$(VEGETA_VERSION) || { \
		command -v go >/dev/null || { echo "go is needed to build vegeta: apt-get install -y golang" >&2; exit 1; }; \
		echo "building vegeta $(VEGETA_VERSION) from the Go module proxy"; mkdir -p $(BENCH_TOOLS); \
		built=$$(mktemp -d) && GOBIN=$$built go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION) && \
		mv $$built/vegeta $(BENCH_TOOLS)/vegeta-$(VEGETA_VERSION) && rmdir $$built; }

lint: ## ruff check, ruff format --check, mypy --strict
	$(UV) run ruff check . && $(UV) run ruff format --check . && $(UV) run mypy

fmt: ## format and autofix with ruff
	$(UV) run ruff format . && $(UV) run ruff check --fix .
