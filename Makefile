# Thin targets over the project's own commands. `make help` lists them.
# The Python used: an activated virtualenv if there is one, else ./.venv (made by `make install`).
VENV ?= .venv
PYTHON ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,$(VENV)/bin/python)
# Pinned CPU wheel on this project's machines; set TORCH=torch to take your platform's build.
TORCH ?= torch==2.13.0
# The default audio synthesizer, installed without its pyaudio dependency (live playback
# only; it fails to build without PortAudio's headers): render/audio.py.
TINYSOUNDFONT ?= tinysoundfont==0.3.7
# Debian packages of `make system-deps`: Chromium for the listening-page test.
SYSTEM_PACKAGES ?= chromium
SUDO ?= $(if $(filter 0,$(shell id -u)),,sudo)
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help system-deps install demo train compare compare-lakh compare-pop909 note-model data-lpd5 data-labels test test-slow mutants lint format bench docs-tables notebooks-clear clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

system-deps: ## Debian packages the tests use: Chromium (the listening page); needs root or sudo
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES)

install: ## create .venv (unless a virtualenv is active) and install musegen with dev tools
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x "$(VENV)/bin/python" ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -m pip install --upgrade pip
	$(PYTHON) -m pip install "$(TORCH)"
	$(PYTHON) -m pip install --no-deps "$(TINYSOUNDFONT)"
	$(PYTHON) -m pip install -e ".[dev,audio]"

demo: ## no training: a real piece continued and accompanied by the shipped models, a page (logs/demo)
	$(PYTHON) -m musegen.demo $(ARGS)

train: ## train the default model (lstm_gru on the Bach chorales); extra overrides in ARGS="..."
	$(PYTHON) -m musegen.train $(ARGS)

compare: ## the paper's comparison: 5 backbones x 3 seeds on Bach, aggregated
	$(PYTHON) -m musegen.train experiment=compare $(ARGS)

compare-lakh: ## the same on the 150 Lakh MIDIs of ../shared/data, five tracks
	$(PYTHON) -m musegen.train experiment=compare_lakh $(ARGS)

compare-pop909: ## the same on POP909's 909 piano songs in ../shared/data
	$(PYTHON) -m musegen.train experiment=compare_pop909 $(ARGS)

note-model: ## chained heads on 100 notes vs independent on 25, Lakh, 3 seeds each (38 min here)
	@d=$${NOTE_SWEEP:-logs/note_model/$$(date +%Y-%m-%d_%H-%M-%S)}; \
	$(PYTHON) -m musegen.train -m experiment=lakh,lakh_independent seed=1,2,3 task_name=note_model hydra.sweep.dir=$$d $(ARGS); \
	status=$$?; \
	$(PYTHON) -m musegen.compare $$d --title "Note model: chained heads on 100 notes vs independent heads on 25 (Lakh)" --command "make note-model" && exit $$status

data-lpd5: ## download and extract LPD-5 cleansed into ./data (resumable); ARGS="--subset full"
	$(PYTHON) -m musegen.data.download lpd5 $(ARGS)

data-labels: ## download LPD's genre lists (labels.tar.gz) into ./data, checksum-verified
	$(PYTHON) -m musegen.data.download labels $(ARGS)

# Two pytest workers (pytest-xdist), a test file each at a time: the suite is single-threaded
# (one intra-op thread, tests/conftest.py) and mostly starts CLIs in subprocesses, so two
# workers use both cores of the 2-core machine it is sized for; a file's module fixtures are
# built once. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PYTEST_WORKERS = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: ## the default test suite (under 10 minutes on 2 cores, two workers)
	$(PYTHON) -m pytest -q $(PYTEST_WORKERS) $(ARGS)

test-slow: ## the slow tests too (full training runs)
	$(PYTHON) -m pytest -q $(PYTEST_WORKERS) -m "slow or not slow" $(ARGS)

mutants: ## mutation testing (hours; not in make test): experiments/mutants/report.md; ARGS="--group sweeps"
	$(PYTHON) experiments/mutants/run.py $(ARGS)

lint: ## ruff lint and format check (the notebooks' code too)
	$(PYTHON) -m ruff check musegen tests experiments notebooks
	$(PYTHON) -m ruff format --check musegen tests experiments notebooks

format: ## apply ruff's fixes and formatting
	$(PYTHON) -m ruff check --fix musegen tests experiments notebooks
	$(PYTHON) -m ruff format musegen tests experiments notebooks

notebooks-clear: ## remove the outputs of notebooks/*.ipynb before committing (the tests check)
	$(PYTHON) -m tests.notebook_outputs notebooks/*.ipynb

bench: ## speed benchmarks, as ratios against named baselines measured in the same run
	$(PYTHON) -m musegen.bench $(ARGS)

docs-tables: ## rewrite the tables of README.md and docs/training.md from the results and conf/
	$(PYTHON) -m musegen.docs_tables $(ARGS)

clean: ## remove caches and run outputs (keeps .venv and built datasets in data/)
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info logs outputs multirun
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
