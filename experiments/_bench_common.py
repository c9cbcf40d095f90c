"""What the layer benchmark's two modes share: the variants, how a layer is built, one
configuration in its own subprocess, the selection of the plan and the written table.
"""

import csv
import json
import os
import subprocess
import sys

MODEL_DIM = 256
HEADS = 8
UNITS = 128

# name -> (what it is, the built-in it is compared with or None for a built-in). Each of
# ours is built with its `defaults_in_model(MODEL_DIM, HEADS)` (8 heads where it splits
# heads) plus PAIRED_KWARGS; any other registry name may be run (--variants), unpaired.
VARIANTS = {
    "keras.MultiHeadAttention": ("keras.layers.MultiHeadAttention(8 heads)", None),
    "multi_head": ("ours, MultiHeadAttention(8 heads, scaled_dot)", "keras.MultiHeadAttention"),
    "keras.Attention": ("keras.layers.Attention(use_scale=True)", None),
    "scaled_dot": ("ours, ScaledDotAttention", "keras.Attention"),
    "keras.ops.dot_product_attention": ("keras.ops.dot_product_attention, 8 heads", None),
    "keras.AdditiveAttention": ("keras.layers.AdditiveAttention", None),
    "additive": ("ours, AdditiveAttention(units=128)", "keras.AdditiveAttention"),
}
# What our layer of a pair needs to match the size of its built-in (the built-in
# additive score is a tanh over all D = 256 features: half of them for ours).
PAIRED_KWARGS = {"additive": {"units": UNITS}}
DOT_FAMILY = [
    "keras.MultiHeadAttention",
    "multi_head",
    "keras.Attention",
    "scaled_dot",
    "keras.ops.dot_product_attention",
]
ADDITIVE = ["keras.AdditiveAttention", "additive"]


def _reference(variant):
    """The built-in `variant` is compared with; None for a built-in or an unpaired variant."""
    return VARIANTS.get(variant, (None, None))[1]


def _status_kb(field, path="/proc/self/status"):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in {path}")


def _make_layer(variant, seq_len, dtype=None, mask=None):
    """The layer (None for a plain function) and a map x -> (call args, call kwargs).

    `dtype` is a dtype policy name (None: the global one); `mask`, a (B, T)
    boolean key padding mask, is passed the way each layer takes it.
    """
    import keras

    from attention_zoo import layers

    shape = (None, seq_len, MODEL_DIM)
    policy = {} if dtype is None else {"dtype": dtype}
    if variant == "keras.ops.dot_product_attention":

        def attend(x):
            heads = keras.ops.reshape(x, (x.shape[0], seq_len, HEADS, MODEL_DIM // HEADS))
            padding = None if mask is None else mask[:, None, None, :]
            out = keras.ops.dot_product_attention(heads, heads, heads, mask=padding)
            return keras.ops.reshape(out, x.shape)

        return None, attend
    if variant == "keras.MultiHeadAttention":
        layer = keras.layers.MultiHeadAttention(HEADS, MODEL_DIM // HEADS, **policy)
        layer.build(shape, shape)
    elif variant in ("keras.Attention", "keras.AdditiveAttention"):
        layer = (
            keras.layers.Attention(use_scale=True, **policy)
            if variant == "keras.Attention"
            else keras.layers.AdditiveAttention(**policy)
        )
        layer.build([shape, shape])
        return layer, lambda x: (([x, x],), {} if mask is None else {"mask": [None, mask]})
    else:
        kwargs = layers.get_class(variant).defaults_in_model(MODEL_DIM, HEADS)
        kwargs.update(PAIRED_KWARGS.get(variant, {}))
        layer = layers.get(variant, **kwargs, **policy)
        layer.build(shape, shape)
    return layer, lambda x: ((x, x), {} if mask is None else {"value_mask": mask})


def _run_config(spec, backend, timeout):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "attention_zoo.experiments.bench", "--child", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {proc.returncode}: {tail[0][:120]}"}


COLUMNS = [
    "variant",
    "B",
    "T",
    "mode",
    "ms fwd+bwd",
    "peak GB",
    "vs",
    "time ratio",
    "memory ratio",
    "paired ratio",
]


def format_markdown(rows, columns=COLUMNS):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def _select(plan, args, parser, batch_at, length_at):
    """The configurations of `plan` that --variants and --lengths keep, at --batch if given.

    Each configuration is a tuple whose first item is the variant, its `batch_at`-th
    the batch size and its `length_at`-th the length.
    """
    if args.variants:
        _check_variants(args.variants, parser)
        sizes = list(dict.fromkeys(p[1:] for p in plan))
        planned = {p[0] for p in plan}
        plan = [p for p in plan if p[0] in args.variants]
        plan += [(v, *size) for v in args.variants if v not in planned for size in sizes]
    if args.lengths:
        plan = [p for p in plan if p[length_at] in args.lengths]
    if args.batch is not None:
        if args.batch <= 0:
            parser.error(f"--batch must be a positive integer. Received: --batch={args.batch}")
        plan = list(dict.fromkeys((*p[:batch_at], args.batch, *p[batch_at + 1 :]) for p in plan))
    return plan


def _check_variants(names, parser):
    from attention_zoo import layers

    known = [*VARIANTS, *layers.available()]
    for name in names:
        if name not in known:
            parser.error(
                f"--variants takes names of {', '.join(dict.fromkeys(known))}. "
                f"Received: --variants {name}"
            )


def _write(stem, rows, table, columns):
    """`stem`.csv (the rows) and `stem`.md (the table)."""
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    stem.with_suffix(".md").write_text(table + "\n")
    print(f"Wrote {stem}.csv and {stem}.md")
