"""The Python examples of the README and of docs/*.md run as written.

Every ```python block is one test, named by its file and index. Blocks that cannot run
in a test (real data, a network, minutes of training) use another fence (```bash,
```text) and say so in the text around them.
"""

import pathlib
import re
import shlex

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# Blocks that claim their `model` learns its task (found by a line of the block): the
# training accuracy it must reach.
LEARNS = {"# Label: does token 7 appear in the sequence?": 0.9}


def _blocks(page):
    return FENCE.findall(page.read_text(encoding="utf-8"))


BLOCKS = [
    pytest.param(page, index, code, id=f"{page.relative_to(ROOT)}[{index}]")
    for page in PAGES
    for index, code in enumerate(_blocks(page))
]


@pytest.mark.parametrize(("page", "index", "code"), BLOCKS)
def test_example_runs(page, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    name = f"{page.relative_to(ROOT)}[python block {index}]"
    exec(compile(code, name, "exec"), namespace)
    for marker, accuracy in LEARNS.items():
        if marker in code:
            history = namespace["model"].history.history
            assert history["accuracy"][-1] > accuracy, history


def test_readme_is_short_and_has_examples():
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 250
    assert len(_blocks(readme)) >= 2


def _anchors(page):
    """The anchors GitHub makes for `page`'s headings: lowercase, no punctuation, - for spaces."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    headings = re.findall(r"^#+ (.*)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_docs_links_resolve():
    """Every relative link of the README and docs/ names a file (and heading) that exists."""
    missing = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            file, _, anchor = target.partition("#")
            path = page.parent / file if file else page
            if not path.exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                missing.append(f"{page.relative_to(ROOT)} -> {target} (no such heading)")
    assert not missing, missing


def test_every_docs_picture_is_shown():
    """Each PNG of docs/ is drawn by some page (a picture nobody shows is dead weight)."""
    shown = {
        (page.parent / target).resolve()
        for page in PAGES
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
    }
    unshown = [
        png.name for png in sorted((ROOT / "docs").glob("*.png")) if png.resolve() not in shown
    ]
    assert not unshown, unshown


def _documented_commands():
    """(page, argv) of each `attention-zoo` command of the pages: bash lines, code spans."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        lines = []
        for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
            lines += block.replace("\\\n", " ").splitlines()
        # Spans in usage notation ([--model M ...]) are not command lines.
        lines += [s for s in re.findall(r"`(attention-zoo [^`]*)`", text) if "[" not in s]
        for line in lines:
            words = shlex.split(" ".join(line.split()), comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes
                words.pop(0)
            if words[:1] == ["attention-zoo"]:
                yield page, [w for w in words[1:] if w not in ("&", "--verbose")]


def test_documented_commands_parse(capsys):
    """Every `attention-zoo` command the pages show has options the command accepts."""
    from attention_zoo.experiments import cli

    refused = []
    commands = list(_documented_commands())
    for page, argv in commands:
        if argv[:1] == ["bench"]:
            continue  # bench parses its options as it runs
        try:
            cli._parser().parse_args(argv)
        except SystemExit:
            refused.append(f"{page.relative_to(ROOT)}: {' '.join(argv)}: {capsys.readouterr().err}")
    assert len(commands) >= 10, commands
    assert not refused, refused
