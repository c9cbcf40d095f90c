"""Sentences per second of the transformer translator's search, with and without its
key/value cache, on the dates task's inputs and on the long-dates task's (4x longer).

One untrained transformer translator per task (seeded; a search runs its `max_length`
steps whatever the weights, so training would not change the cost) translates the same
test sentences by greedy search (or beam search with `--beam-width`), cached and
uncached. Each setting is compiled by one warm-up call, then timed `--runs` times, the
two settings alternating; the table shows the median and the spread (min-max) of
sentences per second and checks that both decodings gave the same tokens. Every timed
run is appended to `--csv`.

    python -m attention_zoo.experiments.decode_bench --runs 3
"""

import csv
import os
import pathlib
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from attention_zoo.experiments.cli_base import _Parser, check_positive_options  # noqa: E402
from attention_zoo.zoo import Translator, translation_data  # noqa: E402
from attention_zoo.zoo.seq2seq import search  # noqa: E402

DEFAULT_CSV = pathlib.Path(__file__).resolve().parent / "results" / "decode_bench.csv"
# The dates task's pairs, and the long-dates task's: four dates per input and output.
TASKS = {"dates": 1, "long_dates": 4}
FIELDS = [
    "task", "use_cache", "run", "sentences", "seconds", "sentences_per_second",
    "source_length", "max_length", "beam_width", "units", "num_layers", "backend", "machine",
]  # fmt: skip


def machine():
    """The processor (its model name where Linux says it), CPU count and backend, in words."""
    name = platform.processor() or platform.machine()
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        name = models[0].split(":", 1)[1].strip() if models else name
    return f"{name}, {os.cpu_count()} CPUs, {keras.backend.backend()}"


def task_inputs(task, sentences, seed):
    """The pairs of `task` ("dates" or "long_dates") the search translates."""
    per_example = TASKS[task]
    if per_example == 1:
        return translation_data.dates(sentences, seed=seed)
    return translation_data.long_dates(sentences, seed=seed, dates_per_example=per_example)


def time_task(task, args):
    """Rows (one per timed run) of the cached and uncached search on `task`."""
    pairs = task_inputs(task, args.sentences, args.seed)
    keras.utils.set_random_seed(args.seed)
    translator = Translator.from_pairs(
        pairs, decoder="transformer", split="char", units=args.units, num_layers=args.num_layers
    )
    source_ids = translator.encode_sources([s for s, _ in pairs])
    max_length = args.max_length or translator.max_target_length
    runs, tokens, rows = {}, {}, []
    length_penalty = None if args.beam_width == 1 else 0.0
    for use_cache in (False, True):
        translator.decoder.use_cache = use_cache  # read when the first call traces
        runs[use_cache] = search.compiled_search(
            translator, args.beam_width, length_penalty, max_length
        )
        tokens[use_cache] = keras.ops.convert_to_numpy(runs[use_cache](source_ids)[0])
    translator.decoder.use_cache = True
    for i in range(args.runs):
        for use_cache in (False, True):  # alternating: a change of load hits both alike
            start = time.perf_counter()
            keras.ops.convert_to_numpy(runs[use_cache](source_ids)[0])
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "task": task,
                    "use_cache": use_cache,
                    "run": i,
                    "sentences": len(pairs),
                    "seconds": round(seconds, 4),
                    "sentences_per_second": round(len(pairs) / seconds, 2),
                    "source_length": source_ids.shape[1],
                    "max_length": max_length,
                    "beam_width": args.beam_width,
                    "units": args.units,
                    "num_layers": args.num_layers,
                    "backend": keras.backend.backend(),
                    "machine": machine(),
                }
            )
    return rows, bool(np.array_equal(tokens[True], tokens[False]))


def append_rows(path, rows):
    """Appends `rows` to the CSV at `path` atomically (a temporary file, then os.replace)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, newline="") as f:
        f.write(old)
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if not old:
            writer.writeheader()
        writer.writerows(rows)
    os.replace(f.name, path)


def summary(rows, same):
    """A Markdown table: per task, median and spread of sentences/s cached and uncached."""
    lines = [
        "| task | source length | max length | uncached sent/s | cached sent/s | speed-up "
        "| same tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        rates = {}
        for use_cache in (False, True):
            rates[use_cache] = [
                r["sentences_per_second"]
                for r in rows
                if r["task"] == task and r["use_cache"] == use_cache
            ]
        if not rates[True]:
            continue
        first = next(r for r in rows if r["task"] == task)
        cells = [f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})" for v in rates.values()]
        speedup = statistics.median(rates[True]) / statistics.median(rates[False])
        lines.append(
            f"| {task} | {first['source_length']} | {first['max_length']} | {cells[0]} "
            f"| {cells[1]} | {speedup:.1f}x | {'yes' if same[task] else 'NO'} |"
        )
    return "\n".join(lines)


def _parser():
    parser = _Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="dates,long_dates", help="comma-separated tasks")
    parser.add_argument("--sentences", type=int, default=256, help="test sentences per task")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per setting")
    parser.add_argument("--beam-width", type=int, default=1, help="1: greedy search")
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens each search generates (default: the task's longest target + [END])",
    )
    parser.add_argument("--units", type=int, default=32, help="translator units")
    parser.add_argument("--num-layers", type=int, default=1, help="transformer decoder blocks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model and sentences")
    parser.add_argument("--csv", default=str(DEFAULT_CSV), help="CSV the runs are appended to")
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    names = ["sentences", "runs", "beam_width", "units", "num_layers"]
    check_positive_options(parser, args, names + ["max_length"] * (args.max_length is not None))
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"--tasks must name tasks of {sorted(TASKS)}. Received: --tasks={args.tasks}")
    rows, same = [], {}
    for task in tasks:
        task_rows, same[task] = time_task(task, args)
        rows += task_rows
        append_rows(args.csv, task_rows)
    print(f"Machine: {machine()}; {args.sentences} sentences, beam width {args.beam_width}")
    print(summary(rows, same))
    print(f"Appended {len(rows)} runs to {args.csv}")
    return rows


if __name__ == "__main__":
    main()
