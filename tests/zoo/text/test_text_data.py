"""The text classifier's data: the generated keyword task, imdb_reviews offline, CSV/TSV files."""

import numpy as np
import pytest

from attention_zoo.zoo import text_data


def _label_by_rule(text):
    """The task's rule, re-implemented: majority polarity, a "not" right before flips it."""
    words = text.split()
    votes = 0
    for i, word in enumerate(words):
        if word in text_data.POSITIVE or word in text_data.NEGATIVE:
            polarity = 1 if word in text_data.POSITIVE else -1
            if i > 0 and words[i - 1] == text_data.NEGATION:
                polarity = -polarity
            votes += polarity
    return int(votes > 0)


def test_generated_task_is_deterministic_by_seed():
    texts_a, labels_a = text_data.make_text_task(50, seed=3)
    texts_b, labels_b = text_data.make_text_task(50, seed=3)
    texts_c, _ = text_data.make_text_task(50, seed=4)
    assert texts_a == texts_b
    np.testing.assert_array_equal(labels_a, labels_b)
    assert texts_a != texts_c


def test_generated_labels_follow_the_negation_rule():
    texts, labels = text_data.make_text_task(400, max_length=30, seed=1, negation_rate=0.5)
    assert [_label_by_rule(t) for t in texts] == labels.tolist()
    assert 0.4 < labels.mean() < 0.6
    lengths = [len(t.split()) for t in texts]
    assert min(lengths) >= 15 and max(lengths) <= 30
    keys = set(text_data.POSITIVE) | set(text_data.NEGATIVE)
    key_counts = {sum(w in keys for w in t.split()) for t in texts}
    assert key_counts == {1, 3}
    # Negation matters: some texts hold a negated key word, and stray "not"s are not negations.
    assert any(f"not {w}" in t for t in texts for w in keys)
    assert sum(t.split().count("not") for t in texts) > sum(
        f"not {w}" in t for t in texts for w in keys
    )


def test_negation_rate_sets_how_often_key_words_are_negated():
    keys = set(text_data.POSITIVE) | set(text_data.NEGATIVE)
    for rate in (0.0, 0.3, 1.0):
        texts, _ = text_data.make_text_task(300, seed=0, negation_rate=rate)
        negated = [
            i > 0 and words[i - 1] == "not"
            for words in (t.split() for t in texts)
            for i, word in enumerate(words)
            if word in keys
        ]
        negated = np.mean(negated)
        assert abs(negated - rate) < 0.06, (rate, negated)


def test_flipping_negation_flips_a_single_key_label():
    texts, labels = text_data.make_text_task(200, seed=2)
    keys = set(text_data.POSITIVE) | set(text_data.NEGATIVE)
    checked = 0
    for text, label in zip(texts, labels, strict=True):
        words = text.split()
        at = [i for i, w in enumerate(words) if w in keys]
        if len(at) == 1 and at[0] > 0:
            i = at[0] - 1
            words[i] = "the" if words[i] == "not" else "not"
            assert _label_by_rule(" ".join(words)) == 1 - label
            checked += 1
    assert checked > 50


def test_token_task_matches_text_vectorization():
    import keras

    texts, labels = text_data.make_text_task(20, max_length=24, seed=5)
    ids, token_labels = text_data.make_token_task(20, max_length=24, seed=5)
    vectorizer = keras.layers.TextVectorization(
        vocabulary=text_data.task_vocabulary(), output_sequence_length=24
    )
    np.testing.assert_array_equal(ids, np.asarray(vectorizer(np.array(texts, dtype=object))))
    np.testing.assert_array_equal(labels, token_labels)
    assert ids.dtype == np.int32 and (ids > 1).sum() == sum(len(t.split()) for t in texts)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must be a positive integer. Received: n=0"),
        ({"n": 5, "max_length": 4}, "max_length must be an integer >= 8. Received: max_length=4"),
        ({"n": 5, "max_length": 20, "min_length": 30}, "min_length must be .* min_length=30"),
        ({"n": 5, "negation_rate": 1.5}, r"negation_rate must be .* negation_rate=1.5"),
    ],
)
def test_generated_task_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        text_data.make_text_task(**kwargs)


def test_imdb_reviews_loader_offline():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        texts, labels = text_data.load_imdb_reviews("train")
        head, _ = text_data.load_imdb_reviews("test", max_examples=4)
    assert len(texts) == 6 and all(isinstance(t, str) for t in texts)
    assert labels.dtype == np.int32 and set(labels.tolist()) <= {0, 1}
    assert len(head) == 4


# ---------------------------------------------------------------- CSV/TSV files
def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_csv_file_loads_with_quotes_and_inferred_classes(tmp_path):
    path = _write(
        tmp_path,
        "reviews.csv",
        'id,text,label\n1,"good, really good",pos\n2,bad,neg\n\n3,"not ""great""",neg\n',
    )
    texts, labels, classes = text_data.load_text_file(path)
    assert texts == ["good, really good", "bad", 'not "great"']
    assert classes == ("neg", "pos")
    assert labels.tolist() == [1, 0, 0]


def test_tsv_file_with_given_classes_and_numeric_labels(tmp_path):
    path = _write(tmp_path, "reviews.tsv", "label\ttext\n10\ta\n2\tb\n2\tc, d\n")
    _, labels, classes = text_data.load_text_file(path)
    assert classes == ("2", "10") and labels.tolist() == [1, 0, 0]
    _, labels, classes = text_data.load_text_file(path, class_names=["10", "2", "7"])
    assert classes == ("10", "2", "7") and labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    "name, content, kwargs, match",
    [
        ("empty.csv", "", {}, r"empty\.csv: the file is empty"),
        ("header.csv", "text,label\n", {}, r"header\.csv: no valid data rows"),
        (
            "nolabel.csv",
            "text,sentiment\nhi,pos\n",
            {},
            r"nolabel\.csv, line 1: missing column 'label'.*label_column='label'",
        ),
        (
            "notext.tsv",
            "review\tlabel\nhi\tpos\n",
            {},
            r"notext\.tsv, line 1: missing column 'text'.*text_column='text'",
        ),
        (
            "unknown.csv",
            "text,label\na,pos\nb,neg\nc,meh\n",
            {"class_names": ["neg", "pos"]},
            r"unknown\.csv, line 4: unknown label 'meh'",
        ),
        (
            "fields.csv",
            "text,label\na,pos\nb,neg,extra\n",
            {},
            r"fields\.csv, line 3: expected 2 fields .* found 3",
        ),
        (
            "short.tsv",
            "text\tlabel\na\tpos\nonly one field\n",
            {},
            r"short\.tsv, line 3: .*found 1",
        ),
        ("blank.csv", "text,label\na,pos\n  ,neg\n", {}, r"blank\.csv, line 3: the text .* empty"),
    ],
)
def test_bad_files_raise_naming_file_and_line(tmp_path, name, content, kwargs, match):
    path = _write(tmp_path, name, content)
    with pytest.raises(ValueError, match=match):
        text_data.load_text_file(path, **kwargs)


def test_skipping_bad_lines_reports_their_count(tmp_path):
    path = _write(tmp_path, "mixed.csv", "text,label\na,pos\nb,neg,extra\nc,meh\nd,neg\n")
    with pytest.warns(
        UserWarning, match=r"mixed\.csv: skipped 2 bad line\(s\); the first: .*line 3"
    ):
        texts, labels, _ = text_data.load_text_file(
            path, class_names=["neg", "pos"], on_bad_line="skip"
        )
    assert texts == ["a", "d"] and labels.tolist() == [1, 0]


def test_bad_on_bad_line_argument(tmp_path):
    path = _write(tmp_path, "ok.csv", "text,label\na,pos\n")
    with pytest.raises(ValueError, match="on_bad_line must be 'raise' or 'skip'. Received: "):
        text_data.load_text_file(path, on_bad_line="ignore")


# ------------------------------------------------- encodings, binary files, long fields
@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe", r"line 1: not utf-8 text"),
        ("text,label\nça,1\n".encode("utf-16"), r"line 1: .*UTF-16 byte order mark"),
        ("text,label\nok,1\ncafé,0\n".encode("latin-1"), r"line 3: not utf-8 text .*b'\\xe9'"),
    ],
    ids=["binary", "utf16", "latin1_read_as_utf8"],
)
def test_undecodable_files_raise_naming_file_line_and_encoding(tmp_path, content, match):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"data\.csv, " + match):
        text_data.load_text_file(path)


def test_undecodable_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"text,label\nok,1\ncaf\xe9,0\nfine,0\n\xff\xfe,1\n")
    with pytest.warns(
        UserWarning, match=r"skipped 2 bad line\(s\); the first: .*line 3: not utf-8"
    ):
        texts, labels, _ = text_data.load_text_file(path, on_bad_line="skip")
    assert texts == ["ok", "fine"] and labels.tolist() == [1, 0]


def test_latin1_encoding_and_utf8_byte_order_mark(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncafé crème,1\nbof,0\n".encode("latin-1"))
    texts, _, _ = text_data.load_text_file(latin, encoding="latin-1")
    assert texts == ["café crème", "bof"]
    marked = tmp_path / "marked.csv"
    marked.write_bytes("text,label\nça va,1\n".encode("utf-8-sig"))
    assert text_data.load_text_file(marked)[0] == ["ça va"]
    with pytest.raises(ValueError, match=r"convert the file to UTF-8 first. Received: encoding"):
        text_data.load_text_file(marked, encoding="utf-16")


def test_a_field_longer_than_the_csv_default_limit_loads(tmp_path):
    import csv

    limit = csv.field_size_limit()
    long_text = "word " * 40_000  # 200,000 characters, over csv's 131,072
    path = _write(tmp_path, "long.csv", f'text,label\n"{long_text}",1\nshort,0\n')
    texts, labels, _ = text_data.load_text_file(path)
    assert texts == [long_text, "short"] and labels.tolist() == [1, 0]
    assert csv.field_size_limit() == limit  # the global limit is left as it was
