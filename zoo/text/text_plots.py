"""Pictures of a text classifier's attention: weights over the words, token x token heatmaps.

The figures are `matplotlib.figure.Figure` objects drawn with the Agg canvas, so
plotting never touches pyplot's global state or needs a display.
"""

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import TwoSlopeNorm
from matplotlib.font_manager import FontProperties

from attention_zoo._figures import new_figure, save_figure

_WORD_FONTSIZE = 9
_WORD_PAD = 0.12  # inches of coloured box and space around each word
# Diverging around the uniform weight: white = 1/T, red above, blue below.
_CMAP = "RdBu_r"


def _wrap_words(fig, tokens, line_width):
    """(line, left, width) in inches for each word, wrapped to `line_width` inches."""
    renderer = fig.canvas.get_renderer()
    font = FontProperties(size=_WORD_FONTSIZE)
    places, line, left = [], 0, 0.0
    for token in tokens:
        width, _, _ = renderer.get_text_width_height_descent(token, font, ismath=False)
        width = width / fig.dpi + _WORD_PAD
        if left > 0 and left + width > line_width:
            line, left = line + 1, 0.0
        places.append((line, left, width))
        left += width
    return places


def plot_token_attention(tokens, weights, path=None, title=None, max_tokens=80):
    """Draws the attention weight of each word as a bar over the text, words highlighted.

    Top panel: the words in reading order, each on a background coloured by its
    weight. Bottom panel: the same weights as bars, one per word. Colour is
    measured against the uniform weight 1/T of a plain mean: white is exactly
    1/T, red more, blue less; the dashed line marks 1/T. Mean pooling (no
    attention) is therefore all white and flat, and reads as what it is.

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
    uniform = 1.0 / max(1, len(weights))
    tokens, weights = [str(t) for t in tokens][:max_tokens], weights[:max_tokens]
    top = max(float(weights.max()) if len(weights) else 0.0, 2.0 * uniform)
    norm = TwoSlopeNorm(vmin=0.0, vcenter=uniform, vmax=top)
    fig = new_figure(max(7.0, 0.22 * len(tokens) + 2.0), 4.0, layout="constrained")
    text_ax, bar_ax = fig.subplots(2, 1)
    _draw_bars(fig, bar_ax, tokens, weights, norm)
    _draw_words(fig, text_ax, tokens, weights, norm)
    fig.suptitle(title or "attention weight per word")
    return save_figure(fig, path, dpi=120)


def _draw_bars(fig, ax, tokens, weights, norm):
    positions = np.arange(len(tokens))
    cmap = colormaps[_CMAP]
    ax.bar(positions, weights, color=cmap(norm(weights)), edgecolor="#555555", linewidth=0.5)
    ax.axhline(norm.vcenter, color="black", linestyle="--", linewidth=0.8, label="uniform 1/T")
    ax.set_xticks(positions)
    ax.set_xticklabels(tokens, rotation=90, fontsize=8)
    ax.set_xlim(-0.6, len(tokens) - 0.4)
    ax.set_ylim(0.0, 1.15 * norm.vmax)
    ax.set_xlabel("word, in reading order")
    ax.set_ylabel("attention weight")
    ax.legend(loc="upper right", fontsize=8)
    colorbar = ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(colorbar, ax=ax, fraction=0.03, pad=0.01, label="weight (white: 1/T)")


def _draw_words(fig, ax, tokens, weights, norm):
    """The words on boxes coloured by weight, wrapped to the laid-out width of `ax`.

    The layout runs first (the bars, their labels and the colorbar set the
    panel's width); each word then takes its measured width, so none overlap,
    and the panel gets one row of height per line.
    """
    fig.get_layout_engine().execute(fig)
    line_width = ax.get_position().width * fig.get_figwidth()
    places = _wrap_words(fig, tokens, line_width)
    lines = places[-1][0] + 1 if places else 1
    fig.set_figheight(3.4 + 0.3 * lines)
    ax.get_gridspec().set_height_ratios([0.3 * lines, 2.4])
    ax.set_xlim(0, line_width)
    ax.set_ylim(lines, 0)
    ax.axis("off")
    cmap = colormaps[_CMAP]
    for token, w, (line, left, word_width) in zip(tokens, weights, places, strict=True):
        shade = float(norm(w))
        ax.text(
            left + word_width / 2,
            line + 0.5,
            token,
            ha="center",
            va="center",
            fontsize=_WORD_FONTSIZE,
            color="white" if abs(shade - 0.5) > 0.35 else "black",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": cmap(shade), "lw": 0.4},
        )


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
    fig = new_figure(side * heads + 0.8, side + 0.6, layout="constrained")
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
    fig.suptitle(title or "self-attention between the words, per head")
    return save_figure(fig, path, dpi=120)
