"""The translator's data: generated date tasks, the sentence-pair file loader, tfds, the split."""

import datetime
import re

import pytest

from attention_zoo.zoo import translation_data


def test_dates_are_deterministic_and_correct():
    pairs = translation_data.dates(300, seed=3)
    assert pairs == translation_data.dates(300, seed=3)
    assert pairs != translation_data.dates(300, seed=4)
    assert len({s for s, _ in pairs}) > 250  # many formats, many dates
    for source, target in pairs:
        date = datetime.date.fromisoformat(target)
        assert datetime.date(1950, 1, 1) <= date <= datetime.date(2049, 12, 31)
        words = source.lower()
        # The weekday, when written, is the date's own.
        named = [d for d in translation_data._WEEKDAYS if re.search(rf"\b{d[:3]}", words)]
        if named:
            assert named == [translation_data._WEEKDAYS[date.weekday()]], (source, target)
        assert str(date.year % 100).zfill(2) in source


def test_every_format_is_used():
    pairs = translation_data.dates(2000, seed=0)
    assert any(s.startswith("the ") and "of" in s for s, _ in pairs)
    assert any(re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", s) for s, _ in pairs)
    assert any(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} '\d{2}", s) for s, _ in pairs)


def test_long_dates_join_several_dates():
    pairs = translation_data.long_dates(50, seed=1, dates_per_example=4)
    assert pairs == translation_data.long_dates(50, seed=1, dates_per_example=4)
    for source, target in pairs:
        assert source.count("; ") == 3
        assert len(target.split(" ")) == 4
    assert sum(len(s) for s, _ in pairs) / len(pairs) > 50


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: translation_data.dates(0), r"n must be a positive integer. Received: n=0"),
        (
            lambda: translation_data.long_dates(5, dates_per_example=0),
            r"dates_per_example must be a positive integer",
        ),
        (lambda: translation_data.dates(5, formats=()), r"formats must be a non-empty"),
    ],
)
def test_generator_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _write(tmp_path, content, name="pairs.txt"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_sentence_pairs_with_and_without_attribution(tmp_path):
    path = _write(
        tmp_path,
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\n"
        "Hi.\tSalut !\r\n"
        "Who?\tQui ?\n",
    )
    assert translation_data.load_sentence_pairs(path) == [
        ("Go.", "Va !"),
        ("Hi.", "Salut !"),
        ("Who?", "Qui ?"),
    ]


@pytest.mark.parametrize(
    "content, line, problem",
    [
        ("Go.\tVa !\nHi. Salut !\n", 2, "expected 2 or 3 tab-separated fields, found 1"),
        ("Go.\tVa !\tattr\textra\n", 1, "expected 2 or 3 tab-separated fields, found 4"),
        ("Go.\tVa !\n\nHi.\tSalut !\n", 2, "blank line"),
        ("Go.\tVa !\nHi.\t \n", 2, "empty source or target"),
        (b"Go.\tVa !\nHi.\tSalut \xff!\n", 2, "not valid utf-8"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, content, line, problem):
    path = _write(tmp_path, content)
    with pytest.raises(ValueError, match=rf"pairs\.txt, line {line}: {re.escape(problem)}"):
        translation_data.load_sentence_pairs(path)


def test_empty_file_is_an_error_even_when_skipping(tmp_path):
    path = _write(tmp_path, "", name="empty.txt")
    for mode in ("error", "skip"):
        with pytest.raises(ValueError, match=r"empty\.txt: no sentence pairs found"):
            translation_data.load_sentence_pairs(path, on_bad_line=mode)


def test_skip_reports_how_many_lines_it_skipped(tmp_path):
    path = _write(tmp_path, "Go.\tVa !\nbad line\nHi.\tSalut !\nalso bad\n")
    with pytest.warns(
        UserWarning, match=r"pairs\.txt: skipped 2 bad line\(s\); the first is line 2"
    ):
        pairs = translation_data.load_sentence_pairs(path, on_bad_line="skip")
    assert pairs == [("Go.", "Va !"), ("Hi.", "Salut !")]


def test_on_bad_line_is_checked(tmp_path):
    path = _write(tmp_path, "Go.\tVa !\n")
    with pytest.raises(ValueError, match=r"Received: on_bad_line='ignore'"):
        translation_data.load_sentence_pairs(path, on_bad_line="ignore")


def test_tfds_translation_pairs_offline_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        pairs = translation_data.load_tfds_pairs(
            "ted_hrlr_translate/pt_to_en", split="train", max_pairs=4
        )
    assert len(pairs) == 4
    assert all(isinstance(s, str) and isinstance(t, str) for s, t in pairs)


def test_split_pairs_follows_the_benchmark_protocol():
    pairs = [(f"s{i}", f"t{i}") for i in range(100)]
    train, test = translation_data.split_pairs(pairs, test_size=20, seed=0)
    assert len(train) == 80 and len(test) == 20
    assert sorted(train + test) == sorted(pairs)
    assert (train, test) == translation_data.split_pairs(pairs, test_size=20, seed=0)
    assert test != pairs[-20:]  # shuffled
    with pytest.raises(ValueError, match=r"Received: test_size=100"):
        translation_data.split_pairs(pairs, test_size=100)


def test_docstring_examples_run():
    import doctest

    from attention_zoo.zoo.seq2seq import translator

    for module in (translation_data, translator):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_sentence(tmp_path):
    path = _write(tmp_path, "\ufeffGo.\tVa !\nHi.\tSalut !\n".encode("utf-8"))
    assert translation_data.load_sentence_pairs(path)[0] == ("Go.", "Va !")
    latin = _write(tmp_path, "Café.\tKaffee.\n".encode("latin-1"), name="latin.txt")
    assert translation_data.load_sentence_pairs(latin, encoding="latin-1") == [("Café.", "Kaffee.")]
    with pytest.raises(ValueError, match=r"Received: encoding='klingon'"):
        translation_data.load_sentence_pairs(latin, encoding="klingon")
