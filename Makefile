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
# Kafka's nodes: 1, or 3 (replicas on three nodes: deploy/kafka/nodes-3.properties). Like MODE,
# the size `make up` started is kept until `make down`, so later targets reach the same nodes.
KAFKA_NODES_FILE := .stack/kafka-nodes
KAFKA_NODES ?= $(or $(shell cat $(KAFKA_NODES_FILE) 2>/dev/null),1)
ifeq ($(filter 1 3,$(KAFKA_NODES)),)
  $(error KAFKA_NODES must be 1 or 3, not "$(KAFKA_NODES)")
endif
export KAFKA_NODES
# deploy/offline/bootstrap writes the local stand-in image names here on machines that cannot
# pull; once it exists, compose mode uses them. The shell's variables and .env still win.
OFFLINE_IMAGES := deploy/offline/images.env
COMPOSE ?= docker compose $(if $(filter 3,$(KAFKA_NODES)),-f compose.yaml -f compose.kafka-3.yaml) \
	$(foreach file,$(OFFLINE_IMAGES) .env,$(if $(wildcard $(file)),--env-file $(file)))
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

.PHONY: help install k8s-tools up down ps logs key produce test browser chaos bench bench-tools lint fmt

help: ## list the targets
	@echo "MODE=$(MODE) ($(if $(wildcard $(MODE_FILE)),of the stack make up started,compose when a Docker engine answers, else local); force with MODE=...)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / && !seen[$$1]++ {printf "  %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: k8s-tools ## install what is missing: uv, Python packages, redis-server, Kafka's jars, Mailpit, kustomize (quiet if all there)
	@command -v java >/dev/null && command -v mvn >/dev/null || \
		{ echo "java and mvn are needed: apt-get install -y openjdk-17-jre-headless maven" >&2; exit 1; }
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || { \
		echo "installing uv with pip"; python3 -m pip install --quiet uv 2>/dev/null || \
		python3 -m pip install --quiet --break-system-packages uv; }  # Debian's python refuses plain pip (PEP 668)
	@$(UV) sync --frozen --quiet
	@$(call apt_install,redis-server)
	@$(UV) run northbridge-stack fetch

# What make test checks the Kubernetes manifests (deploy/k8s) with, pinned in
# deploy/k8s/tools.env and kept in a per-machine cache, as Mailpit is: kustomize built from the
# Go module proxy, and from KEDA's Go module only its CRDs, the two scalers' sources (their
# parameter names) and its licence (Apache-2.0).
include deploy/k8s/tools.env
NORTHBRIDGE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/northbridge
KEDA_FILES := LICENSE config/crd/bases/keda.sh_scaledobjects.yaml \
	config/crd/bases/keda.sh_triggerauthentications.yaml pkg/scalers/kafka_scaler.go pkg/scalers/redis_scaler.go
k8s-tools: ## install kustomize and KEDA's CRDs for the Kubernetes manifests' tests, if missing
	@test -x $(NORTHBRIDGE_CACHE)/bin/kustomize-$(KUSTOMIZE_VERSION) -a -d $(NORTHBRIDGE_CACHE)/keda-$(KEDA_VERSION) || \
		command -v go >/dev/null || { echo "go is needed for kustomize and KEDA's CRDs: apt-get install -y golang" >&2; exit 1; }
	@test -x $(NORTHBRIDGE_CACHE)/bin/kustomize-$(KUSTOMIZE_VERSION) || { \
		echo "building kustomize $(KUSTOMIZE_VERSION) from the Go module proxy"; start=$$SECONDS; \
		mkdir -p $(NORTHBRIDGE_CACHE)/bin && built=$$(mktemp -d) && \
		GOBIN=$$built go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION) && \
		mv $$built/kustomize $(NORTHBRIDGE_CACHE)/bin/kustomize-$(KUSTOMIZE_VERSION) && rmdir $$built; \
		echo "kustomize built in $$((SECONDS - start)) s"; }
	@test -d $(NORTHBRIDGE_CACHE)/keda-$(KEDA_VERSION) || { \
		echo "fetching KEDA $(KEDA_VERSION)'s CRDs from the Go module proxy"; \
		go mod download github.com/kedacore/keda/v2@$(KEDA_VERSION) && \
		module=$$(go env GOMODCACHE)/github.com/kedacore/keda/v2@$(KEDA_VERSION) && \
		partial=$$(mktemp -d) && chmod 755 $$partial && cp $(addprefix $$module/,$(KEDA_FILES)) $$partial/ && \
		mkdir -p $(NORTHBRIDGE_CACHE) && mv $$partial $(NORTHBRIDGE_CACHE)/keda-$(KEDA_VERSION); }

# $(call by_mode,COMPOSE COMMAND,LOCAL COMMAND): the one for this MODE.
by_mode = $(if $(filter compose,$(MODE)),$(1),$(2))

up: $(call by_mode,,install) ## start Kafka (KAFKA_NODES: 1 or 3), Redis, Mailpit, gateway, BRIDGES bridges (default 1), WORKERS email workers (default 2), dashboard
ifeq ($(MODE),compose)
	@$(if $(wildcard $(OFFLINE_IMAGES)),echo "using the offline stand-in images named in $(OFFLINE_IMAGES)")
	@$(COMPOSE) up --detach --build --wait --wait-timeout 300 --scale bridge=$(BRIDGES) --scale email-worker=$(WORKERS) $(ARGS) || { \
		echo "make up: compose failed (above). If it could not pull an image, this machine has no" \
		"registry: run deploy/offline/bootstrap once (README: No registry?)." >&2; exit 1; }
	@echo "gateway http://$$($(COMPOSE) port gateway 9000), dashboard http://$$($(COMPOSE) port dashboard 9180), mail http://$$($(COMPOSE) port mailpit 8025) (compose mode; MODE=local for processes)"
else
	@$(UV) run northbridge-stack up --bridges $(BRIDGES) --workers $(WORKERS) $(ARGS)
endif
	@mkdir -p $(dir $(MODE_FILE)) $(dir $(KAFKA_NODES_FILE)) && echo $(MODE) > $(MODE_FILE) && echo $(KAFKA_NODES) > $(KAFKA_NODES_FILE)

down: ## stop and remove what `make up` started (data is kept: Kafka and Redis volumes, .stack/)
	@$(call by_mode,$(COMPOSE) down --remove-orphans,$(UV) run northbridge-stack down)
	@rm -f $(MODE_FILE) $(KAFKA_NODES_FILE)

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
