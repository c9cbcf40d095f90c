"""Pictures of a comparison: metric per variant, metric against time, kernel regression."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def metric_per_variant(rows, metric, path, title=None):
    """Bar chart of mean ± std of `metric` per variant; rows are leaderboard dicts."""
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(rows) + 2), 3.5))
    names = [r["variant"] for r in rows]
    means = [r["metric_mean"] for r in rows]
    stds = [r["metric_std"] for r in rows]
    colors = ["#999999" if n in ("none", "nonparametric") else "#3b75af" for n in names]
    ax.bar(names, means, yerr=stds, capsize=4, color=colors)
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per variant (mean ± std over seeds)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def metric_vs_time(rows, metric, path, title=None):
    """Scatter of `metric` against training seconds per epoch, one labelled point per variant."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in rows:
        ax.errorbar(
            r["train_seconds_per_epoch"], r["metric_mean"], yerr=r["metric_std"], fmt="o", capsize=3
        )
        ax.annotate(r["variant"], (r["train_seconds_per_epoch"], r["metric_mean"]), fontsize=8)
    ax.set_xlabel("training seconds per epoch")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} against training time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def kernel_regression_lesson(models, data, path):
    """Fits of each kernel-regression model over the truth, and their attention heatmaps.

    `models` maps a label ("nonparametric", "parametric") to a trained KernelRegression.
    """
    x_train, y_train = (np.asarray(a).reshape(-1) for a in data["train"])
    x_test, y_truth = (np.asarray(a).reshape(-1) for a in data["val"])
    fig, axes = plt.subplots(1, 1 + len(models), figsize=(4.2 * (1 + len(models)), 3.6))
    ax = axes[0]
    ax.plot(x_test, y_truth, "k-", label="truth")
    ax.plot(x_train, y_train, "o", color="#bbbbbb", ms=3, label="training samples")
    for label, model in models.items():
        ax.plot(x_test, np.asarray(model.predict(x_test, verbose=0)).reshape(-1), label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("Kernel regression as attention")
    ax.legend(fontsize=8)
    for ax, (label, model) in zip(axes[1:], models.items(), strict=True):
        weights = model.attention_weights(x_test)
        im = ax.imshow(
            weights,
            aspect="auto",
            cmap="Reds",
            extent=(x_train.min(), x_train.max(), x_test.max(), x_test.min()),
        )
        width = np.asarray(model.attention.width).reshape(-1)[0]
        ax.set_title(f"{label} (w = {width:.2f}): weights")
        ax.set_xlabel("training input (key)")
        ax.set_ylabel("test input (query)")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
