"""`text_data.load_class_files`: one text per line, one file per class (the MR format)."""

import re

import numpy as np
import pytest

from attention_zoo.zoo import text_data


def _mr_like(folder):
    """Two class files in Latin-1: line 2 of the negative file is not valid UTF-8."""
    folder.mkdir(exist_ok=True)
    neg, pos = folder / "rt-polarity.neg", folder / "rt-polarity.pos"
    neg.write_bytes("a dull , lifeless film .\nthe caf\xe9 scene is flat \n\n".encode("latin-1"))
    pos.write_bytes("a moving , na\xefve delight .\r\nsmart and funny\n".encode("latin-1"))
    return neg, pos


def test_latin1_class_files_load_in_class_order(tmp_path):
    neg, pos = _mr_like(tmp_path)
    texts, labels, names = text_data.load_class_files(
        {"negative": neg, "positive": str(pos)}, encoding="latin-1"
    )
    assert texts == [
        "a dull , lifeless film .",
        "the café scene is flat",  # surrounding spaces stripped; the blank line dropped
        "a moving , naïve delight .",  # the \r of a Windows line end too
        "smart and funny",
    ]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
    assert labels.dtype == np.int32
    assert names == ("negative", "positive")


def test_a_directory_gives_one_class_per_file_in_sorted_order(tmp_path):
    _mr_like(tmp_path)
    (tmp_path / ".hidden").write_text("not a class\n")
    texts, labels, names = text_data.load_class_files(tmp_path, encoding="latin-1")
    assert names == ("rt-polarity.neg", "rt-polarity.pos")
    assert labels.tolist() == [0, 0, 1, 1] and len(texts) == 4


def test_the_wrong_encoding_names_the_file_and_the_line(tmp_path):
    neg, pos = _mr_like(tmp_path)
    message = re.escape(f"{neg}, line 2: not utf-8 text")
    with pytest.raises(ValueError, match=message + r".*encoding="):
        text_data.load_class_files({"neg": neg, "pos": pos})
    # The undecodable line may be the last one of the file.
    pos.write_bytes(b"fine\nna\xefve\n")
    with pytest.raises(ValueError, match=re.escape(f"{pos}, line 2: not utf-8 text")):
        text_data.load_class_files({"pos": pos, "again": pos})


def test_skip_leaves_out_the_bad_lines_and_warns(tmp_path):
    neg, pos = _mr_like(tmp_path)
    with pytest.warns(UserWarning, match=r"skipped 2 bad line\(s\); the first: .*line 2"):
        texts, labels, _ = text_data.load_class_files({"n": neg, "p": pos}, on_bad_line="skip")
    assert texts == ["a dull , lifeless film .", "smart and funny"]
    assert labels.tolist() == [0, 1]


def test_a_utf16_file_read_as_latin1_is_refused(tmp_path):
    neg, _ = _mr_like(tmp_path)
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("good film\n".encode("utf-16"))
    with pytest.raises(ValueError, match=re.escape(f"{utf16}, line 1: holds NUL bytes")):
        text_data.load_class_files({"n": neg, "p": utf16}, encoding="latin-1")


@pytest.mark.parametrize(
    ("files", "kwargs", "message"),
    [
        (("a.txt", "b.txt"), {}, "files must be a dict {class_name: path} or an existing"),
        ("no/such/dir", {}, "Received: files='no/such/dir'"),
        ("ONE", {}, "files must name at least 2 classes"),
        ("BOTH", {"encoding": "klingon"}, "Unknown encoding. Received: encoding='klingon'"),
        ("BOTH", {"encoding": "utf-16"}, "encoding must write newlines"),
        ("BOTH", {"on_bad_line": "drop"}, "on_bad_line must be 'raise' or 'skip'"),
    ],
)
def test_bad_arguments_are_refused_by_name(tmp_path, files, kwargs, message):
    neg, pos = _mr_like(tmp_path)
    files = {"ONE": {"n": neg}, "BOTH": {"n": neg, "p": pos}}.get(files, files)
    with pytest.raises(ValueError, match=re.escape(message)):
        text_data.load_class_files(files, **{"encoding": "latin-1", **kwargs})


def test_a_class_without_text_is_refused(tmp_path):
    neg, _ = _mr_like(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(ValueError, match=re.escape(f"{empty}: no text lines")):
        text_data.load_class_files({"n": neg, "e": empty}, encoding="latin-1")
