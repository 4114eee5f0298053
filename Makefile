# The two commands that do everything on a fresh machine:
#   make demo   venv + install + models + mesh up + the main job
#   make test   venv + install + models + the whole suite (integration included)
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv models up down status demo test unit fuzz bench eval eval-text eval-lecture eval-compose train clean proto system

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 (with its shared library)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependencies or the contracts change (stubs are generated at install).
$(STAMP): $(BIN)/python pyproject.toml hatch_build.py $(wildcard proto/mediamesh/v1/*.proto)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

proto: venv
	$(BIN)/python -m mediamesh.protogen

models: venv
	$(BIN)/mediamesh models build

# The mesh starts without the Debian packages (the medley needs none of them); without them
# `mediamesh create` and CJK burned-in text answer FAILED_PRECONDITION saying what to install.
up: models
	@$(MAKE) --no-print-directory system 2>/dev/null || echo "warning: could not install \
	$(SYSTEM_PACKAGES) (no root or sudo?): narration and CJK text need them; the rest runs"
	$(BIN)/mediamesh up

down:
	-$(BIN)/mediamesh down

status:
	$(BIN)/mediamesh status

demo: up
	$(BIN)/mediamesh demo --out-dir out
	@echo "demo outputs are in ./out (mesh still running: 'make down' stops it)"

# Debian packages, none linked into the services:
# - espeak-ng (GPL-3), run as a program: the narration of `mediamesh create`, and the
#   sentences DetectSpeech and Transcribe must find in the tests;
# - fonts for burned-in text (ComposeService text tracks): WenQuanYi Zen Hei draws Chinese
#   (GPL-2 with the font exception) and DejaVu Sans Latin (free licence); the renderer
#   prefers Noto Sans CJK (SIL OFL) when it is installed.
SYSTEM_PACKAGES = espeak-ng fonts-wqy-zenhei fonts-dejavu-core
system:
	@{ command -v espeak-ng && test -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc && \
	   test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null; }; }

test: models system
	$(BIN)/python -m pytest -q

unit: venv system
	$(BIN)/python -m pytest -q tests/unit

# Bad input, systematically, against a real mesh: FUZZ_CASES cases over every RPC (`make test`
# runs a quick, fixed-seed few hundred), every case run even when some fail (survey), a table
# per RPC and the JSON report with each failing input in bench/results/fuzz.json.
FUZZ_CASES ?= 10500
fuzz: models
	MEDIAMESH_FUZZ_CASES=$(FUZZ_CASES) MEDIAMESH_FUZZ_SURVEY=1 \
	MEDIAMESH_FUZZ_REPORT=bench/results/fuzz.json $(BIN)/python -m pytest -q tests/fuzz

bench: models
	$(BIN)/python bench/triton_overhead.py

# Quality of beat/downbeat/meter/tempo/chorus detection on the rendered, annotated song set,
# side by side with librosa (bench extra).
eval: models
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/eval_audio.py

# OCR quality on rendered zh/en subtitle frames (bench extra; fonts from `make system`).
eval-text: models system
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/eval_text.py

# Lecture chaptering on rendered slide decks with known changes and titles (bench extra;
# the CJK font comes with `make system`).
eval-lecture: models system
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/eval_lecture.py

# The renderer against timelines with known content (placement frame by frame, A/V sync,
# loudness, ducking, speed against the decode+encode ceiling) and lecture chaptering.
eval-compose: models system
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/eval_compose.py

# Optional: retrain the beat model (needs torch, the train extra); writes beat_tcn.npz.
train: venv
	$(BIN)/python -m pip install --quiet -e '.[train]'
	$(BIN)/python tools/train_beat_tcn.py

clean: down
	rm -rf $(VENV) .mediamesh out bench/results
