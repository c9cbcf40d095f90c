"""Pictures of where the glimpse models look, saved as PNG (matplotlib, Agg backend)."""

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def _show(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=max(1.0, float(image.max())))
    else:
        ax.imshow(np.clip(image, 0.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])


def plot_glimpse_trajectory(model, image, path, title=None):
    """Draws the glimpses of a `RecurrentAttentionModel` on one image and saves a PNG.

    Each glimpse is drawn as one box per scale (the pixels the sensor reads),
    in the colour of its step, and numbered by step (1 = first) at its centre;
    a line joins the centres in order. The locations are the policy means,
    as used in prediction.

    Args:
        model: A `RecurrentAttentionModel`.
        image: One image (H, W, C) or (H, W).
        path: Where to write the PNG.
        title: Optional title; default: the predicted class.

    Returns:
        The locations drawn, NumPy (T, 2) as (row, column) in [-1, 1].
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    image = _one_image(image)
    height, width = image.shape[:2]
    locations = model.glimpse_locations(image[None])[0]
    predicted = int(np.argmax(model.predict(image[None], verbose=0)[0]))
    sensor = model.sensor
    colours = plt.get_cmap("autumn")(np.linspace(0.0, 1.0, len(locations)))
    fig, ax = plt.subplots(figsize=(4, 4))
    _show(ax, image)
    centres = []
    for step, ((row, col), colour) in enumerate(zip(locations, colours, strict=True), 1):
        cy, cx = (row + 1.0) / 2.0 * height, (col + 1.0) / 2.0 * width
        for s in range(sensor.num_scales):
            side = sensor.patch_size * sensor.scale_factor**s
            top, left = np.floor(cy - side / 2 + 0.5), np.floor(cx - side / 2 + 0.5)
            # Pixel i covers [i - 0.5, i + 0.5] in imshow's coordinates.
            ax.add_patch(
                Rectangle(
                    (left - 0.5, top - 0.5),
                    side,
                    side,
                    fill=False,
                    edgecolor=colour,
                    linewidth=1.5 if s == 0 else 0.8,
                )
            )
        ax.text(
            cx - 0.5, cy - 0.5, str(step), color=colour, ha="center", va="center", weight="bold"
        )
        centres.append((cx - 0.5, cy - 0.5))
    xs, ys = zip(*centres, strict=True)
    ax.plot(xs, ys, color="cyan", linewidth=0.8, alpha=0.7)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_title(title if title is not None else f"RAM, predicted {predicted}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return locations


def plot_attention_maps(model, image, path, title=None):
    """Draws the attention of a `SoftGlimpseClassifier` at each step over one image; saves a PNG.

    The first panel is the image; panel t + 1 overlays the step-t weights over
    the feature grid, stretched to the image size (multi-head: mean over heads).

    Args:
        model: A `SoftGlimpseClassifier`.
        image: One image (H, W, C) or (H, W).
        path: Where to write the PNG.
        title: Optional title; default: the attention variant and the predicted class.

    Returns:
        The attention maps drawn, NumPy (N, rows, cols).
    """
    plt = _pyplot()
    image = _one_image(image)
    height, width = image.shape[:2]
    maps = model.attention_maps(image[None])[0]
    predicted = int(np.argmax(model.predict(image[None], verbose=0)[0]))
    steps = len(maps)
    fig, axes = plt.subplots(1, steps + 1, figsize=(2.2 * (steps + 1), 2.6))
    _show(axes[0], image)
    axes[0].set_title("image")
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    for t, (ax, weights) in enumerate(zip(axes[1:], maps, strict=True), 1):
        _show(ax, image)
        ax.imshow(weights, cmap="jet", alpha=0.5, extent=extent, interpolation="nearest")
        ax.set_title(f"step {t} (max {weights.max():.2f})", fontsize=8)
    fig.suptitle(
        title if title is not None else f"{model.attention_name} attention, predicted {predicted}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return maps
