"""The comparison's results: leaderboard rows, their Markdown, JSON and CSV files and plots,
and the best model of each variant."""

import csv
import io
import json
import os
import pathlib
import shutil

import keras

from attention_zoo.experiments import plots
from attention_zoo.experiments.sweep_state import _atomic_write_json, _atomic_write_text


def _row(task, record, **measured):
    """A leaderboard row; every row has the same keys, None where nothing was measured."""
    return {
        "model": task.name,
        "variant": record["variant"],
        "metric": task.objective[0],
        "metric_mean": None,
        "metric_std": None,
        "seeds": 0,
        "params": None,
        "train_seconds_per_epoch": None,
        "inference_ms_per_example": None,
        **measured,
        "status": record.get("status", "ok"),
        "reason": record.get("reason"),
        "hyperparameters": record["hyperparameters"],
        "trial_id": record["trial_id"],
    }


def _save_best(task, data, rows, out):
    best_dir = out / "best" / task.name
    best_dir.mkdir(parents=True, exist_ok=True)
    models = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        src = out / "trials" / task.name / row["trial_id"] / "model.keras"
        dst = best_dir / f"{row['variant']}.keras"
        tmp = best_dir / f".{row['variant']}.{os.getpid()}.tmp"
        shutil.copyfile(src, tmp)  # whole or absent, as every file the sweep writes
        os.replace(tmp, dst)
        model = keras.saving.load_model(dst)
        models[row["variant"]] = model
        if task.picture(model, data, best_dir / f"{row['variant']}.png"):
            row["picture"] = str(best_dir / f"{row['variant']}.png")
    (out / "plots").mkdir(parents=True, exist_ok=True)
    if models:
        task.overview(models, data, out / "plots" / f"{task.name}_overview.png")


def failure_summary(rows, out):
    """One line on the trials that failed, or None when none did."""
    failed = [r for r in rows if r["status"] == "failed"]
    if not failed:
        return None
    names = ", ".join(f"{r['model']}/{r['variant']} (trial {r['trial_id']})" for r in failed)
    return (
        f"{len(failed)} trial{'s' if len(failed) > 1 else ''} failed: {names}; the reasons are "
        f"in the leaderboard, the tracebacks in {out}/trials/<model>/<trial>/error.log"
    )


def format_leaderboard(rows):
    lines = [
        "| model | variant | metric | mean ± std | seeds | params | train s/epoch "
        "| infer ms/example |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["status"] != "ok":
            reason = r["reason"].replace("|", "\\|")
            lines.append(
                f"| {r['model']} | {r['variant']} | {r['metric']} | "
                f"{r['status']}: {reason} | {r['seeds']} | – | – | – |"
            )
            continue
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['metric']} | "
            f"{r['metric_mean']:.4f} ± {r['metric_std']:.4f} | {r['seeds']} | {r['params']:,} | "
            f"{r['train_seconds_per_epoch']:.3f} | {r['inference_ms_per_example']:.3f} |"
        )
    return "\n".join(lines)


def write_leaderboard(rows, out):
    out = pathlib.Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    _atomic_write_text(out / "leaderboard.md", format_leaderboard(rows) + "\n")
    _atomic_write_json(out / "leaderboard.json", rows)
    fields = [k for k in rows[0] if k != "hyperparameters"] + ["hyperparameters"] if rows else []
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "hyperparameters": json.dumps(r["hyperparameters"])})
    _atomic_write_text(out / "leaderboard.csv", text.getvalue())
    for model in dict.fromkeys(r["model"] for r in rows):
        model_rows = [r for r in rows if r["model"] == model and r["status"] == "ok"]
        if not model_rows:
            continue
        metric = model_rows[0]["metric"]
        plots.metric_per_variant(
            model_rows, metric, out / "plots" / f"{model}_metric.png", title=f"{model}: {metric}"
        )
        plots.metric_vs_time(
            model_rows, metric, out / "plots" / f"{model}_time.png", title=f"{model}: cost"
        )
