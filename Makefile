# Maak — the two commands a fresh machine needs: `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint train validate clean

setup: $(STAMP)

# The venv is rebuilt when the dependencies change; requirements.lock pins every version
# that was resolved and tested together.
$(STAMP): pyproject.toml requirements.lock
	@PY=$$(scripts/find-python) && { [ -x $(BIN)/python ] || $$PY -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade "pip<25" wheel
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $(STAMP)

run: setup
	$(BIN)/maak run

train: setup
	$(BIN)/maak train

test: setup
	scripts/ensure-chromium
	$(BIN)/pytest

# Static checks (ruff): errors, unused names and likely bugs; settings in pyproject.toml.
lint: setup
	$(BIN)/ruff check .

# Rasa's data validation, failing on any warning except responses that only actions send.
validate: setup
	$(BIN)/python -m bot.validate

clean:
	rm -rf $(VENV) models .rasa
