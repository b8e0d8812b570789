# Two commands do all set-up: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
APP_PY := $(VENV)/bin/python
RASA_PY := $(RASA_VENV)/bin/python
export REDIS_URL ?= redis://127.0.0.1:6379/0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Rasa 3.6 needs Python 3.10: pyenv's, else python3.10 on PATH (checked by running it).
PYTHON310 ?= $(shell for p in $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 2>/dev/null | sort -V -r) $$(command -v python3.10 2>/dev/null); do "$$p" -c 'import sys; assert sys.version_info[:2]==(3,10)' 2>/dev/null && { echo "$$p"; break; }; done)

.PHONY: help run test venv venv-app venv-rasa train validate lint nlu-eval bench bench-wechat bench-policies e2e unit browser-deps clean

help:
	@echo "make run       set up everything, train if needed, start Redis/Rasa/actions/bot"
	@echo "make test      set up everything and run the whole test suite"
	@echo "make nlu-eval  intent and guide accuracy on the held-out utterances"
	@echo "make lint      ruff + python -m bot guides lint"
	@echo "make bench     chat turn latency benchmark (see bench/README.md)"
	@echo "make bench-wechat  WeChat /wechat turn latency, plain and safe mode, beside /api/v1/chat"
	@echo "make bench-policies  免申即享 matching of 1,000,000 enterprises on SQLite and PostgreSQL vs the reference evaluator"

venv: venv-app venv-rasa

venv-app: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(APP_PY) || $(PYTHON) -m venv $(VENV)
	$(APP_PY) -m pip install -q --upgrade pip
	$(APP_PY) -m pip install -q -e '.[dev]'
	@touch $@

venv-rasa: $(RASA_VENV)/.installed
$(RASA_VENV)/.installed: requirements-rasa.txt
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "error: Rasa 3.6.21 needs Python 3.10. Install it with pyenv (pyenv install 3.10) or put python3.10 on PATH." >&2; \
	  exit 1; fi
	@test -x $(RASA_PY) || $(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_PY) -m pip install -q --upgrade pip 'setuptools<70' wheel
	$(RASA_PY) -m pip install -q -r requirements-rasa.txt
	@touch $@

train: venv
	$(APP_PY) -m bot train

validate: venv
	$(APP_PY) -m bot validate

lint: venv-app
	$(VENV)/bin/ruff check bot actions tests bench
	$(APP_PY) -m bot guides lint

run: venv
	$(APP_PY) -m bot run

# Debian's chromium for the browser tests; Playwright drives it, never downloads a browser.
browser-deps:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo -n apt-get update -qq && sudo -n apt-get install -y -qq chromium; fi; } \
	  || echo "warning: chromium could not be installed; browser tests will be skipped" >&2

test: venv browser-deps
	$(VENV)/bin/ruff check bot actions tests bench
	$(APP_PY) -m bot guides lint
	$(APP_PY) -m bot validate
	$(APP_PY) -m bot train
	$(APP_PY) -m bot test-stories
	$(APP_PY) -m bot nlu-eval
	$(RASA_PY) -m pytest -q -p no:cacheprovider tests/actions
	$(APP_PY) -m pytest -q -p no:cacheprovider

nlu-eval: venv
	$(APP_PY) -m bot train
	$(APP_PY) -m bot nlu-eval

bench: venv
	$(APP_PY) -m bot train
	$(APP_PY) bench/chat_latency.py

bench-wechat: venv
	$(APP_PY) -m bot train
	$(APP_PY) bench/wechat_latency.py

# No Rasa involved: policy matching is the database's work (see bench/README.md).
bench-policies: venv-app
	mkdir -p var && $(APP_PY) bench/policy_matching.py --enterprises 1000000 --json var/bench-policies.json

clean:
	rm -rf build models var .pytest_cache
