"""The command line for ratings files: ``mixrec`` (or ``python -m mixrec``, or ``python
main.py``, which hands these commands over): split, fit, recommend, predict, groups, sweep.

This module parses the arguments and hands each command to ``commands.py``, inside the
course's ``main.guarded``: every user error is one line on stderr and exit status 2 (Ctrl-C:
one line, 130; a closed pipe: quiet, 141).
"""
import argparse
import difflib
import os
import sys

import main as course_main
import mixrec
from mixrec import commands, display, lists
from mixrec import options as hyper
from mixrec.ratings import DUPLICATES

COMMANDS = ("split", "fit", "recommend", "predict", "groups", "sweep")


def main(argv=None, prog=None):
    """Run the command line; return its exit status.

    ``prog`` names the program in messages: ``MIXREC_PROG`` when ``main.py`` hands a
    command over, else ``mixrec``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = prog or os.environ.get("MIXREC_PROG") or "mixrec"

    def work():
        if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
            raise course_main.UsageError(unknown_command(argv[0], prog))
        args = command_parser(prog).parse_args(argv)
        return args.run(args) or 0
    return course_main.guarded(work, prog)


def unknown_command(word, prog="mixrec"):
    """The one-line error for a mistyped command: the valid ones, and the nearest."""
    near = difflib.get_close_matches(word, COMMANDS, n=1)
    return (f"{prog}: unknown command {display.safe(word)!r}"
            + (f" (did you mean {near[0]!r}?)" if near else "")
            + f"; the commands are {', '.join(COMMANDS)}")


def command_parser(prog="mixrec"):
    """The parser of every command (each with its own --help)."""
    parser = course_main.Parser(
        prog=prog, description="Ratings files: fit the mixture recommender, evaluate it, "
        "recommend, explain. Run a command with --help for its options.",
        epilog=f"{prog} COMMAND --help lists a command's options and their defaults.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s (mixrec) {mixrec.__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       metavar="{" + ",".join(COMMANDS) + "}",
                                       parser_class=course_main.Parser)
    for add in (_split_parser, _fit_parser, _recommend_parser, _predict_parser, _groups_parser,
                _sweep_parser):
        add(subparsers)
    for command in subparsers.choices.values():
        command.add_argument("-q", "--quiet", action="store_true",
                             help="no progress on stderr (default: progress shown)")
    return parser


COLUMNS_HELP = ("each column's role, in order, when the file has no header or names its "
                "columns otherwise: e.g. user,item,rating,timestamp ('-' leaves a column "
                "out; default: the header's names, else in that order)")
DUPLICATES_HELP = ("a pair rated more than once: " + "; ".join(
    f"{name}: {what}" for name, what in DUPLICATES.items())
    + " (default: latest where there are timestamps, else mean)")


def _file_options(command, duplicates=True):
    command.add_argument("--columns", metavar="ROLES", help=COLUMNS_HELP)
    if duplicates:
        command.add_argument("--duplicates", choices=list(DUPLICATES), default=None,
                             help=DUPLICATES_HELP)


def _split_parser(subparsers):
    split = subparsers.add_parser(
        "split", help="split a ratings file into a training and a test file",
        description="Write a reproducible split of a ratings file: each data line goes, as "
                    "written, to the training or the test file (the header to both); every "
                    "user keeps at least one training rating, and the lines of a pair rated "
                    "twice go together. Both files are written, or neither.")
    split.add_argument("ratings", help="a ratings file (plain, .gz, .bz2, .xz or .zip)")
    split.add_argument("--test-fraction", type=float, default=0.1,
                       help="fraction of the ratings in the test file (default 0.1)")
    split.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    split.add_argument("--out-train", required=True, help="the training file to write")
    split.add_argument("--out-test", required=True, help="the test file to write")
    _file_options(split)
    split.set_defaults(run=commands.split_command)


def _fit_parser(subparsers):
    fit = subparsers.add_parser(
        "fit", help="fit the recommender, evaluate it, save it",
        description="Fit the mixture recommender to a ratings file and save it. The saved "
                    "model is fitted on every rating of RATINGS, unless --keep-evaluated.")
    fit.add_argument("ratings", help="a ratings file (plain, .gz, .bz2, .xz or .zip)")
    fit.add_argument("--out", required=True, help="the model file to write (.npz)")
    held = fit.add_mutually_exclusive_group()
    held.add_argument("--test", help="a ratings file to evaluate on (ids as in RATINGS); the "
                                     "model is fitted on all of RATINGS (default: none)")
    held.add_argument("--holdout", type=float, default=0.0,
                      help="evaluate on this fraction of RATINGS, held out of a first fit; "
                           "the saved model is then refitted on every rating (default 0: "
                           "no evaluation)")
    fit.add_argument("--keep-evaluated", action="store_true",
                     help="with --holdout: save the evaluated model, fitted without the "
                          "held-out ratings, instead of refitting (default: refit)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the EM starts (default 0)")
    _file_options(fit)
    fit.add_argument("--scheduler", metavar="ADDRESS",
                     help="fit on a running Dask cluster, e.g. tcp://10.0.0.5:8786 (needs "
                          "dask[distributed]; default: this machine)")
    fit.add_argument("--plot", metavar="FILE.png",
                     help="draw each EM run's log-likelihood and the held-out RMSEs (.png, "
                          ".pdf or .svg; needs matplotlib; default: no plot)")
    options = fit.add_argument_group("hyper-parameters (mixrec.DEFAULTS)")
    for name, value in hyper.DEFAULTS.items():
        kind = (switch if name in hyper.SWITCHES else int if name in hyper.INTEGERS
                else float)
        shown = (value if value is not None else "none: --variance-floor applies"
                 if name == "min_variance" else "auto")
        shown = {True: "on", False: "off"}.get(shown, shown)
        options.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                             metavar="on|off|auto" if kind is switch else None,
                             help=f"{hyper.HELP[name]} (default {shown})")
    fit.set_defaults(run=commands.fit_command)


def switch(text):
    """An on/off option's value: True, False, or None for auto (the default's rule)."""
    values = {"on": True, "off": False, "auto": None}
    if text not in values:
        raise argparse.ArgumentTypeError(f"expected on, off or auto, got {text!r}")
    return values[text]


def _recommend_parser(subparsers):
    recommend = subparsers.add_parser(
        "recommend", help="the best items for a user, a new user or every user",
        description="List the best items a user has not rated: by default ranked by the "
                    "chance of a relevant rating (the best lists), each with the chance, the "
                    "predicted rating and its own standard deviation.")
    who = recommend.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the user's id, as written in the ratings file")
    who.add_argument("--ratings", metavar="FILE",
                     help="a new user's 'item rating [timestamp]' lines: placed without a "
                          "refit")
    who.add_argument("--all", action="store_true",
                     help="every user's list, to --out as CSV: user,rank,item,score,std,key")
    recommend.add_argument("model", help="a model file written by fit")
    recommend.add_argument("-n", type=int, default=10, help="items per list (default 10)")
    recommend.add_argument("--items", help="movies.csv or u.item, for titles (default: none)")
    order = recommend.add_mutually_exclusive_group()
    order.add_argument("--ranking", choices=list(lists.RANKINGS),
                       default=lists.DEFAULT_RANKING,
                       help="what lists are ranked by: " + "; ".join(
                           f"{name}: {what}" for name, what in lists.RANKINGS.items())
                       + f" (default {lists.DEFAULT_RANKING})")
    order.add_argument("--relevant", action="store_true",
                       help="the same as --ranking relevance (default: off)")
    order.add_argument("--cautious", action="store_true",
                       help="the same as --ranking cautious (default: off)")
    recommend.add_argument("--columns", metavar="ROLES",
                           help="with --ratings: its columns' roles, e.g. item,rating "
                                "(default: the header's names, else item,rating,timestamp)")
    recommend.add_argument("--out", help="with --all: the CSV file to write (default: none; "
                                          "--all needs it)")
    recommend.set_defaults(run=commands.recommend_command)


def _predict_parser(subparsers):
    predict = subparsers.add_parser(
        "predict", help="predict the ratings of (user, item) pairs",
        description="Predict each pair of PAIRS ('user item' lines, or ratings lines, whose "
                    "timestamp gives the day bias) and write CSV: a header, then "
                    "user,item,prediction[,std] per pair, ids as written, a chunk at a time. "
                    "A pair with an unknown user or item gets the baseline (counted on "
                    "stderr).")
    predict.add_argument("model", help="a model file written by fit")
    predict.add_argument("pairs", help="'user item [rating [timestamp]]' lines (plain, .gz, "
                                       ".bz2, .xz or .zip)")
    predict.add_argument("--std", action="store_true",
                         help="add the predictive standard deviation (default: no)")
    predict.add_argument("--columns", metavar="ROLES",
                         help="the pairs' columns' roles, e.g. item,user (default: the "
                              "header's names, else user,item,rating,timestamp)")
    predict.add_argument("--out", help="the CSV file to write (default: standard output)")
    predict.set_defaults(run=commands.predict_command)


def _groups_parser(subparsers):
    groups = subparsers.add_parser(
        "groups", help="the model's taste groups of users",
        description="Each taste group: its share of users and the items it rates most above "
                    "and below what the baseline predicts.")
    groups.add_argument("model", help="a model file written by fit")
    groups.add_argument("--items", help="movies.csv or u.item, for titles (default: none)")
    groups.add_argument("-n", type=int, default=5, help="items named per side (default 5)")
    groups.add_argument("--min-ratings", type=int, default=20,
                        help="name only items with at least this many ratings (default 20)")
    groups.set_defaults(run=commands.groups_command)


def _sweep_parser(subparsers):
    sweep = subparsers.add_parser(
        "sweep", help="the course's model, K by K, on a ratings file",
        description="Fit the course's model at each K on a training split and compare its "
                    "held-out RMSE with the global mean and the item means. Every line of "
                    "the file is a rating, 0 included: the sweep fits the stored pattern.")
    sweep.add_argument("ratings", help="a ratings file (plain, .gz, .bz2, .xz or .zip)")
    sweep.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8, 12, 16],
                       help="numbers of components (default 1 2 4 8 12 16)")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                       help="initialisation seeds; the best run per K is kept (default 0 1 2)")
    sweep.add_argument("--holdout", type=float, default=0.1,
                       help="fraction of the ratings held out (default 0.1)")
    _file_options(sweep)
    sweep.set_defaults(run=commands.sweep_command)
