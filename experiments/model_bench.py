"""Training steps per second of the reference models: our attention layers vs the Keras built-ins.

Each case builds a reference model twice, identical but for one layer: once
with our attention layer, once with the Keras built-in that computes the same
function, wrapped in a thin adapter that takes our call arguments. Same data,
same optimizer, same weights count (checked). Each model is compiled by its
constructor; a step is one `train_on_batch` call, timed after `--warmup`
untimed steps (tracing, and the first steps, which run slow).

- text_transformer: `TextClassifier(encoder="transformer")`, our
  `MultiHeadAttention` against `keras.layers.MultiHeadAttention`;
- translator_luong_dot: `Translator(decoder="luong", attention="dot")`, our
  `DotAttention` against `keras.layers.Attention()`;
- soft_glimpse_dot: `SoftGlimpseClassifier(attention="dot")`, our
  `DotAttention` against `keras.layers.Attention()`.

The two models of a case are timed in alternation (`--rounds` rounds of
`--steps` steps each, the first model of a round alternating too), so a
change in the machine's load hits both alike;
the median steps per second over the rounds is reported, and the ratio ours /
built-in (above 1: ours trains faster).

    python -m attention_zoo.experiments.model_bench --rounds 5 --steps 20
"""

import argparse
import csv
import os
import pathlib
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from attention_zoo import zoo  # noqa: E402
from attention_zoo.experiments.cli_base import check_positive_options  # noqa: E402


class BuiltinAdapter(keras.layers.Layer):
    """Calls a Keras built-in attention layer with our layers' arguments.

    `keras.layers.Attention` takes `[query, value]` and a list of masks;
    `keras.layers.MultiHeadAttention` takes one (B, Tq, Tv) `attention_mask`.
    """

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def build(self, query_shape, value_shape):
        if isinstance(self.inner, keras.layers.MultiHeadAttention):
            self.inner.build(query_shape, value_shape)
        else:
            self.inner.build([query_shape, value_shape])
        self.built = True

    def call(
        self,
        query,
        value,
        query_mask=None,
        value_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        if isinstance(self.inner, keras.layers.MultiHeadAttention):
            mask = None
            if query_mask is not None or value_mask is not None:
                q = ops.ones(ops.shape(query)[:2], "bool") if query_mask is None else query_mask
                v = ops.ones(ops.shape(value)[:2], "bool") if value_mask is None else value_mask
                mask = ops.logical_and(ops.expand_dims(q, -1), ops.expand_dims(v, 1))
            return self.inner(
                query,
                value,
                attention_mask=mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
        masks = None
        if query_mask is not None or value_mask is not None:
            masks = [query_mask, value_mask]
        return self.inner(
            [query, value],
            mask=masks,
            return_attention_scores=return_attention_scores,
            training=training,
        )


def _text_transformer(builtin, batch_size):
    from attention_zoo.zoo import text_data

    length, dim, heads = 128, 128, 4
    model = zoo.TextClassifier(
        vocab_size=100,
        sequence_length=length,
        embed_dim=dim,
        encoder="transformer",
        attention="none",
        num_heads=heads,
    )
    if builtin:
        model.self_attention = BuiltinAdapter(
            keras.layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads),
            name="self_attention",
        )
    x, y = text_data.make_token_task(batch_size, max_length=length, seed=0)
    return model, x, y


def _translator_luong_dot(builtin, batch_size):
    from attention_zoo.zoo import translation_data

    pairs = translation_data.dates(batch_size, seed=0)
    model = zoo.Translator(decoder="luong", attention="dot", units=128, embedding_dim=64)
    if builtin:
        # The constructor already built the decoder, so Keras refuses a new sublayer; the
        # dot score has no weights, so the swap can bypass the tracking (sizes are checked).
        adapter = BuiltinAdapter(keras.layers.Attention(), name="attention")
        adapter.build((None, None, 128), (None, None, 128))
        object.__setattr__(model.decoder, "attention", adapter)
    x, y = model.encode_pairs(pairs)
    return model, x, y


def _soft_glimpse_dot(builtin, batch_size):
    from attention_zoo.zoo.vision.image_data import load_digits_canvas

    model = zoo.SoftGlimpseClassifier(image_shape=(32, 32, 1), attention="dot")
    if builtin:
        model.attention = BuiltinAdapter(keras.layers.Attention(), name="attention")
    x, y = load_digits_canvas(batch_size, canvas_size=32, seed=0)
    return model, x, y


CASES = {
    "text_transformer": (_text_transformer, "keras.layers.MultiHeadAttention"),
    "translator_luong_dot": (_translator_luong_dot, "keras.layers.Attention"),
    "soft_glimpse_dot": (_soft_glimpse_dot, "keras.layers.Attention"),
}


def _steps_per_second(model, x, y, steps):
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps / (time.perf_counter() - start)


def run_case(name, batch_size, rounds, steps, warmup=10, seed=0):
    """Median steps/s of ours and of the built-in, timed in alternation."""
    factory, builtin_name = CASES[name]
    models = {}
    for key in ("ours", "builtin"):
        keras.utils.set_random_seed(seed)
        model, x, y = factory(key == "builtin", batch_size)
        for _ in range(warmup):  # build, trace; the first steps after tracing run slow
            model.train_on_batch(x, y)
        models[key] = (model, x, y)
    params = {key: int(m.count_params()) for key, (m, _, _) in models.items()}
    if params["ours"] != params["builtin"]:
        raise RuntimeError(f"{name}: the two models differ in size: {params}")
    rates = {"ours": [], "builtin": []}
    for round_ in range(rounds):
        # The order alternates too, so that neither model always runs right after the other.
        for key in ("ours", "builtin") if round_ % 2 == 0 else ("builtin", "ours"):
            rates[key].append(_steps_per_second(*models[key], steps))
    ours, builtin = statistics.median(rates["ours"]), statistics.median(rates["builtin"])
    return {
        "case": name,
        "builtin": builtin_name,
        "batch_size": batch_size,
        "params": params["ours"],
        "ours_steps_per_s": round(ours, 2),
        "builtin_steps_per_s": round(builtin, 2),
        "ratio": round(ours / builtin, 3),
    }


def markdown(rows):
    lines = [
        "| case | built-in | B | params | ours steps/s | built-in steps/s | ours / built-in |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['builtin']} | {r['batch_size']} | {r['params']:,} | "
            f"{r['ours_steps_per_s']:.2f} | {r['builtin_steps_per_s']:.2f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--cases", nargs="+", choices=sorted(CASES), default=list(CASES), help="what to time"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the two models")
    parser.add_argument("--steps", type=int, default=20, help="steps per round and model")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per model")
    parser.add_argument("--out", default="runs/model_bench", help="folder of the tables")
    args = parser.parse_args(argv)
    check_positive_options(parser, args, ("batch_size", "rounds", "steps"))
    rows = []
    for name in args.cases:
        row = run_case(name, args.batch_size, args.rounds, args.steps, args.warmup)
        rows.append(row)
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model_bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows)
    (out / "model_bench.md").write_text(table + "\n")
    print()
    print(table)
    print(
        f"\n{keras.backend.backend()} backend, Keras {keras.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"median of {args.rounds} rounds of {args.steps} steps."
    )
    return 0


if __name__ == "__main__":
    main()
