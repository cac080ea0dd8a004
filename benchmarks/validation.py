"""Benchmark: how the defaults were chosen, on validation ratings inside each training file.

    python -m benchmarks.validation [--datasets NAME ...] [--configs NAME ...]
                                    [--data-dir DIR] [--json FILE]

For each dataset of the suite, its training file alone is read (a pair rated twice merged by
``mixrec.ratingsfile.read``'s default policy), 10% of it is held out (``mixrec.holdout``,
seed 0, with the timestamps when the file has them) and every configuration below is
fitted on the other 90% and scored on the held-out tenth: RMSE, the share within one and
two predicted standard deviations, and the fit's wall and CPU seconds. No test file is
read. A dataset whose folder is missing is said and skipped.

The configurations are the defaults and one change each from them, with the previous
round's defaults (fixed capacity, day biases always, the stages summed) for the path:
"""
import argparse
import json
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run by path: the checkout's root holds mixrec
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mixrec  # noqa: E402
from mixrec import metrics, ratingsfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "..", "..", "shared", "data")
TRAINING_FILES = {
    "ml-latest-small": "ml-latest-small/ratings_train.csv",
    "movietweetings-100k": "suite/movietweetings-100k/train.csv.xz",
    "filmtrust": "suite/filmtrust/train.csv.xz",
    "epinions-tang": "suite/epinions-tang/train.csv.xz",
}
CONFIGS = {
    "defaults": {},
    "previous defaults": {"item_components": 16, "item_stages": 3, "day_biases": True,
                          "blend_holdout": 0.0},
    "stages only (blend_holdout = 0)": {"blend_holdout": 0.0},
    "no neighbour stages (neighbours = 0)": {"neighbours": 0},
    "day biases on": {"day_biases": True},
    "day biases off": {"day_biases": False},
    "K = 16, 3 item stages": {"item_components": 16, "item_stages": 3},
    "neighbours = 100": {"neighbours": 100},
    "neighbour_temperature = 0.2": {"neighbour_temperature": 0.2},
    "learned bias pseudo-counts": {"user_reg": None, "item_reg": None},
}
__doc__ += "".join(f"\n- {name}: {changes or 'as they are'}" for name, changes in
                   CONFIGS.items())


def held_out(path):
    """The training file's 90% and its held-out 10%: (X, its times or None, the held-out
    ratings as ``mixrec.holdout`` gives them, their times or None)."""
    ratings = ratingsfile.read(path)  # with the merge policy's default for repeated pairs
    times = ratings.times if np.isfinite(ratings.times).any() else None
    if times is None:
        X, hidden = mixrec.holdout(ratings.X, 0.1, seed=0)
        return X, None, hidden, None
    X, hidden, fit_times, hidden_times = mixrec.holdout(ratings.X, 0.1, seed=0, times=times)
    return X, fit_times, hidden, hidden_times


def score(X, times, hidden, hidden_times, changes):
    """Fit with the changes and score the held-out ratings: a dict of figures. Without
    timestamps, a change of the day biases is left out (the previous defaults')."""
    if times is None:
        changes = {k: v for k, v in changes.items() if k != "day_biases"}
    wall, cpu = time.perf_counter(), time.process_time()
    model = mixrec.fit(X, times=times, seed=0, **changes)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pred, std = mixrec.predict(model, hidden.rows, hidden.cols, return_std=True,
                               times=hidden_times)
    within_one, within_two = metrics.within_std(hidden.values, pred, std)
    return {"rmse": float(np.sqrt(np.mean((pred - hidden.values) ** 2))),
            "within_one": within_one, "within_two": within_two,
            "fit_s": wall, "fit_cpu_s": cpu, "stages": len(model.stage_sides),
            "day_biases": bool(len(model.days)), "std_factor": float(model.std_factor)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DIR)
    parser.add_argument("--datasets", nargs="+", choices=list(TRAINING_FILES),
                        default=list(TRAINING_FILES))
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = {}
    for name in args.datasets:
        path = os.path.join(args.data_dir, TRAINING_FILES[name])
        if not os.path.exists(path):
            print(f"{name}: {path} is missing; skipped", flush=True)
            continue
        X, times, hidden, hidden_times = held_out(path)
        print(f"\n{name}: {X.shape[0]} users x {X.shape[1]} items, {X.nnz} ratings fitted, "
              f"{len(hidden.values)} held out{', with timestamps' if times is not None else ''}"
              f"\n\n| configuration | validation RMSE | within 1 / 2 std | fit (CPU) |\n"
              "| --- | ---: | ---: | ---: |", flush=True)
        figures[name] = {}
        for config in args.configs:
            if times is None and config.startswith("day biases"):
                continue
            got = figures[name][config] = score(X, times, hidden, hidden_times,
                                                CONFIGS[config])
            print(f"| {config} | {got['rmse']:.4f} | {100 * got['within_one']:.1f}% / "
                  f"{100 * got['within_two']:.1f}% | {got['fit_s']:.1f} s "
                  f"({got['fit_cpu_s']:.1f} s) |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
