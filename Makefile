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

# The UI on http://localhost:3000 with the sensors and schedule running, on sample data.
# Sensors look every $(DEV_SYNC_INTERVAL)s here (the default elsewhere is 60).
DEV_SYNC_INTERVAL ?= 5
dev: install $(DAGSTER_HOME)/dagster.yaml samples
	SYNC_INTERVAL_SECONDS=$(DEV_SYNC_INTERVAL) $(DAGSTER_ENV) $(BIN)/dagster dev -w workspace.yaml

test: install
	$(BIN)/python -m pytest

# The fault-injection suite as a table; its last line sums up lost and duplicated records.
reliability: install
	$(BIN)/python -m tracos_integration_tests.reliability --markdown docs/reliability.md

clean:
	rm -rf $(VENV) .tracos .dagster_home data/inbound/* data/outbound/*
