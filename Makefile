# Set-up is `make demo` or `make test` on a machine with Python 3.10+: each creates .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo bench test lint format install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	KERAS_BACKEND=tensorflow $(BIN)/attention-zoo compare --preset quick --out runs/demo

# On a GPU machine (JAX with CUDA): make bench BENCH_ARGS=--device (see docs/performance.md).
# `make bench BENCH_ARGS=--quick` for the few-minute version.
bench: $(STAMP)
	KERAS_BACKEND=tensorflow $(BIN)/python -m attention_zoo.experiments.bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The JAX pass re-checks the layers on a second backend: their contract, values, masks,
# and the block path's, the additive tiles' and the own backward pass's agreement with the
# direct path. Mixed precision, dropout and XLA cases run on TensorFlow only, and so do
# the own backward pass's whole-tensor form (a GPU's, unchanged on JAX since it was tested
# there), its tiles of several heads and its extra mask shapes, which keeps `make test`
# within 20 minutes on 2 cores.
JAX_TESTS := tests/layers/test_layer_contract.py tests/layers/test_numerics.py \
	tests/layers/test_masking.py tests/layers/test_blockwise.py \
	tests/layers/test_tiled_additive.py tests/layers/test_fused_backward.py \
	tests/layers/test_extreme_inputs.py tests/layers/test_dispatch.py tests/layers/test_fused.py
JAX_SKIP := not mixed_precision and not mixed_float16 and not dropout \
	and not jit_compile and not whole_tensors \
	and not tiles_of_two_heads and not mask_shape

# Then the models that used to need TensorFlow (RAM's training step, the translator's
# tokenizer and search) and their input checks; tests/test_journeys.py (in the TensorFlow
# pass) also runs every model's create / fit / save / reload chain on JAX in a subprocess.
JAX_TESTS += tests/zoo/vision/test_recurrent_attention_model.py tests/zoo/seq2seq/test_translator_inputs.py \
	tests/zoo/text/test_text_classifier.py
JAX_SKIP += and not beats_chance and not recurrent_decoders \
	and (not test_text_classifier or bad_ids or whole_float)

test: lint
	KERAS_BACKEND=tensorflow $(BIN)/pytest -n 2 tests
	KERAS_BACKEND=jax $(BIN)/pytest -n 2 $(JAX_TESTS) -k "$(JAX_SKIP)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
