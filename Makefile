# experiment_host — two commands: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium
HOST_PORT ?= 5000
SIM_PORT ?= 5001
export FLASK_APP := wsgi.py

.PHONY: run test install-check serve setup python-deps node-deps chromium db lint clean

setup: python-deps node-deps

python-deps: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node-deps: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the browser tests (never a downloaded browser).
chromium:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM)

db: setup
	$(BIN)/flask db upgrade

# Serve the example experiments on SQLite, plus the local MTurk simulator.
run: db
	@echo ""
	@echo "  Experiments:     http://127.0.0.1:$(HOST_PORT)/exp/stroop?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE"
	@echo "                   http://127.0.0.1:$(HOST_PORT)/exp/jspsych-rt   (plain study link)"
	@echo "  MTurk simulator: http://localhost:$(SIM_PORT)/   (work each experiment as a HIT)"
	@echo "  Prolific simulator: http://localhost:$(SIM_PORT)/prolific/   (take each experiment as a study)"
	@echo "  flask hits:      export MTURK_ENDPOINT_URL=http://localhost:$(SIM_PORT)"
	@echo ""
	MTURK_SUBMIT_ORIGINS="https://www.mturk.com https://workersandbox.mturk.com http://localhost:$(SIM_PORT)" \
	SIMULATOR_PORT=$(SIM_PORT) \
	PROLIFIC_API_URL=http://localhost:$(SIM_PORT)/prolific/api/v1 PROLIFIC_API_TOKEN=rehearsal \
	PROLIFIC_COMPLETE_URL=http://localhost:$(SIM_PORT)/prolific/submissions/complete \
	  bash -c 'trap "kill 0" EXIT; \
	    $(BIN)/flask simulator run --port $(SIM_PORT) --experiment-base http://127.0.0.1:$(HOST_PORT) & \
	    $(BIN)/flask run --host 127.0.0.1 --port $(HOST_PORT)'

# The whole suite on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
test: setup chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# A production install serves: the package without its test extras in a fresh virtualenv,
# `flask db upgrade`, gunicorn with gunicorn.conf.py, 200 from /healthz (.ci/install_check.py).
# On SQLite; INSTALL_CHECK_ARGS="--database-url postgresql+psycopg://..." adds an empty database.
install-check:
	$(PYTHON) .ci/install_check.py $(INSTALL_CHECK_ARGS)

lint: python-deps
	$(BIN)/ruff check experiment_host tests bench migrations

clean:
	rm -rf $(VENV) node_modules .pytest_cache

# Production-style serving with gunicorn.conf.py (see README, "Going live").
serve: db
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app
