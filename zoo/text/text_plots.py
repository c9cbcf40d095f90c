"""Pictures of a text classifier's attention: weights over the words, token x token heatmaps.

The figures are `matplotlib.figure.Figure` objects drawn with the Agg canvas, so
plotting never touches pyplot's global state or needs a display.
"""

import os

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _save(fig, path):
    if path is not None:
        path = os.fspath(path)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_token_attention(tokens, weights, path=None, title=None, max_tokens=80):
    """Draws the attention weight of each word as a bar over the text, words highlighted.

    Top panel: the words in reading order, each on a background whose colour
    strength is its weight (the darkest word took the most attention). Bottom
    panel: the same weights as bars, one per word.

    Args:
        tokens: List of the T words.
        weights: Array (T,) of their attention weights.
        path: Optional PNG path to save the figure to.
        title: Optional title.
        max_tokens: Draw at most this many words (the first ones).

    Returns:
        The `matplotlib.figure.Figure`.
    """
    weights = np.asarray(weights, dtype="float64").reshape(-1)
    if len(tokens) != len(weights):
        raise ValueError(
            "tokens and weights must have the same length. Received: "
            f"len(tokens)={len(tokens)}, len(weights)={len(weights)}"
        )
    tokens, weights = list(tokens)[:max_tokens], weights[:max_tokens]
    count = len(tokens)
    # Coloured text: words wrapped over lines of at most `per_line` words.
    per_line = 12
    lines = max(1, -(-count // per_line))
    width = max(6.0, 0.75 * min(count, per_line), 0.3 * count)
    fig = Figure(figsize=(width, 2.8 + 0.35 * lines))
    FigureCanvasAgg(fig)
    text_ax, bar_ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [0.35 * lines, 2.2]})
    top = weights.max() if count and weights.max() > 0 else 1.0
    cmap = colormaps["Reds"]
    text_ax.set_xlim(0, per_line)
    text_ax.set_ylim(lines, 0)
    text_ax.axis("off")
    for i, (token, w) in enumerate(zip(tokens, weights, strict=True)):
        strength = w / top
        text_ax.text(
            i % per_line + 0.5,
            i // per_line + 0.5,
            token,
            ha="center",
            va="center",
            fontsize=9,
            color="white" if strength > 0.6 else "black",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": cmap(0.08 + 0.9 * strength), "lw": 0},
        )
    positions = np.arange(count)
    bar_ax.bar(positions, weights, color=cmap(0.25 + 0.7 * weights / top))
    bar_ax.set_xticks(positions)
    bar_ax.set_xticklabels(tokens, rotation=90, fontsize=8)
    bar_ax.set_xlim(-0.6, count - 0.4)
    bar_ax.set_ylabel("attention weight")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_self_attention(tokens, maps, path=None, title=None, max_tokens=48):
    """Draws token x token attention maps as heatmaps, one panel per head.

    Args:
        tokens: List of the T words.
        maps: Array (H, T, T) (or (T, T) for one head); row i holds the
            weights with which word i attends to each word.
        path: Optional PNG path to save the figure to.
        title: Optional title.
        max_tokens: Draw at most the first this many words.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    maps = np.asarray(maps, dtype="float64")
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[1:] != (len(tokens), len(tokens)):
        raise ValueError(
            "maps must have shape (H, T, T) with T = len(tokens). Received: "
            f"maps.shape={maps.shape}, len(tokens)={len(tokens)}"
        )
    count = min(len(tokens), max_tokens)
    tokens, maps = list(tokens)[:count], maps[:, :count, :count]
    heads = maps.shape[0]
    # One colour scale for all heads, up to the largest weight, so that heads compare.
    top = maps.max() if maps.size and maps.max() > 0 else 1.0
    side = max(4.0, 0.18 * count + 1.5)
    fig = Figure(figsize=(side * heads + 0.8, side + 0.6))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, heads))
    image = None
    for h, ax in enumerate(axes):
        image = ax.imshow(maps[h], cmap="viridis", vmin=0.0, vmax=top, aspect="equal")
        ax.set_title(f"head {h + 1}")
        ax.set_xticks(range(count))
        ax.set_yticks(range(count))
        ax.set_xticklabels(tokens, rotation=90, fontsize=7)
        ax.set_yticklabels(tokens, fontsize=7)
        ax.set_xlabel("attended word (key)")
        if h == 0:
            ax.set_ylabel("attending word (query)")
    fig.colorbar(image, ax=list(axes), fraction=0.025, pad=0.02, label="attention weight")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
