"""The translator's picture: the alignment of one translation (source tokens x output tokens).

Drawn with `matplotlib.figure.Figure` on the Agg canvas: no display, no global
backend change.
"""

# What a token that is invisible or ambiguous on an axis is written as.
_READABLE = {" ": "space", "\t": "tab", "\n": "newline", "": "(empty)"}


def readable_token(token):
    """A tick label for `token`: white space spelled out ("space"), other tokens as they are."""
    return _READABLE.get(token, token)


def plot_alignment(translator, text, path=None, beam_width=1, length_penalty=None, expected=None):
    """Draws the alignment of `translator`'s translation of `text`, as in Bahdanau et al.

    Column j is source token j, row i is output token i, the shade its
    attention weight (colorbar from 0 to 1). The title shows the text and its
    translation; with `expected` (the reference translation) it also says
    whether the translation is right.

    Args:
        translator: A `Translator` whose decoder attends (not `attention="none"`).
        text: The source string.
        path: Optional path: the figure is written there as PNG.
        beam_width, length_penalty: The search, as in `Translator.translate`.
        expected: Optional reference translation of `text`.

    Returns:
        The matplotlib `Figure`.
    """
    translation, alignment = translator.translate(
        text, beam_width=beam_width, length_penalty=length_penalty, return_alignment=True
    )
    title = f"{text!r} -> {translation!r}"
    if expected is not None:
        verdict = "correct" if translation == expected else f"wrong, expected {expected!r}"
        title += f"\n({verdict})"
    return draw_alignment(alignment, title=title, path=path)


def draw_alignment(alignment, title="", path=None):
    """Draws one alignment dict of `Translator.translate(..., return_alignment=True)`.

    Returns:
        The matplotlib `Figure`; written as PNG to `path` when given.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weights = alignment["weights"]
    rows, cols = weights.shape
    figure = Figure(figsize=(max(4.5, 0.32 * cols + 2.5), max(3.5, 0.3 * rows + 2.2)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="gray_r", vmin=0.0, vmax=1.0, aspect="auto")
    _token_ticks(axes.set_xticks, range(cols), alignment["source_tokens"], axes.get_xticklabels)
    _token_ticks(axes.set_yticks, range(rows), alignment["output_tokens"], axes.get_yticklabels)
    axes.tick_params(axis="x", labelrotation=90)
    axes.set_xlabel("source token")
    axes.set_ylabel("output token (in order of generation)")
    axes.set_title(title or "attention of each output token over the source", fontsize=9)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.04)
    colorbar.set_label("attention weight")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, format="png", dpi=100)
    return figure


def _token_ticks(set_ticks, positions, tokens, get_labels):
    set_ticks(positions, [readable_token(t) for t in tokens])
    # Spelled-out white space in grey italics, so "space" does not read as five letters.
    for label, token in zip(get_labels(), tokens, strict=True):
        if token in _READABLE:
            label.set_color("0.45")
            label.set_fontstyle("italic")
