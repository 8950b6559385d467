# Quick start: `make demo` (pipeline on the bundled data + dashboard), `make test` (all tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RESULTS ?= data/demo
PORT ?= 8501
ADDRESS ?= 127.0.0.1
DEMO_DATA := seeds data/stackexchange_bicycles_meta
# the demo desk's staff (data/README.md says who they are): IPVM's reporter in the seed discussion, and
# Stack Exchange employees who say so in their Users.xml profiles
DEMO_STAFF := --name "Charles Rollet" --name "Jeff Atwood" --name "Kevin Montrose" --name "Robert Cartaino" \
	--name "Adam Lear" --name "Catija" --name "V2Blast" --name "JNat"

.PHONY: setup demo test eval bench

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

setup: $(VENV)/.installed

# the port is checked before the pipeline runs; a store from an earlier version is upgraded, keeping decisions
demo: setup
	@$(PY) -m moderation dashboard --results $(RESULTS) --address $(ADDRESS) --port $(PORT) --check
	$(PY) -m moderation store upgrade --store sqlite:///$(RESULTS)/moderation.db
	$(PY) -m moderation staff --results $(RESULTS) --by demo $(DEMO_STAFF)
	$(PY) -m moderation run $(DEMO_DATA) --out $(RESULTS)
	$(PY) -m moderation dashboard --results $(RESULTS) --address $(ADDRESS) --port $(PORT)

test: setup
	bash scripts/test.sh $(PY)

eval: setup
	$(PY) scripts/evaluate.py

bench: setup
	$(PY) benchmarks/bench_run.py
	$(PY) benchmarks/bench_pipeline.py
	$(PY) benchmarks/bench_incremental.py 200000 2000
