"""The fit's hyper-parameters: their defaults, what each does, their checks, and the rules
that choose the ones left to the data.

Three are the data's unless given (``None``):

- ``item_components`` and ``item_stages``, by ``capacity``: an item stage's component means
  live in user space, and a user's coordinate of a mean is estimated from the ratings that
  user gave the component's items, about ``n_u / K`` of them; so K follows the mean number
  of ratings per user.
- ``day_biases``: with timestamps, the baseline with and without a bias per user and day is
  fitted on 90% of the training ratings and judged on the other 10% (``ensemble.py``); they
  stay only where they earn their place.

The rules were chosen by validation inside the training files of four datasets at once
(MovieLens small, MovieTweetings, FilmTrust, Epinions; the README has the figures), never on
a test file.
"""
from common import check_integer, check_number, is_real
from mixrec.baseline import MAX_REG
from mixrec.model import KNN_SETTINGS, RELATIVE_VARIANCE_RANGE

DEFAULTS = {
    "item_components": None,  # K of each mixture with items as rows (None: capacity)
    "user_components": 4,   # K of each mixture with users as rows
    "item_stages": None,    # stages of mixtures with items as rows (None: capacity)
    "user_stages": 1,       # then stages with users as rows
    "n_seeds": 10,          # EM runs averaged at each stage
    "pattern_weight": 0.5,  # weight of the pattern of ratings in the item stages' E-steps
    "pattern_smoothing": 1.0,  # pseudo-count of that pattern's distributions
    "mean_prior": 5.0,      # lambda: pseudo-count shrinking each component mean toward 0
    "variance_floor": 1.0,  # floor of every component variance, in units of the baseline's
                            # own residual variance (scale-free): softer posteriors
    "min_variance": None,   # or that floor in the ratings' own units (squared), if given
    "tol": 1e-4,            # EM stops when the log-likelihood improves by less (relative)
    "max_iter": 10,         # and after this many iterations at the most
    "stage_rank": 48,       # columns each stage with items as rows is compressed to
    "user_reg": 15.0,       # baseline: pseudo-count of the user biases (None: learned)
    "item_reg": 10.0,       # of the item biases (None: learned)
    "day_reg": 5.0,         # of the user-day biases (with timestamps)
    "day_biases": None,     # True, False, or None: kept where they earn their place
    "bias_epochs": 10,      # alternating updates of the biases
    "neighbours": 200,      # neighbours kept per item and per user (0: no neighbour stages)
    "neighbour_temperature": 0.1,  # T of the neighbours' log weights
    "neighbour_shrink": 50.0,  # co-raters' worth of the prior shrinking a weight to the null
    "neighbour_null": 3.0,  # log weight of the null component (a residual of 0)
    "neighbour_min_support": 3,  # ratings an item or user needs to have or be a neighbour
    "neighbour_max_per_row": 400,  # a row's ratings at most in the co-rating sums (0: all)
    "blend_holdout": 0.1,   # training ratings held out to fit the blend (0: parts summed)
    "n_groups": 4,          # taste groups shown by `groups`
}

# What each hyper-parameter does, for `fit --help`.
HELP = {
    "item_components": "K of each mixture with items as rows; by default from the ratings "
                       "per user: 4 to 16",
    "user_components": "K of each mixture with users as rows",
    "item_stages": "stages of mixtures with items as rows, fitted first; by default 3 when "
                   "K is 16, else 2",
    "user_stages": "stages with users as rows, fitted after them",
    "n_seeds": "EM runs averaged at each stage",
    "pattern_weight": "weight of the pattern of ratings in the item stages' E-steps",
    "pattern_smoothing": "pseudo-count of that pattern's distributions",
    "mean_prior": "pseudo-count shrinking each component mean toward 0",
    "variance_floor": "floor of the component variances, relative to the baseline's "
                      "residual variance",
    "min_variance": "that floor in the ratings' own (squared) units instead",
    "tol": "relative improvement of the log-likelihood below which a run stops",
    "max_iter": "EM iterations per run at most",
    "stage_rank": "columns each stage with items as rows is compressed to",
    "user_reg": "pseudo-count of the user biases (fit(user_reg=None) learns it)",
    "item_reg": "pseudo-count of the item biases (fit(item_reg=None) learns it)",
    "day_reg": "pseudo-count of the user-day biases (ratings with timestamps)",
    "day_biases": "a bias per user and day (with timestamps): on, off, or by default kept "
                  "where it predicts held-out training ratings better",
    "bias_epochs": "alternating updates of the biases",
    "neighbours": "neighbours kept per item and per user in the neighbour stages (0: none)",
    "neighbour_temperature": "temperature of the neighbours' log weights",
    "neighbour_shrink": "co-raters' worth of the prior that shrinks a neighbour's weight "
                        "toward the null",
    "neighbour_null": "log weight of the null component, the stages' own prediction",
    "neighbour_min_support": "ratings an item or a user needs to have or be a neighbour",
    "neighbour_max_per_row": "ratings of a user (or item) at most in the co-rating sums, "
                             "a random subset (0: all)",
    "blend_holdout": "fraction of the training ratings held out to fit the blend of the "
                     "stages (0: no blend, the stages summed, no neighbour stages)",
    "n_groups": "taste groups of users shown by `groups`",
}

# How each option is written: an integer, a number, or on/off (None: the default's rule).
SWITCHES = ("day_biases",)
INTEGERS = ("item_components", "user_components", "item_stages", "user_stages", "n_seeds",
            "max_iter", "stage_rank", "bias_epochs", "neighbours", "neighbour_min_support",
            "neighbour_max_per_row", "n_groups")


def check_hyper_parameters(hyper_parameters, seed=0, spell=str):
    """Return DEFAULTS updated by these hyper-parameters, each checked (and the seed with
    them), or raise ValueError naming the bad one as ``spell(name)`` says (the command line
    names its options): what ``fit`` checks, for a caller to check before a long load."""
    options = _check_options(hyper_parameters, spell)
    check_seed_range(check_integer(spell("seed"), seed, 0), options["n_seeds"], spell)
    return options


def check_seed_range(seed, n_seeds, spell=str):
    """ValueError unless the EM starts' seeds, seed * n_seeds .. (seed + 1) * n_seeds - 1,
    fit numpy's RandomState."""
    if (seed + 1) * n_seeds > 2 ** 32:
        raise ValueError(f"{spell('seed')} must keep the EM starts' seeds, seed * n_seeds .. "
                         f"(seed + 1) * n_seeds - 1, below 2**32; got {spell('seed')} {seed} "
                         f"with {spell('n_seeds')} {n_seeds}")


def _check_options(options, spell=str):
    """DEFAULTS updated by options, each checked, or ValueError naming the bad one."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown hyper-parameters {unknown}; the known ones are "
                         f"{sorted(DEFAULTS)}")
    options = {**DEFAULTS, **options}
    lows = {"item_components": 1, "user_components": 1, "n_seeds": 1, "max_iter": 1,
            "stage_rank": 1, "n_groups": 1, "neighbour_min_support": 1}
    for name in INTEGERS:
        if options[name] is not None or DEFAULTS[name] is not None:
            options[name] = check_integer(spell(name), options[name], lows.get(name, 0))
    for name in ("pattern_weight", "mean_prior", "tol", "neighbour_shrink"):
        options[name] = check_number(spell(name), options[name], positive=False)
    for name in ("user_reg", "item_reg", "day_reg"):
        if options[name] is not None or name == "day_reg":  # None: learned (baseline.py)
            options[name] = check_number(spell(name), options[name], positive=False)
            if options[name] > MAX_REG:  # what a model holds, and a learned one's bound
                raise ValueError(f"{spell(name)} must be at most {MAX_REG:g} (a pseudo-count; "
                                 f"larger holds every bias at 0 all the same), got "
                                 f"{options[name]!r}")
    for name in ("variance_floor", "pattern_smoothing", "neighbour_temperature"):
        options[name] = check_number(spell(name), options[name], positive=True)
    for name, key in (("neighbour_null", "null"), ("neighbour_temperature", "temperature"),
                      ("neighbour_shrink", "shrink"), ("neighbour_min_support", "min_support"),
                      ("neighbours", "k")):
        low, high = KNN_SETTINGS[key]  # what a model can hold
        if not (is_real(options[name]) and low <= options[name] <= high):
            raise ValueError(f"{spell(name)} must be a number in [{low:g}, {high:g}], got "
                             f"{options[name]!r}")
    options["neighbour_null"] = float(options["neighbour_null"])
    fraction = options["blend_holdout"]
    if not (is_real(fraction) and 0 <= fraction <= 0.5):
        raise ValueError(f"{spell('blend_holdout')} must be a number in [0, 0.5], got "
                         f"{fraction!r}")
    options["blend_holdout"] = float(fraction)
    if options["day_biases"] not in (None, True, False):
        raise ValueError(f"{spell('day_biases')} must be True, False or None (kept where they "
                         f"earn their place), got {options['day_biases']!r}")
    low, high = RELATIVE_VARIANCE_RANGE
    if not low <= options["variance_floor"] <= high:
        raise ValueError(f"{spell('variance_floor')} must lie in [{low:g}, {high:g}] (units "
                         f"of the baseline's residual variance), got "
                         f"{options['variance_floor']!r}")
    if options["min_variance"] is not None:
        options["min_variance"] = check_number(spell("min_variance"), options["min_variance"],
                                               positive=True)
    return options


def capacity(n_users, n_ratings):
    """The item stages' K and their number, from the mean ratings per user who rated:

        K = clip(2 ** round(log2(n_ratings / n_users / 4)), 4, 16),
        stages = 3 if K is 16 else 2.

    MovieLens small (121 ratings per user): 16 x 3; Epinions (33): 8 x 2; FilmTrust (19) and
    MovieTweetings (4.9): 4 x 2. Against each dataset's best K and stages it gives up at most
    0.0015 RMSE on validation, and cuts the sparse sets' fit up to 6-fold.

    Returns
    -------
    item_components, item_stages : int
    """
    per_user = n_ratings / max(n_users, 1)
    K = 4
    while K < 16 and per_user / 4 >= K * 2 ** 0.5:  # 2 ** round(log2(x)) without a log
        K *= 2
    return K, 3 if K >= 16 else 2


def resolved(options, n_users, n_ratings):
    """The options with the item stages' K and number chosen by ``capacity`` where None."""
    K, stages = capacity(n_users, n_ratings)
    return {**options,
            "item_components": K if options["item_components"] is None
            else options["item_components"],
            "item_stages": stages if options["item_stages"] is None
            else options["item_stages"]}
