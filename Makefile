# Two commands on a fresh machine: `make run` (install, samples, sync) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DAGSTER_ENV = DAGSTER_HOME="$(DAGSTER_HOME)" MONGO_URI="$(RUN_MONGO_URI)"
# The embedded, file-backed TracOS unless MONGO_URI names another store.
RUN_MONGO_URI := $(or $(MONGO_URI),embedded://.tracos/tracos.json)
SAMPLES ?= 20

.PHONY: install run samples sync dev test reliability clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,deploy]"
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

run: install $(DAGSTER_HOME)/dagster.yaml samples sync

samples: install $(DAGSTER_HOME)/dagster.yaml
	printf 'ops:\n  write_samples:\n    config:\n      count: %s\n' "$(SAMPLES)" > $(DAGSTER_HOME)/samples.yaml
	$(DAGSTER_ENV) $(BIN)/dagster job execute -m tracos_integration -j samples_job \
		-c $(DAGSTER_HOME)/samples.yaml

sync: install $(DAGSTER_HOME)/dagster.yaml
	$(DAGSTER_ENV) $(BIN)/dagster job execute -m tracos_integration -j sync_job

# The UI on http://localhost:$(PORT) with the sensors and schedule running, on sample data.
# Sensors look every $(DEV_SYNC_INTERVAL)s here (the default elsewhere is 60), and a file
# counts as settled after $(DEV_SETTLE)s. `make dev CUSTOMERS=demo` starts the shipped
# two-customer example (data/customers.demo.yaml: one JSON, one CSV customer).
DEV_SYNC_INTERVAL ?= 5
DEV_SETTLE ?= 2
PORT ?= 3000
CUSTOMERS ?=
CUSTOMERS_FILE := $(if $(filter demo,$(CUSTOMERS)),$(CURDIR)/data/customers.demo.yaml,$(CUSTOMERS))
DEV_ENV = SYNC_INTERVAL_SECONDS=$(DEV_SYNC_INTERVAL) INBOUND_SETTLE_SECONDS=$(DEV_SETTLE) \
	$(if $(CUSTOMERS_FILE),TRACOS_CUSTOMERS_FILE="$(CUSTOMERS_FILE)") $(DAGSTER_ENV)
dev: install $(DAGSTER_HOME)/dagster.yaml
	printf 'ops:\n  write_samples:\n    config:\n      count: %s\n' "$(SAMPLES)" > $(DAGSTER_HOME)/samples.yaml
ifeq ($(CUSTOMERS_FILE),)
	$(MAKE) samples
else
	for customer in $$($(DEV_ENV) $(BIN)/python -c "from tracos_integration.customers import customers_from_env as c; print(' '.join(c()))"); do \
		$(DEV_ENV) $(BIN)/dagster job execute -m tracos_integration -j samples_job --tags "{\"dagster/partition\": \"$$customer\"}" \
			-c $(DAGSTER_HOME)/samples.yaml || exit 1; \
	done
endif
	$(DEV_ENV) $(BIN)/dagster dev -w workspace.yaml -p $(PORT)

test: install
	$(BIN)/python -m pytest

# The fault-injection suite as a table; its last line sums up lost and duplicated records.
reliability: install
	$(BIN)/python -m tracos_integration_tests.reliability --markdown docs/reliability.md

clean:
	rm -rf $(VENV) .tracos .dagster_home data/inbound/* data/outbound/*
