# gui-bridge: the two front-door commands (README.md) and their set-up. Everything a fresh machine needs is
# installed here; nothing is downloaded from a model hub.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Backends the test suite trains for real (one isolated virtualenv each, built by `bridge env install`): read from
# the backend registry at run time (adapters declaring `tested = True`), so a new backend needs no edit here.
TEST_BACKENDS ?= $$($(BIN)/bridge backends --names --tested)
# The VLM-R1 checkout its environment is built from (a snapshot of om-ai-lab/VLM-R1's src/open-r1-multimodal in the
# shared folder beside the repository, as CI lays it out); `bridge env install` ignores it for the other backends.
VLMR1_CHECKOUT ?= $(abspath $(CURDIR)/../shared/vendor/vlm-r1)

.PHONY: demo test dev envs browser clean

$(BIN)/.installed: pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt -e .
	touch $@

dev: $(BIN)/.installed

envs: dev
	$(BIN)/bridge env install $(TEST_BACKENDS) --checkout $(VLMR1_CHECKOUT)

## make demo: synthetic data -> tiny model -> TRL SFT + GRPO -> eval -> compare report (CPU, no GPU, no hub)
demo: dev
	$(BIN)/bridge env install trl
	$(BIN)/bridge demo

# Debian's Chromium renders the HTML compare report in a test and, with its driver, runs the MiniWoB++
# environment (bridge/environments/; headless, no download of its own). Installed only when missing.
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

## make test: the whole test suite, real backend runs included
test: envs browser
	BRIDGE_REQUIRE_BACKENDS=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache runs exports
