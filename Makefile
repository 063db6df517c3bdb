# Two commands on a fresh machine: `make run` (install, samples, sync) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DAGSTER_ENV = DAGSTER_HOME="$(DAGSTER_HOME)" MONGO_URI="$(RUN_MONGO_URI)"
# The embedded, file-backed TracOS unless MONGO_URI names another store.
RUN_MONGO_URI := $(or $(MONGO_URI),embedded://.tracos/tracos.json)
SAMPLES ?= 20
# Samples go into mongomock:// and embedded:// only; into a MongoDB server only when asked:
# `make run SAMPLES_INTO_SERVER=1` (CONTRACT 2).
SAMPLES_INTO_SERVER ?=
SAMPLE_STORE := $(or $(SAMPLES_INTO_SERVER),$(filter mongomock://% embedded://%,$(RUN_MONGO_URI)))
# The console shows warnings and errors only (the run's full log is in the UI), without the
# CLI's notice that `dg launch` supersedes `dagster job execute` (both work); the closing
# lines come from the run's recorded counts (tracos_integration/summary.py).
QUIET_CONFIG = $(DAGSTER_HOME)/quiet.yaml
QUIET_ENV = PYTHONWARNINGS='ignore:Function `job_execute_command` is superseded'
EXECUTE = $(QUIET_ENV) $(DAGSTER_ENV) $(BIN)/dagster job execute -m tracos_integration -c $(QUIET_CONFIG)
SUMMARY = $(DAGSTER_ENV) $(BIN)/python -m tracos_integration.summary

.PHONY: install run samples sync dev test fuzz reliability clean

install: $(VENV)/.installed

# pip's own output goes to a log; it is shown only when the install fails. The package's byte
# code is written once here (an editable install has none, and under PYTHONDONTWRITEBYTECODE
# every `dagster job execute` would compile it again: 0.2 to 0.3 s a run).
$(VENV)/.installed: pyproject.toml
	@echo "installing into $(VENV) (about a minute; log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --quiet --upgrade pip && \
	   $(BIN)/python -m pip install --quiet -e ".[test,deploy,demo]" && \
	   $(BIN)/python -m compileall -q tracos_integration; } > $(VENV)/install.log 2>&1 \
	   || { tail -n 30 $(VENV)/install.log; echo "install failed: see $(VENV)/install.log"; exit 1; }
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@cp dagster.yaml $@

$(QUIET_CONFIG): $(DAGSTER_HOME)/dagster.yaml
	@printf 'loggers:\n  console:\n    config:\n      log_level: WARNING\n' > $@

run: install $(DAGSTER_HOME)/dagster.yaml samples sync

samples: install $(DAGSTER_HOME)/dagster.yaml $(QUIET_CONFIG)
ifeq ($(SAMPLE_STORE),)
	@echo "samples_job skipped: MONGO_URI names a MongoDB server, and samples go there only when asked (make run SAMPLES_INTO_SERVER=1)"
else
	@printf 'ops:\n  write_samples:\n    config:\n      count: %s\n      allow_real_server: %s\n' \
		"$(SAMPLES)" "$(if $(SAMPLES_INTO_SERVER),true,false)" > $(DAGSTER_HOME)/samples.yaml
	@echo "samples_job: dagster job execute -j samples_job"
	@$(EXECUTE) -j samples_job -c $(DAGSTER_HOME)/samples.yaml; status=$$?; $(SUMMARY) samples_job; exit $$status
endif

sync: install $(DAGSTER_HOME)/dagster.yaml $(QUIET_CONFIG)
	@echo "sync_job: dagster job execute -j sync_job"
	@$(EXECUTE) -j sync_job; status=$$?; $(SUMMARY) sync_job; exit $$status

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
	printf 'ops:\n  write_samples:\n    config:\n      count: %s\n      allow_real_server: %s\n' \
		"$(SAMPLES)" "$(if $(SAMPLES_INTO_SERVER),true,false)" > $(DAGSTER_HOME)/samples.yaml
ifeq ($(CUSTOMERS_FILE),)
	$(MAKE) samples
else
	for customer in $$($(DEV_ENV) $(BIN)/python -c "from tracos_integration.scope import TickScope; print(' '.join(TickScope.read().customers))"); do \
		$(DEV_ENV) $(BIN)/dagster job execute -m tracos_integration -j samples_job --tags "{\"dagster/partition\": \"$$customer\"}" \
			-c $(DAGSTER_HOME)/samples.yaml || exit 1; \
	done
endif
	$(DEV_ENV) $(BIN)/dagster dev -w workspace.yaml -p $(PORT)

test: install
	$(BIN)/python -m pytest

# The Hypothesis properties over every input surface, run long (make test runs a few examples each).
fuzz: install
	PROPERTY_EXAMPLES=$(or $(PROPERTY_EXAMPLES),2000) $(BIN)/python -m pytest -q tracos_integration_tests/properties

# The fault-injection suite as a table; its last line sums up lost and duplicated records.
reliability: install
	$(BIN)/python -m tracos_integration_tests.reliability --markdown docs/reliability.md

clean:
	rm -rf $(VENV) .tracos .dagster_home data/inbound/* data/outbound/*
