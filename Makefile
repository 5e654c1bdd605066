# Maak — the two commands a fresh machine needs: `make run` and `make test`.
#
# Two environments (README): the gateway in .venv, on a current Python and current libraries;
# Rasa 3.6, the action server and the model tools in .venv-rasa, on Python 3.10 with Rasa's pins.
VENV := .venv
BIN := $(VENV)/bin
RASA_VENV := .venv-rasa
RASA_BIN := $(RASA_VENV)/bin
# pip's own chatter (and the warnings of local package indexes) stays out of `make run`'s output;
# errors still show.
PIP_QUIET := --quiet --quiet --disable-pip-version-check

.PHONY: setup run test lint train validate clean

setup: $(VENV)/.installed $(RASA_VENV)/.installed

# Each environment is brought up to date when its dependencies change (its lock file pins every
# version that was resolved and tested together), and made anew when its Python is not the one
# `scripts/find-python` picks (an environment from before the split, or a newer Python installed).
same_python = [ "$$($(1)/bin/python -c 'import sys; print(sys.version)' 2>/dev/null)" = "$$($$PY -c 'import sys; print(sys.version)')" ]

$(VENV)/.installed: pyproject.toml requirements.lock
	@PY=$$(scripts/find-python gateway) && { $(call same_python,$(VENV)) || { rm -rf $(VENV) && $$PY -m venv $(VENV); }; }
	@echo "maak: installing the gateway's environment ($(VENV), $$($(BIN)/python -V))"
	@$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip wheel
	@$(BIN)/python -m pip install $(PIP_QUIET) -c requirements.lock -e '.[test]'
	@touch $@

$(RASA_VENV)/.installed: requirements-rasa.txt requirements-rasa.lock
	@PY=$$(scripts/find-python rasa) && { $(call same_python,$(RASA_VENV)) || { rm -rf $(RASA_VENV) && $$PY -m venv $(RASA_VENV); }; }
	@echo "maak: installing Rasa's environment ($(RASA_VENV), $$($(RASA_BIN)/python -V))"
	@$(RASA_BIN)/python -m pip install $(PIP_QUIET) --upgrade "pip<25" wheel
	@$(RASA_BIN)/python -m pip install $(PIP_QUIET) -c requirements-rasa.lock -r requirements-rasa.txt
	@touch $@

run: setup
	@$(BIN)/maak run

train: setup
	$(BIN)/maak train

# The gateway's tests in its environment, then those of what runs in Rasa's (tests/rasa/).
test: setup
	scripts/ensure-chromium
	$(BIN)/pytest
	$(RASA_BIN)/python -m pytest tests/rasa --confcutdir=tests/rasa -p no:cacheprovider

# Static checks: ruff (errors, unused names, likely bugs, import order) and mypy --strict on the
# gateway's code; settings in pyproject.toml.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# Rasa's data validation, failing on any warning except responses that only actions send.
validate: setup
	PYTHONPATH=. $(RASA_BIN)/python -m tools.validate

clean:
	rm -rf $(VENV) $(RASA_VENV) models .rasa
