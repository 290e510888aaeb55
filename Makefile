# The one place Relais's commands live. README and CI call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
RASA      := $(BIN)/rasa
RELAIS    := $(BIN)/relais
STAMP     := $(VENV)/.installed-stamp
MODEL_STAMP := models/.trained-stamp
# What a model is trained from: a change to any of these retrains, nothing else does. Code a
# running Rasa server uses but training does not is left out (RUNTIME_ONLY, relais/nlu/stored.py).
TRAIN_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null) $(filter-out %/tracker_store.py %/lock_store.py %/speedups.py,$(wildcard relais/nlu/*.py)) $(wildcard relais/ml/*.py) relais/core/language.py relais/core/cues.py relais/core/codes.py relais/core/knowledge.py $(wildcard relais/core/lexicon/*) $(wildcard knowledge/*/*.yml knowledge/outside.yml)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help install train seed run run-scale-out test test-fast test-integration test-e2e test-eval check validate bench bench-queue bench-triage profile bench-channels bench-soak anger-check nlu-eval eval clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

install: $(STAMP)  ## build .venv with Python 3.10 and the pinned packages

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || "$$(scripts/find-python310)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==24.3.1"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@# NADE's model files, without its Python dependencies: its wrapper wants NumPy 2, which
	@# Rasa 3.6 does not allow; relais/ml/social_emotions.py reads the files with fasttext and lightgbm.
	$(BIN)/python -m pip install --quiet --no-deps "nade==0.3.1"
	@touch $@

train: $(MODEL_STAMP)  ## train the Rasa model, only if data, domain or config changed

$(MODEL_STAMP): $(STAMP) $(TRAIN_INPUTS)
	@mkdir -p models
	@touch models/.training-started  # inputs edited during training make the next run retrain
	$(RASA) train --fixed-model-name relais --out models
	@touch -r models/.training-started $@

seed: $(STAMP)  ## create the demo customers and bookings (idempotent)
	$(RELAIS) seed

run: install train  ## start Rasa, the action server and the Relais app in demo mode (seeds first)
	@scripts/run.sh

test: install train  ## run every test, all four tiers: unit, integration, e2e (servers, browser, stories), eval
	@scripts/ensure-chromium
	$(BIN)/python -m pytest -q

# The tiers alone (tests/README.md says what each may need). `make test` runs them all.
test-fast: install  ## unit tier: no model, no server; under a minute
	$(BIN)/python -m pytest -q tests/unit

test-integration: install  ## integration tier: each test on SQLite and on PostgreSQL (RELAIS_TEST_POSTGRES_URL), no Rasa
	$(BIN)/python -m pytest -q tests/integration

test-e2e: install train  ## e2e tier: real Rasa, action server and app processes, the browser, Telegram/X stand-ins, scale-out
	@scripts/ensure-chromium
	$(BIN)/python -m pytest -q tests/e2e

test-eval: install train  ## eval tier: accuracy floors on a subset of ../shared/data/eval (no timings)
	$(BIN)/python -m pytest -q tests/eval

check: install  ## the import contract (layers, no cycles), type check and lint; CI runs it before the tests
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

validate: install  ## check the training data and the knowledge articles (fails on warnings that matter)
	$(RASA) data validate --fail-on-warnings
	$(RELAIS) knowledge check

# Plain Rasa for `make bench`: its default pipeline and policies on our domain and data.
# It lives apart from Relais's own model, so that no benchmark changes what `make run` serves.
DEFAULT_MODEL := models/bench/rasa-default.tar.gz
$(DEFAULT_MODEL): $(STAMP) bench/rasa-default.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)
	@mkdir -p models/bench
	$(RASA) train --config bench/rasa-default.yml --fixed-model-name rasa-default --out models/bench

bench: install train $(DEFAULT_MODEL)  ## Relais vs plain Rasa, 1-20 conversations, then PostgreSQL + Redis with 1 and 2 of each server; one table with CPU ms per message per process and the ratios; writes reports/bench.json and bench-latency.png
	$(BIN)/python -m bench.run

bench-queue: install  ## 50 agents claim from 10,000 waiting conversations on PostgreSQL; writes reports/bench-queue.json
	$(BIN)/python -m bench.claims

bench-triage: install train  ## what triage adds to Rasa's parse per message (median, p95), printed; writes reports/triage-cost.json
	$(BIN)/python -m bench.triage_cost

profile: install train  ## where one message's time goes (py-spy on every process, per-stage timings); writes reports/profile.json
	$(BIN)/python -m bench.profile

run-scale-out: install train seed  ## 2 Rasa servers, 2 action servers, 2 Relais workers on PostgreSQL ($$DATABASE_URL) + Redis (see README)
	$(BIN)/python -m bench.stack

bench-channels: install train  ## 200 customers, 2,000 DMs over the Telegram and X stand-ins; writes reports/bench-channels.json
	$(BIN)/python bench/channels.py

SOAK_MINUTES ?= 30
bench-soak: install train  ## 20 conversations at people's pace for SOAK_MINUTES (30), resident memory per process at the start and the end; writes reports/bench-soak.json
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

anger-check: install  ## score the anger model on a held-out 20% of our own tagged examples
	$(RELAIS) anger-check

nlu-eval: install  ## score our NLU on a held-out 20% of our own examples (macro-F1 >= 0.90)
	@rm -rf reports/nlu-split && mkdir -p reports/nlu-split
	$(RELAIS) intent-data reports/nlu-split/intent_data.yml
	$(RASA) data split nlu --nlu reports/nlu-split/intent_data.yml --training-fraction 0.8 --random-seed 11 --out reports/nlu-split
	$(RASA) train nlu --nlu reports/nlu-split/training_data.yml --out reports/nlu-split --fixed-model-name nlu-heldout
	$(RASA) test nlu --nlu reports/nlu-split/test_data.yml --model reports/nlu-split/nlu-heldout.tar.gz --out reports/nlu
	$(RELAIS) nlu-check reports/nlu/intent_report.json --min-f1 0.90

eval: install train  ## score triage on ../shared/data/eval, write reports/eval.json
	$(RELAIS) eval

clean:  ## remove the model, reports and demo database (keeps .venv)
	rm -rf models reports/*.json reports/nlu reports/nlu-split var results
