"""One plotting convention: `Figure` + the Agg canvas, never pyplot or `matplotlib.use`."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Global matplotlib state: the backend switch and pyplot's current figure.
FORBIDDEN = re.compile(r"matplotlib\.use\(|import matplotlib\.pyplot|from matplotlib import pyplot")


def test_library_and_experiments_draw_without_global_matplotlib_state():
    sources = [
        path
        for path in ROOT.rglob("*.py")
        if not {"tests", ".venv", ".pkg", "build"} & set(path.relative_to(ROOT).parts)
    ]
    assert len(sources) > 10
    offenders = [str(p.relative_to(ROOT)) for p in sources if FORBIDDEN.search(p.read_text())]
    assert offenders == []
