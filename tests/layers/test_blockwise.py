"""The block-wise path against the direct path, for every registered layer.

`block_size=4` forces query blocks of 4 rows on Tq = 7 (blocks of 4 and 3), so
a block boundary falls inside every mask pattern below. Layers whose score is
a matmul also run with `key_block_size=2` (Tv = 6: three key blocks, the
online softmax), marked `keys-split` in the test ids.
"""

import keras
import numpy as np
import pytest
from layer_harness import gradients, lengths_mask, make_layer, plans_taken, splits_heads

from attention_zoo import layers
from attention_zoo.layers import _dispatch

NAMES = layers.available()
B, TQ, TV, D = 2, 7, 6, 8
BLOCK = 4
KEY_BLOCK = 2

# Layers whose score may be split along the keys (the online softmax).
MATMUL = [name for name in NAMES if make_layer(name).score_is_matmul()]
CASES = [(name, False) for name in NAMES] + [(name, True) for name in MATMUL]
CASE_IDS = [f"{name}-keys-{'split' if split else 'whole'}" for name, split in CASES]


def keys(split):
    """The layer arguments that split the keys into blocks of KEY_BLOCK, or not."""
    return {"key_block_size": KEY_BLOCK} if split else {}


def record_key_lengths(layer):
    """Records the number of keys of every `score_prepared` call of `layer`."""
    seen = []
    score_prepared = layer.score_prepared

    def recording(q, k):
        seen.append(k.shape[2])
        return score_prepared(q, k)

    layer.score_prepared = recording
    return seen


def steps(split, causal, dropout=False):
    """The key lengths the score sees on one call: one entry per (query block, key block).

    Split keys without dropout take `_blockwise.flash`, loops that compute
    q kᵀ themselves (the score is a matmul): the score is not called.
    """
    if split and not dropout:
        return []
    lengths = []
    for start in range(0, TQ, BLOCK):
        k_stop = min(start + BLOCK, TV) if causal else TV
        if not split:
            lengths.append(k_stop)
            continue
        lengths += [min(KEY_BLOCK, k_stop - j) for j in range(0, k_stop, KEY_BLOCK)]
    return lengths


def _pair(name, rng, split=False, **kwargs):
    """A direct and a block-wise layer with the same non-trivial weights."""
    direct = make_layer(name, implementation="direct", **kwargs)
    blocked = make_layer(name, block_size=BLOCK, **keys(split), **kwargs)
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    direct(query, value)
    blocked(query, value)
    direct.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 for w in direct.weights])
    blocked.set_weights(direct.get_weights())
    return direct, blocked, query, value


def _masks():
    query_mask = lengths_mask([TQ, 5], TQ)
    value_mask = lengths_mask([5, 2], TV)
    attention_mask = np.random.default_rng(3).random((B, TQ, TV)) < 0.7
    attention_mask[0, 4] = False  # a row that sees nothing, inside the second block
    return {
        "none": {},
        "query_mask": {"query_mask": query_mask},
        "value_mask": {"value_mask": value_mask},
        "attention_mask": {"attention_mask": attention_mask},
        "causal": {"use_causal_mask": True},
        "all": {
            "query_mask": query_mask,
            "value_mask": value_mask,
            "attention_mask": attention_mask,
            "use_causal_mask": True,
        },
    }


MASKS = _masks()


@pytest.fixture
def block_calls(monkeypatch):
    """The plans of the calls from now on; `query_blocks` reads their block sizes."""
    return plans_taken(monkeypatch)


def query_blocks(plans):
    """The query block size of every call that took the block-wise path."""
    return [plan.blocks[0] for plan in plans if plan.path == "blockwise"]


@pytest.mark.parametrize("name,split", CASES, ids=CASE_IDS)
def test_values_match_the_direct_path_under_every_mask(name, split, rng, block_calls):
    direct, blocked, query, value = _pair(name, rng, split)
    key = rng.normal(size=value.shape).astype("float32")
    seen = record_key_lengths(blocked)
    for mask, kwargs in MASKS.items():
        block_calls.clear()
        seen.clear()
        expected = np.asarray(direct(query, value, key, **kwargs))
        got = np.asarray(blocked(query, value, key, **kwargs))
        assert query_blocks(block_calls) == [BLOCK], mask
        # The score saw key blocks (none after a causal query block's end), not all keys.
        assert seen == steps(split, kwargs.get("use_causal_mask", False)), mask
        assert block_calls[-1].blocks == (BLOCK, KEY_BLOCK if split else TV), mask
        assert np.all(np.isfinite(got)), mask
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=mask)


@pytest.mark.parametrize("name,split", CASES, ids=CASE_IDS)
def test_gradients_match_the_direct_path(name, split, rng, block_calls):
    direct, blocked, query, value = _pair(name, rng, split)
    for mask in ("none", "all"):
        kwargs = MASKS[mask]
        expected_w, expected_q = gradients(direct, query, value, **kwargs)
        block_calls.clear()
        seen = record_key_lengths(blocked)
        got_w, got_q = gradients(blocked, query, value, **kwargs)
        assert query_blocks(block_calls)
        assert block_calls[-1].blocks == (BLOCK, KEY_BLOCK if split else TV), mask
        assert seen == [] if split else max(seen) == TV, mask
        for got, expected in zip([*got_w, got_q], [*expected_w, expected_q], strict=True):
            assert np.all(np.isfinite(got)), mask
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=mask)


@pytest.mark.parametrize("name,split", CASES, ids=CASE_IDS)
def test_fully_masked_rows_are_finite_zeros(name, split, rng, block_calls):
    _, blocked, query, value = _pair(name, rng, split)
    value_mask = lengths_mask([TV, 0], TV)  # the second example has no valid key
    attention_mask = np.ones((B, TQ, TV), bool)
    attention_mask[0, 4] = False
    out = np.asarray(blocked(query, value, value_mask=value_mask, attention_mask=attention_mask))
    assert query_blocks(block_calls)
    assert np.all(np.isfinite(out))
    if not splits_heads(name):  # the output projection adds its bias to the zero context
        assert np.all(out[0, 4] == 0) and np.all(out[1] == 0)


@pytest.mark.parametrize("name", NAMES)
def test_scores_requested_build_the_full_matrix(name, rng, block_calls):
    direct, blocked, query, value = _pair(name, rng)
    block_calls.clear()
    out, w = blocked(query, value, use_causal_mask=True, return_attention_scores=True)
    expected_out, expected_w = direct(
        query, value, use_causal_mask=True, return_attention_scores=True
    )
    assert not query_blocks(block_calls)
    np.testing.assert_allclose(np.asarray(w), np.asarray(expected_w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected_out), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MATMUL)
def test_online_softmax_under_mixed_float16(name, rng, monkeypatch):
    exp_dtypes = []
    exp = keras.ops.exp

    def recording_exp(x):
        exp_dtypes.append(keras.backend.standardize_dtype(x.dtype))
        return exp(x)

    monkeypatch.setattr(keras.ops, "exp", recording_exp)
    direct, _, query, value = _pair(name, rng)
    mixed = make_layer(name, block_size=BLOCK, dtype="mixed_float16", **keys(True))
    mixed(query, value)
    mixed.set_weights(direct.get_weights())
    kwargs = dict(MASKS["all"])
    kwargs["value_mask"] = lengths_mask([TV, 0], TV)  # the second example sees nothing
    seen = record_key_lengths(mixed)
    exp_dtypes.clear()
    out = mixed(query, value, **kwargs)
    assert seen == steps(True, causal=True)
    assert exp_dtypes and set(exp_dtypes) == {"float32"}  # the softmax statistics
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    out = np.asarray(keras.ops.cast(out, "float32"))
    expected = np.asarray(direct(query, value, **kwargs))
    assert np.all(np.isfinite(out))
    if not splits_heads(name):
        assert np.all(out[1] == 0)
    np.testing.assert_allclose(out, expected, atol=5e-2)  # the tolerance of test_layer_contract
    weight_grads, query_grad = gradients(mixed, query, value, **kwargs)
    for grad in [*weight_grads, query_grad]:
        assert np.all(np.isfinite(np.asarray(grad, "float32")))


@pytest.mark.parametrize("name", NAMES)
def test_query_blocks_train_under_mixed_float16(name, rng):
    # The backward pass recomputes each block outside the layer call: weights
    # read there are not autocast to float16.
    layer = make_layer(name, block_size=BLOCK, dtype="mixed_float16")
    query, value = (
        rng.normal(size=(B, TQ, D)).astype("float32"),
        rng.normal(size=(B, TV, D)).astype("float32"),
    )
    weight_grads, query_grad = gradients(layer, query, value, use_causal_mask=True)
    for grad in [*weight_grads, query_grad]:
        assert np.all(np.isfinite(np.asarray(grad, "float32")))


class _DroppedWeights(keras.layers.Layer):
    """The direct path's weights times a fixed 0/1 keep mask, rescaled as dropout does."""

    def __init__(self, attention, keep, rate):
        super().__init__()
        self.attention = attention
        self.keep = keep
        self.rate = rate

    def call(self, query, value, key=None, training=None):
        _, w = self.attention(query, value, key, return_attention_scores=True)
        return w * self.keep / (1 - self.rate)


SINGLE_HEAD = [name for name in NAMES if not splits_heads(name)]


@pytest.mark.parametrize(
    "name,split",
    [case for case in CASES if case[0] in SINGLE_HEAD],
    ids=[i for case, i in zip(CASES, CASE_IDS, strict=True) if case[0] in SINGLE_HEAD],
)
def test_dropout_acts_on_normalised_weights_and_recomputes_the_same_mask(
    name, split, rng, block_calls
):
    rate = 0.5
    # Value = identity (Tv = Dv), so the output *is* the dropped-out weight matrix.
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    key = rng.normal(size=(B, TV, D)).astype("float32")
    value = np.broadcast_to(np.eye(TV, dtype="float32"), (B, TV, TV)).copy()
    plain = make_layer(name)
    plain(query, value, key)
    plain.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 for w in plain.weights])

    def dropped_layer():
        layer = make_layer(name, block_size=BLOCK, dropout=rate, seed=11, **keys(split))
        layer(query, value, key)
        layer.set_weights(plain.get_weights())
        return layer

    first = dropped_layer()
    first(query, value, key, training=True)  # the gradient helper below also calls twice
    seen = record_key_lengths(first)
    out = np.asarray(first(query, value, key, training=True))
    assert query_blocks(block_calls) and seen == steps(split, causal=False, dropout=True)
    w = np.asarray(plain(query, value, key, return_attention_scores=True)[1])
    keep = out != 0
    np.testing.assert_allclose(out, np.where(keep, w / (1 - rate), 0), rtol=1e-5, atol=1e-6)
    assert 0.3 < keep.mean() < 0.7
    again = np.asarray(dropped_layer()(query, value, key, training=True))
    again_second = np.asarray(dropped_layer()(query, value, key, training=True))
    np.testing.assert_array_equal(again, again_second)  # seeded
    assert not np.array_equal(again, out)  # a new mask on each call

    # The backward pass recomputes each block: it must drop what the forward pass dropped.
    got_w, got_q = gradients(dropped_layer(), query, value, key=key, training=True)
    reference = _DroppedWeights(plain, keep.astype("float32"), rate)
    expected_w, expected_q = gradients(reference, query, value, key=key)
    for got, expected in zip([*got_w, got_q], [*expected_w, expected_q], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("split", [False, True], ids=["keys-whole", "keys-split"])
def test_dropout_in_multi_head_blocks_is_seeded_and_training_only(split, rng, block_calls):
    direct, _, query, value = _pair("multi_head", rng)
    make = lambda: make_layer(  # noqa: E731
        "multi_head", block_size=BLOCK, dropout=0.5, seed=5, **keys(split)
    )
    layer, twin = make(), make()
    for each in (layer, twin):
        each(query, value)
        each.set_weights(direct.get_weights())
    reference = np.asarray(direct(query, value))
    np.testing.assert_allclose(np.asarray(layer(query, value)), reference, rtol=1e-5, atol=1e-5)
    seen = record_key_lengths(layer)
    trained = np.asarray(layer(query, value, training=True))
    assert seen == steps(split, causal=False, dropout=True)
    assert not np.allclose(trained, reference, atol=1e-4)
    twin(query, value)
    np.testing.assert_array_equal(np.asarray(twin(query, value, training=True)), trained)


def test_the_automatic_choice_takes_the_block_path_where_the_direct_path_is_too_large():
    def plan(q_len, k_len, matmul=True, width=1):
        shape = (2, 4, q_len, k_len, 8, 8)
        return _dispatch.choose(shape, matmul=matmul, width=width, platform="cpu")

    limit = _dispatch.AUTO_BLOCK_ELEMENTS // 8  # Tq · Tv at B · H = 8
    assert plan(limit // 1024, 1024).path != "blockwise"
    assert plan(limit // 1024 + 1, 1024).path == "blockwise"
    assert plan(limit // 1024 + 1, 1024, matmul=False, width=1).path == "blockwise"
    assert plan(limit // 1024, 1024, matmul=False, width=4).path == "blockwise"  # 4 floats a pair
    big = plan(2**14, 2**14)
    assert big.blocks[1] < 2**14  # a matmul score splits the keys
    assert plan(2**14, 2**14, matmul=False).blocks[1] == 2**14  # other scores do not
    # Unknown lengths, and an empty axis, take the direct path.
    assert _dispatch.choose((2, 4, None, 2**14, 8, 8), platform="cpu").path == "direct"
    assert _dispatch.choose((2, 4, 0, 2**14, 8, 8), block_size=4, platform="cpu").path == "direct"


def test_block_size_picks_equal_query_blocks_under_the_budget():
    def blocks(budget):
        return _dispatch._blockwise((4, 1, 100, 40), False, 1, None, None, budget).blocks

    assert blocks(4 * 100 * 40) == (100, 40)  # one block fits
    assert blocks(4 * 30 * 40) == (25, 40)  # 4 blocks of 25, not 30 + 30 + 30 + 10
    block, key_block = blocks(1)
    assert -(-100 // block) <= _dispatch.MAX_BLOCKS and key_block == 40


def test_key_blocks_of_matmul_scores_stay_under_the_budget_and_the_step_cap():
    def blocks(budget, block_size=None):
        sizes = (2, 4, 1000, 3000)
        return _dispatch._blockwise(sizes, True, 1, block_size, None, budget).blocks

    assert blocks(8 * 200 * 300) == (200, 300)  # 5 x 10 equal blocks of the budget
    block, key_block = blocks(8)  # one score per step: the cap decides
    pairs = -(-1000 // block) * -(-3000 // key_block)
    assert pairs <= _dispatch.MAX_PAIRS and pairs > _dispatch.MAX_PAIRS // 4
    assert -(-1000 // block) * block - 1000 < -(-1000 // block)  # blocks differ by one row at most
    assert blocks(8 * 200 * 300, block_size=100) == (100, 600)  # the budget over the given block
    # A multi-head layer splits the keys when its head score is a matmul only.
    assert layers.MultiHeadAttention(num_heads=2).score_is_matmul()
    assert not layers.MultiHeadAttention(num_heads=2, score="additive").score_is_matmul()


@pytest.mark.parametrize("block_size", [0, -2, 2.5, "8", True])
def test_bad_block_size_is_rejected(block_size):
    for name in NAMES:
        with pytest.raises(ValueError, match=f"block_size.*Received: block_size={block_size!r}"):
            make_layer(name, block_size=block_size)


def test_block_size_is_in_the_config():
    for name in NAMES:
        layer = make_layer(name, block_size=16, key_block_size=8)
        config = layer.get_config()
        assert config["block_size"] == 16 and config["key_block_size"] == 8
        clone = type(layer).from_config(config)
        assert clone.block_size == 16 and clone.key_block_size == 8


@pytest.mark.parametrize("split", [False, True], ids=["keys-whole", "keys-split"])
def test_jit_compiled_training_step_on_the_block_path(split, rng, block_calls):
    query_in = keras.Input((TQ, D))
    attention = layers.MultiHeadAttention(num_heads=2, block_size=BLOCK, **keys(split))
    seen = record_key_lengths(attention)
    out = attention(query_in, query_in)
    model = keras.Model(query_in, keras.layers.Dense(1)(out))
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    x = rng.normal(size=(4, TQ, D)).astype("float32")
    eager_loss = float(np.mean(np.square(np.asarray(model(x)))))
    assert query_blocks(block_calls) and (seen == [] if split else set(seen) == {TQ})
    # One batch: the reported loss is computed, in the compiled step, before the update.
    history = model.fit(x, np.zeros((4, TQ, 1), "float32"), batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], eager_loss, rtol=1e-5)


def test_the_key_block_loop_is_traced_once_whatever_the_number_of_blocks(monkeypatch, rng):
    exps = []
    exp = keras.ops.exp

    def counting(x):
        exps.append(x)
        return exp(x)

    monkeypatch.setattr(keras.ops, "exp", counting)
    counts = []
    for length in (8, 32):  # 4 x 4 and 16 x 16 (query block, key block) steps
        x = rng.normal(size=(1, length, D)).astype("float32")
        layer = make_layer("scaled_dot", block_size=2, key_block_size=2)
        exps.clear()
        _traced(lambda x: layer(x, x, use_causal_mask=True))(x)  # noqa: B023
        counts.append(len(exps))
    assert counts[0] == counts[1] and counts[0] > 0


def _traced(fn):
    """`fn` compiled as a graph (eagerly the loops run step by step in Python)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    import jax

    return jax.jit(fn)
