"""Text files read line by line, each undecodable line reported with the file and line."""

import codecs


class DecodedLines:
    """The lines of a file decoded one by one; a line that does not decode is reported and left out.

    `number` is the number of the last line read, counted in the file. Each
    undecodable line appends a message naming the file, the line and the encoding
    to `bad`; the first line loses a UTF-8 byte order mark.
    """

    def __init__(self, path, encoding, bad):
        self.path, self.encoding, self.bad = path, encoding, bad
        self.number = 0
        self.file = open(path, "rb")  # noqa: SIM115  (closed by `close`)
        self.utf8 = codecs.lookup(encoding).name == "utf-8"

    def __iter__(self):
        return self

    def __next__(self):
        for raw in self.file:
            self.number += 1
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError as err:
                hint = encoding_hint(raw) if self.number == 1 else ""
                byte = raw[err.start : err.start + 1]
                self.bad.append(
                    f"{self.path}, line {self.number}: not {self.encoding} text "
                    f"(byte {err.start + 1} of the line is {byte!r}){hint}. "
                    "Pass encoding= if the file is text in another encoding."
                )
                continue
            if self.number == 1 and self.utf8:
                line = line.removeprefix("\ufeff")
            return line
        raise StopIteration

    def close(self):
        self.file.close()


def encoding_hint(first_line):
    if first_line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "; the file starts with a UTF-16 byte order mark"
    if b"\x00" in first_line:
        return "; it holds NUL bytes, as binary and UTF-16 files do"
    return ""
