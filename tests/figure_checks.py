"""Checks that a picture reads: the texts a figure draws, and those that overlap."""

from matplotlib.text import Text
from matplotlib.transforms import Bbox


def _ticklabels_in_view(axis):
    """The labels of the ticks inside the view: the locator also returns some just outside."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * max(1.0, high - low)
    labels = []
    for locs, texts in (
        (axis.get_majorticklocs(), axis.get_majorticklabels()),
        (axis.get_minorticklocs(), axis.get_minorticklabels()),
    ):
        labels += [
            t for loc, t in zip(locs, texts, strict=True) if low - slack <= loc <= high + slack
        ]
    return labels


def drawn_texts(fig):
    """The non-empty texts `fig` draws: titles, labels, legends, annotations, tick labels.

    Tick labels are taken from the ticks each axis shows (an axis keeps spare
    tick artists that are never drawn).
    """
    fig.canvas.draw()
    spare = set()
    shown = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                spare.update((id(tick.label1), id(tick.label2)))
            if ax.axison and axis.get_visible():
                shown += _ticklabels_in_view(axis)
    texts = [t for t in fig.findobj(Text) if id(t) not in spare] + shown
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def overlapping_texts(fig):
    """The pairs of drawn texts whose boxes share more than a pixel's width and height."""
    texts = drawn_texts(fig)
    renderer = fig.canvas.get_renderer()
    # Text's own extent: an annotation's would include its leader line.
    boxes = [Text.get_window_extent(t, renderer) for t in texts]
    pairs = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            common = Bbox.intersection(boxes[i], boxes[j])
            if common is not None and common.width > 1 and common.height > 1:
                pairs.append((texts[i].get_text(), texts[j].get_text()))
    return pairs
