"""Data for the text classifier: a generated task that needs attention, and real-data loaders.

- `make_text_task` / `make_token_task`: generated reviews, offline and deterministic by seed.
- `load_imdb_reviews`: the tensorflow-datasets `imdb_reviews` corpus as Python lists.
- `load_text_file`: a CSV/TSV file of text and label, with errors that name the file and line.
- `load_class_files`: one text per line, one file per class (the MR sentence-polarity format).
"""

import csv
import os
import warnings

import numpy as np

from attention_zoo.zoo.text._decoded_lines import DecodedLines

POSITIVE = ("good", "great", "excellent", "superb")
NEGATIVE = ("bad", "awful", "boring", "poor")
NEGATION = "not"
FILLERS = (
    "the a an this that movie film plot story actor actress scene scenes music score "
    "camera script director cast ending start middle character dialogue screen sound "
    "light colour cut frame shot set costume drama comedy action year time night day "
    "house city road car train friend family mother father child war love money work "
    "and or but then also very quite rather really just"
).split()
CLASS_NAMES = ("negative", "positive")


def task_vocabulary():
    """The words of the generated task, in a fixed order (the ids of `make_token_task`).

    Id 0 is padding and id 1 the out-of-vocabulary token, as in
    `keras.layers.TextVectorization(vocabulary=task_vocabulary())`, so word
    `task_vocabulary()[i]` has id i + 2.
    """
    return [NEGATION, *POSITIVE, *NEGATIVE, *FILLERS]


# Over 60 lines by its docstring alone, which defines the task; the code is 37 lines.
def make_text_task(n, max_length=48, min_length=None, seed=0, stray_negations=2, negation_rate=0.5):
    """Generated reviews whose label depends on a few key words among many distractors.

    Each text is `min_length..max_length` words: filler words, with 1 or 3
    sentiment words (`POSITIVE`, `NEGATIVE`) at random positions, each negated
    by a `"not"` right before it with probability `negation_rate` ("not good"
    is negative). Up to `stray_negations` more `"not"`s precede filler words, so
    that counting `"not"` does not tell whether a sentiment word is negated:
    the model must see which word a `"not"` is next to. The label is the
    majority polarity of the sentiment words (0 = negative, 1 = positive).

    Mean pooling over the words dilutes the 1-3 key words among up to
    `max_length` fillers; attention pooling can pick them out.

    Args:
        n: Number of texts.
        max_length: Maximum number of words of a text.
        min_length: Minimum number of words; default `max_length // 2`.
        seed: Seed of the generator; the same seed gives the same texts.
        stray_negations: Maximum number of `"not"`s before filler words.
        negation_rate: Probability that a sentiment word is negated, in [0, 1].
            At 0.5 (the default) the sentiment words alone say nothing about
            the label: only their negations do. Below 0.5 the words give a
            first signal to learn from, and the task is learnt faster.

    Returns:
        `(texts, labels)`: a list of `n` strings and an int32 array (n,).
    """
    min_length = max_length // 2 if min_length is None else min_length
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer. Received: n={n!r}")
    if not isinstance(max_length, int) or max_length < 8:
        raise ValueError(f"max_length must be an integer >= 8. Received: max_length={max_length!r}")
    if not isinstance(min_length, int) or not 8 <= min_length <= max_length:
        raise ValueError(
            f"min_length must be an integer in [8, max_length]. Received: min_length={min_length!r}"
        )
    if isinstance(negation_rate, bool) or not 0 <= negation_rate <= 1:
        raise ValueError(
            f"negation_rate must be a float in [0, 1]. Received: negation_rate={negation_rate!r}"
        )
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        length = int(rng.integers(min_length, max_length + 1))
        words = list(rng.choice(FILLERS, size=length))
        num_keys = int(rng.choice((1, 3)))
        # Key phrases take two slots ("not" + word, or filler + word), never overlapping.
        starts = rng.choice(np.arange(0, length - 1, 2), size=num_keys, replace=False)
        votes = 0
        for start in starts:
            positive = bool(rng.integers(2))
            negated = bool(rng.random() < negation_rate)
            words[start + 1] = str(rng.choice(POSITIVE if positive else NEGATIVE))
            if negated:
                words[start] = NEGATION
            votes += 1 if positive != negated else -1
        key_slots = {int(s) for s in starts} | {int(s) + 1 for s in starts}
        free = [i for i in range(length - 1) if i not in key_slots and i + 1 not in key_slots]
        strays = int(rng.integers(0, stray_negations + 1))
        for i in rng.choice(free, size=min(strays, len(free)), replace=False):
            words[i] = NEGATION
        texts.append(" ".join(words))
        labels.append(1 if votes > 0 else 0)
    return texts, np.asarray(labels, dtype="int32")


def make_token_task(
    n, max_length=48, min_length=None, seed=0, stray_negations=2, negation_rate=0.5
):
    """`make_text_task` as token ids (n, max_length), 0-padded at the end.

    The ids are those of `TextVectorization(vocabulary=task_vocabulary(),
    output_sequence_length=max_length)`: `task_vocabulary()[i]` has id i + 2.

    Returns:
        `(ids, labels)`: int32 arrays (n, max_length) and (n,).
    """
    texts, labels = make_text_task(n, max_length, min_length, seed, stray_negations, negation_rate)
    index = {word: i + 2 for i, word in enumerate(task_vocabulary())}
    ids = np.zeros((n, max_length), dtype="int32")
    for row, text in enumerate(texts):
        tokens = [index[w] for w in text.split()]
        ids[row, : len(tokens)] = tokens
    return ids, labels


def load_imdb_reviews(split="train", data_dir=None, download=False, max_examples=None):
    """Loads the tensorflow-datasets `imdb_reviews` split as `(texts, labels)`.

    Needs the prepared dataset in `data_dir` (tfds' default directory when
    None) unless `download=True`. Labels: 0 = negative, 1 = positive.

    Args:
        split: A tfds split, e.g. `"train"`, `"test"`, `"test[:10%]"`.
        data_dir: Directory of the prepared tfds data.
        download: Whether tfds may download and prepare the data.
        max_examples: Keep at most this many examples (None: all).

    Returns:
        `(texts, labels)`: a list of strings and an int32 array.
    """
    # tensorflow-datasets is imported here so that the package imports without it being used.
    import tensorflow_datasets as tfds

    dataset = tfds.load(
        "imdb_reviews", split=split, data_dir=data_dir, download=download, as_supervised=True
    )
    if max_examples is not None:
        dataset = dataset.take(max_examples)
    texts, labels = [], []
    for text, label in tfds.as_numpy(dataset):
        texts.append(text.decode("utf-8"))
        labels.append(int(label))
    return texts, np.asarray(labels, dtype="int32")


# Over 60 lines by its docstring alone, which lists every refusal; the code is 35 lines.
def load_text_file(
    path,
    text_column="text",
    label_column="label",
    class_names=None,
    delimiter=None,
    on_bad_line="raise",
    encoding="utf-8",
):
    """Loads a CSV or TSV file with a header row into `(texts, labels, class_names)`.

    The first line names the columns; `text_column` and `label_column` must be
    among them. Labels are mapped to ids by their position in `class_names`;
    when `class_names` is None they are the sorted distinct labels of the file
    (numerically if all are integers).

    Bad input is never dropped silently. An empty file, a header without
    `text_column` or `label_column`, a header that is not text in `encoding`,
    or a file without data rows always raises a `ValueError` naming the file. A
    line with the wrong number of fields, an empty text, a label not in
    `class_names`, or bytes that are not text in `encoding` (a binary file, a
    UTF-16 file read as UTF-8) raises a `ValueError` naming the file, the line
    and the encoding with `on_bad_line="raise"` (the default); with
    `on_bad_line="skip"` such lines are skipped and a `UserWarning` reports how
    many, and the first one. Blank lines hold no record and are ignored. A
    UTF-8 byte order mark before the header is dropped. Fields may be of any
    length (the `csv` module's default limit of 131,072 characters is lifted
    while the file is read).

    Args:
        path: Path of the file.
        text_column: Header name of the text column.
        label_column: Header name of the label column.
        class_names: Optional sequence of the label strings, in class-id order.
        delimiter: Field separator; default `"\\t"` for `.tsv` / `.tab` files,
            else `","`.
        on_bad_line: `"raise"` or `"skip"`.
        encoding: Text encoding of the file, e.g. `"utf-8"` (the default) or
            `"latin-1"`. It must write a newline as the single byte of ASCII, as
            UTF-8, Latin-1 and the other ASCII-based encodings do; for UTF-16,
            convert the file first.

    Returns:
        `(texts, labels, class_names)`: a list of strings, an int32 array of
        class ids and the tuple of class names.
    """
    path = os.fspath(path)
    delimiter = _check_file_args(path, on_bad_line, encoding, delimiter)
    bad = []
    lines = DecodedLines(path, encoding, bad)
    limit = csv.field_size_limit()
    csv.field_size_limit(_FIELD_SIZE_LIMIT)
    try:
        reader = csv.reader(lines, delimiter=delimiter)
        header = _read_header(reader, lines, bad, path, encoding)
        columns = []
        for arg, column in (("text_column", text_column), ("label_column", label_column)):
            if column not in header:
                raise ValueError(
                    f"{path}, line 1: missing column {column!r}; the header has {header}. "
                    f"Received: {arg}={column!r}"
                )
            columns.append(header.index(column))
        known = None if class_names is None else {str(c): i for i, c in enumerate(class_names)}
        rows = _read_rows(reader, lines, bad, header, columns, known, delimiter, on_bad_line)
    finally:
        csv.field_size_limit(limit)
        lines.close()
    if not rows:
        raise ValueError(f"{path}: no valid data rows after the header ({len(bad)} bad).")
    if known is None:
        known = {name: i for i, name in enumerate(_sorted_labels({label for _, label in rows}))}
    texts = [text for text, _ in rows]
    labels = np.asarray([known[label] for _, label in rows], dtype="int32")
    if bad:
        warnings.warn(
            f"{path}: skipped {len(bad)} bad line(s); the first: {bad[0]}",
            UserWarning,
            stacklevel=2,
        )
    return texts, labels, tuple(known)


def load_class_files(files, encoding="utf-8", on_bad_line="raise"):
    """Loads files of one text per line, one file per class, into `(texts, labels, class_names)`.

    The format of the MR movie-review polarity data (Pang & Lee, 2005):
    `rt-polarity.neg` and `rt-polarity.pos`, one sentence per line, in
    Latin-1. The texts come file by file, each in its line order, stripped of
    surrounding whitespace; blank lines hold no text and are ignored.

    A line that is not text in `encoding`, or that holds NUL bytes (a binary
    or UTF-16 file read as Latin-1, which decodes any byte), raises a
    `ValueError` naming the file, the line and the encoding with
    `on_bad_line="raise"` (the default); with `"skip"` such lines are left out
    and a `UserWarning` reports how many, and the first one. A file without
    any text raises a `ValueError` naming it.

    Args:
        files: A dict `{class_name: path}` in class-id order, or the path of
            a directory whose files (hidden ones excepted) are the classes,
            named by their file names, in sorted order.
        encoding: Text encoding of the files, e.g. `"utf-8"` (the default) or
            `"latin-1"` (MR); an ASCII-based one, as for `load_text_file`.
        on_bad_line: `"raise"` or `"skip"`.

    Returns:
        `(texts, labels, class_names)`: a list of strings, an int32 array of
        class ids and the tuple of class names.
    """
    files = _class_files(files)
    _check_file_args("", on_bad_line, encoding, ",")
    texts, labels, bad = [], [], []
    for label, path in enumerate(files.values()):
        lines = DecodedLines(path, encoding, bad)
        count = len(texts)
        try:
            for line in lines:
                if "\x00" in line:
                    bad.append(
                        f"{path}, line {lines.number}: holds NUL bytes; is this a binary or a "
                        f"UTF-16 file? Received: encoding={encoding!r}"
                    )
                elif line.strip():
                    texts.append(line.strip())
                    labels.append(label)
                if bad and on_bad_line == "raise":
                    raise ValueError(bad[0])
        finally:
            lines.close()
        if bad and on_bad_line == "raise":
            raise ValueError(bad[0])  # the file's last line did not decode
        if len(texts) == count:
            raise ValueError(f"{path}: no text lines; each class needs at least one.")
    if bad:
        warnings.warn(
            f"skipped {len(bad)} bad line(s); the first: {bad[0]}", UserWarning, stacklevel=2
        )
    return texts, np.asarray(labels, dtype="int32"), tuple(files)


def _class_files(files):
    """`files` as a dict {class name: path}; a directory gives its files by sorted name."""
    if isinstance(files, (str, os.PathLike)) and os.path.isdir(files):
        names = sorted(n for n in os.listdir(files) if not n.startswith("."))
        files = {n: os.path.join(files, n) for n in names if os.path.isfile(os.path.join(files, n))}
    elif not isinstance(files, dict):
        raise ValueError(
            "files must be a dict {class_name: path} or an existing directory. "
            f"Received: files={files!r}"
        )
    if len(files) < 2:
        raise ValueError(f"files must name at least 2 classes. Received: files={files!r}")
    return {str(name): os.fspath(path) for name, path in files.items()}


def _check_file_args(path, on_bad_line, encoding, delimiter):
    """Checks `load_text_file`'s options; returns the delimiter (by file suffix when None)."""
    if on_bad_line not in ("raise", "skip"):
        raise ValueError(
            f"on_bad_line must be 'raise' or 'skip'. Received: on_bad_line={on_bad_line!r}"
        )
    try:
        ascii_based = "\n,\tab".encode(encoding) == b"\n,\tab"
    except LookupError:
        raise ValueError(f"Unknown encoding. Received: encoding={encoding!r}") from None
    if not ascii_based:
        raise ValueError(
            "encoding must write newlines and delimiters as ASCII bytes (UTF-8, Latin-1, ...); "
            f"convert the file to UTF-8 first. Received: encoding={encoding!r}"
        )
    if delimiter is None:
        delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    return delimiter


def _read_header(reader, lines, bad, path, encoding):
    """The stripped column names of the first line, or a ValueError naming the file."""
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise ValueError(f"{path}, line {lines.number}: {err}.") from None
    if bad:
        raise ValueError(f"{bad[0]} The first line must be the header.")
    if header is None:
        raise ValueError(f"{path}: the file is empty; expected a header line.")
    if "\x00" in "".join(header):
        raise ValueError(
            f"{path}, line 1: the header holds NUL bytes; is this a binary or a UTF-16 "
            f"file? Received: encoding={encoding!r}"
        )
    return [name.strip() for name in header]


def _read_rows(reader, lines, bad, header, columns, known, delimiter, on_bad_line):
    """The `(text, label)` rows after the header; a bad line raises or goes into `bad`."""
    path, (text_at, label_at) = lines.path, columns
    rows = []
    while True:
        undecodable = len(bad)
        try:
            fields = next(reader, None)
        except csv.Error as err:
            bad.append(f"{path}, line {lines.number}: {err}.")
            fields = []
        if len(bad) > undecodable and on_bad_line == "raise":
            raise ValueError(bad[undecodable])
        if fields is None:
            return rows
        line = lines.number
        if not fields:
            continue  # a blank line carries no record
        if len(fields) != len(header):
            bad.append(
                f"{path}, line {line}: expected {len(header)} fields "
                f"({delimiter!r}-separated, as in the header), found {len(fields)}."
            )
        elif not fields[text_at].strip():
            bad.append(f"{path}, line {line}: the text in column {header[text_at]!r} is empty.")
        elif known is not None and fields[label_at].strip() not in known:
            bad.append(
                f"{path}, line {line}: unknown label {fields[label_at].strip()!r}; "
                f"known labels: {list(known)}."
            )
        else:
            rows.append((fields[text_at], fields[label_at].strip()))
            continue
        if on_bad_line == "raise":
            raise ValueError(bad[-1])


# The largest field `csv` accepts everywhere (a C long is 32 bits on Windows).
_FIELD_SIZE_LIMIT = 2**31 - 1


def _sorted_labels(labels):
    if all(label.lstrip("-").isdigit() for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)
