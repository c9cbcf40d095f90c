"""The translator's SavedModel export: one `translate` signature from strings to strings.

Tokenization, the search and detokenization all run inside the artifact, which
needs only TensorFlow to serve. TensorFlow is used on purpose: string tensors
and `tf.function` signatures exist only there.
"""

import keras

from attention_zoo.zoo.seq2seq import _tokenizer as _text
from attention_zoo.zoo.seq2seq import search


def export_translate(translator, path, beam_width=1, length_penalty=None, max_length=None):
    """Writes a SavedModel of `translator` whose `translate` signature maps strings to strings.

    `served = tf.saved_model.load(path)`, then
    `served.translate(tf.constant(["3 March 1987"]))` returns a string tensor
    with the same translations as `translator.translate`. Keep the loaded
    object in a variable while calling it: it owns the variables, and a
    function of a discarded object fails.

    Raises:
        RuntimeError: on a backend other than TensorFlow, before any work
            (the string signature is TensorFlow's).
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "Translator.export_translate writes a SavedModel that takes and returns "
            "strings, which needs the TensorFlow backend: run with KERAS_BACKEND=tensorflow. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    import tensorflow as tf

    beam_width, length_penalty, max_length = search.check_search_args(
        translator, beam_width, length_penalty, max_length
    )
    t = translator
    source_codec = _text.TextCodec(t.source_vocabulary, t.source_split, t.lowercase)
    target_codec = _text.TextCodec(t.target_vocabulary, t.target_split, t.lowercase)
    run = search.compiled_search(translator, beam_width, length_penalty, max_length)

    def translate(texts):
        tokens, _ = run(source_codec.encode(texts))
        return target_codec.decode(tokens)

    archive = keras.export.ExportArchive()
    archive.track(translator)
    archive.track(source_codec.table)
    archive.track(target_codec.table)
    archive.add_endpoint("translate", translate, input_signature=[tf.TensorSpec([None], tf.string)])
    archive.write_out(str(path), verbose=False)
