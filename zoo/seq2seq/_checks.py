"""The translator's input checks: its constructor arguments, its pairs and its id arrays."""

import numpy as np

from attention_zoo._validation import check_positive_int
from attention_zoo.layers import canonical_name
from attention_zoo.zoo import _input_checks
from attention_zoo.zoo.seq2seq import _tokenizer as _text
from attention_zoo.zoo.seq2seq._layers import LUONG_READOUTS

DECODERS = ("bahdanau", "luong", "transformer")
CELLS = ("gru", "lstm")
DEFAULT_ATTENTION = {"bahdanau": "additive", "luong": "bilinear", "transformer": "scaled_dot"}


def check_config(decoder, cell, readout, attention, source_split, target_split):
    """Checks the translator's choices; returns `(readout, attention)` with their defaults."""
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}. Received: decoder={decoder!r}")
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}. Received: cell={cell!r}")
    if decoder == "luong":
        readout = "attentional" if readout is None else readout
        if readout not in LUONG_READOUTS:
            raise ValueError(
                f"readout must be one of {LUONG_READOUTS}. Received: readout={readout!r}"
            )
    elif readout is not None:
        raise ValueError(
            "readout applies to the Luong decoder only (the Bahdanau and transformer "
            f"decoders have one readout each). Received: readout={readout!r}, "
            f"decoder={decoder!r}"
        )
    attention = DEFAULT_ATTENTION[decoder] if attention is None else attention
    if attention != "none":
        attention = canonical_name(attention)
    elif decoder == "transformer":
        raise ValueError(
            "attention='none' needs a recurrent decoder ('bahdanau' or 'luong'); the "
            f"transformer decoder attends by construction. Received: decoder={decoder!r}"
        )
    _text.check_split(source_split)
    _text.check_split(target_split)
    return readout, attention


def check_sizes(units, embedding_dim, num_layers, num_heads, max_target_length):
    """Each size must be a positive integer."""
    for arg, value in dict(
        units=units,
        embedding_dim=embedding_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        max_target_length=max_target_length,
    ).items():
        check_positive_int(arg, value)


def check_data(translator, x, y, x_name="x", y_name="y", allow_empty=False):
    """Checks concrete `x` (the dict of ids) and `y`; returns the batch size or None.

    `x["source"]` and `x["target_in"]` must hold ids of their vocabularies
    (`target_in` at most `max_target_length` long with the transformer
    decoder), `y` target ids (whole numbers) of the shape of `target_in`.
    """
    if not isinstance(x, dict):
        if _input_checks.concrete(x) is not None:  # an array where the dict belongs
            raise ValueError(
                f"{x_name} must be a dict {{'source': ids, 'target_in': ids}}. "
                f"Received: {x_name}={short(x)}"
            )
        return None  # a dataset, a generator, or nothing (`validation_data` not given)
    missing = {"source", "target_in"} - set(x)
    if missing:
        raise ValueError(
            f"{x_name} must be a dict {{'source': ids, 'target_in': ids}}; "
            f"{sorted(missing)} missing. Received: {x_name}.keys()={sorted(x)}"
        )
    # Only the transformer has a position table; the recurrent decoders take any length.
    max_length = translator.max_target_length if translator.decoder_type == "transformer" else None
    source = _input_checks.check_token_ids(
        f"{x_name}['source']",
        x["source"],
        len(translator.source_vocabulary) + len(_text.RESERVED),
        size_name="source vocabulary size",
    )
    target_size = len(translator.target_vocabulary) + len(_text.RESERVED)
    target_in = _input_checks.check_token_ids(
        f"{x_name}['target_in']",
        x["target_in"],
        target_size,
        max_length=max_length,
        size_name="target vocabulary size",
    )
    if source is not None and target_in is not None and len(source) != len(target_in):
        raise ValueError(
            f"{x_name}['source'] and {x_name}['target_in'] must have one row per example. "
            f"Received: shapes {source.shape} and {target_in.shape}"
        )
    if source is not None and not allow_empty:
        _input_checks.check_not_empty(f"{x_name}['source']", source)
    labels = _input_checks.concrete(y)
    if labels is not None:
        if target_in is not None and labels.shape != target_in.shape:
            raise ValueError(
                f"{y_name} must be target ids of the shape of {x_name}['target_in'] "
                f"{target_in.shape}. Received: {y_name}.shape={labels.shape}"
            )
        _input_checks.check_token_ids(
            y_name, labels, target_size, size_name="target vocabulary size"
        )
    return None if source is None else len(source)


def check_pairs(pairs):
    """`pairs` as a list of `(source, target)` tuples of non-empty strings, or a ValueError."""
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise ValueError(
            f"pairs must be a non-empty list of (source, target) strings. Received: pairs={pairs!r}"
        )
    pairs = list(pairs)
    if not pairs:
        raise ValueError(
            f"pairs must be a non-empty list of (source, target) strings. Received: pairs={pairs!r}"
        )
    checked = []
    for i, pair in enumerate(pairs):
        if (
            isinstance(pair, (str, bytes))
            or not isinstance(pair, (tuple, list, np.ndarray))
            or len(pair) != 2
            or not all(isinstance(text, str) for text in pair)
        ):
            raise ValueError(
                f"pairs[{i}] must be a (source, target) pair of strings. "
                f"Received: pairs[{i}]={short(pair)}"
            )
        if not (pair[0].strip() and pair[1].strip()):
            raise ValueError(
                f"pairs[{i}] has an empty source or target; both need at least one "
                f"non-blank character. Received: pairs[{i}]={short(pair)}"
            )
        checked.append((str(pair[0]), str(pair[1])))
    return checked


def short(value, limit=80):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__}(shape={tuple(value.shape)}, dtype={value.dtype})"
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
