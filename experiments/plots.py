"""Pictures of a comparison: metric per variant, metric against time, kernel regression.

Each function draws a `matplotlib.figure.Figure` on the Agg canvas (see
`attention_zoo._figures`), saves it when given a path, and returns it.
"""

import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from attention_zoo._figures import new_figure, save_figure

# Rows drawn in grey: the reference each task's attention variants must beat.
BASELINES = ("none", "nonparametric")
_BASELINE_COLOUR = "#999999"
_VARIANT_COLOUR = "#3b75af"
_LABEL_FONTSIZE = 8
# The height of one label row, in inches: the font size plus leading.
_LABEL_ROW = 1.6 * _LABEL_FONTSIZE / 72


def metric_per_variant(rows, metric, path=None, title=None):
    """Horizontal bars of mean ± std of `metric` per variant, in the rows' order from the top.

    Rows are leaderboard dicts. Names stay horizontal, one bar height apart,
    so they never overlap; the figure grows with the number of variants.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    count = len(rows)
    fig = new_figure(6.4, 1.4 + max(1.6, 1.3 * count * _LABEL_ROW * 1.4), layout="constrained")
    ax = fig.subplots()
    names = [r["variant"] for r in rows]
    colours = [_BASELINE_COLOUR if n in BASELINES else _VARIANT_COLOUR for n in names]
    positions = np.arange(count)
    ax.barh(
        positions,
        [r["metric_mean"] for r in rows],
        xerr=[r["metric_std"] for r in rows],
        capsize=3,
        color=colours,
    )
    ax.set_yticks(positions, names)
    ax.set_ylim(count - 0.5, -0.5)
    ax.set_ylabel("attention variant")
    ax.set_xlabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(title or f"{metric} per variant")
    handles = [Patch(color=_VARIANT_COLOUR, label="attention variant")]
    if _BASELINE_COLOUR in colours:
        handles.append(Patch(color=_BASELINE_COLOUR, label="baseline"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def spread_labels(targets, gap, low=0.0, high=1.0):
    """Positions as close as possible to `targets`, at least `gap` apart, within [low, high].

    A forward pass pushes each label above the one below it, a backward pass
    pulls them under `high`; when `len(targets) * gap <= high - low + gap`
    every position also stays above `low`. Returns the positions in the
    order of `targets`.
    """
    order = np.argsort(targets, kind="stable")
    placed = np.empty(len(targets))
    previous = low - gap
    for i in order:
        previous = max(targets[i], previous + gap, low)
        placed[i] = previous
    ceiling = high + gap
    for i in order[::-1]:
        ceiling = min(placed[i], ceiling - gap)
        placed[i] = ceiling
    return placed


def _palette():
    """tab10 then tab20's light shades, without their greys (grey marks the baselines)."""
    dark = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]
    light = [c for i, c in enumerate(colormaps["tab20"].colors) if i % 2 and i != 15]
    return dark + light


def metric_vs_time(rows, metric, path=None, title=None):
    """`metric` against training seconds per epoch, one point per variant.

    The names sit in a column right of the axes, in the order of their
    metric and at least one text line apart, each joined to its point by a
    line: they never overlap, however many variants there are or however
    close their points (the figure grows with the number of variants).

    Returns:
        The `matplotlib.figure.Figure`.
    """
    count = len(rows)
    axes_height = max(2.8, 1.15 * count * _LABEL_ROW)
    fig = new_figure(7.2, axes_height + 1.3)
    ax = fig.add_axes(
        (0.95 / 7.2, 0.7 / (axes_height + 1.3), 3.9 / 7.2, axes_height / (axes_height + 1.3))
    )
    palette = _palette()
    colours = [
        _BASELINE_COLOUR if r["variant"] in BASELINES else palette[i % len(palette)]
        for i, r in enumerate(rows)
    ]
    xs = np.array([r["train_seconds_per_epoch"] for r in rows], dtype="float64")
    ys = np.array([r["metric_mean"] for r in rows], dtype="float64")
    for x, y, r, colour in zip(xs, ys, rows, colours, strict=True):
        marker = "s" if r["variant"] in BASELINES else "o"
        ax.errorbar(x, y, yerr=r["metric_std"], fmt=marker, color=colour, capsize=3)
    ax.margins(x=0.08, y=0.08)
    ax.autoscale_view()
    bottom, top = ax.get_ylim()
    targets = (ys - bottom) / (top - bottom) if top > bottom else np.full(count, 0.5)
    gap = _LABEL_ROW / axes_height
    positions = spread_labels(targets, gap, low=gap / 2, high=1.0 - gap / 2)
    for x, y, r, colour, position in zip(xs, ys, rows, colours, positions, strict=True):
        ax.annotate(
            r["variant"],
            xy=(x, y),
            xytext=(1.06, position),
            textcoords="axes fraction",
            va="center",
            ha="left",
            fontsize=_LABEL_FONTSIZE,
            color="black",
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.6, "shrinkA": 2, "shrinkB": 4},
            zorder=1,
        )
    # Few ticks: close timings give long tick labels ("0.05575") that would touch.
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_xlabel("training seconds per epoch")
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(title or f"{metric} against training time")
    return save_figure(fig, path)


def kernel_regression_lesson(models, data, path=None):
    """Fits of each kernel-regression model over the truth, and their attention heatmaps.

    `models` maps a label ("nonparametric", "parametric") to a trained
    KernelRegression. The heatmaps share one colour scale so that they compare.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    x_train, y_train = (np.asarray(a).reshape(-1) for a in data["train"])
    x_test, y_truth = (np.asarray(a).reshape(-1) for a in data["val"])
    fig = new_figure(4.3 * (1 + len(models)) + 0.6, 3.9, layout="constrained")
    axes = fig.subplots(1, 1 + len(models))
    ax = axes[0]
    ax.plot(x_test, y_truth, "k-", label="truth")
    ax.plot(x_train, y_train, "o", color="#bbbbbb", ms=3, label="training samples")
    for label, model in models.items():
        prediction = np.asarray(model.predict(x_test, verbose=0)).reshape(-1)
        mse = float(np.mean((prediction - y_truth) ** 2))
        ax.plot(x_test, prediction, label=f"{label} (MSE {mse:.3f})")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("fits against the truth")
    ax.legend(fontsize=7)
    weights = {
        label: np.asarray(model.attention_weights(x_test)) for label, model in models.items()
    }
    top = max(float(w.max()) for w in weights.values())
    image = None
    for ax, (label, model) in zip(axes[1:], models.items(), strict=True):
        # x_train is sorted, so column j of the weights sits at x_train[j].
        image = ax.imshow(
            weights[label],
            aspect="auto",
            cmap="Reds",
            vmin=0.0,
            vmax=top,
            extent=(x_train.min(), x_train.max(), x_test.max(), x_test.min()),
        )
        width = np.asarray(model.attention.width).reshape(-1)[0]
        ax.set_title(f"{label} (w = {width:.2f}): weights")
        ax.set_xlabel("training input x_i (key)")
        ax.set_ylabel("test input x (query)")
    fig.suptitle("Kernel regression as attention")
    fig.colorbar(image, ax=list(axes[1:]), fraction=0.03, pad=0.02, label="attention weight")
    return save_figure(fig, path)
