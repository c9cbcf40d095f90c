"""The plotting convention shared by zoo/ and experiments/: a `Figure` on the Agg canvas.

No `matplotlib.use` and no pyplot: a figure owns its canvas, so drawing never
changes a user's matplotlib state and needs no display. Figures are saved
atomically (a temporary file, then `os.replace`), so a picture is whole or absent.
"""

import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width, height, layout=None):
    """A `Figure` of `width` x `height` inches drawn by its own Agg canvas.

    `layout` is matplotlib's ("constrained", "tight" or None for fixed axes).
    """
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, dpi=110):
    """Writes `fig` to `path` (format from the suffix, PNG without one) when a path is given.

    Returns:
        The figure, so that plotting functions can end with `return save_figure(...)`.
    """
    if path is None:
        return fig
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    extension = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        fig.savefig(temporary, format=extension, dpi=dpi, bbox_inches="tight")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return fig
