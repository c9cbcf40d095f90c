"""English -> French on Tatoeba pairs: every translator variant against Keras's NMT-tutorial model.

Protocol (from the data's README): shuffle the pairs with seed 0, the last
2,000 are the test set. Every run trains for the same CPU-time budget
(`--budget-seconds` of process CPU time, tracing included, one TensorFlow
thread), then translates the test sources greedily. Reported: corpus BLEU
(sacrebleu, `tokenize="none"`) and exact match, both against the references
written in the models' own word tokens (lowercase, punctuation split off),
mean +- std over `--seeds`. For the first seed, each zoo model also draws its
alignment of one test sentence (`OUT/alignment_<variant>.png`).

The baseline is built from Keras built-ins only, after TensorFlow's "Neural
machine translation with attention" tutorial: bidirectional GRU encoder
(directions summed), GRU decoder, `keras.layers.MultiHeadAttention(num_heads=1)`
cross-attention with a residual and layer norm, dense logits.

Run from the repository root:

    python -m attention_zoo.experiments.translation_benchmark \
        --data ../shared/data/fra-eng/fra.txt --budget-seconds 120 --seeds 0 1
"""

import csv
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from attention_zoo import layers  # noqa: E402
from attention_zoo.experiments import cli_base  # noqa: E402
from attention_zoo.zoo import Translator, translation_data  # noqa: E402
from attention_zoo.zoo.seq2seq import _tokenizer as _text  # noqa: E402
from attention_zoo.zoo.seq2seq.alignment_plots import plot_alignment  # noqa: E402

BUILTIN = "builtin_tf_tutorial"


def variants():
    """Name -> Translator kwargs of every variant the benchmark knows.

    Each score of `layers.available()` on the Luong decoder with both readouts
    (`luong_<score>`: tanh(W_c [c_t; s_t]); `luong_residual_<score>`:
    LayerNorm(s_t + c_t)) and on the Bahdanau decoder; `luong_none` and
    `luong_residual_none` without attention; the transformer decoder.
    """
    table = {
        f"luong_{name}": {"decoder": "luong", "attention": name} for name in layers.available()
    }
    table["luong_none"] = {"decoder": "luong", "attention": "none"}
    for name in [*layers.available(), "none"]:
        table[f"luong_residual_{name}"] = {
            "decoder": "luong",
            "attention": name,
            "readout": "residual",
        }
    for name in layers.available():
        table[f"bahdanau_{name}"] = {"decoder": "bahdanau", "attention": name}
    table["transformer_scaled_dot"] = {"decoder": "transformer", "attention": "scaled_dot"}
    return table


class _CPUBudget(keras.callbacks.Callback):
    """Stops training once the process has used `seconds` of CPU time since `start`."""

    def __init__(self, seconds, start):
        super().__init__()
        self.seconds, self.start, self.steps = seconds, start, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.process_time() - self.start >= self.seconds:
            self.model.stop_training = True


def _fit_for_budget(model, x, y, budget, batch_size, seed):
    start = time.process_time()
    stopper = _CPUBudget(budget, start)
    epochs = 0
    while not model.stop_training and time.process_time() - start < budget:
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[stopper])
        epochs += 1
    return stopper.steps, epochs, time.process_time() - start


class BuiltinTranslator:
    """The NMT-tutorial model from Keras built-ins, on the same token ids as `Translator`."""

    def __init__(self, template, units, embedding_dim, learning_rate):
        self.template = template  # a Translator: tokenization, vocabularies, max length
        source_size = len(template.source_vocabulary) + len(_text.RESERVED)
        target_size = len(template.target_vocabulary) + len(_text.RESERVED)
        self.units = units
        self.source_embedding = keras.layers.Embedding(source_size, embedding_dim)
        self.encoder_rnn = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True), merge_mode="sum"
        )
        self.target_embedding = keras.layers.Embedding(target_size, embedding_dim)
        self.decoder_rnn = keras.layers.GRU(units, return_sequences=True, return_state=True)
        self.attention = keras.layers.MultiHeadAttention(num_heads=1, key_dim=units)
        self.norm = keras.layers.LayerNormalization()
        self.logits = keras.layers.Dense(target_size)

        source = keras.Input((None,), dtype="int32", name="source")
        target_in = keras.Input((None,), dtype="int32", name="target_in")
        memory, source_mask = self._encode(source)
        logits, _, _ = self._decode(target_in, memory, source_mask, None)
        self.model = keras.Model({"source": source, "target_in": target_in}, logits)
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        )
        self._step = tf.function(self._one_step, reduce_retracing=True)

    def _encode(self, source):
        mask = keras.ops.not_equal(source, 0)
        return self.encoder_rnn(self.source_embedding(source), mask=mask), mask

    def _decode(self, target_in, memory, source_mask, state):
        x = self.target_embedding(target_in)
        x, state = self.decoder_rnn(x, initial_state=state)
        attention_mask = keras.ops.logical_and(
            keras.ops.expand_dims(keras.ops.ones_like(target_in, dtype="bool"), -1),
            keras.ops.expand_dims(source_mask, 1),
        )
        attended, weights = self.attention(
            x, memory, attention_mask=attention_mask, return_attention_scores=True
        )
        return self.logits(self.norm(x + attended)), state, weights

    def _one_step(self, token, state, memory, source_mask):
        logits, state, _ = self._decode(token[:, None], memory, source_mask, [state])
        return logits[:, 0], state

    def translate(self, texts, max_length):
        source_codec, target_codec = self.template._get_codecs()
        source = source_codec.encode(texts)
        memory, mask = self._encode(source)
        batch = tf.shape(source)[0]
        state = tf.zeros((batch, self.units))
        token = tf.fill([batch], _text.START)
        finished = tf.zeros([batch], tf.bool)
        never = tf.where(tf.range(self.logits.units) < _text.END, -1e9, 0.0)
        never = tf.where(tf.range(self.logits.units) == _text.UNK, 0.0, never)
        tokens = []
        for _ in range(max_length):
            logits, state = self._step(token, state, memory, mask)
            token = tf.argmax(logits + never, axis=-1, output_type=tf.int32)
            token = tf.where(finished, _text.PAD, token)
            finished = finished | tf.equal(token, _text.END)
            tokens.append(token)
            if bool(tf.reduce_all(finished)):
                break
        return [t.decode("utf-8") for t in target_codec.decode(tf.stack(tokens, 1)).numpy()]


def _normalized_references(template, targets):
    codec = template._get_codecs()[1]
    tokens = _text.tokenize(targets, codec.split, codec.lowercase).to_list()
    return [" ".join(t.decode("utf-8") for t in row) for row in tokens]


def _translate_in_batches(translate, texts, batch=500):
    out = []
    for i in range(0, len(texts), batch):
        out.extend(translate(texts[i : i + batch]))
    return out


def run_one(name, kwargs, train, test, args, seed):
    import sacrebleu

    keras.utils.set_random_seed(seed)
    common = {
        "units": args.units,
        "embedding_dim": args.units,
        "learning_rate": args.learning_rate,
    }
    template_kwargs = {} if name == BUILTIN else kwargs
    template = Translator.from_pairs(
        train, split="word", max_tokens=args.max_tokens, **common, **template_kwargs
    )
    x, y = template.encode_pairs(train)
    if name == BUILTIN:
        model = BuiltinTranslator(template, args.units, args.units, args.learning_rate)
        trainable, params = model.model, model.model.count_params()
    else:
        model, trainable, params = template, template, template.count_params()
    steps, epochs, cpu = _fit_for_budget(
        trainable, x, y, args.budget_seconds, args.batch_size, seed
    )
    sources = [s for s, _ in test]
    references = _normalized_references(template, [t for _, t in test])
    start = time.perf_counter()
    if name == BUILTIN:
        hypotheses = _translate_in_batches(
            lambda t: model.translate(t, template.max_target_length), sources
        )
    else:
        hypotheses = _translate_in_batches(template.translate, sources)
    decode_seconds = time.perf_counter() - start
    if name != BUILTIN and seed == args.seeds[0]:
        # The alignment of the first test sentence of 8 words or more, one picture per variant.
        text = next((s for s in sources if len(s.split()) >= 8), sources[0])
        plot_alignment(template, text, pathlib.Path(args.out) / f"alignment_{name}.png")
    # Hypotheses and references are already in the models' word tokens: no re-tokenizing.
    bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", force=True).score
    exact = float(np.mean([h == r for h, r in zip(hypotheses, references, strict=True)]))
    return {
        "variant": name,
        "seed": seed,
        "bleu": bleu,
        "exact_match": exact,
        "params": params,
        "train_steps": steps,
        "epochs_started": epochs,
        "train_cpu_seconds": round(cpu, 1),
        "budget_seconds": args.budget_seconds,
        "decode_seconds": round(decode_seconds, 1),
        "example": f"{sources[0]} => {hypotheses[0]} (ref: {references[0]})",
    }


def summarize(rows):
    """Mean and std (over seeds) of BLEU and exact match per variant, best BLEU first."""
    table = {}
    for row in rows:
        table.setdefault(row["variant"], []).append(row)
    summary = []
    for variant, runs in table.items():
        bleu = np.array([r["bleu"] for r in runs])
        exact = np.array([r["exact_match"] for r in runs])
        summary.append(
            {
                "variant": variant,
                "seeds": len(runs),
                "bleu_mean": bleu.mean(),
                "bleu_std": bleu.std(),
                "exact_mean": exact.mean(),
                "exact_std": exact.std(),
                "params": runs[0]["params"],
                "train_steps_mean": float(np.mean([r["train_steps"] for r in runs])),
            }
        )
    return sorted(summary, key=lambda s: -s["bleu_mean"])


def markdown(summary, args):
    lines = [
        f"English -> French, {args.budget_text}, seeds "
        f"{', '.join(sorted({str(r) for r in args.all_seeds}))}; BLEU and exact match on the "
        f"{args.test_size:,} test pairs.",
        "",
        "| variant | seeds | BLEU | exact match | params | train steps |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['variant']} | {s['seeds']} | {s['bleu_mean']:.2f} ± {s['bleu_std']:.2f} | "
            f"{100 * s['exact_mean']:.1f}% ± {100 * s['exact_std']:.1f} | {s['params']:,} | "
            f"{s['train_steps_mean']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _read_runs(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("seed", "params", "train_steps", "epochs_started"):
            row[key] = int(row[key])
        for key in ("bleu", "exact_match"):
            row[key] = float(row[key])
        if row.get("budget_seconds"):  # runs.csv files before this column lack it
            row["budget_seconds"] = float(row["budget_seconds"])
    return rows


def _budget_text(rows, budget_seconds):
    """The header's budget: the one each run recorded, else --budget-seconds if given."""
    recorded = sorted({r["budget_seconds"] for r in rows if r.get("budget_seconds")})
    if recorded:
        return f"{', '.join(f'{b:g}' for b in recorded)} s of CPU per run"
    if budget_seconds is not None:
        return f"{budget_seconds:g} s of CPU per run"
    return "CPU budget per run not recorded"


def _write_outputs(rows, args, out):
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(out / "runs.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize(rows)
    (out / "summary.md").write_text(markdown(summary, args), encoding="utf-8")
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)


def _parser():
    parser = cli_base._Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/fra-eng/fra.txt")
    parser.add_argument(
        "--budget-seconds", type=float, default=None, help="CPU seconds per run (default 120)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help=f"subset of: {BUILTIN} {' '.join(variants())} (default: all)",
    )
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-tokens", type=int, default=6000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--max-pairs", type=int, default=None, help="use only the first N pairs")
    parser.add_argument("--out", default="runs/translation_benchmark")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads per op")
    parser.add_argument(
        "--append", action="store_true", help="add to the runs already in OUT/runs.csv"
    )
    parser.add_argument(
        "--from-runs",
        nargs="+",
        default=None,
        help="only merge these runs.csv files into OUT's runs.csv and summary (no training)",
    )
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_runs:
        rows = [row for path in args.from_runs for row in _read_runs(path)]
        args.all_seeds = {r["seed"] for r in rows}
        args.budget_text = _budget_text(rows, args.budget_seconds)
        _write_outputs(rows, args, out)
        print(markdown(summarize(rows), args))
        return

    if args.budget_seconds is None:
        args.budget_seconds = 120.0
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    table = variants()
    names = args.variants or [BUILTIN, *table]
    unknown = [n for n in names if n != BUILTIN and n not in table]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {BUILTIN} {' '.join(table)}")
    pairs = translation_data.load_sentence_pairs(args.data)
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    train, test = translation_data.split_pairs(pairs, args.test_size, seed=0)
    print(f"{len(train)} training pairs, {len(test)} test pairs", flush=True)

    rows = []
    if args.append and (out / "runs.csv").exists():
        rows = _read_runs(out / "runs.csv")
    args.all_seeds = {r["seed"] for r in rows} | set(args.seeds)
    for seed in args.seeds:
        for name in names:
            row = run_one(name, table.get(name, {}), train, test, args, seed)
            rows.append(row)
            args.budget_text = _budget_text(rows, args.budget_seconds)
            print(
                f"{name:>24} seed {seed}: BLEU {row['bleu']:5.2f}  exact "
                f"{100 * row['exact_match']:5.1f}%  steps {row['train_steps']}  "
                f"| {row['example']}",
                flush=True,
            )
            _write_outputs(rows, args, out)
    print()
    print(markdown(summarize(rows), args))
    print(f"Wrote {out}/runs.csv, summary.csv, summary.md")


if __name__ == "__main__":
    main()
