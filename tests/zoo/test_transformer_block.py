"""The one transformer block that the text classifier and the translator's decoder share."""

import numpy as np
import pytest

from attention_zoo.zoo import TextClassifier, Translator
from attention_zoo.zoo._transformer_block import TransformerBlock


def _unique(weights):
    return len({id(w) for w in weights}) == len(weights)


def test_text_classifier_and_transformer_decoder_use_the_same_block_class():
    classifier = TextClassifier(encoder="transformer", embed_dim=8, vocab_size=20)
    translator = Translator(decoder="transformer", units=8, embedding_dim=8, num_layers=2)
    assert type(classifier._shared.block) is TransformerBlock
    blocks = translator.decoder._shared.blocks
    assert [type(b) for b in blocks] == [TransformerBlock, TransformerBlock]
    assert (
        blocks[0].cross_attention is not None and classifier._shared.block.cross_attention is None
    )
    # The block's sublayers are the host's: every weight is tracked once, and trained.
    x = np.arange(1, 9, dtype="int32").reshape(1, 8)
    classifier(x)
    assert _unique(classifier.weights) and _unique(translator.weights)
    block_weights = {id(w) for w in classifier._shared.block.weights}
    assert block_weights <= {id(w) for w in classifier.trainable_weights}


def test_a_causal_block_does_not_look_ahead():
    block = TransformerBlock(units=8, num_heads=2)
    x = np.random.default_rng(0).normal(size=(1, 5, 8)).astype("float32")
    changed = x.copy()
    changed[:, 3:] += 1.0
    first = np.asarray(block(x, use_causal_mask=True))
    second = np.asarray(block(changed, use_causal_mask=True))
    np.testing.assert_allclose(first[:, :3], second[:, :3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(first[:, 3:], second[:, 3:])


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"units must be a positive integer.*Received: units=0"):
        TransformerBlock(units=0, num_heads=2)
    with pytest.raises(ValueError, match=r"dropout.*Received: dropout=1.5"):
        TransformerBlock(units=8, num_heads=2, dropout=1.5)
