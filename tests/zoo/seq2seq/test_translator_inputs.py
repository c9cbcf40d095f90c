"""The translator on any Keras backend: tokenization, fit, search (cached and uncached
transformer decoding); bad pairs and bad ids."""

import keras
import numpy as np
import pytest

from attention_zoo.zoo import Translator, translation_data
from attention_zoo.zoo.seq2seq import search

SOURCES = ["3 March 1987", "the 1st of may 2019", "x"]


@pytest.fixture(scope="module")
def trained():
    """A tiny transformer translator after one epoch on 64 dates (any backend)."""
    pairs = translation_data.dates(64, seed=0)
    translator = Translator.from_pairs(
        pairs, decoder="transformer", split="char", units=8, embedding_dim=8
    )
    x, y = translator.encode_pairs(pairs)
    history = translator.fit(x, y, batch_size=32, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    return translator


def test_tokenization_and_example_batch_work_on_this_backend():
    x, y = Translator.example_batch(batch_size=3)
    assert set(x) == {"source", "target_in"} and x["source"].dtype == np.int32
    assert x["target_in"].shape == y.shape and (x["target_in"][:, 0] == 2).all()
    # Pairs made of the default vocabularies' characters: every id is known (no [UNK] = 1).
    assert (x["source"] != 1).all() and (y != 1).all()
    translator = Translator.from_pairs([("ab c", "x y"), ("c", "y")], split="word")
    assert translator.source_vocabulary == ["c", "ab"]
    ids = translator.encode_sources(["ab c zz", "c"])
    np.testing.assert_array_equal(ids, [[5, 4, 1], [4, 0, 0]])


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_recurrent_decoders_fit_one_step_and_translate(decoder):
    pairs = translation_data.dates(32, seed=1)
    translator = Translator.from_pairs(pairs, decoder=decoder, split="char", units=8)
    x, y = translator.encode_pairs(pairs)
    assert np.isfinite(translator.fit(x, y, batch_size=32, verbose=0).history["loss"][0])
    outputs = translator.translate(SOURCES[:2], beam_width=2, max_length=4)
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)


def test_greedy_search_picks_the_argmax_of_the_teacher_forced_model(trained):
    # Fed its own output, the model's logits must choose the same tokens as the search.
    translations, alignments = trained.translate(SOURCES, return_alignment=True)
    x = {"source": trained.encode_sources(SOURCES)}
    width = max(len(a["output_tokens"]) for a in alignments)
    x["target_in"] = np.zeros((len(SOURCES), width), "int32")
    x["target_in"][:, 0] = 2  # [START]
    vocabulary = ["", "[UNK]", "[START]", "[END]", *trained.target_vocabulary]
    outputs = []
    for i, alignment in enumerate(alignments):
        ids = [vocabulary.index(t) for t in alignment["output_tokens"]]
        x["target_in"][i, 1 : len(ids)] = ids[:-1]
        outputs.append(ids)
    logits = np.asarray(trained.predict(x, verbose=0))
    logits[..., [0, 2]] = -np.inf  # a search never emits padding or [START]
    for i, ids in enumerate(outputs):
        np.testing.assert_array_equal(logits[i, : len(ids)].argmax(-1), ids)
        weights = alignments[i]["weights"]
        assert weights.shape == (len(ids), len(SOURCES[i]))
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert translations == [
        "".join(t for t in a["output_tokens"] if t != "[END]") for a in alignments
    ]


def test_beam_of_width_one_is_greedy_and_wider_beams_answer_every_text(trained):
    # Four steps are enough to compare, and keep the compiled searches small.
    greedy = trained.translate(SOURCES, max_length=4)
    assert trained.translate(SOURCES, beam_width=1, length_penalty=0, max_length=4) == greedy
    wide, alignments = trained.translate(
        SOURCES, beam_width=3, length_penalty=0.6, max_length=4, return_alignment=True
    )
    assert len(wide) == len(SOURCES) and all(isinstance(w, str) for w in wide)
    for text, alignment in zip(SOURCES, alignments, strict=True):
        assert alignment["weights"].shape == (len(alignment["output_tokens"]), len(text))


# ------------------------------------------------------- bad pairs (issue 15, item 18)
@pytest.mark.parametrize("beam_width, length_penalty", [(1, None), (3, 0.6)])
def test_cached_search_gives_the_uncached_tokens_and_alignments(
    trained, beam_width, length_penalty
):
    sources = SOURCES + [s for s, _ in translation_data.dates(3, seed=5)]
    source_ids = trained.encode_sources(sources)
    results = []
    for use_cache in (True, False):
        trained.decoder.use_cache = use_cache
        try:
            run = search.compiled_search(trained, beam_width, length_penalty, max_length=6)
            results.append([keras.ops.convert_to_numpy(r) for r in run(source_ids)])
        finally:
            trained.decoder.use_cache = True
    (tokens, weights), (expected_tokens, expected_weights) = results
    np.testing.assert_array_equal(tokens, expected_tokens)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-6)


def _decode_steps(decoder, memory, memory_mask, encoder_state, tokens, use_cache):
    decoder.use_cache = use_cache
    try:
        state = decoder.start_state(encoder_state, memory)
        logits, weights = [], []
        for t in range(tokens.shape[1]):
            step_logits, state, step_weights = decoder.step(
                tokens[:, t], state, memory, memory_mask
            )
            logits.append(keras.ops.convert_to_numpy(step_logits))
            weights.append(keras.ops.convert_to_numpy(step_weights))
    finally:
        decoder.use_cache = True
    return np.stack(logits, 1), np.stack(weights, 1), state


@pytest.mark.parametrize(
    "attention, policy",
    [("scaled_dot", "float32"), ("additive", "float32"), ("scaled_dot", "mixed_float16")],
)
def test_cached_steps_give_the_uncached_logits_and_weights_in_every_block(attention, policy):
    # Two blocks and a padded source: the scores of every step, not only the argmax.
    keras.utils.set_random_seed(3)
    keras.mixed_precision.set_global_policy(policy)
    try:
        translator = Translator(
            decoder="transformer", attention=attention, units=8, num_layers=2, num_heads=2
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert translator.decoder.compute_dtype == policy.removeprefix("mixed_")
    memory, memory_mask, encoder_state = translator.encoder(
        translator.encode_sources(["3 March 1987", "x", "12.05.2001"])
    )
    vocab = translator.target_vocabulary_size
    tokens = np.random.default_rng(0).integers(2, vocab, size=(3, 4)).astype("int32")
    args = (translator.decoder, memory, memory_mask, encoder_state, tokens)
    logits, weights, state = _decode_steps(*args, use_cache=True)
    expected_logits, expected_weights, _ = _decode_steps(*args, use_cache=False)
    assert logits.shape == (3, 4, vocab)
    # The cache: two blocks' self-attention keys and values of the 4 tokens (B, H, T, d),
    # then their cross-attention keys and values of the memory.
    assert [tuple(s.shape) for s in state[:4]] == [(3, 2, 4, 4)] * 4
    assert [tuple(s.shape)[2] for s in state[4:]] == [memory.shape[1]] * 4
    atol = 1e-5 if policy == "float32" else 1e-2  # float16 rounds at 1e-3 relative
    np.testing.assert_allclose(logits.astype("float32"), expected_logits, atol=atol)
    np.testing.assert_allclose(weights.astype("float32"), expected_weights, atol=atol)


@pytest.mark.parametrize(
    "pairs, match",
    [
        ([("", "")], r"pairs\[0\] has an empty source or target.*Received: pairs\[0\]=\('', ''\)"),
        ([("a", "b"), ("c", "  ")], r"pairs\[1\] has an empty source or target"),
        (
            ["ab"],
            r"pairs\[0\] must be a \(source, target\) pair of strings\. "
            r"Received: pairs\[0\]='ab'",
        ),
        ([("a",)], r"pairs\[0\] must be a \(source, target\) pair.*Received: pairs\[0\]=\('a',\)"),
        ([("a", "b", "c")], r"Received: pairs\[0\]=\('a', 'b', 'c'\)"),
        ([("a", "b"), ("a", 3)], r"pairs\[1\] must be .* Received: pairs\[1\]=\('a', 3\)"),
        (
            [],
            r"pairs must be a non-empty list of \(source, target\) strings\. Received: pairs=\[\]",
        ),
        ("ab", r"pairs must be a non-empty list.*Received: pairs='ab'"),
    ],
)
def test_bad_pairs_name_the_index_and_what_was_received(pairs, match):
    with pytest.raises(ValueError, match=match):
        Translator.from_pairs(pairs)
    with pytest.raises(ValueError, match=match):
        Translator().encode_pairs(pairs)


# ------------------------------------------------ bad ids and labels (issue 15, item 16)
def _bad_input_cases():
    x, y = Translator.example_batch(batch_size=2)
    big_source = dict(x, source=x["source"].copy())
    big_source["source"][1, 3] = 99
    big_target = dict(x, target_in=x["target_in"].copy())
    big_target["target_in"][0, 2] = 16
    long_target = {"source": x["source"], "target_in": np.full((2, 12), 4, "int32")}
    return [
        (
            "fit",
            (big_source, y),
            r"x\['source'\] must hold token ids in \[0, source vocabulary "
            r"size=\d+\)\. Received: x\['source'\]\[1, 3\]=99",
        ),
        (
            "fit",
            (big_target, y),
            r"x\['target_in'\] .* \[0, target vocabulary size=16\)\. "
            r"Received: x\['target_in'\]\[0, 2\]=16",
        ),
        (
            "fit",
            (long_target, np.ones((2, 12), "int32")),
            r"x\['target_in'\] must have at most 11 tokens per row .*\.shape=\(2, 12\)",
        ),
        (
            "fit",
            (x, np.where(y > 0, 20, 0)),
            r"y must hold token ids in \[0, target vocabulary "
            r"size=16\)\. Received: y\[0, 0\]=20",
        ),
        ("fit", (x, y + 0.5), r"y must hold integer token ids; floats .* y\[0, 0\]=\d+\.5"),
        ("fit", (x, y[:, :-1]), r"y must be target ids of the shape of x\['target_in'\]"),
        ("fit", ({"source": x["source"]}, y), r"\['target_in'\] missing"),
        ("fit", (x["source"], y), r"x must be a dict \{'source': ids, 'target_in': ids\}"),
        ("evaluate", (big_source, y), r"Received: x\['source'\]\[1, 3\]=99"),
        ("predict", (big_target,), r"Received: x\['target_in'\]\[0, 2\]=16"),
    ]


@pytest.mark.parametrize("method, args, match", _bad_input_cases())
def test_bad_ids_and_labels_raise_one_value_error_naming_them(method, args, match):
    translator = Translator(decoder="transformer", units=8, embedding_dim=8)
    with pytest.raises(ValueError, match=match) as error:
        getattr(translator, method)(*args, verbose=0)
    assert "\n" not in str(error.value)


def test_predict_on_no_rows_is_empty_logits():
    translator = Translator(decoder="luong", units=8, embedding_dim=8)
    x = {"source": np.zeros((0, 5), "int32"), "target_in": np.zeros((0, 7), "int32")}
    logits = translator.predict(x, verbose=0)
    assert logits.shape == (0, 7, 4 + len(translator.target_vocabulary))
