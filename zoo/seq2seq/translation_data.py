"""Data for the translator: generated date tasks, and loaders for real sentence pairs.

Every function returns a list of `(source, target)` string pairs, the input of
`Translator.from_pairs` and `Translator.encode_pairs`.

- `dates(n, seed)`: human-readable dates in many formats -> ISO dates; offline,
  deterministic by seed, a few milliseconds per thousand pairs.
- `long_dates(n, seed, dates_per_example)`: several dates in one long input ->
  their ISO dates; long enough that a no-attention encoder-decoder falls behind.
- `load_sentence_pairs(path)`: tab-separated pairs (Tatoeba / Anki format).
- `load_tfds_pairs(name, split)`: a tensorflow-datasets translation set such as
  `ted_hrlr_translate/pt_to_en`.
- `split_pairs(pairs, test_size, seed)`: shuffle, then keep the last pairs as test.
"""

import codecs
import datetime
import pathlib
import warnings

import numpy as np

from attention_zoo._validation import check_positive_int

_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_FIRST_DAY = datetime.date(1950, 1, 1)
_LAST_DAY = datetime.date(2049, 12, 31)


def _ordinal(day):
    if day in (11, 12, 13):
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def _fields(date):
    month = _MONTHS[date.month - 1]
    weekday = _WEEKDAYS[date.weekday()]
    return {
        "d": str(date.day),
        "dd": f"{date.day:02d}",
        "m": str(date.month),
        "mm": f"{date.month:02d}",
        "yyyy": str(date.year),
        "yy": f"{date.year % 100:02d}",
        "month": month,
        "Month": month.capitalize(),
        "MONTH": month.upper(),
        "mon": month[:3],
        "Mon": month[:3].capitalize(),
        "weekday": weekday,
        "Weekday": weekday.capitalize(),
        "wkd": weekday[:3],
        "nth": _ordinal(date.day),
    }


# Day first wherever the numbers are bare, so that no format is ambiguous.
DATE_FORMATS = (
    "{d} {Month} {yyyy}",
    "{Month} {d}, {yyyy}",
    "{month} {d} {yyyy}",
    "{d} {mon} {yyyy}",
    "{Mon} {dd}, {yyyy}",
    "{dd}.{mm}.{yyyy}",
    "{d}.{m}.{yyyy}",
    "{dd}/{mm}/{yyyy}",
    "{yyyy}/{mm}/{dd}",
    "{Weekday}, {d} {Month} {yyyy}",
    "{weekday} {month} {d} {yyyy}",
    "{wkd}, {d} {mon} {yyyy}",
    "{MONTH} {d} {yyyy}",
    "the {nth} of {month} {yyyy}",
    "{Month} {nth}, {yyyy}",
    "{d} {Mon} '{yy}",
)
"""The source formats of `dates`; `'{yy}` means 19yy for yy >= 50, else 20yy."""


def _random_dates(rng, n):
    span = (_LAST_DAY - _FIRST_DAY).days + 1
    offsets = rng.integers(0, span, size=n)
    return [_FIRST_DAY + datetime.timedelta(days=int(o)) for o in offsets]


def dates(n, seed=0, formats=DATE_FORMATS):
    """Human-readable dates in many formats, each paired with its ISO date.

    Dates are drawn uniformly from 1950-01-01 to 2049-12-31 and written in a
    format drawn uniformly from `formats` (see `DATE_FORMATS`).

    Args:
        n: Number of pairs.
        seed: Integer seed; the same seed gives the same pairs.
        formats: Sequence of `str.format` templates over the fields `d dd m mm
            yyyy yy month Month MONTH mon Mon weekday Weekday wkd nth`.

    Returns:
        A list of `n` pairs such as `("Tuesday, 3 March 1987", "1987-03-03")`.

    Example:

    >>> dates(2, seed=0)
    [('the 11th of february 2001', '2001-02-11'), ('thursday december 23 1976', '1976-12-23')]
    """
    check_positive_int("n", n)
    if not formats:
        raise ValueError(f"formats must be a non-empty sequence. Received: formats={formats!r}")
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(formats), size=n)
    return [
        (formats[f].format(**_fields(date)), date.isoformat())
        for f, date in zip(chosen, _random_dates(rng, n), strict=True)
    ]


def long_dates(n, seed=0, dates_per_example=4, formats=DATE_FORMATS):
    """Several dates in one long input, each in its own format -> their ISO dates.

    The source joins `dates_per_example` human-readable dates with `"; "`, the
    target their ISO dates with `" "`: about 70-110 input characters for four
    dates, so a fixed-size summary of the input (an encoder-decoder without
    attention) has to hold 40 output characters at once.

    Args:
        n: Number of pairs.
        seed: Integer seed; the same seed gives the same pairs.
        dates_per_example: Positive integer, dates per pair.
        formats: As in `dates`.

    Returns:
        A list of `n` pairs such as
        `("3 March 1987; the 1st of may 2001", "1987-03-03 2001-05-01")`.
    """
    check_positive_int("n", n)
    check_positive_int("dates_per_example", dates_per_example)
    flat = dates(n * dates_per_example, seed=seed, formats=formats)
    pairs = []
    for i in range(n):
        group = flat[i * dates_per_example : (i + 1) * dates_per_example]
        pairs.append(("; ".join(s for s, _ in group), " ".join(t for _, t in group)))
    return pairs


# Over 60 lines by its docstring alone, which defines the format; the code is 40 lines.
def load_sentence_pairs(path, on_bad_line="error", encoding="utf-8"):
    """Reads tab-separated sentence pairs: `source<TAB>target[<TAB>attribution]` per line.

    This is the format of the Tatoeba / Anki files (`fra.txt`: English, then
    French, then an optional attribution that is dropped).

    Bad input is never dropped silently. An empty file (no pair at all) always
    raises. A bad line (not 2 or 3 fields, an empty source or target, a blank
    line, bytes that are not valid `encoding`) raises a `ValueError` naming the
    file and the line number with `on_bad_line="error"`; with
    `on_bad_line="skip"` it is left out, and one `UserWarning` reports how many
    lines were skipped and the first of them.

    Args:
        path: Path of the file.
        on_bad_line: `"error"` (default) or `"skip"`.
        encoding: Text encoding of the file; with UTF-8 (the default), a byte
            order mark at the start of a line is dropped.

    Returns:
        A list of `(source, target)` pairs, stripped of surrounding whitespace.
    """
    if on_bad_line not in ("error", "skip"):
        raise ValueError(
            f"on_bad_line must be 'error' or 'skip'. Received: on_bad_line={on_bad_line!r}"
        )
    path = pathlib.Path(path)
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        raise ValueError(f"Unknown encoding. Received: encoding={encoding!r}") from None
    pairs, bad = [], []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            problem = None
            try:
                # utf-8-sig drops a byte order mark (an editor's, on the first line).
                line = raw.decode("utf-8-sig" if utf8 else encoding).rstrip("\r\n")
            except UnicodeDecodeError as e:
                line, problem = "", f"not valid {encoding} ({e.reason})"
            fields = line.split("\t")
            if problem is None and not line.strip():
                problem = "blank line"
            elif problem is None and len(fields) not in (2, 3):
                problem = f"expected 2 or 3 tab-separated fields, found {len(fields)}"
            elif problem is None and not (fields[0].strip() and fields[1].strip()):
                problem = "empty source or target"
            if problem is None:
                pairs.append((fields[0].strip(), fields[1].strip()))
            elif on_bad_line == "error":
                raise ValueError(f"{path}, line {number}: {problem}. Received: {line[:80]!r}")
            else:
                bad.append((number, problem))
    if bad:
        warnings.warn(
            f"{path}: skipped {len(bad)} bad line(s); the first is line {bad[0][0]}: {bad[0][1]}.",
            UserWarning,
            stacklevel=2,
        )
    if not pairs:
        raise ValueError(f"{path}: no sentence pairs found (the file is empty or all bad).")
    return pairs


def load_tfds_pairs(name="ted_hrlr_translate/pt_to_en", split="train", max_pairs=None, **kwargs):
    """Loads a tensorflow-datasets translation set as `(source, target)` string pairs.

    The set must be supervised (`as_supervised=True` gives `(source, target)`
    string tensors), as the `ted_hrlr_translate/*` and `wmt*` sets are.

    Args:
        name: The tensorflow-datasets name, e.g. `"ted_hrlr_translate/pt_to_en"`.
        split: The split, e.g. `"train"`, `"validation"`, `"test[:1000]"`.
        max_pairs: Optional positive integer, read at most this many pairs.
        **kwargs: Passed to `tfds.load` (e.g. `data_dir=`, `download=False`).

    Returns:
        A list of `(source, target)` pairs of Python strings.
    """
    import tensorflow_datasets as tfds

    if max_pairs is not None:
        check_positive_int("max_pairs", max_pairs)
    dataset = tfds.load(name, split=split, as_supervised=True, **kwargs)
    if max_pairs is not None:
        dataset = dataset.take(max_pairs)
    return [
        (source.decode("utf-8"), target.decode("utf-8"))
        for source, target in tfds.as_numpy(dataset)
    ]


def split_pairs(pairs, test_size, seed=0):
    """Shuffles `pairs` with `np.random.default_rng(seed)` and keeps the last `test_size` as test.

    This is the protocol of the fra-eng benchmark (seed 0, 2,000 test pairs).

    Returns:
        `(train_pairs, test_pairs)`.
    """
    check_positive_int("test_size", test_size)
    if test_size >= len(pairs):
        raise ValueError(
            f"test_size must be smaller than the number of pairs ({len(pairs)}). "
            f"Received: test_size={test_size}"
        )
    order = np.random.default_rng(seed).permutation(len(pairs))
    shuffled = [pairs[i] for i in order]
    return shuffled[:-test_size], shuffled[-test_size:]
