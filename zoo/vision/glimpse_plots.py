"""Pictures of where the glimpse models look: RAM's glimpses and the soft model's attention.

Each function draws a `matplotlib.figure.Figure` on the Agg canvas (see
`attention_zoo._figures`), saves it when given a path, and returns it.
"""

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from attention_zoo._figures import new_figure, save_figure

_PANELS_PER_ROW = 6
_SCALE_STYLES = ("-", "--", ":", "-.")
_GLIMPSE_COLOUR = "#ff7f0e"
_PATH_COLOUR = "#17becf"


def _one_image(image, name="image"):
    image = np.asarray(image, "float32")
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(
            f"{name} must be one image (H, W, C) or (H, W). Received: {name}.shape={image.shape}"
        )
    return image


def _class_of(label):
    """A class index from an integer label or a one-hot / probability vector."""
    label = np.asarray(label)
    return int(label) if label.ndim == 0 else int(np.argmax(label))


def _headline(name, model, image, label):
    """'<name>: true 3, predicted 1 (0.62)', without the true part when no label is given."""
    probabilities = np.asarray(model.predict(image[None], verbose=0)[0])
    predicted = int(np.argmax(probabilities))
    truth = "" if label is None else f"true {_class_of(label)}, "
    return f"{name}: {truth}predicted {predicted} ({probabilities[predicted]:.2f})"


def _panels(count):
    """A figure with `count` square image panels, at most `_PANELS_PER_ROW` a row."""
    columns = min(count, _PANELS_PER_ROW)
    rows = -(-count // columns)
    fig = new_figure(2.3 * columns + 1.0, 2.5 * rows + 1.1, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _show(ax, image, first):
    """The image in grey (or colour) with pixel axes; only the first panel names its y axis."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=max(1.0, float(image.max())))
    else:
        ax.imshow(np.clip(image, 0.0, 1.0))
    height, width = image.shape[:2]
    ax.set_xticks([0, width - 1])
    ax.set_yticks([0, height - 1])
    ax.set_xlabel("column (px)", fontsize=8)
    if first:
        ax.set_ylabel("row (px)", fontsize=8)
    ax.tick_params(labelsize=7)


def _draw_glimpse(ax, cx, cy, sides):
    """One box per scale around the centre (cx, cy), the pixels the sensor reads."""
    for side, style in zip(sides, _SCALE_STYLES * len(sides), strict=False):
        top, left = np.floor(cy + 0.5 - side / 2 + 0.5), np.floor(cx + 0.5 - side / 2 + 0.5)
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5),
                side,
                side,
                fill=False,
                edgecolor=_GLIMPSE_COLOUR,
                linestyle=style,
                linewidth=1.4,
            )
        )


def plot_glimpse_trajectory(model, image, path=None, title=None, label=None):
    """Draws the glimpses of a `RecurrentAttentionModel` on one image, one panel per step.

    Panel t shows the image, the step-t glimpse as one box per scale (the
    pixels the sensor reads; line style per scale, in the legend) and the
    path of the glimpse centres up to step t. The locations are the policy
    means, as used in prediction.

    Args:
        model: A `RecurrentAttentionModel`.
        image: One image (H, W, C) or (H, W).
        path: Optional PNG path to save the figure to.
        title: Optional title; default: the true class (when `label` is
            given) and the predicted one.
        label: Optional true class of the image: an integer or a one-hot vector.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    image = _one_image(image)
    height, width = image.shape[:2]
    locations = model.glimpse_locations(image[None])[0]
    sensor = model.sensor
    sides = [sensor.patch_size * sensor.scale_factor**s for s in range(sensor.num_scales)]
    # Pixel i covers [i - 0.5, i + 0.5] in imshow's coordinates.
    centres = np.stack(
        [(locations[:, 1] + 1.0) / 2.0 * width - 0.5, (locations[:, 0] + 1.0) / 2.0 * height - 0.5],
        axis=1,
    )
    fig, axes = _panels(len(locations))
    for step, ax in enumerate(axes):
        _show(ax, image, first=step % _PANELS_PER_ROW == 0)
        cx, cy = centres[step]
        _draw_glimpse(ax, cx, cy, sides)
        ax.plot(centres[: step + 1, 0], centres[: step + 1, 1], "-o", color=_PATH_COLOUR, ms=3)
        ax.plot(cx, cy, "x", color=_GLIMPSE_COLOUR, ms=7, mew=2)
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_title(f"glimpse {step + 1}", fontsize=9)
    handles = [
        Line2D([], [], color=_GLIMPSE_COLOUR, linestyle=style, label=f"scale {s + 1}: {side} px")
        for s, (side, style) in enumerate(zip(sides, _SCALE_STYLES * len(sides), strict=False))
    ]
    handles.append(Line2D([], [], color=_PATH_COLOUR, marker="o", ms=3, label="centres so far"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    fig.suptitle(title if title is not None else _headline("RAM", model, image, label))
    return save_figure(fig, path, dpi=100)


def plot_attention_maps(model, image, path=None, title=None, label=None):
    """Draws the attention of a `SoftGlimpseClassifier` at each step over one image.

    The first panel is the image; panel t + 1 shows the step-t weights over
    the feature grid, stretched to the image size (multi-head: mean over
    heads), on one colour scale for all steps (the colorbar), with the
    digit's outline drawn over them.

    Args:
        model: A `SoftGlimpseClassifier`.
        image: One image (H, W, C) or (H, W).
        path: Optional PNG path to save the figure to.
        title: Optional title; default: the attention variant, the true class
            (when `label` is given) and the predicted one.
        label: Optional true class of the image: an integer or a one-hot vector.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    image = _one_image(image)
    height, width = image.shape[:2]
    maps = np.asarray(model.attention_maps(image[None])[0])
    fig, axes = _panels(len(maps) + 1)
    _show(axes[0], image, first=True)
    axes[0].set_title("image", fontsize=9)
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    brightness = image.mean(axis=-1)
    top = max(float(maps.max()), 1e-12)
    heatmap = None
    for t, (ax, weights) in enumerate(zip(axes[1:], maps, strict=True), 1):
        _show(ax, image, first=t % _PANELS_PER_ROW == 0)
        heatmap = ax.imshow(
            weights, cmap="magma", vmin=0.0, vmax=top, extent=extent, interpolation="nearest"
        )
        ax.contour(brightness, levels=[0.5 * float(brightness.max())], colors="#4dd0e1")
        ax.set_title(f"step {t}", fontsize=9)
    fig.colorbar(heatmap, ax=list(axes), shrink=0.8, label="attention weight")
    outline = Line2D([], [], color="#4dd0e1", label="image outline (half the brightest pixel)")
    fig.legend(handles=[outline], loc="outside lower center", fontsize=8)
    name = f"{model.attention_name} attention"
    fig.suptitle(title if title is not None else _headline(name, model, image, label))
    return save_figure(fig, path, dpi=100)
