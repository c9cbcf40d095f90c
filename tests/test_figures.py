"""The plotting convention's helpers: a figure with its own canvas, saved whole or not at all."""

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from attention_zoo._figures import new_figure, save_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_new_figure_draws_on_its_own_agg_canvas():
    fig = new_figure(3, 2)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert tuple(fig.get_size_inches()) == (3, 2)


def test_save_figure_writes_into_new_folders_and_leaves_no_temporary(tmp_path):
    fig = new_figure(2, 2)
    fig.subplots().plot([0, 1], [1, 0])
    assert save_figure(fig, None) is fig
    path = tmp_path / "a" / "b" / "picture.png"
    assert save_figure(fig, path) is fig
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in path.parent.iterdir()) == ["picture.png"]


def test_a_failed_save_keeps_the_previous_picture(tmp_path):
    path = tmp_path / "picture.nosuchformat"
    path.write_bytes(b"the user's file")
    with pytest.raises(ValueError, match="nosuchformat"):
        save_figure(new_figure(2, 2), path)
    assert path.read_bytes() == b"the user's file"
    assert [p.name for p in tmp_path.iterdir()] == ["picture.nosuchformat"]
